"""The result partitions of one worker process, by id (Flink's ResultPartitionManager).

A consumer's request can arrive before the producer task registered its partition
(deployment is not ordered); ``get`` then waits, bounded. A partition leaves the registry
when it is released or fully consumed; the ids of recently released partitions are
remembered so a late request fails at once with the reason instead of waiting.

Thread-safe: producer task threads register, Flight handler threads and consumer tasks
look up, anyone releases.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from strom.taskmanager.network.errors import PartitionNotFoundError
from strom.taskmanager.network.partition import ResultPartition

_REMEMBER_RELEASED = 4096


class PartitionRegistry:
    def __init__(self, name: str = "this worker") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._partitions: dict[str, ResultPartition] = {}
        self._released: OrderedDict[str, str] = OrderedDict()
        self._closed = False

    def register(self, partition: ResultPartition) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"partition registry of {self.name} is closed")
            if partition.partition_id in self._partitions:
                raise ValueError(f"result partition {partition.partition_id} is already registered "
                                 f"on {self.name}")
            self._partitions[partition.partition_id] = partition
            self._released.pop(partition.partition_id, None)
            self._changed.notify_all()
        partition.add_release_listener(self._on_released)

    def lookup(self, partition_id: str) -> ResultPartition | None:
        """The partition if registered now; raises PartitionNotFoundError if it was released."""
        with self._lock:
            return self._lookup_locked(partition_id)

    def get(self, partition_id: str, timeout: float,
            should_stop: Callable[[], bool] | None = None, poll_interval: float = 0.2) -> ResultPartition:
        """Wait up to ``timeout`` seconds for the partition to be registered.

        ``should_stop`` is checked every ``poll_interval`` seconds; when it returns True the
        wait ends with PartitionNotFoundError (the requester went away).
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                partition = self._lookup_locked(partition_id)
                if partition is not None:
                    return partition
                if self._closed:
                    raise PartitionNotFoundError(f"result partition {partition_id}: the network "
                                                 f"environment of {self.name} is shut down")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PartitionNotFoundError(
                        f"result partition {partition_id} was not registered on {self.name} within "
                        f"{timeout:g} s: the producer task was not deployed there, failed before "
                        "starting, or the consumer was deployed with a stale address")
                if should_stop is not None and should_stop():
                    raise PartitionNotFoundError(f"request for result partition {partition_id} "
                                                 "was abandoned")
                self._changed.wait(min(remaining, poll_interval))

    def _lookup_locked(self, partition_id: str) -> ResultPartition | None:
        partition = self._partitions.get(partition_id)
        if partition is not None:
            return partition
        cause = self._released.get(partition_id)
        if cause is not None:
            raise PartitionNotFoundError(
                f"result partition {partition_id} on {self.name} was already released ({cause})")
        return None

    def release(self, partition_id: str, cause: str = "released") -> None:
        with self._lock:
            partition = self._partitions.get(partition_id)
        if partition is not None:
            partition.release(cause)

    def partitions(self) -> list[ResultPartition]:
        with self._lock:
            return list(self._partitions.values())

    def close(self, cause: str = "network environment closed") -> None:
        """Release every partition and refuse new ones."""
        with self._lock:
            self._closed = True
            partitions = list(self._partitions.values())
            self._changed.notify_all()
        for partition in partitions:
            partition.release(cause)

    def _on_released(self, partition: ResultPartition) -> None:
        with self._lock:
            if self._partitions.get(partition.partition_id) is partition:
                del self._partitions[partition.partition_id]
            self._released[partition.partition_id] = partition.release_cause or "released"
            while len(self._released) > _REMEMBER_RELEASED:
                self._released.popitem(last=False)
