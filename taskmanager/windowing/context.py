"""WindowTriggerContext: a trigger's context over an InternalTimerService and the keyed state backend.

Like Flink's ``WindowOperator.Context``, one object is reused: the window
operator sets the backend's current key and ``ctx.key`` to the same key, sets
``ctx.window`` (and ``ctx.merged_windows`` before ``on_merge``), then calls
the trigger. Timers go to the timer service with the window as namespace;
trigger state lives in the backend under the window as namespace — the actual
window, not the state window of a merging set:

    backend.set_current_key(key)
    ctx.key, ctx.window = key, window
    result = trigger.on_element(value, timestamp, window, ctx)
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any, Protocol

from strom.taskmanager.time.timers import InternalTimerService
from strom.taskmanager.windowing.triggers import ReducingStateView, TriggerStateDescriptor


class TriggerStateStore(Protocol):
    """The part of ``strom.taskmanager.state.KeyedStateBackend`` triggers use (current key set
    by the operator)."""

    def get_partitioned_state(self, namespace: Any, descriptor: TriggerStateDescriptor) -> ReducingStateView: ...

    def merge_namespaces(self, target: Any, sources: Iterable[Any], descriptor: TriggerStateDescriptor) -> None: ...


class WindowTriggerContext:
    """Implements ``TriggerContext``, ``OnMergeContext`` and ``EvictorContext``."""

    def __init__(self, timers: InternalTimerService, state: TriggerStateStore,
                 processing_time: Callable[[], int] | None = None) -> None:
        self.timers = timers
        self.state = state
        self._processing_time = processing_time or timers.current_processing_time
        self.key: Any = None
        self.window: Any = None
        self.merged_windows: Collection[Any] = ()

    def get_current_processing_time(self) -> int:
        return self._processing_time()

    def get_current_watermark(self) -> int:
        return self.timers.current_watermark

    def register_processing_time_timer(self, time: int) -> None:
        self.timers.register_processing_time_timer(self.key, self.window, time)

    def register_event_time_timer(self, time: int) -> None:
        self.timers.register_event_time_timer(self.key, self.window, time)

    def delete_processing_time_timer(self, time: int) -> None:
        self.timers.delete_processing_time_timer(self.key, self.window, time)

    def delete_event_time_timer(self, time: int) -> None:
        self.timers.delete_event_time_timer(self.key, self.window, time)

    def get_partitioned_state(self, descriptor: TriggerStateDescriptor) -> ReducingStateView:
        return self.state.get_partitioned_state(self.window, descriptor)

    def merge_partitioned_state(self, descriptor: TriggerStateDescriptor) -> None:
        if self.merged_windows:
            self.state.merge_namespaces(self.window, self.merged_windows, descriptor)
