from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from strom.taskmanager.network.events import EndOfPartition, Watermark
from strom.taskmanager.network.partition import ResultPartition
from strom.taskmanager.network.partitioner import BroadcastPartitioner, ForwardPartitioner, HashPartitioner
from strom.taskmanager.network.record_writer import RecordWriter

pytestmark = pytest.mark.timeout(30)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _ints(start: int, n: int) -> pa.RecordBatch:
    return pa.record_batch({"__key__": pa.array(np.arange(start, start + n)),
                            "v": pa.array(np.arange(start, start + n) * 10)})


def _drain(partition: ResultPartition, subpartition: int = 0) -> list:
    view = partition.subpartition(subpartition).create_view()
    out = []
    while (item := view.poll()) is not None:
        out.append(item)
    view.release()
    return out


def _writer(num_channels=1, partitioner=None, batch_rows=100, timeout_ms=100, clock=None):
    partition = ResultPartition("p", num_channels, 1 << 30)
    writer = RecordWriter(partition, partitioner or ForwardPartitioner(), batch_rows=batch_rows,
                          buffer_timeout_ms=timeout_ms, clock=clock or FakeClock())
    return partition, writer


def test_small_batches_are_combined_until_batch_rows():
    partition, writer = _writer(batch_rows=100)
    for i in range(9):
        writer.emit(_ints(i * 10, 10))
    assert _drain(partition) == []
    assert writer.pending_rows() == 90
    writer.emit(_ints(90, 25))
    [out] = _drain(partition)
    assert out.num_rows == 100
    assert out.column("__key__").to_pylist() == list(range(100))
    assert writer.pending_rows() == 15
    writer.flush()
    [rest] = _drain(partition)
    assert rest.column("__key__").to_pylist() == list(range(100, 115))
    assert writer.records_out == 115 and writer.batches_out == 2


def test_large_batch_goes_out_in_batch_rows_slices_and_keeps_the_remainder():
    partition, writer = _writer(batch_rows=100)
    writer.emit(_ints(0, 350))
    outs = _drain(partition)
    assert [b.num_rows for b in outs] == [100, 100, 100]
    assert writer.pending_rows() == 50
    writer.finish()
    outs = _drain(partition)
    assert outs[0].column("__key__").to_pylist() == list(range(300, 350))
    assert outs[1] == EndOfPartition()


def test_flush_by_timeout_uses_the_oldest_pending_rows():
    clock = FakeClock()
    partition, writer = _writer(num_channels=1, batch_rows=1000, timeout_ms=100, clock=clock)
    assert writer.next_flush_deadline() is None
    writer.emit(_ints(0, 10))
    assert writer.next_flush_deadline() == pytest.approx(1000.1)
    clock.now += 0.05
    writer.emit(_ints(10, 10))
    assert writer.next_flush_deadline() == pytest.approx(1000.1)
    writer.flush_if_due(clock.now)
    assert _drain(partition) == []
    clock.now = 1000.1
    writer.flush_if_due(clock.now)
    [out] = _drain(partition)
    assert out.num_rows == 20
    assert writer.next_flush_deadline() is None


def test_timeout_is_per_channel():
    clock = FakeClock()
    partition, writer = _writer(num_channels=2, partitioner=HashPartitioner(max_parallelism=128),
                                batch_rows=10_000, timeout_ms=100, clock=clock)
    writer.emit(pa.record_batch({"__key__": pa.array([0]), "v": pa.array([0])}))
    first_channel = 0 if writer.pending_rows(0) else 1
    other = 1 - first_channel
    clock.now += 0.08
    # a key on the other channel
    key = next(k for k in range(1000)
               if HashPartitioner(max_parallelism=128).channels_of(
                   pa.record_batch({"__key__": pa.array([k])}), 2)[0] == other)
    writer.emit(pa.record_batch({"__key__": pa.array([key]), "v": pa.array([1])}))
    clock.now += 0.03
    writer.flush_if_due()
    assert len(_drain(partition, first_channel)) == 1
    assert _drain(partition, other) == []
    assert writer.next_flush_deadline() == pytest.approx(1000.0 + 0.08 + 0.1)


def test_remainder_after_a_full_flush_keeps_its_own_arrival_time():
    clock = FakeClock()
    partition, writer = _writer(batch_rows=100, timeout_ms=100, clock=clock)
    writer.emit(_ints(0, 60))
    clock.now += 0.09
    writer.emit(_ints(60, 60))   # 120 rows: 100 go out, 20 (from the second batch) remain
    assert len(_drain(partition)) == 1
    assert writer.next_flush_deadline() == pytest.approx(1000.09 + 0.1)


def test_zero_timeout_flushes_every_emit_and_negative_never_by_time():
    partition, writer = _writer(batch_rows=1000, timeout_ms=0)
    writer.emit(_ints(0, 3))
    assert len(_drain(partition)) == 1
    clock = FakeClock()
    partition, writer = _writer(batch_rows=1000, timeout_ms=-1, clock=clock)
    writer.emit(_ints(0, 3))
    clock.now += 1e6
    writer.flush_if_due()
    assert writer.next_flush_deadline() is None
    assert _drain(partition) == []


def test_schema_change_flushes_pending_rows_first_never_mixing_schemas():
    partition, writer = _writer(batch_rows=1000)
    writer.emit(_ints(0, 5))
    other = pa.record_batch({"__key__": pa.array(["a", "b"]), "s": pa.array([1.5, 2.5])})
    writer.emit(other)
    writer.emit(_ints(5, 5))
    writer.flush()
    outs = _drain(partition)
    assert [b.schema for b in outs] == [_ints(0, 1).schema, other.schema, _ints(0, 1).schema]
    assert [b.num_rows for b in outs] == [5, 2, 5]


def test_schema_metadata_difference_counts_as_another_schema():
    partition, writer = _writer(batch_rows=1000)
    plain = _ints(0, 2)
    tagged = plain.replace_schema_metadata({"origin": "x"})
    writer.emit(plain)
    writer.emit(tagged)
    writer.flush()
    outs = _drain(partition)
    assert len(outs) == 2 and outs[1].schema.metadata == {b"origin": b"x"}


def test_events_follow_the_data_emitted_before_them():
    partition, writer = _writer(num_channels=2, partitioner=BroadcastPartitioner(), batch_rows=1000)
    writer.emit(_ints(0, 4))
    writer.broadcast_event(Watermark(7))
    writer.emit(_ints(4, 4))
    writer.emit_event(1, Watermark(8))
    writer.finish()
    ch0 = _drain(partition, 0)
    ch1 = _drain(partition, 1)
    assert [type(x).__name__ for x in ch0] == ["RecordBatch", "Watermark", "RecordBatch", "EndOfPartition"]
    assert ch1[:4] == [ch1[0], Watermark(7), ch1[2], Watermark(8)]
    assert ch1[4] == EndOfPartition()


def test_empty_batches_are_ignored():
    partition, writer = _writer()
    writer.emit(_ints(0, 0))
    assert writer.next_flush_deadline() is None
    writer.flush()
    assert _drain(partition) == []


def test_hash_exchange_conserves_rows_and_key_placement():
    partition, writer = _writer(num_channels=4, partitioner=HashPartitioner(max_parallelism=128),
                                batch_rows=64)
    rng = np.random.default_rng(1)
    total = 0
    for _ in range(50):
        keys = rng.integers(0, 1000, size=int(rng.integers(1, 200)))
        writer.emit(pa.record_batch({"__key__": pa.array(keys), "v": pa.array(keys)}))
        total += len(keys)
    writer.finish()
    got = 0
    for channel in range(4):
        for item in _drain(partition, channel):
            if isinstance(item, pa.RecordBatch):
                assert item.num_rows <= 64
                assert set(HashPartitioner(max_parallelism=128).channels_of(item, 4)) == {channel}
                got += item.num_rows
    assert got == total
