"""The window operator's fast path for aligned windows: Flink SQL's slicing windows, per record.

It takes over from the generic path (``operator.py``: Flink's WindowOperator step
by step) when ``applies()``: tumbling or sliding windows, event or processing
time, with the assigner's default trigger (``EventTimeTrigger`` /
``ProcessingTimeTrigger``), no evictor, and the ``hashmap`` state backend. Then
everything the generic path asks per element is known in advance: the windows
follow from the timestamp, the trigger fires exactly once the watermark (or the
clock) passes ``window.max_timestamp()``, and the state goes at the cleanup
time. So, per batch:

1. the window starts of the whole batch come from numpy
   (``tumbling_window_starts`` / ``sliding_window_starts``), or from the batch's
   processing time, read once (the generic path reads the clock per element);
2. when every (element, window) is on time (``max_timestamp() > watermark``;
   always so in processing time), one tight loop folds each value into its
   (key, window) entry of the backend's table, found through the window's key
   index (``_Window.keys``: key -> the namespace map of that key's key group).
   A record costs two dict lookups, one store and the user's function. No key
   is current meanwhile: reduce and aggregate functions get no keyed state
   (Flink refuses rich functions there), and keyed state access raises;
3. otherwise (late data in the batch) an exact loop in arrival order: late
   windows are skipped, an element no window accepted goes to the late side
   output (or is counted and dropped), and an element added to a window the
   watermark already passed (allowed lateness) re-fires that (key, window) at once.

Timers: instead of a trigger timer and a cleanup timer per (key, window), the
index keeps, per window, the keys holding state in it, in the order their first
element arrived (the order the generic path's timers fire in, so results come
out in the same order). A watermark at or past ``max_timestamp()`` fires every
key of the window; the state is dropped then, or at ``max_timestamp() + allowed
lateness`` when there is lateness (when that cleanup is due at the time another
window fires and the window function has a ``clear``, the two interleave in the
order the generic path's timers would have). Processing-time windows register
one ``ProcessingTimeService`` callback per window.

State stays in the keyed state backend, where the generic path keeps it (the
contents descriptor's table, namespace = window, partitioned by key group:
accumulator, reduced value or element list), so a backend snapshot holds it.
The index is derived data: ``rebuild(watermark)`` recomputes it from the table
(every namespace of the contents table is a window, its keys the keys with
state; a window whose ``max_timestamp()`` is at or before ``watermark`` has
fired and only waits for its cleanup). A checkpoint therefore needs the backend
snapshot and the operator's watermark at the checkpoint, and no timers; after a
restore, the keys of one window fire in key-group order instead of arrival order.

Owned by the window operator, on its task thread; it writes into the
operator's result buffers, and into the window contents through the hashmap
backend's bulk access (``bulk_maps``).
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from strom.taskmanager.operators.window.functions import PassThrough, WindowFields
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.state.descriptor import StateKind, reducer_of
from strom.taskmanager.state.hashmap_backend import HashMapKeyedStateBackend
from strom.taskmanager.time.errors import MissingTimestampError
from strom.taskmanager.time.timestamps import MAX_TIMESTAMP, NO_TIMESTAMP
from strom.taskmanager.windowing.assigners import (
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
    WindowAssigner,
)
from strom.taskmanager.windowing.evictors import Evictor
from strom.taskmanager.windowing.triggers import EventTimeTrigger, ProcessingTimeTrigger, Trigger
from strom.taskmanager.windowing.vectorized import sliding_window_starts, tumbling_window_starts
from strom.taskmanager.windowing.windows import TimeWindow

if TYPE_CHECKING:
    from strom.taskmanager.operators.window.operator import WindowOperator

_DEFAULT_TRIGGER: dict[type, type] = {
    TumblingEventTimeWindows: EventTimeTrigger,
    SlidingEventTimeWindows: EventTimeTrigger,
    TumblingProcessingTimeWindows: ProcessingTimeTrigger,
    SlidingProcessingTimeWindows: ProcessingTimeTrigger,
}

# Key types whose equal values have equal key groups, so a key's key group may be cached by value
# (the backend's rule; numpy scalars and the like are looked up through the backend every time).
_CACHEABLE_KEY_TYPES = frozenset({str, int, float, bytes, tuple, bool})
_KEY_CACHE_LIMIT = 1 << 16
_FIRE, _CLEANUP = 0, 1


def applies(assigner: WindowAssigner, trigger: Trigger, evictor: Evictor | None, backend: Any) -> bool:
    """Whether the fast path gives the generic path's results for this window operator."""
    default = _DEFAULT_TRIGGER.get(type(assigner))
    return (default is not None and type(trigger) is default and evictor is None
            and type(backend) is HashMapKeyedStateBackend)


class _Window:
    """One window with state: its keys (in order of their first element) -> their namespace map."""

    __slots__ = ("window", "max_ts", "cleanup", "keys", "groups", "seqs")

    def __init__(self, window: TimeWindow, cleanup: int) -> None:
        self.window = window
        self.max_ts = window.end - 1
        self.cleanup = cleanup  # MAX_TIMESTAMP: never (unless that is max_ts too)
        self.keys: dict[Any, dict[Any, Any]] = {}
        self.groups: list[dict[Any, Any]] = []  # the key groups' maps holding a namespace map of it
        self.seqs: dict[Any, int] = {}  # only when cleanups interleave with firings (advance_watermark)


class AlignedFastPath:
    """Tumbling and sliding windows with their default trigger, for one ``WindowOperator``."""

    def __init__(self, op: WindowOperator) -> None:
        assigner: Any = op.assigner
        self._op = op
        self._size: int = assigner.size
        self._slide: int = assigner.slide
        self._offset: int = assigner.offset
        self._tumbling = self._size == self._slide
        self._event_time = assigner.is_event_time()
        self._lateness = op.lateness
        self._allowed = op.lateness.allowed_lateness if self._event_time else 0
        self._backend: HashMapKeyedStateBackend = op._backend
        self._timers = op._timers
        self._kind = op._descriptor.state_kind
        # the window contents: maps[key group - range start][window][key]
        self._maps: list[dict[Any, dict[Any, Any]]] = self._backend.bulk_maps(op._descriptor)
        self._key_range_start = self._backend.key_group_range.start
        self._key_groups: dict[Any, int] = {}
        if self._kind is StateKind.AGGREGATING:
            agg = op.aggregate_function
            self._agg_add: Callable[[Any, Any], Any] = agg.add
            self._agg_create: Callable[[], Any] = agg.create_accumulator
            self._agg_result: Callable[[Any], Any] = agg.get_result
            self._fold: Callable[[Sequence[Any], Sequence[Any], Iterable[int]], None] = self._fold_aggregate
        elif self._kind is StateKind.REDUCING:
            self._reduce: Callable[[Any, Any], Any] = reducer_of(op._descriptor)
            self._fold = self._fold_reduce
        else:
            self._fold = self._fold_list
        fn = op._fn
        self._fn = fn
        self._needs_key = not isinstance(fn, (PassThrough, WindowFields))  # user code may use keyed state
        self._user_clear = fn.has_user_clear()
        # cleanups at the time another window fires must interleave with its firings in timer order
        # only when they run user code (ProcessWindowFunction.clear) and there is allowed lateness
        self._seq = itertools.count() if self._user_clear and self._allowed > 0 else None
        self._windows: dict[int, _Window] = {}
        self._times: list[tuple[int, int, int]] = []  # (time, _FIRE/_CLEANUP, window start)

    # ---- elements ---------------------------------------------------------------------

    def process(self, keys: Sequence[Any], records: list[Any], ts: np.ndarray | None) -> None:
        """One batch (``ts``: its event timestamps; None in processing time)."""
        if not records:
            return
        self._backend.clear_current_key()  # reduce/aggregate functions get no keyed context
        try:
            if self._event_time:
                assert ts is not None
                self._process_event_time(keys, records, ts)
            else:
                now = self._op.ctx.get_current_processing_time()  # one instant for the whole batch
                last = TimeWindow.get_window_start_with_offset(now, self._offset, self._slide)
                for start in range(last, now - self._size, -self._slide):
                    self._fold(keys, records, [start] * len(records))
        except TypeError:
            for key in keys:  # an unhashable key? The backend names it
                self._backend.set_current_key(key)
            raise

    def _process_event_time(self, keys: Sequence[Any], records: list[Any], ts: np.ndarray) -> None:
        if int(ts.min()) == NO_TIMESTAMP:
            raise MissingTimestampError(
                f"{self._op.name}: the event-time window assigner {self._op.assigner!r} got a record without "
                f"an event timestamp; assign event time first with assign_timestamps_and_watermarks("
                f"WatermarkStrategy...), or use a processing-time window")
        wm = self._timers.current_watermark
        size = self._size
        if self._tumbling:
            starts = tumbling_window_starts(ts, size, self._offset)
            if int(starts.min()) + size - 1 > wm:  # every window is still open: the common case
                self._fold(keys, records, starts.tolist())
            else:
                self._process_exact(keys, records, ts.tolist(), None, starts.tolist())
            return
        rows, starts = sliding_window_starts(ts, size, self._slide, self._offset)
        on_time = not len(starts) or int(starts.min()) + size - 1 > wm
        if on_time and self._slide > size:  # an element in none of the windows may be late data
            windowless = np.bincount(rows, minlength=len(records)) == 0
            on_time = not windowless.any() or int(ts[windowless].min()) + self._allowed > wm
        row_list = rows.tolist()
        if on_time:
            self._fold([keys[i] for i in row_list], [records[i] for i in row_list], starts.tolist())
        else:
            self._process_exact(keys, records, ts.tolist(), row_list, starts.tolist())

    def _fold_aggregate(self, keys: Sequence[Any], values: Sequence[Any], starts: Iterable[int]) -> None:
        add, create, new_pair = self._agg_add, self._agg_create, self._new_pair
        windows, open_window = self._windows, self._open_window
        last = None
        entry: Any = None
        index: dict[Any, dict[Any, Any]] = {}
        for key, value, start in zip(keys, values, starts, strict=True):
            if start != last:
                last = start
                entry = windows.get(start) or open_window(start)
                index = entry.keys
            ns = index.get(key)
            if ns is None:
                ns = new_pair(entry, key)
                ns[key] = add(value, create())
            else:
                ns[key] = add(value, ns[key])

    def _fold_reduce(self, keys: Sequence[Any], values: Sequence[Any], starts: Iterable[int]) -> None:
        reduce, new_pair = self._reduce, self._new_pair
        windows, open_window = self._windows, self._open_window
        last = None
        entry: Any = None
        index: dict[Any, dict[Any, Any]] = {}
        for key, value, start in zip(keys, values, starts, strict=True):
            if start != last:
                last = start
                entry = windows.get(start) or open_window(start)
                index = entry.keys
            ns = index.get(key)
            if ns is None:
                new_pair(entry, key)[key] = value
            else:
                ns[key] = reduce(ns[key], value)

    def _fold_list(self, keys: Sequence[Any], values: Sequence[Any], starts: Iterable[int]) -> None:
        new_pair = self._new_pair
        windows, open_window = self._windows, self._open_window
        last = None
        entry: Any = None
        index: dict[Any, dict[Any, Any]] = {}
        for key, value, start in zip(keys, values, starts, strict=True):
            if start != last:
                last = start
                entry = windows.get(start) or open_window(start)
                index = entry.keys
            ns = index.get(key)
            if ns is None:
                new_pair(entry, key)[key] = [value]
            else:
                ns[key].append(value)

    def _process_exact(self, keys: Sequence[Any], records: list[Any], stamps: list[int],
                       rows: list[int] | None, starts: list[int]) -> None:
        """Element by element in arrival order (the batch holds late data): Flink's rules one by one."""
        wm = self._timers.current_watermark
        size = self._size
        cleanup_of = self._lateness.cleanup_time
        fold = self._fold
        windows_of: Sequence[int] = range(len(records)) if rows is None else rows  # the element of each window
        j, pairs = 0, len(starts)
        for i, (key, value, timestamp) in enumerate(zip(keys, records, stamps, strict=True)):
            accepted = False
            while j < pairs and windows_of[j] == i:
                start = starts[j]
                j += 1
                if cleanup_of(TimeWindow(start, start + size)) <= wm:
                    continue  # the window is late: its state is gone or going
                accepted = True
                fold((key,), (value,), (start,))
                if start + size - 1 <= wm:  # allowed lateness: the window fired already, fire again
                    entry = self._windows[start]
                    self._emit(entry, ((key, entry.keys[key]),), copy_lists=True)
            if not accepted:
                self._op._late(value, timestamp)

    # ---- the window index ---------------------------------------------------------------

    def _open_window(self, start: int) -> _Window:
        """The index entry of a window receiving its first key; schedules its firing and cleanup."""
        window = TimeWindow(start, start + self._size)
        entry = self._windows[start] = _Window(window, self._lateness.cleanup_time(window))
        if not self._event_time:
            self._schedule_processing_time(entry)
            return entry
        if entry.max_ts > self._timers.current_watermark:
            heapq.heappush(self._times, (entry.max_ts, _FIRE, start))
        if entry.cleanup != entry.max_ts and entry.cleanup != MAX_TIMESTAMP:
            heapq.heappush(self._times, (entry.cleanup, _CLEANUP, start))
        return entry

    def _new_pair(self, entry: _Window, key: Any) -> dict[Any, Any]:
        """The namespace map that holds ``key``'s state in ``entry``'s window, for a key new there."""
        index = self._key_groups.get(key) if type(key) in _CACHEABLE_KEY_TYPES else None
        if index is None:
            index = self._key_group_index(key)
        group = self._maps[index]
        window = entry.window
        ns = group.get(window)
        if ns is None:
            ns = group[window] = {}
            entry.groups.append(group)
        entry.keys[key] = ns
        if self._seq is not None:
            entry.seqs[key] = next(self._seq)
        return ns

    def _key_group_index(self, key: Any) -> int:
        backend = self._backend
        backend.set_current_key(key)  # hashes (or names an unhashable key, or a key of another subtask)
        group = backend.current_key_group
        backend.clear_current_key()
        assert group is not None
        index = group - self._key_range_start
        if type(key) in _CACHEABLE_KEY_TYPES:
            if len(self._key_groups) >= _KEY_CACHE_LIMIT:
                self._key_groups.clear()
            self._key_groups[key] = index
        return index

    def rebuild(self, watermark: int) -> None:
        """Recompute the index from the backend (after a restore): every (window, key) with contents
        state; windows whose end ``watermark`` passed have fired and wait for their cleanup."""
        self._windows.clear()
        self._times.clear()
        for group in self._maps:
            for window, ns in group.items():
                start = window.start
                entry = self._windows.get(start)
                if entry is None:
                    entry = self._windows[start] = _Window(TimeWindow(start, window.end),
                                                           self._lateness.cleanup_time(window))
                entry.groups.append(group)
                for key in ns:
                    entry.keys[key] = ns
                    if self._seq is not None:
                        entry.seqs[key] = next(self._seq)
        for start, entry in sorted(self._windows.items()):
            if not self._event_time:
                self._schedule_processing_time(entry)
                continue
            if entry.max_ts > watermark:
                self._times.append((entry.max_ts, _FIRE, start))
            if entry.cleanup != entry.max_ts and entry.cleanup != MAX_TIMESTAMP:
                self._times.append((entry.cleanup, _CLEANUP, start))
        heapq.heapify(self._times)

    # ---- firing -----------------------------------------------------------------------

    def advance_watermark(self, watermark: int) -> None:
        """Fire and clean up every window whose time ``watermark`` reached, in time order."""
        times = self._times
        while times and times[0][0] <= watermark:
            time = times[0][0]
            fire = cleanup = None
            while times and times[0][0] == time:
                _, what, start = heapq.heappop(times)
                if what == _FIRE:
                    fire = self._windows[start]
                else:
                    cleanup = self._windows[start]
            if fire is not None and cleanup is not None and self._seq is not None:
                self._fire_and_clean_interleaved(fire, cleanup)
                continue
            if fire is not None:
                self._fire(fire, time)
            if cleanup is not None:
                self._clean(cleanup)

    def _schedule_processing_time(self, entry: _Window) -> None:
        pts = self._op.ctx.processing_time_service
        assert pts is not None, "creating the timer service set up the processing-time service"
        pts.register_timer(entry.max_ts, functools.partial(self._on_processing_time, entry.window.start))

    def _on_processing_time(self, start: int, time: int) -> None:
        """The clock passed the end of the window starting at ``start``: it fires and its state goes."""
        entry = self._windows.get(start)
        if entry is not None:
            self._fire(entry, entry.max_ts)
            self._op._flush()

    def _fire(self, entry: _Window, time: int) -> None:
        """The window's trigger fires for every key (at the cleanup time: its state goes too)."""
        last = entry.cleanup == time
        self._emit(entry, entry.keys.items(), copy_lists=not last, clear=last and self._user_clear)
        if last:
            self._drop(entry)

    def _clean(self, entry: _Window) -> None:
        if self._user_clear:
            self._emit(entry, entry.keys.items(), fire=False, clear=True)
        self._drop(entry)

    def _fire_and_clean_interleaved(self, fire: _Window, cleanup: _Window) -> None:
        """One window fires while another's cleanup, with user code in ``clear``, is due at the same
        time: the generic path runs their timers in the order the (key, window) pairs appeared."""
        steps = sorted([(fire.seqs[k], 0, k) for k in fire.keys] + [(cleanup.seqs[k], 1, k) for k in cleanup.keys])
        for _, which, key in steps:
            if which == 0:
                self._emit(fire, ((key, fire.keys[key]),), copy_lists=True)
            else:
                self._emit(cleanup, ((key, cleanup.keys[key]),), fire=False, clear=True)
        self._drop(cleanup)

    def _drop(self, entry: _Window) -> None:
        """All state of the window goes: the namespace maps of its window in every key group."""
        window = entry.window
        for group in entry.groups:
            group.pop(window, None)
        del self._windows[window.start]

    def _emit(self, entry: _Window, pairs: Iterable[tuple[Any, dict[Any, Any]]], *, copy_lists: bool = False,
              fire: bool = True, clear: bool = False) -> None:
        """Evaluate the window function for each (key, namespace map) pair and/or call its ``clear``
        (the generic path's ``_emit_window`` and ``_clear_all_state``, for many keys at once)."""
        op = self._op
        window = entry.window
        pctx = op._pctx
        pctx.set_window(window)
        process = self._fn.process
        out, side = op._out, op._side
        emitted = len(out)
        ts = entry.max_ts
        kind = self._kind
        result = self._agg_result if kind is StateKind.AGGREGATING else None
        copy = kind is StateKind.LIST and copy_lists
        skip_none = kind is StateKind.REDUCING  # a reduced value of None is no contents (HeapReducingState)
        set_key = self._backend.set_current_key if self._needs_key or clear else None
        for key, ns in pairs:
            if set_key is not None:
                set_key(key)
            if fire:
                contents = ns[key]
                if result is not None:
                    contents = result(contents)
                elif copy:
                    contents = list(contents)
                elif skip_none and contents is None:
                    continue
                produced = process(key, window, pctx, contents)
                if produced is not None:
                    for item in produced:
                        if type(item) is tuple and len(item) == 2 and isinstance(item[0], OutputTag):
                            side(item[0].tag_id, item[1], ts)
                        else:
                            out.append(item)
            if clear:
                self._fn.clear(window, pctx)
        op._out_ts.extend(itertools.repeat(ts, len(out) - emitted))

    def __repr__(self) -> str:
        return f"AlignedFastPath({self._op.name!r}, {len(self._windows)} windows with state)"

