"""Result partitions: the producer side of an exchange (Flink's ResultPartition and
ResultSubpartition, pipelined flavour).

A producer task owns one ``ResultPartition`` per output edge, with one bounded FIFO
(``ResultSubpartition``) per consumer subtask. Each FIFO holds Arrow batches and
in-band events, is bounded by bytes, and is read by at most one ``SubpartitionView`` at
a time: the Flight server's stream for a remote consumer, or the consumer's input gate
directly when it lives in the same worker process (batches by reference).

Threads: the producer task's thread calls ``emit``/``emit_event``/``finish``; one reader
thread (a Flight handler or the consumer task) drains each subpartition; any thread may
call ``release``. All state of a subpartition is guarded by its own lock.

Lifecycle: ``finish()`` appends EndOfPartition everywhere; once every subpartition's
EndOfPartition has been taken by its reader the partition releases itself ("consumed").
``release(cause)`` (task failed or cancelled) drops all data at once: blocked producers
raise ``TaskCancelledError``, readers get ``PartitionReleasedError``. A finished task must
*not* call ``release()``: its consumers may still be reading.

    partition = ResultPartition("job:v:0:0#0", num_subpartitions=2, max_buffered_bytes=4 << 20)
    partition.emit(1, batch)          # blocks while subpartition 1 is over its byte budget
    partition.finish()
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TypeAlias

import pyarrow as pa

from strom.taskmanager.network.cancel import CancelToken
from strom.taskmanager.network.errors import PartitionReleasedError, TaskCancelledError
from strom.taskmanager.network.events import EndOfPartition, Event

log = logging.getLogger(__name__)

Item: TypeAlias = pa.RecordBatch | Event
AvailabilityListener: TypeAlias = Callable[[], None]

_END_OF_PARTITION = EndOfPartition()


class ResultSubpartition:
    """One bounded FIFO of batches and events (see module docstring)."""

    def __init__(self, partition: ResultPartition, index: int, max_bytes: int) -> None:
        self._partition = partition
        self.index = index
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)  # the producer waits here (backpressure)
        self._data = threading.Condition(self._lock)   # a blocking reader waits here
        self._items: deque[tuple[Item, int]] = deque()
        self._bytes = 0
        self._release_cause: str | None = None
        self._view: SubpartitionView | None = None
        self._finished = False
        self._consumed = False
        # Schema of the last data batch a reader took: the schema a new Flight stream starts
        # with when the queue is empty (so that events alone never force a schema change).
        self.last_schema: pa.Schema | None = None

    @property
    def name(self) -> str:
        return f"{self._partition.partition_id}/{self.index}"

    def buffered_bytes(self) -> int:
        return self._bytes

    def queued_items(self) -> int:
        return len(self._items)

    # ---- producer side ----------------------------------------------------------------

    def add(self, item: Item, nbytes: int, block: bool) -> None:
        """Append ``item``. With ``block``, wait while the queue is non-empty and adding
        ``nbytes`` would exceed the budget, so the budget is never exceeded unless a single
        batch is larger than it."""
        with self._lock:
            if block:
                while (self._bytes and self._bytes + nbytes > self._max_bytes
                       and self._release_cause is None):
                    self._space.wait()
            if self._release_cause is not None:
                raise TaskCancelledError(
                    f"result partition {self.name} was released ({self._release_cause})")
            if self._finished:
                raise RuntimeError(f"result partition {self.name} is finished: nothing can follow "
                                   "EndOfPartition")
            was_empty = not self._items
            self._items.append((item, nbytes))
            self._bytes += nbytes
            if isinstance(item, EndOfPartition):
                self._finished = True
            self._data.notify()
            view = self._view
        if was_empty and view is not None and view.listener is not None:
            view.listener()

    def release(self, cause: str) -> None:
        with self._lock:
            if self._release_cause is not None:
                return
            self._release_cause = cause
            self._items.clear()
            self._bytes = 0
            self._space.notify_all()
            self._data.notify_all()
            view = self._view
        if view is not None and view.listener is not None:
            view.listener()

    # ---- reader side ------------------------------------------------------------------

    def create_view(self, listener: AvailabilityListener | None = None) -> SubpartitionView:
        """Attach the one reader. ``listener`` is called (from the producer's thread, without
        locks held) when the queue turns non-empty and when the partition is released."""
        with self._lock:
            if self._release_cause is not None:
                raise PartitionReleasedError(
                    f"result partition {self.name} was released ({self._release_cause})")
            if self._view is not None:
                raise PartitionReleasedError(
                    f"result partition {self.name} already has a reader; a subpartition is consumed "
                    "by one reader at a time")
            if self._consumed:
                raise PartitionReleasedError(f"result partition {self.name} was already fully consumed")
            self._view = SubpartitionView(self, listener)
            return self._view

    def _detach(self, view: SubpartitionView) -> None:
        with self._lock:
            if self._view is view:
                self._view = None

    def _check_released_locked(self) -> None:
        if self._release_cause is not None:
            raise PartitionReleasedError(
                f"result partition {self.name} was released ({self._release_cause})")

    def _poll(self) -> Item | None:
        with self._lock:
            self._check_released_locked()
            if not self._items:
                return None
            return self._pop_locked()

    def _peek(self, timeout: float | None) -> Item | None:
        with self._lock:
            self._check_released_locked()
            if not self._items:
                self._data.wait(timeout)
                self._check_released_locked()
                if not self._items:
                    return None
            return self._items[0][0]

    def _pop(self) -> Item:
        with self._lock:
            self._check_released_locked()
            return self._pop_locked()

    def _pop_locked(self) -> Item:
        item, nbytes = self._items.popleft()
        self._bytes -= nbytes
        self._space.notify()
        if isinstance(item, pa.RecordBatch):
            self.last_schema = item.schema
        elif isinstance(item, EndOfPartition):
            self._consumed = True
            # Called with our lock held; the partition only takes its own lock (order: sub -> partition).
            self._partition._subpartition_consumed()
        return item


class SubpartitionView:
    """The one reader of a subpartition. Not thread-safe: use it from one thread."""

    def __init__(self, subpartition: ResultSubpartition, listener: AvailabilityListener | None) -> None:
        self.subpartition = subpartition
        self.listener = listener

    def poll(self) -> Item | None:
        """Take the next item, or None when the queue is empty (never blocks)."""
        return self.subpartition._poll()

    def peek(self, timeout: float | None) -> Item | None:
        """The next item without taking it; waits up to ``timeout`` for one, None if none came."""
        return self.subpartition._peek(timeout)

    def pop(self) -> Item:
        """Take the item ``peek`` returned."""
        return self.subpartition._pop()

    def release(self) -> None:
        """Detach; another reader may attach afterwards (the queue keeps its data)."""
        self.subpartition._detach(self)


class ResultPartition:
    """The output of one producer task on one edge (see module docstring)."""

    def __init__(self, partition_id: str, num_subpartitions: int, max_buffered_bytes: int,
                 cancel_token: CancelToken | None = None) -> None:
        if num_subpartitions < 1:
            raise ValueError(f"result partition {partition_id} needs at least one subpartition")
        if max_buffered_bytes < 1:
            raise ValueError(f"result partition {partition_id}: max_buffered_bytes must be positive")
        self.partition_id = partition_id
        self.max_buffered_bytes = max_buffered_bytes
        self._subpartitions = [ResultSubpartition(self, i, max_buffered_bytes)
                               for i in range(num_subpartitions)]
        self._lock = threading.Lock()
        self._unconsumed = num_subpartitions
        self._release_cause: str | None = None
        self._done = threading.Event()  # consumed or released
        self._release_listeners: list[Callable[[ResultPartition], None]] = []
        self._cancel_token = cancel_token
        if cancel_token is not None:
            cancel_token.add_callback(self._on_cancel)

    def __repr__(self) -> str:
        return f"ResultPartition({self.partition_id!r}, {self.num_subpartitions} subpartitions)"

    @property
    def num_subpartitions(self) -> int:
        return len(self._subpartitions)

    def subpartition(self, index: int) -> ResultSubpartition:
        if not 0 <= index < len(self._subpartitions):
            raise IndexError(f"result partition {self.partition_id} has {len(self._subpartitions)} "
                             f"subpartitions, not {index + 1}")
        return self._subpartitions[index]

    # ---- producer API -----------------------------------------------------------------

    def emit(self, subpartition: int, batch: pa.RecordBatch) -> int:
        """Append a batch; blocks while that subpartition is over its byte budget. Returns the
        batch's size in bytes as accounted. Raises TaskCancelledError when the partition is
        released (task cancelled) meanwhile."""
        if not isinstance(batch, pa.RecordBatch):
            raise TypeError(f"emit expects a pyarrow.RecordBatch, got {type(batch).__name__}")
        nbytes: int = batch.nbytes
        self.subpartition(subpartition).add(batch, nbytes, block=True)
        return nbytes

    def emit_event(self, subpartition: int, event: Event) -> None:
        """Append an event after the data emitted so far. Events never block."""
        self.subpartition(subpartition).add(event, 0, block=False)

    def broadcast_event(self, event: Event) -> None:
        for sub in self._subpartitions:
            sub.add(event, 0, block=False)

    def finish(self) -> None:
        """End of data: EndOfPartition to every subpartition."""
        self.broadcast_event(_END_OF_PARTITION)

    def buffered_bytes(self, subpartition: int | None = None) -> int:
        if subpartition is not None:
            return self.subpartition(subpartition).buffered_bytes()
        return sum(sub.buffered_bytes() for sub in self._subpartitions)

    # ---- lifecycle --------------------------------------------------------------------

    @property
    def is_finished(self) -> bool:
        return all(sub._finished for sub in self._subpartitions)

    @property
    def is_consumed(self) -> bool:
        return self._unconsumed == 0

    @property
    def is_released(self) -> bool:
        return self._release_cause is not None

    @property
    def release_cause(self) -> str | None:
        return self._release_cause

    def wait_consumed(self, timeout: float | None = None) -> bool:
        """Wait until every consumer took EndOfPartition (or the partition was released).
        True if fully consumed."""
        self._done.wait(timeout)
        return self.is_consumed

    def add_release_listener(self, listener: Callable[[ResultPartition], None]) -> None:
        """``listener(partition)`` runs once when the partition is released or fully consumed."""
        with self._lock:
            if self._release_cause is None:
                self._release_listeners.append(listener)
                return
        listener(self)

    def release(self, cause: str = "released") -> None:
        """Drop all buffered data now (task failed or cancelled). Idempotent."""
        with self._lock:
            if self._release_cause is not None:
                return
            self._release_cause = cause
            listeners, self._release_listeners = self._release_listeners, []
        for sub in self._subpartitions:
            sub.release(cause)
        self._finalize(listeners)

    def _subpartition_consumed(self) -> None:
        with self._lock:
            self._unconsumed -= 1
            if self._unconsumed or self._release_cause is not None:
                return
            self._release_cause = "fully consumed"
            listeners, self._release_listeners = self._release_listeners, []
        # Runs on the reader's thread with the last subpartition's lock held: listeners must
        # only take their own locks (the registry does).
        self._finalize(listeners)

    def _finalize(self, listeners: list[Callable[[ResultPartition], None]]) -> None:
        if self._cancel_token is not None:
            self._cancel_token.remove_callback(self._on_cancel)
        self._done.set()
        for listener in listeners:
            try:
                listener(self)
            except Exception:
                log.exception("release listener of %s failed", self.partition_id)

    def _on_cancel(self, reason: str) -> None:
        self.release(f"task cancelled: {reason}")
