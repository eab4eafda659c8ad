"""Input gates over channels inside one worker process: no sockets, batches by reference."""

from __future__ import annotations

import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from strom.taskmanager.network.cancel import CancelToken
from strom.taskmanager.network.errors import ChannelError, PartitionNotFoundError, TaskCancelledError
from strom.taskmanager.network.events import EndOfPartition, Watermark
from strom.taskmanager.network.input_gate import Channel, InputGate, UnionInputGate
from strom.taskmanager.network.partition import ResultPartition
from strom.taskmanager.network.registry import PartitionRegistry

pytestmark = pytest.mark.timeout(30)

HERE = "127.0.0.1:1"


def _batch(seq: int, rows: int = 4) -> pa.RecordBatch:
    return pa.record_batch({"seq": pa.array(np.full(rows, seq))})


def _gate(registry, channels, **kw) -> InputGate:
    return InputGate(channels, HERE, registry, channel_buffer_bytes=1 << 20, **kw)


def _partition(registry, pid, n=1, budget=1 << 20, **kw) -> ResultPartition:
    partition = ResultPartition(pid, n, budget, **kw)
    registry.register(partition)
    return partition


def test_local_channels_hand_over_batches_by_reference_then_end():
    registry = PartitionRegistry()
    p = _partition(registry, "p", 2)
    gate = _gate(registry, [Channel("p", 0, HERE), Channel("p", 1, HERE)])
    b0, b1 = _batch(0), _batch(1)
    p.emit(0, b0)
    p.emit(1, b1)
    p.broadcast_event(Watermark(9))
    p.finish()
    got = []
    while not gate.is_finished():
        item = gate.poll(5)
        assert item is not None
        got.append(item)
    assert gate.poll(0) is None
    by_channel = {c: [x for ch, x in got if ch == c] for c in (0, 1)}
    assert by_channel[0][0] is b0 and by_channel[1][0] is b1
    assert by_channel[0][1:] == by_channel[1][1:] == [Watermark(9), EndOfPartition()]
    assert p.wait_consumed(5)
    gate.close()


def test_poll_alternates_between_channels_with_data():
    registry = PartitionRegistry()
    p = _partition(registry, "p", 2)
    gate = _gate(registry, [Channel("p", 0, HERE), Channel("p", 1, HERE)])
    for i in range(3):
        p.emit(0, _batch(i))
        p.emit(1, _batch(10 + i))
    channels = [gate.poll(1)[0] for _ in range(6)]
    assert channels == [0, 1, 0, 1, 0, 1]
    gate.close()


def test_poll_wakes_when_the_local_producer_emits():
    registry = PartitionRegistry()
    p = _partition(registry, "p")
    gate = _gate(registry, [Channel("p", 0, HERE)])
    gate.poll(0)  # attach
    started = threading.Event()

    def produce() -> None:
        started.wait(5)
        p.emit(0, _batch(1))

    threading.Thread(target=produce, daemon=True).start()
    started.set()
    t0 = time.monotonic()
    got = gate.poll(10)
    assert got is not None and got[0] == 0
    assert time.monotonic() - t0 < 5
    gate.close()


def test_local_partition_registered_after_the_gate_is_found():
    registry = PartitionRegistry()
    gate = _gate(registry, [Channel("later", 0, HERE)])
    assert gate.poll(0) is None
    p = _partition(registry, "later")
    p.emit(0, _batch(3))
    got = gate.poll(5)
    assert got is not None and got[1].column("seq")[0].as_py() == 3
    gate.close()


def test_local_partition_that_never_appears_fails_after_the_request_timeout():
    registry = PartitionRegistry()
    gate = _gate(registry, [Channel("never", 0, HERE)], partition_request_timeout_s=0.1)
    with pytest.raises(PartitionNotFoundError, match="never.*within 0.1 s"):
        gate.poll(5)
    gate.close()


def test_released_local_producer_fails_the_consumer():
    registry = PartitionRegistry()
    p = _partition(registry, "p")
    gate = _gate(registry, [Channel("p", 0, HERE)])
    p.emit(0, _batch(1))
    assert gate.poll(1) is not None
    p.release("producer task failed: boom")
    with pytest.raises(ChannelError, match="boom"):
        gate.poll(1)
    gate.close()


def test_cancel_wakes_a_waiting_poll():
    registry = PartitionRegistry()
    _partition(registry, "p")
    token = CancelToken()
    gate = _gate(registry, [Channel("p", 0, HERE)], cancel_token=token)
    threading.Timer(0.05, token.cancel, args=("stop now",)).start()
    t0 = time.monotonic()
    with pytest.raises(TaskCancelledError, match="stop now"):
        gate.poll(20)
    assert time.monotonic() - t0 < 10
    gate.close()
    with pytest.raises(TaskCancelledError):
        gate.poll(0)


def test_an_unpolled_local_channel_backpressures_its_producer():
    registry = PartitionRegistry()
    p = _partition(registry, "p", budget=4096)
    gate = _gate(registry, [Channel("p", 0, HERE)])
    emitted = []

    def produce() -> None:
        for i in range(20):
            p.emit(0, _batch(i, rows=128))  # 1 KiB each
            emitted.append(i)
        p.finish()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    deadline = time.monotonic() + 10
    while len(emitted) < 4 and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(0.05)
    assert len(emitted) == 4 and p.buffered_bytes() <= 4096
    seqs = []
    while not gate.is_finished():
        got = gate.poll(5)
        assert got is not None
        if isinstance(got[1], pa.RecordBatch):
            seqs.append(got[1].column("seq")[0].as_py())
    assert seqs == list(range(20))
    producer.join(5)
    gate.close()


def test_union_gate_numbers_channels_across_inputs():
    registry = PartitionRegistry()
    left = _partition(registry, "left", 2)
    right = _partition(registry, "right", 1)
    g0 = _gate(registry, [Channel("left", 0, HERE), Channel("left", 1, HERE)], input_index=0)
    g1 = _gate(registry, [Channel("right", 0, HERE)], input_index=1)
    union = UnionInputGate([g0, g1])
    assert union.num_channels == 3
    assert [union.channel_input_index(c) for c in range(3)] == [0, 0, 1]
    assert union.gate_channel(2) == (g1, 0)
    right.emit(0, _batch(100))
    got = union.poll(5)
    assert got is not None and got[0] == 2 and union.channel_input_index(got[0]) == 1
    left.emit(1, _batch(1))
    got = union.poll(5)
    assert got is not None and got[0] == 1
    left.finish()
    right.finish()
    ends = set()
    while not union.is_finished():
        got = union.poll(5)
        assert got is not None
        assert got[1] == EndOfPartition()
        ends.add(got[0])
    assert ends == {0, 1, 2}
    union.close()


def test_union_gate_wakes_on_data_from_any_gate():
    registry = PartitionRegistry()
    a = _partition(registry, "a")
    b = _partition(registry, "b")
    union = UnionInputGate([_gate(registry, [Channel("a", 0, HERE)], input_index=0),
                            _gate(registry, [Channel("b", 0, HERE)], input_index=1)])
    assert union.poll(0) is None
    threading.Timer(0.05, b.emit, args=(0, _batch(5))).start()
    t0 = time.monotonic()
    got = union.poll(20)
    assert got is not None and got[0] == 1
    assert time.monotonic() - t0 < 10
    del a
    union.close()


def test_gate_without_channels_is_finished():
    gate = _gate(PartitionRegistry(), [])
    assert gate.is_finished() and gate.poll(1) is None
    gate.close()
