from __future__ import annotations

import threading

import pytest

from strom.taskmanager.network.errors import PartitionNotFoundError
from strom.taskmanager.network.partition import ResultPartition
from strom.taskmanager.network.registry import PartitionRegistry

pytestmark = pytest.mark.timeout(30)


def test_get_waits_for_a_partition_registered_later():
    registry = PartitionRegistry("worker-a")
    waiting = threading.Event()
    result: list[ResultPartition] = []

    def should_stop() -> bool:
        waiting.set()
        return False

    getter = threading.Thread(target=lambda: result.append(
        registry.get("late", timeout=10, should_stop=should_stop, poll_interval=0.01)), daemon=True)
    getter.start()
    assert waiting.wait(10)
    partition = ResultPartition("late", 1, 1024)
    registry.register(partition)
    getter.join(10)
    assert result == [partition]


def test_get_times_out_with_a_message_naming_partition_and_worker():
    registry = PartitionRegistry("worker 127.0.0.1:1234")
    with pytest.raises(PartitionNotFoundError, match=r"missing.*127\.0\.0\.1:1234.*within 0\.05 s"):
        registry.get("missing", timeout=0.05)


def test_get_stops_when_the_requester_goes_away():
    registry = PartitionRegistry()
    with pytest.raises(PartitionNotFoundError, match="abandoned"):
        registry.get("x", timeout=10, should_stop=lambda: True)


def test_released_and_consumed_partitions_leave_and_fail_fast():
    registry = PartitionRegistry()
    a = ResultPartition("a", 1, 1024)
    b = ResultPartition("b", 1, 1024)
    registry.register(a)
    registry.register(b)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(ResultPartition("a", 1, 1024))
    a.release("task failed")
    with pytest.raises(PartitionNotFoundError, match="task failed"):
        registry.get("a", timeout=10)
    b.finish()
    b.subpartition(0).create_view().poll()
    assert registry.partitions() == []
    with pytest.raises(PartitionNotFoundError, match="fully consumed"):
        registry.lookup("b")


def test_close_releases_everything_and_refuses_new_partitions():
    registry = PartitionRegistry()
    a = ResultPartition("a", 1, 1024)
    registry.register(a)
    registry.close()
    assert a.is_released
    with pytest.raises(RuntimeError, match="closed"):
        registry.register(ResultPartition("b", 1, 1024))
    with pytest.raises(PartitionNotFoundError, match="shut down"):
        registry.get("c", timeout=10)
