"""WatermarkSpec: what the runtime needs of a user's ``WatermarkStrategy``.

The client's ``WatermarkStrategy`` (``strom.client.api.time``) compiles to this
immutable, picklable value with ``to_spec()``; the task never sees client
classes. Durations are int milliseconds here.

    >>> spec = WatermarkSpec(out_of_orderness_ms=500, timestamp_column="event_ms")
    >>> type(spec.create_generator()).__name__
    'BoundedOutOfOrdernessWatermarks'
"""

from __future__ import annotations

from dataclasses import dataclass

from strom.taskmanager.time.clock import SYSTEM_CLOCK, Clock
from strom.taskmanager.time.timestamps import TimestampFunction
from strom.taskmanager.time.watermarks import (
    BoundedOutOfOrdernessWatermarks,
    NoWatermarksGenerator,
    WatermarkGenerator,
    WatermarksWithIdleness,
)


@dataclass(frozen=True, slots=True)
class WatermarkSpec:
    """How to assign event time and generate watermarks.

    - ``out_of_orderness_ms``: bounded out-of-orderness delay (0 = monotonous);
      ``None`` = emit no watermarks at all.
    - ``idle_timeout_ms``: mark the output idle after this long without records.
    - ``timestamp_assigner``: ``(value, record_timestamp) -> ms``, the per-record path.
    - ``timestamp_column``: read event time from this Arrow column, the vectorized path.
      When neither is set, the records' existing timestamps are used.
    """

    out_of_orderness_ms: int | None = 0
    idle_timeout_ms: int | None = None
    timestamp_assigner: TimestampFunction | None = None
    timestamp_column: str | None = None

    def __post_init__(self) -> None:
        if self.out_of_orderness_ms is not None and self.out_of_orderness_ms < 0:
            raise ValueError(f"the maximum out-of-orderness must not be negative, got {self.out_of_orderness_ms} ms")
        if self.idle_timeout_ms is not None and self.idle_timeout_ms <= 0:
            raise ValueError(f"the idle timeout must be positive, got {self.idle_timeout_ms} ms")
        if self.timestamp_assigner is not None and self.timestamp_column is not None:
            raise ValueError("a watermark strategy reads event time either from a timestamp assigner or from "
                             "a timestamp column, not both")

    @property
    def emits_watermarks(self) -> bool:
        return self.out_of_orderness_ms is not None

    def create_generator(self, clock: Clock = SYSTEM_CLOCK) -> WatermarkGenerator:
        """A fresh generator for one parallel instance; ``clock`` measures idleness."""
        gen: WatermarkGenerator
        if self.out_of_orderness_ms is None:
            gen = NoWatermarksGenerator()
        else:
            gen = BoundedOutOfOrdernessWatermarks(self.out_of_orderness_ms)
        if self.idle_timeout_ms is not None:
            gen = WatermarksWithIdleness(gen, self.idle_timeout_ms, clock)
        return gen
