"""Evictors: remove elements from a window's contents before and/or after its function runs.

Flink's ``Evictor``. The window operator hands an evictor the window's elements
as a list of ``TimestampedValue``; the evictor removes elements *from that list
in place*:

    >>> elements = [TimestampedValue(v, t) for v, t in (("a", 1), ("b", 2), ("c", 3))]
    >>> CountEvictor.of(2).evict_before(elements, len(elements), None, None)
    >>> [e.value for e in elements]
    ['b', 'c']

``evict_before`` runs before the window function, ``evict_after`` after it
(for evictors created with ``do_evict_after=True``, as in Flink).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from strom.taskmanager.time.durations import DurationLike, positive_millis
from strom.taskmanager.windowing.windows import Window


@dataclass(slots=True)
class TimestampedValue:
    """An element of a window with its timestamp (None when it has none)."""

    value: Any
    timestamp: int | None = None

    def has_timestamp(self) -> bool:
        return self.timestamp is not None


class EvictorContext(Protocol):
    def get_current_processing_time(self) -> int: ...

    def get_current_watermark(self) -> int: ...


class Evictor:
    """Base class. Override ``evict_before`` and/or ``evict_after``; mutate ``elements``."""

    def evict_before(self, elements: list[TimestampedValue], size: int, window: Window | None,
                     ctx: EvictorContext | None) -> None:
        pass

    def evict_after(self, elements: list[TimestampedValue], size: int, window: Window | None,
                    ctx: EvictorContext | None) -> None:
        pass


class _BeforeOrAfter(Evictor):
    do_evict_after: bool

    def evict_before(self, elements: list[TimestampedValue], size: int, window: Window | None,
                     ctx: EvictorContext | None) -> None:
        if not self.do_evict_after:
            self.evict(elements, size)

    def evict_after(self, elements: list[TimestampedValue], size: int, window: Window | None,
                    ctx: EvictorContext | None) -> None:
        if self.do_evict_after:
            self.evict(elements, size)

    def evict(self, elements: list[TimestampedValue], size: int) -> None:
        raise NotImplementedError


class CountEvictor(_BeforeOrAfter):
    """Keeps at most ``max_count`` elements: the most recent ones (the end of the list)."""

    def __init__(self, max_count: int, do_evict_after: bool = False) -> None:
        if isinstance(max_count, bool) or not isinstance(max_count, int) or max_count < 0:
            raise ValueError(f"CountEvictor needs a non-negative element count, got {max_count!r}")
        self.max_count = max_count
        self.do_evict_after = do_evict_after

    @classmethod
    def of(cls, max_count: int, do_evict_after: bool = False) -> CountEvictor:
        return cls(max_count, do_evict_after)

    def evict(self, elements: list[TimestampedValue], size: int) -> None:
        excess = len(elements) - self.max_count
        if excess > 0:
            del elements[:excess]

    def __repr__(self) -> str:
        return f"CountEvictor({self.max_count}{', after' if self.do_evict_after else ''})"


class TimeEvictor(_BeforeOrAfter):
    """Keeps the elements within ``window_size`` of the newest element's timestamp: removes
    those with ``timestamp <= max_timestamp - window_size`` (and any without a timestamp).
    Does nothing when the first element carries no timestamp (as in Flink)."""

    def __init__(self, window_size: DurationLike, do_evict_after: bool = False) -> None:
        self.window_size = positive_millis(window_size, "TimeEvictor window size")
        self.do_evict_after = do_evict_after

    @classmethod
    def of(cls, window_size: DurationLike, do_evict_after: bool = False) -> TimeEvictor:
        return cls(window_size, do_evict_after)

    def evict(self, elements: list[TimestampedValue], size: int) -> None:
        if not elements or not elements[0].has_timestamp():
            return
        newest = max(e.timestamp for e in elements if e.timestamp is not None)
        cutoff = newest - self.window_size
        elements[:] = [e for e in elements if e.timestamp is not None and e.timestamp > cutoff]

    def __repr__(self) -> str:
        return f"TimeEvictor({self.window_size} ms{', after' if self.do_evict_after else ''})"


class DeltaEvictor(_BeforeOrAfter):
    """Keeps the elements whose ``delta_function(element, last_element)`` is below ``threshold``."""

    def __init__(self, threshold: float, delta_function: Callable[[Any, Any], float],
                 do_evict_after: bool = False) -> None:
        self.threshold = threshold
        self.delta_function = delta_function
        self.do_evict_after = do_evict_after

    @classmethod
    def of(cls, threshold: float, delta_function: Callable[[Any, Any], float],
           do_evict_after: bool = False) -> DeltaEvictor:
        return cls(threshold, delta_function, do_evict_after)

    def evict(self, elements: list[TimestampedValue], size: int) -> None:
        if not elements:
            return
        last = elements[-1].value
        delta = self.delta_function
        elements[:] = [e for e in elements if delta(e.value, last) < self.threshold]

    def __repr__(self) -> str:
        return f"DeltaEvictor({self.threshold})"
