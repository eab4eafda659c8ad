"""Watermark generators (Flink's ``WatermarkGenerator`` family), pure and clock-driven.

A generator watches event timestamps (``on_event`` per record, ``on_timestamps``
per Arrow batch) and, when asked periodically (``on_periodic_emit``), tells a
``WatermarkOutput`` how far event time has progressed or that the stream is idle:

    >>> gen = BoundedOutOfOrdernessWatermarks(out_of_orderness_ms=500)
    >>> out = CollectingWatermarkOutput()
    >>> for ts in (1_000, 3_000, 2_000):
    ...     gen.on_event(None, ts, out)
    >>> gen.on_periodic_emit(out)
    >>> out.events
    [2499]

A watermark ``W`` promises that no record with timestamp ``<= W`` follows, hence
``max_timestamp - out_of_orderness - 1`` (as in Flink).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from strom.taskmanager.time.clock import Clock
from strom.taskmanager.time.timestamps import MAX_TIMESTAMP, MIN_TIMESTAMP

MIN_WATERMARK = MIN_TIMESTAMP
"""The watermark before any event time is known (Flink's Long.MIN_VALUE)."""
MAX_WATERMARK = MAX_TIMESTAMP
"""The end of event time: emitted when an input ends, so every event-time window fires."""


class WatermarkStatus(StrEnum):
    """Whether a stream currently takes part in watermark progress (Flink's WatermarkStatus)."""

    ACTIVE = "ACTIVE"
    IDLE = "IDLE"

    @property
    def is_idle(self) -> bool:
        return self is WatermarkStatus.IDLE


class WatermarkOutput(Protocol):
    def emit_watermark(self, watermark: int) -> None:
        """Event time reached ``watermark``; also ends idleness."""
        ...

    def mark_idle(self) -> None:
        """Downstream should not wait for watermarks from this output until the next one."""
        ...


class CollectingWatermarkOutput:
    """Records what a generator emitted, in order: ints for watermarks, ``WatermarkStatus.IDLE``."""

    def __init__(self) -> None:
        self.events: list[int | WatermarkStatus] = []

    def emit_watermark(self, watermark: int) -> None:
        self.events.append(watermark)

    def mark_idle(self) -> None:
        self.events.append(WatermarkStatus.IDLE)


class WatermarkGenerator:
    """Base class. Periodic generators act in ``on_periodic_emit``, punctuated ones in ``on_event``."""

    def on_event(self, event: Any, event_timestamp: int, output: WatermarkOutput) -> None:
        """Called for every record, with the timestamp already assigned."""

    def on_timestamps(self, timestamps: np.ndarray, output: WatermarkOutput) -> None:
        """Called once per Arrow batch on the vectorized path, with the batch's int64 timestamps.

        The default calls ``on_event`` per element (without the record);
        built-in generators override it with one vectorized step.
        """
        for ts in timestamps.tolist():
            self.on_event(None, ts, output)

    def on_periodic_emit(self, output: WatermarkOutput) -> None:
        """Called every ``pipeline.auto-watermark-interval``."""


class BoundedOutOfOrdernessWatermarks(WatermarkGenerator):
    """Watermark = highest timestamp seen - ``out_of_orderness_ms`` - 1, emitted periodically.

    With ``out_of_orderness_ms=0`` this is Flink's ``AscendingTimestampsWatermarks``
    (``for_monotonous_timestamps``).
    """

    __slots__ = ("out_of_orderness_ms", "max_timestamp")

    def __init__(self, out_of_orderness_ms: int) -> None:
        if out_of_orderness_ms < 0:
            raise ValueError(f"the maximum out-of-orderness must not be negative, got {out_of_orderness_ms} ms")
        self.out_of_orderness_ms = out_of_orderness_ms
        self.max_timestamp: int | None = None

    def on_event(self, event: Any, event_timestamp: int, output: WatermarkOutput) -> None:
        if self.max_timestamp is None or event_timestamp > self.max_timestamp:
            self.max_timestamp = event_timestamp

    def on_timestamps(self, timestamps: np.ndarray, output: WatermarkOutput) -> None:
        if len(timestamps):
            top = int(timestamps.max())
            if self.max_timestamp is None or top > self.max_timestamp:
                self.max_timestamp = top

    def current_watermark(self) -> int:
        if self.max_timestamp is None:
            return MIN_WATERMARK
        return max(MIN_WATERMARK, self.max_timestamp - self.out_of_orderness_ms - 1)

    def on_periodic_emit(self, output: WatermarkOutput) -> None:
        output.emit_watermark(self.current_watermark())


class NoWatermarksGenerator(WatermarkGenerator):
    """Never emits a watermark (``WatermarkStrategy.no_watermarks()``)."""

    __slots__ = ()

    def on_timestamps(self, timestamps: np.ndarray, output: WatermarkOutput) -> None:
        pass


class IdlenessTimer:
    """Decides, at periodic checks, whether no event arrived for longer than the timeout.

    As in Flink the countdown starts at the first check that saw no activity since
    the previous check, and the stream is idle at the first check strictly more
    than ``idle_timeout_ms`` after that: idleness is declared no earlier than the
    timeout after the last event, and at most a few emit intervals later.
    """

    __slots__ = ("clock", "idle_timeout_ms", "_counter", "_last_counter", "_inactive_since")

    def __init__(self, clock: Clock, idle_timeout_ms: int) -> None:
        if idle_timeout_ms <= 0:
            raise ValueError(f"the idle timeout must be positive, got {idle_timeout_ms} ms")
        self.clock = clock
        self.idle_timeout_ms = idle_timeout_ms
        self._counter = 0
        self._last_counter = 0
        self._inactive_since: int | None = None

    def activity(self) -> None:
        self._counter += 1

    def check_if_idle(self) -> bool:
        if self._counter != self._last_counter:
            self._last_counter = self._counter
            self._inactive_since = None
            return False
        if self._inactive_since is None:
            self._inactive_since = self.clock.relative_ms()
            return False
        return self.clock.relative_ms() - self._inactive_since > self.idle_timeout_ms


class WatermarksWithIdleness(WatermarkGenerator):
    """Wraps a generator: after ``idle_timeout_ms`` without events, marks the output idle.

    The output becomes active again with the next watermark it emits.
    """

    __slots__ = ("watermarks", "timer", "_idle_now")

    def __init__(self, watermarks: WatermarkGenerator, idle_timeout_ms: int, clock: Clock) -> None:
        self.watermarks = watermarks
        self.timer = IdlenessTimer(clock, idle_timeout_ms)
        self._idle_now = False

    def on_event(self, event: Any, event_timestamp: int, output: WatermarkOutput) -> None:
        self.watermarks.on_event(event, event_timestamp, output)
        self.timer.activity()
        self._idle_now = False

    def on_timestamps(self, timestamps: np.ndarray, output: WatermarkOutput) -> None:
        if len(timestamps):
            self.watermarks.on_timestamps(timestamps, output)
            self.timer.activity()
            self._idle_now = False

    def on_periodic_emit(self, output: WatermarkOutput) -> None:
        if self.timer.check_if_idle():
            if not self._idle_now:
                output.mark_idle()
                self._idle_now = True
        else:
            self.watermarks.on_periodic_emit(output)
