"""WatermarkValve: per-channel watermarks and idleness in, the operator's watermark out.

Flink's ``StatusWatermarkValve``. Each input channel has a watermark and a
status. The operator's watermark is the minimum over the *aligned* channels:
active channels whose watermark has caught up with the last output (a channel
that returns from idleness behind the output does not pull it back). Idle
channels do not hold the watermark back; when every channel is idle the valve
flushes the highest channel watermark and goes idle itself. Outputs happen only
when the watermark advances or the status changes:

    >>> valve = WatermarkValve(2)
    >>> valve.input_watermark(0, 10)
    []
    >>> valve.input_watermark(1, 7)
    [Watermark(timestamp=7)]
    >>> valve.input_watermark_status(1, WatermarkStatus.IDLE)
    [Watermark(timestamp=10)]
    >>> valve.end_of_input(0)
    [Watermark(timestamp=9223372036854775807)]

The end of a channel counts as the watermark ``MAX_WATERMARK`` from an active
channel. One valve can cover the channels of several logical inputs (the
combined watermark of a two-input operator is the minimum over all of them).
Owned by the task thread; not thread-safe.
"""

from __future__ import annotations

from strom.taskmanager.network.events import Watermark
from strom.taskmanager.time.emitter import WatermarkOutputEvent
from strom.taskmanager.time.watermarks import MAX_WATERMARK, MIN_WATERMARK, WatermarkStatus


class _Channel:
    __slots__ = ("watermark", "idle", "aligned", "ended")

    def __init__(self) -> None:
        self.watermark = MIN_WATERMARK
        self.idle = False
        self.aligned = True
        self.ended = False


class WatermarkValve:
    def __init__(self, num_channels: int) -> None:
        if num_channels <= 0:
            raise ValueError(f"a watermark valve needs at least one channel, got {num_channels}")
        self._channels = [_Channel() for _ in range(num_channels)]
        self._last_watermark = MIN_WATERMARK
        self._status = WatermarkStatus.ACTIVE

    # ---- inspection -------------------------------------------------------------

    @property
    def num_channels(self) -> int:
        return len(self._channels)

    @property
    def current_watermark(self) -> int:
        """The last watermark the valve emitted (``MIN_WATERMARK`` before the first)."""
        return self._last_watermark

    @property
    def status(self) -> WatermarkStatus:
        return self._status

    def channel_watermark(self, channel: int) -> int:
        return self._channels[channel].watermark

    def is_channel_idle(self, channel: int) -> bool:
        return self._channels[channel].idle

    # ---- inputs ---------------------------------------------------------------

    def input_watermark(self, channel: int, watermark: int) -> list[WatermarkOutputEvent]:
        """A watermark arrived on ``channel``. Ignored while the channel or the valve is idle,
        and when it does not advance the channel."""
        ch = self._channels[channel]
        out: list[WatermarkOutputEvent] = []
        if self._status.is_idle or ch.idle or watermark <= ch.watermark:
            return out
        ch.watermark = watermark
        if not ch.aligned and watermark >= self._last_watermark:
            ch.aligned = True
        self._advance_to_min_of_aligned(out)
        return out

    def input_watermark_status(self, channel: int, status: WatermarkStatus) -> list[WatermarkOutputEvent]:
        """``channel`` became idle or active again."""
        ch = self._channels[channel]
        out: list[WatermarkOutputEvent] = []
        if status.is_idle and not ch.idle:
            ch.idle = True
            ch.aligned = False
            if not any(not c.idle for c in self._channels):
                # nobody will advance any more: flush the highest watermark, then go idle
                if ch.watermark == self._last_watermark:
                    self._advance(max(c.watermark for c in self._channels), out)
                self._status = WatermarkStatus.IDLE
                out.append(WatermarkStatus.IDLE)
            elif ch.watermark == self._last_watermark:
                # the channel that held the minimum left: the others may allow progress
                self._advance_to_min_of_aligned(out)
        elif not status.is_idle and ch.idle:
            ch.idle = False
            if ch.watermark >= self._last_watermark:
                ch.aligned = True
            if self._status.is_idle:
                self._status = WatermarkStatus.ACTIVE
                out.append(WatermarkStatus.ACTIVE)
        return out

    def end_of_input(self, channel: int) -> list[WatermarkOutputEvent]:
        """``channel`` ended: it becomes active (if idle) and reaches the end of event time."""
        ch = self._channels[channel]
        if ch.ended:
            return []
        ch.ended = True
        out = self.input_watermark_status(channel, WatermarkStatus.ACTIVE)
        out += self.input_watermark(channel, MAX_WATERMARK)
        return out

    @property
    def all_ended(self) -> bool:
        return all(c.ended for c in self._channels)

    # ---- internals ------------------------------------------------------------

    def _advance_to_min_of_aligned(self, out: list[WatermarkOutputEvent]) -> None:
        aligned = [c.watermark for c in self._channels if c.aligned]
        if aligned:
            self._advance(min(aligned), out)

    def _advance(self, watermark: int, out: list[WatermarkOutputEvent]) -> None:
        if watermark > self._last_watermark:
            self._last_watermark = watermark
            out.append(Watermark(watermark))
