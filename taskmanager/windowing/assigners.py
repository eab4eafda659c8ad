"""Window assigners: which windows an element belongs to (Flink's WindowAssigner family).

    >>> TumblingEventTimeWindows.of(10_000).assign_windows("bid", 12_345, None)
    [TimeWindow(start=10000, end=20000)]
    >>> SlidingEventTimeWindows.of(10_000, 5_000).assign_windows("bid", 12_345, None)
    [TimeWindow(start=10000, end=20000), TimeWindow(start=5000, end=15000)]
    >>> EventTimeSessionWindows.with_gap(3_000).assign_windows("bid", 12_345, None)
    [TimeWindow(start=12345, end=15345)]

Sizes, slides, offsets and gaps are ``Duration``/``Time`` from
``strom.client.api.time``, ``datetime.timedelta`` or int milliseconds. Tumbling
and sliding assigners also assign whole timestamp arrays at once
(``window_starts``) for the Arrow fast path. Session assigners merge windows
(``MergingWindowAssigner``); the window operator keeps a ``MergingWindowSet``
per key for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeAlias

import numpy as np

from strom.taskmanager.time.durations import DurationLike, positive_millis, to_millis
from strom.taskmanager.time.errors import MissingTimestampError
from strom.taskmanager.time.timestamps import NO_TIMESTAMP
from strom.taskmanager.windowing.triggers import (
    EventTimeTrigger,
    NeverTrigger,
    ProcessingTimeTrigger,
    Trigger,
)
from strom.taskmanager.windowing.vectorized import sliding_window_starts, tumbling_window_starts
from strom.taskmanager.windowing.windows import GlobalWindow, MergeCallback, TimeWindow, Window, merge_windows


class WindowAssignerContext(Protocol):
    def get_current_processing_time(self) -> int: ...


def _require_timestamp(timestamp: int, assigner: WindowAssigner) -> None:
    if timestamp == NO_TIMESTAMP:
        raise MissingTimestampError(
            f"{assigner!r} got a record without an event timestamp; assign event time first with "
            f"assign_timestamps_and_watermarks(WatermarkStrategy...), or use a processing-time window")


class WindowAssigner:
    """Base class (PyFlink's method names)."""

    def assign_windows(self, element: Any, timestamp: int, context: WindowAssignerContext | None) -> list[Window]:
        raise NotImplementedError

    def get_default_trigger(self) -> Trigger:
        raise NotImplementedError

    def is_event_time(self) -> bool:
        raise NotImplementedError


class MergingWindowAssigner(WindowAssigner):
    """An assigner whose windows can merge (sessions)."""

    def merge_windows(self, windows: Iterable[Window], callback: MergeCallback) -> None:
        """Call ``callback(to_be_merged, merge_result)`` for every group of windows that merge."""
        raise NotImplementedError


class AlignedWindowAssigner(WindowAssigner):
    """Tumbling and sliding windows: fixed size, aligned to the epoch plus ``offset``.

    ``size == slide`` is tumbling. ``window_starts`` assigns a whole array.
    """

    size: int
    slide: int
    offset: int

    def _windows(self, timestamp: int) -> list[Window]:
        last_start = TimeWindow.get_window_start_with_offset(timestamp, self.offset, self.slide)
        return [TimeWindow(start, start + self.size)
                for start in range(last_start, timestamp - self.size, -self.slide)]

    def window_starts(self, timestamps: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, starts)`` for an int64 timestamp array (numpy or Arrow): the window of
        ``rows[j]`` is ``[starts[j], starts[j] + size)``."""
        if self.size == self.slide:
            starts = tumbling_window_starts(timestamps, self.size, self.offset)
            return np.arange(len(starts), dtype=np.int64), starts
        return sliding_window_starts(timestamps, self.size, self.slide, self.offset)

    def __repr__(self) -> str:
        extra = "" if self.size == self.slide else f", slide={self.slide}"
        extra += f", offset={self.offset}" if self.offset else ""
        return f"{type(self).__name__}(size={self.size}{extra})"


def _offset_ms(cls_name: str, offset: DurationLike | None) -> int:
    return 0 if offset is None else to_millis(offset, f"{cls_name} offset")


def _tumbling_args(cls_name: str, size: DurationLike, offset: DurationLike | None) -> tuple[int, int]:
    size_ms = positive_millis(size, f"{cls_name} size")
    offset_ms = _offset_ms(cls_name, offset)
    if abs(offset_ms) >= size_ms:
        raise ValueError(f"{cls_name} parameters must satisfy abs(offset) < size, got size={size_ms} ms "
                         f"and offset={offset_ms} ms")
    return size_ms, offset_ms


def _sliding_args(cls_name: str, size: DurationLike, slide: DurationLike,
                  offset: DurationLike | None) -> tuple[int, int, int]:
    size_ms = positive_millis(size, f"{cls_name} size")
    slide_ms = positive_millis(slide, f"{cls_name} slide")
    offset_ms = _offset_ms(cls_name, offset)
    if abs(offset_ms) >= slide_ms:
        raise ValueError(f"{cls_name} parameters must satisfy abs(offset) < slide, got slide={slide_ms} ms "
                         f"and offset={offset_ms} ms")
    return size_ms, slide_ms, offset_ms


class TumblingEventTimeWindows(AlignedWindowAssigner):
    """Consecutive, non-overlapping event-time windows of a fixed size.

    ``offset`` shifts the alignment, e.g. ``of(Time.days(1), Time.hours(-8))`` for
    days in UTC+8.
    """

    def __init__(self, size: DurationLike, offset: DurationLike | None = 0) -> None:
        self.size, self.offset = _tumbling_args("TumblingEventTimeWindows", size, offset)
        self.slide = self.size

    @classmethod
    def of(cls, size: DurationLike, offset: DurationLike | None = 0) -> TumblingEventTimeWindows:
        return cls(size, offset)

    def assign_windows(self, element: Any, timestamp: int, context: WindowAssignerContext | None) -> list[Window]:
        if timestamp == NO_TIMESTAMP:
            _require_timestamp(timestamp, self)
        size = self.size
        start = timestamp - (timestamp - self.offset) % size
        return [TimeWindow(start, start + size)]

    def get_default_trigger(self) -> Trigger:
        return EventTimeTrigger()

    def is_event_time(self) -> bool:
        return True


class TumblingProcessingTimeWindows(AlignedWindowAssigner):
    """Tumbling windows of the processing time at which elements arrive."""

    def __init__(self, size: DurationLike, offset: DurationLike | None = 0) -> None:
        self.size, self.offset = _tumbling_args("TumblingProcessingTimeWindows", size, offset)
        self.slide = self.size

    @classmethod
    def of(cls, size: DurationLike, offset: DurationLike | None = 0) -> TumblingProcessingTimeWindows:
        return cls(size, offset)

    def assign_windows(self, element: Any, timestamp: int, context: WindowAssignerContext | None) -> list[Window]:
        assert context is not None, "processing-time assigners need a context"
        now = context.get_current_processing_time()
        start = TimeWindow.get_window_start_with_offset(now, self.offset, self.size)
        return [TimeWindow(start, start + self.size)]

    def get_default_trigger(self) -> Trigger:
        return ProcessingTimeTrigger()

    def is_event_time(self) -> bool:
        return False


class SlidingEventTimeWindows(AlignedWindowAssigner):
    """Event-time windows of ``size`` starting every ``slide``: an element is in about
    ``size / slide`` windows (none when it falls in a gap of ``slide > size``)."""

    def __init__(self, size: DurationLike, slide: DurationLike, offset: DurationLike | None = 0) -> None:
        self.size, self.slide, self.offset = _sliding_args("SlidingEventTimeWindows", size, slide, offset)

    @classmethod
    def of(cls, size: DurationLike, slide: DurationLike, offset: DurationLike | None = 0) -> SlidingEventTimeWindows:
        return cls(size, slide, offset)

    def assign_windows(self, element: Any, timestamp: int, context: WindowAssignerContext | None) -> list[Window]:
        _require_timestamp(timestamp, self)
        return self._windows(timestamp)

    def get_default_trigger(self) -> Trigger:
        return EventTimeTrigger()

    def is_event_time(self) -> bool:
        return True


class SlidingProcessingTimeWindows(AlignedWindowAssigner):
    def __init__(self, size: DurationLike, slide: DurationLike, offset: DurationLike | None = 0) -> None:
        self.size, self.slide, self.offset = _sliding_args("SlidingProcessingTimeWindows", size, slide, offset)

    @classmethod
    def of(cls, size: DurationLike, slide: DurationLike, offset: DurationLike | None = 0) -> SlidingProcessingTimeWindows:
        return cls(size, slide, offset)

    def assign_windows(self, element: Any, timestamp: int, context: WindowAssignerContext | None) -> list[Window]:
        assert context is not None, "processing-time assigners need a context"
        return self._windows(context.get_current_processing_time())

    def get_default_trigger(self) -> Trigger:
        return ProcessingTimeTrigger()

    def is_event_time(self) -> bool:
        return False


class SessionWindowTimeGapExtractor:
    """Gives the session gap for an element (``with_dynamic_gap``), in ms or as a Duration."""

    def extract(self, element: Any) -> DurationLike:
        raise NotImplementedError(f"{type(self).__name__} must implement extract(element)")


GapExtractor: TypeAlias = SessionWindowTimeGapExtractor | Callable[[Any], DurationLike]


class _SessionWindows(MergingWindowAssigner):
    """A session window per element, ``[t, t + gap)``; overlapping or touching ones merge."""

    _event_time: bool

    def __init__(self, gap: DurationLike | None = None, extractor: GapExtractor | None = None) -> None:
        name = type(self).__name__
        self.gap = positive_millis(gap, f"{name} gap") if gap is not None else None
        if extractor is not None and not callable(getattr(extractor, "extract", extractor)):
            raise TypeError(f"{name}: the dynamic gap extractor must be a SessionWindowTimeGapExtractor "
                            f"or a callable element -> gap")
        self.extractor = extractor
        if (self.gap is None) == (extractor is None):
            raise ValueError(f"{name} needs either a gap or a dynamic gap extractor")

    def _gap_of(self, element: Any) -> int:
        if self.gap is not None:
            return self.gap
        extractor: Any = self.extractor
        extract: Callable[[Any], DurationLike] = getattr(extractor, "extract", extractor)
        raw = extract(element)
        gap = to_millis(raw, f"{type(self).__name__} dynamic gap")
        if gap <= 0:
            raise ValueError(f"{type(self).__name__}: the dynamic session gap must satisfy 0 < gap, "
                             f"got {gap} ms for element {element!r:.120}")
        return gap

    def merge_windows(self, windows: Iterable[Window], callback: MergeCallback) -> None:
        merge_windows(windows, callback)  # type: ignore[arg-type]

    def is_event_time(self) -> bool:
        return self._event_time

    def get_default_trigger(self) -> Trigger:
        return EventTimeTrigger() if self._event_time else ProcessingTimeTrigger()

    def __repr__(self) -> str:
        what = f"gap={self.gap}" if self.gap is not None else f"dynamic_gap={self.extractor!r}"
        return f"{type(self).__name__}({what})"


class EventTimeSessionWindows(_SessionWindows):
    _event_time = True

    @classmethod
    def with_gap(cls, gap: DurationLike) -> EventTimeSessionWindows:
        return cls(gap)

    @classmethod
    def with_dynamic_gap(cls, extractor: GapExtractor) -> EventTimeSessionWindows:
        return cls(extractor=extractor)

    def assign_windows(self, element: Any, timestamp: int, context: WindowAssignerContext | None) -> list[Window]:
        _require_timestamp(timestamp, self)
        return [TimeWindow(timestamp, timestamp + self._gap_of(element))]


class ProcessingTimeSessionWindows(_SessionWindows):
    _event_time = False

    @classmethod
    def with_gap(cls, gap: DurationLike) -> ProcessingTimeSessionWindows:
        return cls(gap)

    @classmethod
    def with_dynamic_gap(cls, extractor: GapExtractor) -> ProcessingTimeSessionWindows:
        return cls(extractor=extractor)

    def assign_windows(self, element: Any, timestamp: int, context: WindowAssignerContext | None) -> list[Window]:
        assert context is not None, "processing-time assigners need a context"
        now = context.get_current_processing_time()
        return [TimeWindow(now, now + self._gap_of(element))]


class GlobalWindows(WindowAssigner):
    """Every element of a key in one window; fires only with a trigger you give it
    (e.g. ``CountTrigger.of(100)``), never by default."""

    @classmethod
    def create(cls) -> GlobalWindows:
        return cls()

    def assign_windows(self, element: Any, timestamp: int, context: WindowAssignerContext | None) -> list[Window]:
        return [GlobalWindow()]

    def get_default_trigger(self) -> Trigger:
        return NeverTrigger()

    def is_event_time(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "GlobalWindows()"
