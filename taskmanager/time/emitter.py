"""The decision logic of ``assign_timestamps_and_watermarks`` (Flink's TimestampsAndWatermarksOperator).

``TimestampsAndWatermarks`` assigns and checks event time, feeds the watermark
generator, and decides what to send downstream: watermarks (only when they
advance) and idle/active status changes. It never reads a clock by itself for
the periodic emission; the operator calls ``on_processing_time(now)`` when
``next_emit_time`` has come (typically from a processing-time timer):

    >>> from strom.taskmanager.time.clock import ManualClock
    >>> clock = ManualClock(0)
    >>> tw = TimestampsAndWatermarks(WatermarkSpec(500, timestamp_assigner=lambda v, ts: v),
    ...                              "assign 'bids'", interval_ms=200, clock=clock)
    >>> [tw.assign_timestamp(v) for v in (1_000, 3_000, 2_000)]
    [1000, 3000, 2000]
    >>> tw.on_processing_time(200)
    [Watermark(timestamp=2499)]

Not thread-safe: owned by the task thread, like the operator that uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa

from strom.taskmanager.network.events import Watermark
from strom.taskmanager.time.clock import SYSTEM_CLOCK, Clock
from strom.taskmanager.time.errors import MissingTimestampError, TimestampAssignmentError
from strom.taskmanager.time.strategy import WatermarkSpec
from strom.taskmanager.time.timestamps import NO_TIMESTAMP, check_timestamp, timestamps_from_column
from strom.taskmanager.time.watermarks import MAX_WATERMARK, MIN_WATERMARK, WatermarkStatus

WatermarkOutputEvent: TypeAlias = Watermark | WatermarkStatus
"""What the watermark logic asks an operator to send downstream, in order."""

DEFAULT_WATERMARK_INTERVAL_MS = 200
"""``pipeline.auto-watermark-interval`` when not configured (as in Flink)."""


class WatermarkEmitter:
    """A ``WatermarkOutput`` that only lets watermarks through when they advance, and
    turns idleness into status changes: emitting a watermark ends idleness."""

    __slots__ = ("current_watermark", "idle", "_pending")

    def __init__(self) -> None:
        self.current_watermark = MIN_WATERMARK
        self.idle = False
        self._pending: list[WatermarkOutputEvent] = []

    def emit_watermark(self, watermark: int) -> None:
        if watermark <= self.current_watermark:
            return
        self.current_watermark = watermark
        self.mark_active()
        self._pending.append(Watermark(watermark))

    def mark_idle(self) -> None:
        if not self.idle:
            self.idle = True
            self._pending.append(WatermarkStatus.IDLE)

    def mark_active(self) -> None:
        if self.idle:
            self.idle = False
            self._pending.append(WatermarkStatus.ACTIVE)

    def drain(self) -> list[WatermarkOutputEvent]:
        out, self._pending = self._pending, []
        return out


class TimestampsAndWatermarks:
    """One parallel instance of timestamp assignment and watermark generation.

    ``step`` names the operator in error messages. ``interval_ms`` is the
    periodic emission interval (0 disables periodic watermarks).
    """

    def __init__(self, spec: WatermarkSpec, step: str, *, interval_ms: int = DEFAULT_WATERMARK_INTERVAL_MS,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        if interval_ms < 0:
            raise ValueError(f"the watermark interval must not be negative, got {interval_ms} ms")
        self.spec = spec
        self.step = step
        self.interval_ms = interval_ms
        self.generator = spec.create_generator(clock)
        self.emitter = WatermarkEmitter()
        self._assigner = spec.timestamp_assigner
        periodic = interval_ms > 0 and spec.emits_watermarks
        self._next_emit: int | None = clock.now_ms() + interval_ms if periodic else None

    # ---- per record -----------------------------------------------------------

    def assign_timestamp(self, value: Any, record_timestamp: int = NO_TIMESTAMP) -> int:
        """The checked event time of ``value``; the generator sees it."""
        if self._assigner is not None:
            ts = check_timestamp(self._assigner(value, record_timestamp), self.step, value)
        elif record_timestamp == NO_TIMESTAMP:
            raise MissingTimestampError(
                f"{self.step}: record {value!r:.120} has no timestamp; give the watermark strategy a timestamp "
                f"assigner (with_timestamp_assigner) or a timestamp column (with_timestamp_column)")
        else:
            ts = record_timestamp
        self.generator.on_event(value, ts, self.emitter)
        return ts

    def assign_timestamps(self, values: Sequence[Any],
                          record_timestamps: Sequence[int] | None = None) -> np.ndarray:
        """``assign_timestamp`` for each value: the batch's event times as int64."""
        if record_timestamps is None:
            out = [self.assign_timestamp(v) for v in values]
        else:
            out = [self.assign_timestamp(v, t) for v, t in zip(values, record_timestamps, strict=True)]
        return np.asarray(out, dtype=np.int64)

    # ---- per Arrow batch ------------------------------------------------------

    def timestamps_of_batch(self, batch: pa.RecordBatch | pa.Table) -> np.ndarray:
        """Event times read from the strategy's timestamp column; the generator sees them."""
        column = self.spec.timestamp_column
        if column is None:
            raise TimestampAssignmentError(f"{self.step}: the watermark strategy has no timestamp column")
        ts = timestamps_from_column(batch, column, self.step)
        self.generator.on_timestamps(ts, self.emitter)
        return ts

    def observe_timestamps(self, timestamps: np.ndarray) -> None:
        """Let the generator see event times extracted elsewhere (already checked)."""
        self.generator.on_timestamps(timestamps, self.emitter)

    # ---- watermarks -----------------------------------------------------------

    @property
    def current_watermark(self) -> int:
        return self.emitter.current_watermark

    @property
    def is_idle(self) -> bool:
        return self.emitter.idle

    @property
    def next_emit_time(self) -> int | None:
        """Processing time (ms) of the next periodic emission; None when there is none."""
        return self._next_emit

    def on_processing_time(self, now_ms: int) -> list[WatermarkOutputEvent]:
        """Periodic emission if ``now_ms`` reached ``next_emit_time``; returns what to send."""
        if self._next_emit is not None and now_ms >= self._next_emit:
            self.generator.on_periodic_emit(self.emitter)
            self._next_emit = now_ms + self.interval_ms
        return self.emitter.drain()

    def on_upstream_watermark(self, watermark: int) -> list[WatermarkOutputEvent]:
        """Watermarks from upstream are replaced by this strategy's, except the end of event time."""
        if watermark == MAX_WATERMARK:
            self.emitter.emit_watermark(MAX_WATERMARK)
        return self.emitter.drain()

    def on_end_of_input(self) -> list[WatermarkOutputEvent]:
        """The input ended: a last periodic emission, then the end of event time."""
        if self._next_emit is not None:
            self.generator.on_periodic_emit(self.emitter)
        self._next_emit = None
        self.emitter.emit_watermark(MAX_WATERMARK)
        return self.emitter.drain()

    def drain(self) -> list[WatermarkOutputEvent]:
        """What generators emitted on their own (punctuated watermarks) since the last call."""
        return self.emitter.drain()
