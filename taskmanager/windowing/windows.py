"""Windows: ``TimeWindow`` (a half-open interval of time) and ``GlobalWindow``.

    >>> w = TimeWindow(0, 10_000)
    >>> w.max_timestamp()
    9999
    >>> TimeWindow.get_window_start_with_offset(-1, 0, 10_000)
    -10000
    >>> w.cover(TimeWindow(5_000, 15_000))
    TimeWindow(start=0, end=15000)

Windows are immutable, hashable and picklable: they are the namespaces of window
state and timers.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any, NamedTuple, Protocol, TypeAlias, runtime_checkable

from strom.taskmanager.time.timestamps import MAX_TIMESTAMP


@runtime_checkable
class Window(Protocol):
    """A grouping of elements into a finite bucket; its ``max_timestamp`` is the last
    timestamp that belongs to it (the time its event-time trigger fires at). Windows are
    immutable and hashable."""

    def max_timestamp(self) -> int: ...


class TimeWindow(NamedTuple):
    """The window ``[start, end)`` in milliseconds. Ordered by (start, end).

    A named tuple, because windows are hashed for every element, timer and state
    access: its hash and equality run in C. (It therefore also equals the plain
    tuple ``(start, end)``.)
    """

    start: int
    end: int

    def max_timestamp(self) -> int:
        return self.end - 1

    def intersects(self, other: TimeWindow) -> bool:
        """True if the windows overlap *or touch* (Flink's rule: sessions [0, 10) and
        [10, 20) merge)."""
        return self.start <= other.end and self.end >= other.start

    def cover(self, other: TimeWindow) -> TimeWindow:
        """The smallest window containing both."""
        return TimeWindow(min(self.start, other.start), max(self.end, other.end))

    @staticmethod
    def get_window_start_with_offset(timestamp: int, offset: int, window_size: int) -> int:
        """Start of the window of size ``window_size`` (aligned to the epoch plus ``offset``)
        that contains ``timestamp``; correct for negative timestamps and offsets."""
        return timestamp - (timestamp - offset) % window_size



MergeCallback: TypeAlias = Callable[[Collection[Any], Any], None]
"""``merge(to_be_merged, merge_result)``, called by a merging assigner once per merge."""


def merge_windows(windows: Iterable[TimeWindow], callback: MergeCallback) -> None:
    """Merge overlapping (or touching) time windows: sort by start, sweep, and report every
    group of more than one window with its cover (Flink's ``TimeWindow.mergeWindows``)."""
    ordered = sorted(windows, key=lambda w: w.start)
    groups: list[tuple[TimeWindow, set[TimeWindow]]] = []
    current: TimeWindow | None = None
    members: set[TimeWindow] = set()
    for candidate in ordered:
        if current is None:
            current, members = candidate, {candidate}
        elif current.intersects(candidate):
            current = current.cover(candidate)
            members.add(candidate)
        else:
            groups.append((current, members))
            current, members = candidate, {candidate}
    if current is not None:
        groups.append((current, members))
    for result, merged in groups:
        if len(merged) > 1:
            callback(merged, result)


class GlobalWindow:
    """The one window that holds every element of a key (``GlobalWindows``). A singleton."""

    __slots__ = ()
    _instance: GlobalWindow | None = None

    def __new__(cls) -> GlobalWindow:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    @classmethod
    def get(cls) -> GlobalWindow:
        return cls()

    def max_timestamp(self) -> int:
        return MAX_TIMESTAMP

    def __reduce__(self) -> tuple[Any, ...]:
        return (GlobalWindow, ())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GlobalWindow)

    def __hash__(self) -> int:
        return 0x61_0B_A1

    def __repr__(self) -> str:
        return "GlobalWindow"
