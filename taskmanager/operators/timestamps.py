"""``assign_timestamps_and_watermarks``: give records event time and the stream watermarks.

Flink's ``TimestampsAndWatermarksOperator``. Per batch, event time comes from
the strategy's timestamp column (vectorized) or its assigner (one call per
record), is checked, and feeds the watermark generator. Watermarks go out
periodically (``pipeline.auto-watermark-interval``, 200 ms) from a
processing-time callback on the task thread, and when the input ends (the end
of event time). Watermarks from upstream are replaced by this strategy's,
except the end of event time.
"""

from __future__ import annotations

from strom.common.config import WATERMARK_INTERVAL, Configuration
from strom.taskmanager.network.events import Watermark
from strom.taskmanager.operators.base import Operator, OperatorContext
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.time.emitter import TimestampsAndWatermarks, WatermarkOutputEvent
from strom.taskmanager.time.strategy import WatermarkSpec
from strom.taskmanager.time.watermarks import WatermarkStatus


class TimestampsAndWatermarksOperator(Operator):
    def __init__(self, spec: WatermarkSpec, name: str = "Timestamps/Watermarks") -> None:
        self.spec = spec
        self.name = name

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        interval = Configuration(ctx.config).get_duration_ms(WATERMARK_INTERVAL)
        pts = ctx._pts()
        self._pts = pts
        self._tw = TimestampsAndWatermarks(self.spec, f"assign_timestamps_and_watermarks {self.name!r}",
                                           interval_ms=max(0, interval), clock=pts.clock)
        self._schedule()

    def _schedule(self) -> None:
        at = self._tw.next_emit_time
        if at is not None:
            # fires once the clock is past ``at - 1``: exactly at the emission time
            self._pts.register_timer(at - 1, self._on_periodic)

    def _on_periodic(self, _time: int) -> None:
        self._send(self._tw.on_processing_time(self._pts.get_current_processing_time()))
        self._schedule()

    def _send(self, events: list[WatermarkOutputEvent]) -> None:
        for e in events:
            if isinstance(e, Watermark):
                self.emit_watermark(e.timestamp)
            else:
                Operator.process_watermark_status(self, e is WatermarkStatus.IDLE)

    def process(self, batch: Batch, input_index: int = 0) -> None:
        tw = self._tw
        if self.spec.timestamp_column is not None:
            ts = tw.timestamps_of_batch(batch.arrow)
        else:
            previous = batch.timestamps
            ts = tw.assign_timestamps(batch.records, None if previous is None else previous.tolist())
        self.output.emit(batch.with_timestamps(ts))
        events = tw.drain()
        if events:
            self._send(events)

    def process_watermark(self, watermark: int) -> None:
        self._send(self._tw.on_upstream_watermark(watermark))

    def process_watermark_status(self, idle: bool) -> None:
        """Upstream idleness does not matter: this operator decides the stream's watermarks."""

    def end_input(self, input_index: int = 0) -> None:
        self._send(self._tw.on_end_of_input())
