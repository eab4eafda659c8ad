"""ProcessingTimeService: callbacks at processing times, run on the task's own thread.

Flink schedules processing-time callbacks on a timer thread and runs them in
the task's mailbox. A Strom task is one thread that polls its input gate with a
timeout, so the service is passive: the task loop asks ``time_until_next_ms()`` how long it
may block, then calls ``run_due()``, which runs every callback whose time has
come. Operator state is therefore only ever touched by the task thread.

As in Flink, a timer for time ``t`` fires once the clock is *past* ``t``
(``now >= t + 1``): a watermark or timer for ``t`` promises that nothing with
timestamp ``t`` follows, and a record may still arrive within millisecond ``t``.
The callback receives ``t``, the time it was registered for.

    >>> from strom.taskmanager.time.clock import ManualClock
    >>> clock = ManualClock(100)
    >>> pts = ProcessingTimeService(clock)
    >>> fired = []
    >>> _ = pts.register_timer(150, fired.append)
    >>> pts.run_due(); clock.set(150); pts.run_due(); clock.set(151); pts.run_due()
    0
    0
    1
    >>> fired
    [150]
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from strom.taskmanager.time.clock import SYSTEM_CLOCK, Clock

ProcessingTimeCallback = Callable[[int], None]


class ScheduledTimer:
    """Handle of a registered callback; ``cancel()`` before it fires prevents it."""

    __slots__ = ("timestamp", "callback", "cancelled", "done")

    def __init__(self, timestamp: int, callback: ProcessingTimeCallback) -> None:
        self.timestamp = timestamp
        self.callback = callback
        self.cancelled = False
        self.done = False

    def cancel(self) -> None:
        self.cancelled = True


class ProcessingTimeService:
    """One per task. Not thread-safe: register and run from the task thread only."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self._heap: list[tuple[int, int, ScheduledTimer]] = []
        self._seq = itertools.count()
        self._shut_down = False

    def get_current_processing_time(self) -> int:
        return self.clock.now_ms()

    def register_timer(self, timestamp: int, callback: ProcessingTimeCallback) -> ScheduledTimer:
        """Run ``callback(timestamp)`` once processing time is past ``timestamp``."""
        timer = ScheduledTimer(timestamp, callback)
        if self._shut_down:
            timer.cancelled = True
            return timer
        heapq.heappush(self._heap, (timestamp, next(self._seq), timer))
        return timer

    def _drop_cancelled(self) -> None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)

    def next_timer_time(self) -> int | None:
        """The registered time of the earliest pending callback."""
        self._drop_cancelled()
        return self._heap[0][0] if self._heap else None

    def time_until_next_ms(self) -> int | None:
        """Milliseconds the task may block before ``run_due()`` has work; None = no timers."""
        nxt = self.next_timer_time()
        if nxt is None:
            return None
        return max(0, nxt + 1 - self.clock.now_ms())

    def run_due(self) -> int:
        """Run the callbacks whose time has passed, earliest first (ties in registration
        order), including those they register for times already passed. Returns how many ran."""
        ran = 0
        heap = self._heap
        while heap:
            timestamp, _, timer = heap[0]
            if timer.cancelled:
                heapq.heappop(heap)
                continue
            if self.clock.now_ms() <= timestamp:
                break
            heapq.heappop(heap)
            timer.done = True
            timer.callback(timestamp)
            ran += 1
        return ran

    def shutdown(self) -> None:
        """Cancel every pending callback and refuse new ones (the task is ending)."""
        self._shut_down = True
        for _, _, timer in self._heap:
            timer.cancelled = True
        self._heap.clear()

    def __len__(self) -> int:
        return sum(1 for _, _, t in self._heap if not t.cancelled)
