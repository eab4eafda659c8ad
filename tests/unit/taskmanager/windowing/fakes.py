"""Test doubles for the windowing tests: a dict-backed trigger state store, a fixed-time
assigner context, and a one-key driver that routes elements and timers to a trigger the way
the window operator will."""

from __future__ import annotations

from typing import Any

from strom.taskmanager.time import InternalTimerService, ManualClock, ProcessingTimeService
from strom.taskmanager.windowing import TriggerResult, WindowTriggerContext


class FakeReducingState:
    def __init__(self, values: dict, slot: tuple, reduce) -> None:
        self.values, self.slot, self.reduce = values, slot, reduce

    def get(self):
        return self.values.get(self.slot)

    def add(self, value) -> None:
        old = self.values.get(self.slot)
        self.values[self.slot] = value if old is None else self.reduce(old, value)

    def clear(self) -> None:
        self.values.pop(self.slot, None)


class FakeTriggerStateStore:
    """Reducing states in one dict keyed by (key, namespace, state name), for ``current_key``."""

    def __init__(self, current_key: Any = "k") -> None:
        self.current_key = current_key
        self.values: dict[tuple, Any] = {}

    def get_partitioned_state(self, namespace, descriptor):
        assert descriptor.state_kind == "reducing"
        return FakeReducingState(self.values, (self.current_key, namespace, descriptor.name),
                                 descriptor.reduce_function)

    def merge_namespaces(self, target, sources, descriptor):
        merged = self.get_partitioned_state(target, descriptor)
        for source in sources:
            value = self.values.pop((self.current_key, source, descriptor.name), None)
            if value is not None:
                merged.add(value)


class FakeAssignerContext:
    def __init__(self, now: int) -> None:
        self.now = now

    def get_current_processing_time(self) -> int:
        return self.now


class FakeWindowDriver:
    """One key's trigger calls over a real timer service and a manual clock.

    Records every (call, window, result) so tests can compare whole sequences.
    """

    def __init__(self, trigger, key: Any = "k", start_ms: int = 0) -> None:
        self.trigger = trigger
        self.key = key
        self.clock = ManualClock(start_ms)
        self.pts = ProcessingTimeService(self.clock)
        self.timers = InternalTimerService(processing_time_service=self.pts,
                                           on_processing_timer=self._on_processing_timer)
        self.state = FakeTriggerStateStore(key)
        self.ctx = WindowTriggerContext(self.timers, self.state)
        self.ctx.key = key
        self.log: list[tuple[str, Any, TriggerResult]] = []
        self._fired_at: list[tuple[int, Any, TriggerResult]] = []

    def element(self, value, timestamp, window) -> TriggerResult:
        self.ctx.window = window
        result = self.trigger.on_element(value, timestamp, window, self.ctx)
        self.log.append(("element", window, result))
        return result

    def watermark(self, watermark: int) -> list[tuple[int, Any, TriggerResult]]:
        out = []
        for timer in self.timers.advance_watermark(watermark):
            self.ctx.key, self.ctx.window = timer.key, timer.namespace
            result = self.trigger.on_event_time(timer.timestamp, timer.namespace, self.ctx)
            self.log.append(("event_time", timer.namespace, result))
            out.append((timer.timestamp, timer.namespace, result))
        return out

    def advance_processing_time(self, to: int) -> list[tuple[int, Any, TriggerResult]]:
        self._fired_at = []
        self.clock.set(to)
        self.pts.run_due()
        return self._fired_at

    def _on_processing_timer(self, timer) -> None:
        self.ctx.key, self.ctx.window = timer.key, timer.namespace
        result = self.trigger.on_processing_time(timer.timestamp, timer.namespace, self.ctx)
        self.log.append(("processing_time", timer.namespace, result))
        self._fired_at.append((timer.timestamp, timer.namespace, result))

    def merge(self, result_window, merged_windows) -> None:
        self.ctx.window, self.ctx.merged_windows = result_window, merged_windows
        self.trigger.on_merge(result_window, self.ctx)
        for window in merged_windows:
            self.ctx.window = window
            self.trigger.clear(window, self.ctx)
        self.ctx.merged_windows = ()

    def clear(self, window) -> None:
        self.ctx.window = window
        self.trigger.clear(window, self.ctx)
