"""The window operator's fast path for session windows with their default trigger.

The generic path (``operator.py``) handles a session element in layers: it
rebuilds the key's ``MergingWindowSet`` from state, lets it run the assigner's
merge sweep with callbacks, calls the trigger's ``on_merge``, ``clear`` and
``on_element`` through a trigger context, and persists the set again; about 150
Python calls per element. When ``applies()`` (event- or processing-time
sessions, fixed or dynamic gap, ``EventTimeTrigger`` / ``ProcessingTimeTrigger``,
no evictor), this module does the same steps inline, on the same state and the
same timers:

- the key's in-flight windows are read from, and written back to, the same
  ``__window/merging-window-set`` state (sorted ``(window, state window)`` pairs),
  only when they change;
- the new window ``[t, t + gap)`` merges with every in-flight window it overlaps
  or touches (in-flight windows never do among themselves, so that is the whole
  merge group); the merged window keeps the state window of the earliest one
  (``MergingWindowSet``'s rule), the other state windows merge into it;
- timers are registered and deleted exactly as the default triggers and the
  cleanup logic do, with the timer service (so they fire in the same order,
  through the generic path's ``_on_timer``, which reads the same state).

In event time, an input batch is taken in runs between the elements whose own
window already ends at or before the watermark (those may fire at once, retire a
window or be late: they go one by one, in input order). Within a run, elements
go key by key (input order within a key), the key's window set is read and
written once, and a timer is registered once per window that is still in flight
at the end of the run, in the order the generic path first registered it (so
timers with equal timestamps still fire in the same order).

Nothing is kept outside the state backend and the timer service, so a
checkpoint of those is complete. Owned by the window operator, on its task thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from strom.taskmanager.time.timestamps import MAX_TIMESTAMP, NO_TIMESTAMP
from strom.taskmanager.windowing.assigners import (
    EventTimeSessionWindows,
    ProcessingTimeSessionWindows,
    WindowAssigner,
)
from strom.taskmanager.windowing.evictors import Evictor
from strom.taskmanager.windowing.triggers import (
    EventTimeTrigger,
    ProcessingTimeTrigger,
    Trigger,
    TriggerResult,
)
from strom.taskmanager.windowing.windows import TimeWindow

if TYPE_CHECKING:
    from strom.taskmanager.operators.window.operator import WindowOperator

_DEFAULT_TRIGGER: dict[type, type] = {
    EventTimeSessionWindows: EventTimeTrigger,
    ProcessingTimeSessionWindows: ProcessingTimeTrigger,
}


def applies(assigner: WindowAssigner, trigger: Trigger, evictor: Evictor | None) -> bool:
    """Whether the session fast path gives the generic path's results for this window operator."""
    default = _DEFAULT_TRIGGER.get(type(assigner))
    return default is not None and type(trigger) is default and evictor is None


_window = tuple.__new__  # a TimeWindow without the named tuple's Python-level __new__


class SessionFastPath:
    """Session windows with their default trigger, for one ``WindowOperator``."""

    def __init__(self, op: WindowOperator) -> None:
        self._op = op
        assigner: Any = op.assigner
        self._assigner = assigner
        self._gap: int | None = assigner.gap  # None: a dynamic gap
        self._event_time = op.assigner.is_event_time()
        self._allowed = op.lateness.allowed_lateness if self._event_time else 0
        timers = self._timers = op._timers
        if self._event_time:
            self._register, self._delete = timers.register_event_time_timer, timers.delete_event_time_timer
        else:
            self._register = timers.register_processing_time_timer
            self._delete = timers.delete_processing_time_timer

    def process(self, keys: Sequence[Any], records: list[Any], ts: np.ndarray | None) -> None:
        if ts is None or not self._event_time:
            stamps = [NO_TIMESTAMP] * len(records) if ts is None else ts.tolist()
            self._process_each(keys, records, stamps, range(len(records)))
            return
        now = self._timers.current_watermark
        stamps: list[int] = ts.tolist()
        if self._gap is None:  # the new windows, in element order (the gap function sees them in order)
            assign, tctx = self._assigner.assign_windows, self._op._tctx
            news = [None if t == NO_TIMESTAMP else assign(v, t, tctx)[0]
                    for v, t in zip(records, stamps, strict=True)]
            special = [i for i, w in enumerate(news) if w is None or w.end - 1 <= now]
        else:
            news = None
            behind = ts == NO_TIMESTAMP  # (names the missing timestamp, on the per-element path)
            if now - self._gap + 1 > NO_TIMESTAMP:
                behind |= ts <= now - self._gap + 1
            special = np.flatnonzero(behind).tolist()
        # Elements whose own window is already behind the watermark may fire, retire or be late: they
        # go one by one in input order; the runs between them are grouped by key.
        start = 0
        for i in special:
            if i > start:
                self._process_grouped(keys, records, stamps, news, start, i, now)
            self._process_each(keys, records, stamps, range(i, i + 1))
            start = i + 1
        if start < len(records):
            self._process_grouped(keys, records, stamps, news, start, len(records), now)

    def _process_each(self, keys: Sequence[Any], records: list[Any], stamps: list[int], indexes: range) -> None:
        op = self._op
        set_key = op._backend.set_current_key
        tctx = op._tctx
        add, late = self._add, op._late
        for i in indexes:
            key, value, timestamp = keys[i], records[i], stamps[i]
            set_key(key)
            tctx.key = key
            if not add(key, value, timestamp):
                late(value, timestamp)

    def _process_grouped(self, keys: Sequence[Any], records: list[Any], stamps: list[int],
                         news: list[Any] | None, start: int, stop: int, now: int) -> None:
        """Event-time elements ``start:stop`` whose new windows all end after the watermark ``now``.

        Such an element is never late, never fires and never merges into a late window, so it only
        changes its key's windows, contents and timers. Elements are taken key by key (input order
        within a key, which is all the contents and merges see); the key's window set is read and
        written once. Timers of windows born in the run are registered at its end, ordered by the
        element that registered them on the generic path (the timer service orders equal timestamps
        by first registration), and never registered when the window merges away within the run.
        """
        groups: dict[Any, list[int]] = {}
        for i in range(start, stop):
            key = keys[i]
            group = groups.get(key)
            if group is None:
                groups[key] = [i]
            else:
                group.append(i)
        op = self._op
        set_key, tctx = op._backend.set_current_key, op._tctx
        merging_state, state = op._merging_state, op._state
        merge_namespaces, descriptor = op._backend.merge_namespaces, op._descriptor
        delete, allowed, gap = self._delete, self._allowed, self._gap
        born: dict[tuple[int, Any, Any], tuple[int, int]] = {}  # (timestamp, key, window) -> birth
        for key, group in groups.items():
            set_key(key)
            tctx.key = key
            pairs = merging_state.value()
            mapping: dict[Any, Any] = dict(pairs) if pairs else {}
            changed = False
            for i in group:
                if news is None:
                    t = stamps[i]
                    new = _window(TimeWindow, (t, t + gap))
                else:
                    new = news[i]
                if new in mapping:
                    actual = new
                else:
                    n_start, n_end = new
                    hits = [w for w in mapping if w[0] <= n_end and w[1] >= n_start]
                    if not hits:
                        changed = True
                        mapping[new] = actual = new
                        max_ts = n_end - 1
                        born[(max_ts, key, new)] = (i, 0)
                        if allowed and max_ts + allowed < MAX_TIMESTAMP:
                            born[(max_ts + allowed, key, new)] = (i, 1)
                    else:
                        if len(hits) > 1:
                            hits.sort()  # by (start, end)
                            end = max(n_end, max(w[1] for w in hits))
                        else:
                            end = max(n_end, hits[0][1])
                        first = hits[0]
                        actual = _window(TimeWindow, (min(n_start, first[0]), end))
                        state_window = mapping[first]
                        merged_state_windows = [mapping.pop(w) for w in hits]
                        mapping[actual] = state_window
                        merged_state_windows.remove(state_window)
                        if not (len(hits) == 1 and first == actual):  # else absorbed, nothing grew
                            changed = True
                            max_ts = end - 1
                            born[(max_ts, key, actual)] = (i, 0)  # the trigger's on_merge
                            for window in hits:
                                window_max_ts = window[1] - 1
                                if born.pop((window_max_ts, key, window), None) is None:
                                    delete(key, window, window_max_ts)  # the trigger's clear
                                if allowed and window_max_ts + allowed < MAX_TIMESTAMP:
                                    cleanup = window_max_ts + allowed
                                    if born.pop((cleanup, key, window), None) is None:
                                        delete(key, window, cleanup)  # the cleanup timer
                            if merged_state_windows:
                                merge_namespaces(state_window, merged_state_windows, descriptor)
                            if allowed and max_ts + allowed < MAX_TIMESTAMP:
                                born[(max_ts + allowed, key, actual)] = (i, 1)
                state.set_current_namespace(mapping[actual])
                state.add(records[i])
            if changed:
                merging_state.update(sorted(mapping.items()))
        if born:
            register = self._register
            for timestamp, key, window in sorted(born, key=born.__getitem__):
                register(key, window, timestamp)

    def _add(self, key: Any, value: Any, timestamp: int) -> bool:
        """One element of the current key; False when no window took it.

        Registering a timer that exists already and deleting one that does not are no-ops of the
        timer service (no sequence number is used up), so they are skipped: the timers of a window
        already in flight exist, and without allowed lateness the cleanup timer is the trigger's.
        """
        op = self._op
        event_time = self._event_time
        if event_time:
            now = self._timers.current_watermark  # "now" is the watermark in event time
            if timestamp == NO_TIMESTAMP or self._gap is None:
                (new,) = self._assigner.assign_windows(value, timestamp, op._tctx)  # names a missing timestamp
            else:
                new = _window(TimeWindow, (timestamp, timestamp + self._gap))
        else:
            now = op._tctx.get_current_processing_time()
            if self._gap is None:
                (new,) = self._assigner.assign_windows(value, timestamp, op._tctx)
            else:
                new = _window(TimeWindow, (now, now + self._gap))
        merging_state = op._merging_state
        pairs = merging_state.value()
        mapping: dict[Any, Any] = dict(pairs) if pairs else {}
        fresh = grown = False  # ``actual`` is a window new in flight / the result of a merge
        if new in mapping:
            actual = new
        else:
            hits = [w for w in mapping if w.start <= new.end and w.end >= new.start]
            if not hits:
                mapping[new] = actual = new
                fresh = True
            else:
                hits.sort()  # by (start, end)
                end = max(new.end, max(w.end for w in hits)) if len(hits) > 1 else max(new.end, hits[0].end)
                actual = _window(TimeWindow, (min(new.start, hits[0].start), end))
                state_window = mapping[hits[0]]
                merged_state_windows = [mapping.pop(w) for w in hits]
                mapping[actual] = state_window
                merged_state_windows.remove(state_window)
                if not (len(hits) == 1 and hits[0] == actual):  # else absorbed by a window that did not grow
                    self._merge(key, actual, hits, state_window, merged_state_windows, now)
                    grown = True
        max_ts = actual.end - 1
        cleanup = max_ts + self._allowed if event_time else max_ts
        if cleanup > MAX_TIMESTAMP:
            cleanup = MAX_TIMESTAMP
        if event_time and cleanup <= now:  # the window is late: retire it
            del mapping[actual]
            if mapping != dict(pairs or ()):
                merging_state.update(sorted(mapping.items()) or None)
            return False
        state = op._state
        state.set_current_namespace(mapping[actual])
        state.add(value)
        if event_time and max_ts <= now:  # EventTimeTrigger.on_element: the window fired already
            op._tctx.window = actual
            op._act(TriggerResult.FIRE, actual)
        elif fresh:
            self._register(key, actual, max_ts)  # (a merged window got it in on_merge)
        if fresh or grown:
            if cleanup != MAX_TIMESTAMP and cleanup != max_ts:
                self._register(key, actual, cleanup)
            merging_state.update(sorted(mapping.items()))
        return True

    def _merge(self, key: Any, result: TimeWindow, merged: list[TimeWindow], state_window: TimeWindow,
               merged_state_windows: list[TimeWindow], now: int) -> None:
        """The generic path's merge callback with the default trigger's ``on_merge`` and ``clear``."""
        op = self._op
        error = op._merge_error(result)
        if error is not None:
            raise error
        max_ts = result.end - 1
        if max_ts > now:  # the trigger's on_merge
            self._register(key, result, max_ts)
        delete, allowed = self._delete, self._allowed
        for window in merged:
            window_max_ts = window.end - 1
            delete(key, window, window_max_ts)  # the trigger's clear
            if allowed and window_max_ts + allowed < MAX_TIMESTAMP:
                delete(key, window, window_max_ts + allowed)  # the cleanup timer
        if merged_state_windows:
            op._backend.merge_namespaces(state_window, merged_state_windows, op._descriptor)

    def __repr__(self) -> str:
        return f"SessionFastPath({self._op.name!r})"
