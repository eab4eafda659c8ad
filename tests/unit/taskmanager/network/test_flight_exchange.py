"""The exchange over real Flight on 127.0.0.1: in-process (two network environments standing
in for two workers) and across real processes (this file doubles as the child script)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from strom.common.keygroups import key_groups_of_array
from strom.taskmanager.network import (
    Channel,
    ChannelError,
    EndOfPartition,
    HashPartitioner,
    NetworkEnvironment,
    TaskCancelledError,
    Watermark,
)

pytestmark = pytest.mark.timeout(120)

FAST = {"taskmanager.network.connect-timeout": "10 s",
        "taskmanager.network.partition-request-timeout": "10 s"}


def _drain(gate, timeout: float = 30.0) -> list[tuple[int, Any]]:
    deadline = time.monotonic() + timeout
    out = []
    while not gate.is_finished():
        got = gate.poll(max(0.0, deadline - time.monotonic()))
        if got is None:
            raise AssertionError(f"gate did not finish within {timeout} s; got {len(out)} items")
        out.append(got)
    return out


@pytest.fixture
def workers():
    envs = [NetworkEnvironment("127.0.0.1", FAST), NetworkEnvironment("127.0.0.1", FAST)]
    yield envs
    for env in envs:
        env.close()


def test_remote_channel_carries_batches_events_and_schema_changes_in_order(workers):
    producer, consumer = workers
    partition = producer.create_result_partition("p", 1)
    ints = pa.record_batch({"a": pa.array([1, 2, 3])})
    strs = pa.record_batch({"s": pa.array(["x", "y"])})
    tagged = ints.replace_schema_metadata({"k": "v"})
    partition.broadcast_event(Watermark(1))          # before any data: empty-schema stream
    partition.emit(0, ints)
    partition.emit(0, pa.record_batch({"a": pa.array([4])}))
    partition.broadcast_event(Watermark(2))
    partition.emit(0, strs)                         # schema change
    partition.emit(0, tagged)                       # metadata-only change
    partition.emit(0, ints.slice(0, 0))             # a 0-row data batch stays data
    partition.finish()
    gate = consumer.create_input_gate([Channel("p", 0, producer.address)])
    items = [item for _, item in _drain(gate)]
    gate.close()
    kinds = [type(x).__name__ if not isinstance(x, pa.RecordBatch) else x.num_rows for x in items]
    assert kinds == ["Watermark", 3, 1, "Watermark", 2, 3, 0, "EndOfPartition"]
    assert items[0] == Watermark(1) and items[3] == Watermark(2)
    assert items[1].equals(ints) and items[4].equals(strs)
    assert items[5].schema.metadata == {b"k": b"v"}
    assert partition.wait_consumed(10)


def test_consumer_may_ask_before_the_producer_registers(workers):
    producer, consumer = workers
    gate = consumer.create_input_gate([Channel("late", 0, producer.address)])
    assert gate.poll(0.2) is None
    partition = producer.create_result_partition("late", 1)
    partition.emit(0, pa.record_batch({"a": pa.array(range(10))}))
    partition.finish()
    items = _drain(gate)
    assert items[0][1].num_rows == 10 and items[-1][1] == EndOfPartition()
    gate.close()


def test_unknown_partition_fails_with_a_clear_message():
    config = {**FAST, "taskmanager.network.partition-request-timeout": "200 ms"}
    with NetworkEnvironment("127.0.0.1", config) as producer, \
            NetworkEnvironment("127.0.0.1", config) as consumer:
        gate = consumer.create_input_gate([Channel("nope", 3, producer.address)])
        with pytest.raises(ChannelError) as info:
            _drain(gate)
        message = str(info.value)
        assert "nope" in message and producer.address in message and "not registered" in message
        gate.close()


def test_unreachable_producer_fails_after_the_connect_timeout_naming_it():
    config = {**FAST, "taskmanager.network.connect-timeout": "300 ms"}
    with NetworkEnvironment("127.0.0.1", config) as consumer:
        dead = "127.0.0.1:1"
        gate = consumer.create_input_gate([Channel("p", 0, dead)])
        t0 = time.monotonic()
        with pytest.raises(ChannelError, match=r"could not connect within 0\.3 s.*127\.0\.0\.1:1"):
            _drain(gate)
        assert time.monotonic() - t0 < 10
        gate.close()


def test_released_producer_partition_fails_the_remote_consumer(workers):
    producer, consumer = workers
    partition = producer.create_result_partition("p", 1)
    partition.emit(0, pa.record_batch({"a": pa.array([1])}))
    gate = consumer.create_input_gate([Channel("p", 0, producer.address)])
    assert gate.poll(10) is not None
    partition.release("producer task failed: ValueError")
    with pytest.raises(ChannelError, match="producer task failed: ValueError"):
        _drain(gate)
    gate.close()


def test_closing_a_gate_cancels_its_streams_and_frees_the_subpartition(workers):
    producer, consumer = workers
    partition = producer.create_result_partition("p", 1)
    gate = consumer.create_input_gate([Channel("p", 0, producer.address)])
    partition.emit(0, pa.record_batch({"a": pa.array([1])}))
    assert gate.poll(10) is not None
    t0 = time.monotonic()
    gate.close()
    assert time.monotonic() - t0 < 5
    with pytest.raises(TaskCancelledError):
        gate.poll(0)
    # the server side noticed the cancelled call and detached: a new reader may attach
    deadline = time.monotonic() + 10
    while True:
        try:
            partition.subpartition(0).create_view().release()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def test_closing_a_gate_while_the_server_waits_for_registration_is_prompt(workers):
    producer, consumer = workers
    gate = consumer.create_input_gate([Channel("never", 0, producer.address)])
    assert gate.poll(0.2) is None
    t0 = time.monotonic()
    gate.close()
    assert time.monotonic() - t0 < 5


def test_two_gates_in_one_task_one_per_input(workers):
    producer, consumer = workers
    from strom.taskmanager.network import UnionInputGate

    left = producer.create_result_partition("left", 1)
    right = consumer.create_result_partition("right", 1)  # local to the consumer
    union = UnionInputGate([
        consumer.create_input_gate([Channel("left", 0, producer.address)], input_index=0),
        consumer.create_input_gate([Channel("right", 0, consumer.address)], input_index=1)])
    left.emit(0, pa.record_batch({"l": pa.array([1])}))
    right.emit(0, pa.record_batch({"r": pa.array([2])}))
    left.finish()
    right.finish()
    by_input: dict[int, list[str]] = {0: [], 1: []}
    for channel, item in _drain(union):
        if isinstance(item, pa.RecordBatch):
            by_input[union.channel_input_index(channel)].extend(item.schema.names)
    assert by_input == {0: ["l"], 1: ["r"]}
    union.close()


def test_one_gate_mixing_remote_channels_of_one_producer_and_a_local_one(workers):
    producer, consumer = workers
    remote = producer.create_result_partition("r", 3)
    local = consumer.create_result_partition("l", 1)
    channels = [Channel("r", s, producer.address) for s in range(3)] + [Channel("l", 0, consumer.address)]
    gate = consumer.create_input_gate(channels)
    for i in range(50):
        for s in range(3):
            remote.emit(s, pa.record_batch({"src": pa.array([s] * 100), "i": pa.array([i] * 100)}))
        local.emit(0, pa.record_batch({"src": pa.array([3] * 100), "i": pa.array([i] * 100)}))
    remote.finish()
    local.finish()
    seen: dict[int, list[int]] = {c: [] for c in range(4)}
    for channel, item in _drain(gate):
        if isinstance(item, pa.RecordBatch):
            assert set(item.column("src").to_pylist()) == {channel}
            seen[channel].append(item.column("i")[0].as_py())
    assert all(seen[c] == list(range(50)) for c in range(4))
    assert gate.buffered_bytes() == 0
    gate.close()


def test_bad_subpartition_index_is_reported(workers):
    producer, consumer = workers
    producer.create_result_partition("two", 2)
    gate = consumer.create_input_gate([Channel("two", 5, producer.address)])
    with pytest.raises(ChannelError, match="2 subpartitions"):
        _drain(gate)
    gate.close()


# ---- across processes --------------------------------------------------------------------

def _spawn(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True, env=env)


def _read_json_line(proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"process {proc.pid} printed nothing within {timeout} s")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"process {proc.pid} exited with {proc.wait(5)} before answering")
            if line.startswith("{"):
                return json.loads(line)


def _stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_hash_exchange_between_processes_delivers_every_row_exactly_once(tmp_path):
    n_batches, rows, consumers = 60, 5000, 2
    procs: list[subprocess.Popen] = []
    try:
        producer = _spawn("producer", json.dumps({"batches": n_batches, "rows": rows, "channels": consumers}))
        procs.append(producer)
        address = _read_json_line(producer, 60)["address"]
        for c in range(consumers):
            procs.append(_spawn("consumer", json.dumps({"address": address, "subpartition": c,
                                                        "out": str(tmp_path / f"c{c}.npy")})))
        results = [_read_json_line(p, 90) for p in procs[1:]]
        stats = _read_json_line(producer, 60)
        for proc in procs:
            assert proc.wait(30) == 0
    finally:
        _stop(procs)
    assert stats["consumed"]
    all_ids = []
    for c, result in enumerate(results):
        ids = np.load(tmp_path / f"c{c}.npy")
        keys = ids % 977
        channels = key_groups_of_array(pa.array(keys), 128) * consumers // 128
        assert (channels == c).all(), "a row arrived at a subtask that does not own its key group"
        assert result["ends"] == 1
        all_ids.append(ids)
    ids = np.sort(np.concatenate(all_ids))
    assert len(ids) == n_batches * rows
    assert (ids == np.arange(n_batches * rows)).all(), "rows lost or duplicated"


def test_killed_producer_process_fails_the_consumer_naming_its_address():
    procs: list[subprocess.Popen] = []
    try:
        producer = _spawn("producer", json.dumps({"batches": 1, "rows": 10, "channels": 1, "hold": True}))
        procs.append(producer)
        address = _read_json_line(producer, 60)["address"]
        with NetworkEnvironment("127.0.0.1", FAST) as consumer:
            gate = consumer.create_input_gate([Channel("p", 0, address)])
            got = gate.poll(30)
            assert got is not None and isinstance(got[1], pa.RecordBatch)
            os.kill(producer.pid, signal.SIGKILL)
            with pytest.raises(ChannelError, match=address.replace(".", r"\.")):
                _drain(gate)
            gate.close()
    finally:
        _stop(procs)


def _producer_main(args: dict) -> None:
    with NetworkEnvironment("127.0.0.1", FAST) as env:
        partition = env.create_result_partition("p", args["channels"])
        writer = env.create_record_writer(partition, HashPartitioner(max_parallelism=128))
        print(json.dumps({"address": env.address}), flush=True)
        rows = args["rows"]
        for i in range(args["batches"]):
            ids = np.arange(i * rows, (i + 1) * rows, dtype=np.int64)
            writer.emit(pa.record_batch({"__key__": pa.array(ids % 977), "id": pa.array(ids)}))
        if args.get("hold"):
            writer.flush()
            time.sleep(600)
        writer.finish()
        consumed = partition.wait_consumed(60)
        print(json.dumps({"consumed": consumed}), flush=True)


def _consumer_main(args: dict) -> None:
    with NetworkEnvironment("127.0.0.1", FAST) as env:
        gate = env.create_input_gate([Channel("p", args["subpartition"], args["address"])])
        ids, ends = [], 0
        for _, item in _drain(gate, 90):
            if isinstance(item, pa.RecordBatch):
                ids.append(item.column("id").to_numpy())
            elif isinstance(item, EndOfPartition):
                ends += 1
        gate.close()
        np.save(args["out"], np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64))
        print(json.dumps({"ends": ends}), flush=True)


if __name__ == "__main__":
    role, payload = sys.argv[1], json.loads(sys.argv[2])
    {"producer": _producer_main, "consumer": _consumer_main}[role](payload)
