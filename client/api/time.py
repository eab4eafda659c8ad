"""Event time in the user API: Duration, Time, TimestampAssigner and WatermarkStrategy (PyFlink's names).

    from strom.client.api.time import Duration, WatermarkStrategy

    strategy = (WatermarkStrategy
                .for_bounded_out_of_orderness(Duration.of_millis(500))
                .with_timestamp_assigner(lambda bid, record_ts: bid["event_ms"])
                .with_idleness(Duration.of_seconds(30)))
    bids.assign_timestamps_and_watermarks(strategy)

On the Arrow fast path event time comes from a column instead of a Python call
per record:

    WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(500)) \\
        .with_timestamp_column("event_ms")

A strategy is an immutable description; each ``with_*`` returns a new one. It
compiles to ``strom.taskmanager.time.WatermarkSpec`` (``to_spec()``), which is
what travels to the tasks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from strom.taskmanager.time.durations import DurationLike, to_millis
from strom.taskmanager.time.strategy import WatermarkSpec
from strom.taskmanager.time.timestamps import TimestampAssigner, timestamp_function

__all__ = ["Duration", "Time", "TimestampAssigner", "WatermarkStrategy"]


def _scaled(amount: float, millis_per_unit: int) -> int:
    """``amount`` units in whole milliseconds (fractions of a unit are fine: 1.5 s = 1500 ms)."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise TypeError(f"a duration takes a number, not {type(amount).__name__} ({amount!r})")
    if isinstance(amount, int):
        return amount * millis_per_unit
    return round(amount * millis_per_unit)


@dataclass(frozen=True, slots=True, order=True)
class Duration:
    """A span of time with millisecond precision.

        >>> Duration.of_seconds(10).to_milliseconds()
        10000
    """

    millis: int

    def __post_init__(self) -> None:
        if isinstance(self.millis, bool) or not isinstance(self.millis, int):
            raise TypeError(f"{type(self).__name__} takes int milliseconds, not {type(self.millis).__name__}")

    @staticmethod
    def of_millis(millis: float) -> Duration:
        return Duration(_scaled(millis, 1))

    @staticmethod
    def of_seconds(seconds: float) -> Duration:
        return Duration(_scaled(seconds, 1000))

    @staticmethod
    def of_minutes(minutes: float) -> Duration:
        return Duration(_scaled(minutes, 60_000))

    @staticmethod
    def of_hours(hours: float) -> Duration:
        return Duration(_scaled(hours, 3_600_000))

    @staticmethod
    def of_days(days: float) -> Duration:
        return Duration(_scaled(days, 86_400_000))

    @staticmethod
    def of(value: DurationLike) -> Duration:
        """A Duration from a Duration, Time, ``datetime.timedelta`` or int milliseconds."""
        return Duration(to_millis(value, "duration"))

    def to_milliseconds(self) -> int:
        return self.millis

    def __repr__(self) -> str:
        return f"Duration.of_millis({self.millis})"


@dataclass(frozen=True, slots=True)
class Time:
    """PyFlink's older duration type, accepted wherever a Duration is.

        >>> Time.seconds(5).to_milliseconds()
        5000
    """

    millis: int

    def __post_init__(self) -> None:
        if isinstance(self.millis, bool) or not isinstance(self.millis, int):
            raise TypeError(f"{type(self).__name__} takes int milliseconds, not {type(self.millis).__name__}")

    @staticmethod
    def milliseconds(millis: float) -> Time:
        return Time(_scaled(millis, 1))

    @staticmethod
    def seconds(seconds: float) -> Time:
        return Time(_scaled(seconds, 1000))

    @staticmethod
    def minutes(minutes: float) -> Time:
        return Time(_scaled(minutes, 60_000))

    @staticmethod
    def hours(hours: float) -> Time:
        return Time(_scaled(hours, 3_600_000))

    @staticmethod
    def days(days: float) -> Time:
        return Time(_scaled(days, 86_400_000))

    def to_milliseconds(self) -> int:
        return self.millis

    def __repr__(self) -> str:
        return f"Time.milliseconds({self.millis})"


@dataclass(frozen=True, slots=True)
class WatermarkStrategy:
    """How a stream gets event time and watermarks.

        >>> s = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(500))
        >>> s.with_timestamp_column("event_ms").to_spec()
        WatermarkSpec(out_of_orderness_ms=500, idle_timeout_ms=None, timestamp_assigner=None, \
timestamp_column='event_ms')
    """

    _spec: WatermarkSpec

    # ---- how watermarks are generated -------------------------------------------

    @staticmethod
    def for_bounded_out_of_orderness(max_out_of_orderness: DurationLike) -> WatermarkStrategy:
        """Records are at most ``max_out_of_orderness`` late: watermark = max timestamp - delay - 1."""
        delay = to_millis(max_out_of_orderness, "for_bounded_out_of_orderness(max_out_of_orderness)")
        if delay < 0:
            raise ValueError(f"for_bounded_out_of_orderness: the maximum out-of-orderness must not be "
                             f"negative, got {delay} ms")
        return WatermarkStrategy(WatermarkSpec(out_of_orderness_ms=delay))

    @staticmethod
    def for_monotonous_timestamps() -> WatermarkStrategy:
        """Timestamps never decrease: watermark = max timestamp - 1."""
        return WatermarkStrategy(WatermarkSpec(out_of_orderness_ms=0))

    @staticmethod
    def no_watermarks() -> WatermarkStrategy:
        """Assign timestamps but emit no watermarks (event-time windows fire only at the end)."""
        return WatermarkStrategy(WatermarkSpec(out_of_orderness_ms=None))

    # ---- refinements --------------------------------------------------------------

    def with_idleness(self, idle_timeout: DurationLike) -> WatermarkStrategy:
        """Mark a parallel instance idle after ``idle_timeout`` without records, so that it does
        not hold back the watermark downstream."""
        ms = to_millis(idle_timeout, "with_idleness(idle_timeout)")
        if ms <= 0:
            raise ValueError(f"with_idleness: the idle timeout must be positive, got {ms} ms")
        return WatermarkStrategy(dataclasses.replace(self._spec, idle_timeout_ms=ms))

    def with_timestamp_assigner(self, timestamp_assigner: TimestampAssigner | Callable[..., Any]) -> WatermarkStrategy:
        """Event time from a ``TimestampAssigner`` or a callable ``(value, record_timestamp) -> int ms``."""
        fn = timestamp_function(timestamp_assigner)
        return WatermarkStrategy(dataclasses.replace(self._spec, timestamp_assigner=fn, timestamp_column=None))

    def with_timestamp_column(self, column: str) -> WatermarkStrategy:
        """Event time from an Arrow column (int ms, timestamp or date): the vectorized path.

        Columns are named as in ``map_batches``: ``f0``, ``f1``, ... for tuples, or
        the names of an Arrow source's schema."""
        if not isinstance(column, str) or not column:
            raise TypeError(f"with_timestamp_column takes a column name, not {column!r}")
        return WatermarkStrategy(dataclasses.replace(self._spec, timestamp_column=column, timestamp_assigner=None))

    # ---- to the runtime -----------------------------------------------------------

    def to_spec(self) -> WatermarkSpec:
        return self._spec

    def __repr__(self) -> str:
        s = self._spec
        parts = ["no_watermarks()" if s.out_of_orderness_ms is None
                 else f"for_bounded_out_of_orderness({s.out_of_orderness_ms} ms)"]
        if s.idle_timeout_ms is not None:
            parts.append(f"with_idleness({s.idle_timeout_ms} ms)")
        if s.timestamp_column is not None:
            parts.append(f"with_timestamp_column({s.timestamp_column!r})")
        if s.timestamp_assigner is not None:
            parts.append("with_timestamp_assigner(...)")
        return "WatermarkStrategy." + ".".join(parts)
