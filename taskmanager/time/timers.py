"""InternalTimerService: event-time and processing-time timers per (key, namespace, timestamp).

Flink's ``InternalTimerServiceImpl``. A timer is identified by its timestamp,
key and namespace (the window, or the state backend's ``VOID_NAMESPACE`` for process
functions);
registering the same timer twice keeps one. Timers fire in timestamp order, and
timers with equal timestamps in the order they were first registered:

    >>> from strom.taskmanager.state import VOID_NAMESPACE
    >>> timers = InternalTimerService()
    >>> timers.register_event_time_timer("b", VOID_NAMESPACE, 20)
    True
    >>> timers.register_event_time_timer("a", VOID_NAMESPACE, 10)
    True
    >>> timers.register_event_time_timer("a", VOID_NAMESPACE, 10)   # deduplicated
    False
    >>> [(t.key, t.timestamp) for t in timers.advance_watermark(20)]
    [('a', 10), ('b', 20)]

``advance_watermark`` and ``advance_processing_time`` return lazy iterators
that pop one timer at a time: a timer registered while firing (at a time that
is already due) fires in the same pass, and a timer deleted while firing does
not fire. Consume them fully.

Snapshots are per key group (``strom.common.keygroups``), so that timers move
with their keys when the parallelism changes. Keys and namespaces must be
hashable. Owned by the task thread; not thread-safe.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from strom.common.keygroups import DEFAULT_MAX_PARALLELISM, key_group_for_key
from strom.taskmanager.time.processing_time import ProcessingTimeService, ScheduledTimer
from strom.taskmanager.time.watermarks import MIN_WATERMARK


class InternalTimer(NamedTuple):
    """A timer: its identity is all three fields (a named tuple: hashed in C)."""

    timestamp: int
    key: Any
    namespace: Any


@dataclass(slots=True)
class TimerSnapshot:
    """The timers of one key group, each list in firing order: (timestamp, key, namespace)."""

    event_time: list[tuple[int, Any, Any]] = field(default_factory=list)
    processing_time: list[tuple[int, Any, Any]] = field(default_factory=list)


_new_timer = tuple.__new__  # InternalTimer without the Python-level __new__: timers are made per element


class _TimerQueue:
    """A min-heap of timers by (timestamp, first registration) with a dict for deduplication.

    Heap entries are ``[timestamp, seq, timer, alive]``; deleted timers stay in the heap
    as tombstones and are skipped (compacted in place when they outnumber the live ones).
    """

    __slots__ = ("_entries", "_heap", "_seq", "_dead")

    def __init__(self) -> None:
        self._entries: dict[InternalTimer, list[Any]] = {}
        self._heap: list[list[Any]] = []
        self._seq = itertools.count()
        self._dead = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, timer: InternalTimer) -> bool:
        entries = self._entries
        if timer in entries:
            return False
        entry = [timer[0], next(self._seq), timer, True]
        entries[timer] = entry
        heapq.heappush(self._heap, entry)
        return True

    def remove(self, timer: InternalTimer) -> bool:
        entry = self._entries.pop(timer, None)
        if entry is None:
            return False
        entry[3] = False
        self._dead += 1
        if self._dead > 64 and self._dead > len(self._entries):
            self._heap[:] = [e for e in self._heap if e[3]]  # in place: pop_due may hold the list
            heapq.heapify(self._heap)
            self._dead = 0
        return True

    def peek(self) -> InternalTimer | None:
        heap = self._heap
        while heap and not heap[0][3]:
            heapq.heappop(heap)
            self._dead -= 1
        return heap[0][2] if heap else None

    def pop_due(self, time: int) -> Iterator[InternalTimer]:
        """Pop timers with timestamp <= ``time`` one at a time, re-reading the heap after each
        (the consumer may add or remove timers in between)."""
        heap, entries, heappop = self._heap, self._entries, heapq.heappop
        while heap:
            entry = heap[0]
            if not entry[3]:
                heappop(heap)
                self._dead -= 1
                continue
            if entry[0] > time:
                return
            heappop(heap)
            timer = entry[2]
            del entries[timer]
            yield timer

    def in_order(self) -> list[InternalTimer]:
        """Live timers in firing order (does not change the queue)."""
        return [e[2] for e in sorted(e for e in self._heap if e[3])]


class InternalTimerService:
    """Timers of one keyed operator instance.

    - ``max_parallelism`` and ``key_groups`` (the key-group range this subtask
      owns) decide how snapshots are split and which timers a restore keeps.
    - With a ``processing_time_service`` and ``on_processing_timer``, processing-time
      timers fire by themselves: the service keeps one callback scheduled at the
      earliest timer and hands each due timer to ``on_processing_timer``, then calls
      ``after_processing_timers()`` once per firing pass (an operator emits that pass's
      outputs as one batch there). Without them, call ``advance_processing_time(now)``
      yourself.
    """

    def __init__(self, max_parallelism: int = DEFAULT_MAX_PARALLELISM, key_groups: range | None = None, *,
                 processing_time_service: ProcessingTimeService | None = None,
                 on_processing_timer: Callable[[InternalTimer], None] | None = None,
                 after_processing_timers: Callable[[], None] | None = None) -> None:
        if (processing_time_service is None) != (on_processing_timer is None):
            raise ValueError("processing_time_service and on_processing_timer go together")
        self.max_parallelism = max_parallelism
        self.key_groups = key_groups if key_groups is not None else range(max_parallelism)
        self._event = _TimerQueue()
        self._processing = _TimerQueue()
        self._watermark = MIN_WATERMARK
        self._pts = processing_time_service
        self._on_processing_timer = on_processing_timer
        self._after_processing_timers = after_processing_timers
        self._scheduled: ScheduledTimer | None = None

    # ---- time -------------------------------------------------------------------

    @property
    def current_watermark(self) -> int:
        return self._watermark

    def current_processing_time(self) -> int:
        if self._pts is None:
            raise RuntimeError("this timer service has no processing-time service")
        return self._pts.get_current_processing_time()

    # ---- registration -------------------------------------------------------------

    def register_event_time_timer(self, key: Any, namespace: Any, timestamp: int) -> bool:
        """True when the timer is new (False: it was registered already)."""
        return self._event.add(_new_timer(InternalTimer, (timestamp, key, namespace)))

    def delete_event_time_timer(self, key: Any, namespace: Any, timestamp: int) -> bool:
        return self._event.remove(_new_timer(InternalTimer, (timestamp, key, namespace)))

    def register_processing_time_timer(self, key: Any, namespace: Any, timestamp: int) -> bool:
        head = self._processing.peek()
        added = self._processing.add(_new_timer(InternalTimer, (timestamp, key, namespace)))
        if added and (head is None or timestamp < head.timestamp):
            self._schedule(timestamp)
        return added

    def delete_processing_time_timer(self, key: Any, namespace: Any, timestamp: int) -> bool:
        return self._processing.remove(_new_timer(InternalTimer, (timestamp, key, namespace)))

    # ---- firing ---------------------------------------------------------------------

    def advance_watermark(self, watermark: int) -> Iterator[InternalTimer]:
        """Set the watermark; the returned iterator pops every event-time timer <= it, in order."""
        if watermark > self._watermark:
            self._watermark = watermark
        return self._event.pop_due(self._watermark)

    def advance_processing_time(self, time: int) -> Iterator[InternalTimer]:
        """The processing-time timers with timestamp <= ``time``, popped lazily in order."""
        return self._processing.pop_due(time)

    def next_event_time(self) -> int | None:
        head = self._event.peek()
        return None if head is None else head.timestamp

    def next_processing_time(self) -> int | None:
        head = self._processing.peek()
        return None if head is None else head.timestamp

    def num_event_time_timers(self) -> int:
        return len(self._event)

    def num_processing_time_timers(self) -> int:
        return len(self._processing)

    def event_time_timers(self) -> list[InternalTimer]:
        """Pending event-time timers in firing order (a copy)."""
        return self._event.in_order()

    def processing_time_timers(self) -> list[InternalTimer]:
        return self._processing.in_order()

    # ---- scheduling on a ProcessingTimeService ---------------------------------------

    def _schedule(self, timestamp: int) -> None:
        if self._pts is None:
            return
        if self._scheduled is not None:
            if self._scheduled.timestamp <= timestamp and not self._scheduled.cancelled:
                return
            self._scheduled.cancel()
        self._scheduled = self._pts.register_timer(timestamp, self._on_processing_time)

    def _on_processing_time(self, time: int) -> None:
        self._scheduled = None
        assert self._on_processing_timer is not None
        for timer in self.advance_processing_time(time):
            self._on_processing_timer(timer)
        if self._after_processing_timers is not None:
            self._after_processing_timers()
        head = self._processing.peek()
        if head is not None:
            self._schedule(head.timestamp)

    # ---- snapshots ------------------------------------------------------------------

    def snapshot(self, key_groups: Iterable[int] | None = None) -> dict[int, TimerSnapshot]:
        """The timers of each key group (only non-empty groups; ``key_groups`` limits which)."""
        wanted = None if key_groups is None else set(key_groups)
        out: dict[int, TimerSnapshot] = {}
        group_of: dict[Any, int] = {}

        def group(key: Any) -> int:
            g = group_of.get(key)
            if g is None:
                g = group_of[key] = key_group_for_key(key, self.max_parallelism)
            return g

        for queue, attr in ((self._event, "event_time"), (self._processing, "processing_time")):
            for t in queue.in_order():
                g = group(t.key)
                if wanted is not None and g not in wanted:
                    continue
                snap = out.get(g)
                if snap is None:
                    snap = out[g] = TimerSnapshot()
                getattr(snap, attr).append((t.timestamp, t.key, t.namespace))
        return out

    def restore(self, snapshots: Mapping[int, TimerSnapshot]) -> None:
        """Add the timers of the snapshot's key groups this instance owns (others are skipped)."""
        owned = self.key_groups
        for g in sorted(snapshots):
            if g not in owned:
                continue
            snap = snapshots[g]
            for ts, key, ns in snap.event_time:
                self._event.add(InternalTimer(ts, key, ns))
            for ts, key, ns in snap.processing_time:
                self.register_processing_time_timer(key, ns, ts)
