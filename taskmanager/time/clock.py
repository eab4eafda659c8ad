"""Clocks: where processing time and idleness measurements come from.

Everything in ``strom.taskmanager.time`` that needs the time takes a ``Clock``
instead of calling ``time.time()``, so the decision logic is deterministic under
test and replay:

    >>> clock = ManualClock(1_000)
    >>> clock.advance(250)
    >>> clock.now_ms(), clock.relative_ms()
    (1250, 1250)
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock milliseconds since the epoch: processing time (windows align to it)."""
        ...

    def relative_ms(self) -> int:
        """Monotonic milliseconds from an arbitrary origin: for measuring elapsed time."""
        ...


class SystemClock:
    """The real clocks of the process."""

    __slots__ = ()

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def relative_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that moves only when told to; both readings return the same value.

    Used by tests and by anything that replays time deterministically.
    """

    __slots__ = ("_now",)

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def now_ms(self) -> int:
        return self._now

    def relative_ms(self) -> int:
        return self._now

    def advance(self, delta_ms: int) -> None:
        if delta_ms < 0:
            raise ValueError(f"a clock cannot go back: advance({delta_ms})")
        self._now += delta_ms

    def set(self, now_ms: int) -> None:
        if now_ms < self._now:
            raise ValueError(f"a clock cannot go back: set({now_ms}) after {self._now}")
        self._now = now_ms
