from __future__ import annotations

import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from strom.taskmanager.network.cancel import CancelToken
from strom.taskmanager.network.errors import PartitionReleasedError, TaskCancelledError
from strom.taskmanager.network.events import EndOfPartition, Watermark
from strom.taskmanager.network.partition import ResultPartition

pytestmark = pytest.mark.timeout(30)

KB = 1024


def _batch(n_bytes: int, seq: int = 0) -> pa.RecordBatch:
    return pa.record_batch({"seq": pa.array(np.full(n_bytes // 8, seq, dtype=np.int64))})


def _wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.001)


class Emitter(threading.Thread):
    """Emits ``batches`` into subpartition 0, recording progress and the error it ended with."""

    def __init__(self, partition: ResultPartition, batches: list[pa.RecordBatch]) -> None:
        super().__init__(daemon=True)
        self.partition = partition
        self.batches = batches
        self.emitted = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for batch in self.batches:
                self.partition.emit(0, batch)
                self.emitted += 1
        except BaseException as e:
            self.error = e


def test_emit_blocks_over_budget_and_resumes_when_the_reader_takes():
    partition = ResultPartition("p", 1, max_buffered_bytes=64 * KB)
    emitter = Emitter(partition, [_batch(16 * KB, i) for i in range(10)])
    emitter.start()
    _wait_until(lambda: emitter.emitted == 4)
    time.sleep(0.05)  # give a (wrong) non-blocking emitter the chance to run ahead
    assert emitter.emitted == 4 and emitter.is_alive()
    assert partition.buffered_bytes() == 64 * KB
    view = partition.subpartition(0).create_view()
    got = []
    while len(got) < 10:
        item = view.peek(5.0)
        assert item is not None
        got.append(view.pop().column("seq")[0].as_py())
        assert partition.buffered_bytes() <= 64 * KB
    emitter.join(5)
    assert got == list(range(10)) and emitter.error is None


def test_budget_holds_under_a_concurrent_slow_reader():
    partition = ResultPartition("p", 1, max_buffered_bytes=100 * KB)
    emitter = Emitter(partition, [_batch(24 * KB, i) for i in range(200)])
    emitter.start()
    view = partition.subpartition(0).create_view()
    peak = 0
    seqs = []
    while len(seqs) < 200:
        peak = max(peak, partition.buffered_bytes())
        item = view.peek(5.0)
        assert item is not None
        seqs.append(view.pop().column("seq")[0].as_py())
    assert seqs == list(range(200))
    assert peak <= 100 * KB


def test_a_batch_larger_than_the_budget_is_admitted_into_an_empty_queue():
    partition = ResultPartition("p", 1, max_buffered_bytes=1 * KB)
    partition.emit(0, _batch(64 * KB))
    assert partition.buffered_bytes() >= 64 * KB


def test_events_never_block():
    partition = ResultPartition("p", 2, max_buffered_bytes=1 * KB)
    partition.emit(0, _batch(8 * KB))
    partition.emit_event(0, Watermark(1))
    partition.broadcast_event(Watermark(2))
    partition.finish()
    view = partition.subpartition(0).create_view()
    items = [view.poll() for _ in range(4)]
    assert items[1:] == [Watermark(1), Watermark(2), EndOfPartition()]


def test_cancel_wakes_a_blocked_emit_with_task_cancelled():
    token = CancelToken()
    partition = ResultPartition("p", 1, max_buffered_bytes=16 * KB, cancel_token=token)
    emitter = Emitter(partition, [_batch(16 * KB)] * 3)
    emitter.start()
    _wait_until(lambda: emitter.emitted == 1)
    view = partition.subpartition(0).create_view()
    token.cancel("cancelled by test")
    emitter.join(5)
    assert not emitter.is_alive()
    assert isinstance(emitter.error, TaskCancelledError)
    assert "cancelled by test" in str(emitter.error)
    assert partition.is_released and partition.buffered_bytes() == 0
    with pytest.raises(PartitionReleasedError, match="cancelled by test"):
        view.poll()


def test_release_wakes_a_blocked_emit_and_a_waiting_reader():
    partition = ResultPartition("p", 2, max_buffered_bytes=16 * KB)
    emitter = Emitter(partition, [_batch(16 * KB)] * 3)
    emitter.start()
    _wait_until(lambda: emitter.emitted == 1)
    reader_error: list[BaseException] = []
    view = partition.subpartition(1).create_view()

    def read() -> None:
        try:
            while view.peek(0.05) is None:
                pass
        except BaseException as e:
            reader_error.append(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    partition.release("producer failed")
    emitter.join(5)
    reader.join(5)
    assert isinstance(emitter.error, TaskCancelledError)
    assert isinstance(reader_error[0], PartitionReleasedError)
    with pytest.raises(TaskCancelledError):
        partition.emit(0, _batch(8))


def test_one_reader_at_a_time():
    partition = ResultPartition("p", 1, max_buffered_bytes=1 << 20)
    view = partition.subpartition(0).create_view()
    with pytest.raises(PartitionReleasedError, match="one reader at a time"):
        partition.subpartition(0).create_view()
    view.release()
    partition.subpartition(0).create_view()


def test_partition_releases_itself_once_every_subpartition_is_consumed():
    partition = ResultPartition("p", 2, max_buffered_bytes=1 << 20)
    released = []
    partition.add_release_listener(released.append)
    partition.emit(0, _batch(64))
    partition.finish()
    assert partition.is_finished and not partition.wait_consumed(0)
    with pytest.raises(RuntimeError, match="finished"):
        partition.emit(0, _batch(64))
    v0 = partition.subpartition(0).create_view()
    v1 = partition.subpartition(1).create_view()
    assert v1.poll() == EndOfPartition()
    assert not partition.is_consumed and released == []
    v0.poll()
    assert v0.poll() == EndOfPartition()
    assert partition.wait_consumed(0) and released == [partition]
    assert partition.release_cause == "fully consumed"


def test_emit_rejects_non_batches_and_bad_subpartitions():
    partition = ResultPartition("p", 2, max_buffered_bytes=1 << 20)
    with pytest.raises(TypeError, match="RecordBatch"):
        partition.emit(0, pa.table({"a": [1]}))  # type: ignore[arg-type]
    with pytest.raises(IndexError, match="2 subpartitions"):
        partition.emit(2, _batch(8))
    with pytest.raises(IndexError):
        partition.emit(-1, _batch(8))
