"""MergingWindowSet: the in-flight session windows of one key and where their state lives.

Flink's ``MergingWindowSet``. When windows merge, their contents are not moved:
the merged window keeps the *state window* (the state namespace) of one of the
windows it swallowed, and the states of the others are merged into it. The set
maps every in-flight window to its state window:

    >>> from strom.taskmanager.windowing.assigners import EventTimeSessionWindows
    >>> windows = MergingWindowSet(EventTimeSessionWindows.with_gap(10))
    >>> no_merge = lambda *args: None
    >>> windows.add_window(TimeWindow(0, 10), no_merge)
    TimeWindow(start=0, end=10)
    >>> windows.add_window(TimeWindow(25, 35), no_merge)
    TimeWindow(start=25, end=35)
    >>> windows.add_window(TimeWindow(8, 18), no_merge)
    TimeWindow(start=0, end=18)
    >>> windows.get_state_window(TimeWindow(0, 18))
    TimeWindow(start=0, end=10)

``add_window`` calls ``merge_function(merge_result, merged_windows,
state_window_result, merged_state_windows)`` for every merge that involves
windows with state: the operator then merges the trigger and the window state
of ``merged_state_windows`` into ``state_window_result`` and drops the timers
of ``merged_windows``. The new window itself is never among ``merged_windows``
(it has no state yet).

The mapping is the per-key state to checkpoint: ``snapshot()`` gives it as
pairs and ``MergingWindowSet(assigner, restored_pairs)`` restores it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Protocol

from strom.taskmanager.windowing.assigners import MergingWindowAssigner
from strom.taskmanager.windowing.windows import TimeWindow, Window


class MergeFunction(Protocol):
    def __call__(self, merge_result: Any, merged_windows: Collection[Any], state_window_result: Any,
                 merged_state_windows: Collection[Any]) -> None: ...


def _order(window: Window) -> tuple[int, int]:
    if isinstance(window, TimeWindow):
        return (window.start, window.end)
    return (0, 0)


class MergingWindowSet:
    """One key's in-flight windows of a merging assigner. Owned by the task thread."""

    def __init__(self, assigner: MergingWindowAssigner, restored: Iterable[tuple[Any, Any]] = ()) -> None:
        self.assigner = assigner
        self._mapping: dict[Any, Any] = dict(restored)
        self._persisted: dict[Any, Any] = dict(self._mapping)

    # ---- inspection ---------------------------------------------------------------

    def get_state_window(self, window: Any) -> Any | None:
        """The state window (state namespace) of an in-flight window, None if not in flight."""
        return self._mapping.get(window)

    def windows(self) -> list[Any]:
        return list(self._mapping)

    def __len__(self) -> int:
        return len(self._mapping)

    def __contains__(self, window: object) -> bool:
        return window in self._mapping

    # ---- changes ------------------------------------------------------------------

    def retire_window(self, window: Any) -> None:
        """Remove a window that was fired and purged, or dropped as late."""
        if self._mapping.pop(window, None) is None:
            raise ValueError(f"window {window!r} is not in the in-flight window set")

    def add_window(self, new_window: Any, merge_function: MergeFunction) -> Any:
        """Add ``new_window``, merging as the assigner says; returns the window it ended up in
        (itself, or the merge result that swallowed it). Add elements and call triggers only
        on the returned window."""
        was_in_flight = new_window in self._mapping
        merges: list[tuple[Any, list[Any]]] = []
        self.assigner.merge_windows(
            [*self._mapping, new_window],
            lambda to_merge, result: merges.append((result, sorted(set(to_merge), key=_order))))

        result_window = new_window
        merged_new_window = False
        for merge_result, merged in merges:
            if new_window in merged:
                result_window = merge_result
                merged_new_window = True
                if not was_in_flight:
                    merged.remove(new_window)
            # the merge result keeps the state window of the earliest window it swallowed
            state_window = self._mapping[merged[0]]
            merged_state_windows = [sw for sw in (self._mapping.pop(w, None) for w in merged) if sw is not None]
            self._mapping[merge_result] = state_window
            merged_state_windows.remove(state_window)
            # an existing window that only absorbed the new window, without growing, merges nothing
            if not (len(merged) == 1 and merged[0] == merge_result):
                merge_function(merge_result, merged, state_window, merged_state_windows)

        if result_window == new_window and not merged_new_window:
            self._mapping.setdefault(new_window, new_window)
        return result_window

    # ---- checkpointing ------------------------------------------------------------

    def snapshot(self) -> list[tuple[Any, Any]]:
        """``(window, state_window)`` pairs, ordered by window."""
        return sorted(self._mapping.items(), key=lambda item: _order(item[0]))

    @property
    def changed(self) -> bool:
        """Whether the mapping differs from the last restore/``mark_persisted``."""
        return self._mapping != self._persisted

    def mark_persisted(self) -> None:
        self._persisted = dict(self._mapping)

    def __repr__(self) -> str:
        return f"MergingWindowSet({self.snapshot()!r})"
