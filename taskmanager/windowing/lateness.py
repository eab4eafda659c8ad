"""Allowed lateness: when a window is too late to accept elements, and when its state goes.

Flink's ``WindowOperator`` rules, in event time:

- a window's state is cleaned up when the watermark reaches ``cleanup_time``
  = ``max_timestamp + allowed_lateness`` (never, for a window that ends at the
  end of time, such as the ``GlobalWindow``);
- a window is late, and an element is not added to it, when the watermark is
  at or past its cleanup time;
- an element none of whose windows accepted it is late data (for the late side
  output) when ``timestamp + allowed_lateness <= watermark``.

In processing time nothing is late and state goes when the window ends.

    >>> from strom.taskmanager.windowing.windows import TimeWindow
    >>> w = TimeWindow(0, 10_000)
    >>> cleanup_time(w, 2_000), is_late(w, 11_998, 2_000), is_late(w, 11_999, 2_000)
    (11999, False, True)
"""

from __future__ import annotations

from dataclasses import dataclass

from strom.taskmanager.time.timestamps import MAX_TIMESTAMP
from strom.taskmanager.windowing.windows import Window


def cleanup_time(window: Window, allowed_lateness: int, is_event_time: bool = True) -> int:
    """When the window's state may be dropped; ``MAX_TIMESTAMP`` means never."""
    end = window.max_timestamp()
    if not is_event_time:
        return end
    cleanup = end + allowed_lateness
    return cleanup if cleanup < MAX_TIMESTAMP else MAX_TIMESTAMP


def is_late(window: Window, watermark: int, allowed_lateness: int, is_event_time: bool = True) -> bool:
    """Whether ``window`` can no longer accept elements at ``watermark``."""
    return is_event_time and cleanup_time(window, allowed_lateness) <= watermark


def is_element_late(timestamp: int, watermark: int, allowed_lateness: int, is_event_time: bool = True) -> bool:
    """Whether an element that no window accepted counts as late data (side output)."""
    return is_event_time and timestamp + allowed_lateness <= watermark


def is_cleanup_time(window: Window, time: int, allowed_lateness: int, is_event_time: bool = True) -> bool:
    """Whether a timer firing at ``time`` is the window's cleanup timer."""
    return time == cleanup_time(window, allowed_lateness, is_event_time)


@dataclass(frozen=True, slots=True)
class Lateness:
    """The lateness rules of one window operator: its assigner's time domain and its allowed lateness."""

    allowed_lateness: int = 0
    is_event_time: bool = True

    def __post_init__(self) -> None:
        if self.allowed_lateness < 0:
            raise ValueError(f"allowed lateness must not be negative, got {self.allowed_lateness} ms")

    def cleanup_time(self, window: Window) -> int:
        return cleanup_time(window, self.allowed_lateness, self.is_event_time)

    def needs_cleanup_timer(self, window: Window) -> bool:
        return self.cleanup_time(window) != MAX_TIMESTAMP

    def is_window_late(self, window: Window, watermark: int) -> bool:
        return is_late(window, watermark, self.allowed_lateness, self.is_event_time)

    def is_element_late(self, timestamp: int, watermark: int) -> bool:
        return is_element_late(timestamp, watermark, self.allowed_lateness, self.is_event_time)

    def is_cleanup_time(self, window: Window, time: int) -> bool:
        return is_cleanup_time(window, time, self.allowed_lateness, self.is_event_time)
