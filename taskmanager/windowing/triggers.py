"""Triggers: when a window's contents are evaluated (fired) and when they are dropped (purged).

Flink's ``Trigger`` and ``TriggerResult``. The window operator calls a trigger
for one (key, window) at a time, with a ``TriggerContext`` through which the
trigger registers timers and keeps per-window state:

    on_element(element, timestamp, window, ctx)   every element added to the window
    on_event_time(time, window, ctx)              an event-time timer of the window fired
    on_processing_time(time, window, ctx)         a processing-time timer fired
    on_merge(window, ctx)                         windows merged into ``window`` (sessions)
    clear(window, ctx)                            the window is dropped: delete its timers/state

Each call answers a ``TriggerResult``:

    >>> TriggerResult.FIRE_AND_PURGE.is_fire, TriggerResult.FIRE_AND_PURGE.is_purge
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from strom.taskmanager.time.durations import DurationLike, positive_millis
from strom.taskmanager.windowing.windows import Window


class TriggerResult(Enum):
    CONTINUE = (False, False)
    FIRE = (True, False)
    PURGE = (False, True)
    FIRE_AND_PURGE = (True, True)

    @property
    def is_fire(self) -> bool:
        return self.value[0]

    @property
    def is_purge(self) -> bool:
        return self.value[1]


def _add(a: int, b: int) -> int:
    return a + b


def _min(a: int, b: int) -> int:
    return a if a <= b else b


@dataclass(frozen=True, slots=True)
class TriggerStateDescriptor:
    """A trigger's named reducing state, scoped to (key, window).

    Shaped like a state descriptor of the keyed state backend (``name``,
    ``state_kind``, ``reduce_function``, ``ttl_config``), so the backend takes it
    as it is, with the window as namespace; ``reduce_function`` combines added
    values and merges the states of merged windows.
    """

    name: str
    reduce_function: Callable[[Any, Any], Any]
    state_kind: str = "reducing"
    ttl_config: None = None


class ReducingStateView(Protocol):
    """What a trigger needs of a reducing state."""

    def get(self) -> Any: ...

    def add(self, value: Any) -> None: ...

    def clear(self) -> None: ...


class TriggerContext(Protocol):
    """The trigger's view of time, timers and state for the current (key, window)."""

    def get_current_processing_time(self) -> int: ...

    def get_current_watermark(self) -> int: ...

    def register_processing_time_timer(self, time: int) -> None: ...

    def register_event_time_timer(self, time: int) -> None: ...

    def delete_processing_time_timer(self, time: int) -> None: ...

    def delete_event_time_timer(self, time: int) -> None: ...

    def get_partitioned_state(self, descriptor: TriggerStateDescriptor) -> ReducingStateView: ...


class OnMergeContext(TriggerContext, Protocol):
    def merge_partitioned_state(self, descriptor: TriggerStateDescriptor) -> None:
        """Combine the state of the merged windows into the state of the new window."""
        ...


class Trigger:
    """Base class of triggers (PyFlink's method names)."""

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        raise NotImplementedError

    def on_processing_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        raise NotImplementedError

    def on_event_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        raise NotImplementedError

    def can_merge(self) -> bool:
        """Whether the trigger works with merging (session) windows."""
        return False

    def on_merge(self, window: Window, ctx: OnMergeContext) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not support merging windows")

    def clear(self, window: Window, ctx: TriggerContext) -> None:
        """Delete the timers and state this trigger holds for ``window``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EventTimeTrigger(Trigger):
    """Fires once the watermark passes the window's end (the event-time windows' default).

    An element for a window the watermark already passed (allowed lateness) fires at once.
    """

    @classmethod
    def create(cls) -> EventTimeTrigger:
        return cls()

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return TriggerResult.FIRE if time == window.max_timestamp() else TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Window, ctx: OnMergeContext) -> None:
        # a merged window whose end the watermark passed already fires through on_element
        if window.max_timestamp() > ctx.get_current_watermark():
            ctx.register_event_time_timer(window.max_timestamp())

    def clear(self, window: Window, ctx: TriggerContext) -> None:
        ctx.delete_event_time_timer(window.max_timestamp())


class ProcessingTimeTrigger(Trigger):
    """Fires when processing time passes the window's end (the processing-time windows' default)."""

    @classmethod
    def create(cls) -> ProcessingTimeTrigger:
        return cls()

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        ctx.register_processing_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return TriggerResult.FIRE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Window, ctx: OnMergeContext) -> None:
        if window.max_timestamp() > ctx.get_current_processing_time():
            ctx.register_processing_time_timer(window.max_timestamp())

    def clear(self, window: Window, ctx: TriggerContext) -> None:
        ctx.delete_processing_time_timer(window.max_timestamp())


class NeverTrigger(Trigger):
    """Never fires (the ``GlobalWindows`` default: give the window a real trigger)."""

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Window, ctx: OnMergeContext) -> None:
        pass


_COUNT = TriggerStateDescriptor("count", _add)


class CountTrigger(Trigger):
    """Fires each time the window has received ``count`` more elements."""

    def __init__(self, count: int) -> None:
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            raise ValueError(f"CountTrigger needs a positive element count, got {count!r}")
        self.count = count

    @classmethod
    def of(cls, count: int) -> CountTrigger:
        return cls(count)

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        state = ctx.get_partitioned_state(_COUNT)
        state.add(1)
        if state.get() >= self.count:
            state.clear()
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Window, ctx: OnMergeContext) -> None:
        ctx.merge_partitioned_state(_COUNT)

    def clear(self, window: Window, ctx: TriggerContext) -> None:
        ctx.get_partitioned_state(_COUNT).clear()

    def __repr__(self) -> str:
        return f"CountTrigger({self.count})"


class PurgingTrigger(Trigger):
    """Wraps a trigger and turns each of its FIREs into FIRE_AND_PURGE."""

    def __init__(self, nested: Trigger) -> None:
        self.nested = nested

    @classmethod
    def of(cls, nested: Trigger) -> PurgingTrigger:
        return cls(nested)

    @staticmethod
    def _purging(result: TriggerResult) -> TriggerResult:
        return TriggerResult.FIRE_AND_PURGE if result.is_fire else result

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return self._purging(self.nested.on_element(element, timestamp, window, ctx))

    def on_event_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return self._purging(self.nested.on_event_time(time, window, ctx))

    def on_processing_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return self._purging(self.nested.on_processing_time(time, window, ctx))

    def can_merge(self) -> bool:
        return self.nested.can_merge()

    def on_merge(self, window: Window, ctx: OnMergeContext) -> None:
        self.nested.on_merge(window, ctx)

    def clear(self, window: Window, ctx: TriggerContext) -> None:
        self.nested.clear(window, ctx)

    def __repr__(self) -> str:
        return f"PurgingTrigger({self.nested!r})"


_FIRE_TIME = TriggerStateDescriptor("fire-time", _min)


class ContinuousEventTimeTrigger(Trigger):
    """Fires every ``interval`` of event time (aligned to the epoch) and at the window's end."""

    def __init__(self, interval: DurationLike) -> None:
        self.interval = positive_millis(interval, "ContinuousEventTimeTrigger interval")

    @classmethod
    def of(cls, interval: DurationLike) -> ContinuousEventTimeTrigger:
        return cls(interval)

    def on_element(self, element: Any, timestamp: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        state = ctx.get_partitioned_state(_FIRE_TIME)
        if state.get() is None:
            self._register_next(timestamp - timestamp % self.interval + self.interval, window, ctx)
        return TriggerResult.CONTINUE

    def _register_next(self, time: int, window: Window, ctx: TriggerContext) -> None:
        next_fire = min(time, window.max_timestamp())
        ctx.get_partitioned_state(_FIRE_TIME).add(next_fire)
        ctx.register_event_time_timer(next_fire)

    def on_event_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        if time == window.max_timestamp():
            return TriggerResult.FIRE
        state = ctx.get_partitioned_state(_FIRE_TIME)
        if state.get() == time:
            state.clear()
            self._register_next(time + self.interval, window, ctx)
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Window, ctx: TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Window, ctx: OnMergeContext) -> None:
        ctx.merge_partitioned_state(_FIRE_TIME)
        next_fire = ctx.get_partitioned_state(_FIRE_TIME).get()
        if next_fire is not None:
            ctx.register_event_time_timer(next_fire)

    def clear(self, window: Window, ctx: TriggerContext) -> None:
        state = ctx.get_partitioned_state(_FIRE_TIME)
        next_fire = state.get()
        if next_fire is not None:
            ctx.delete_event_time_timer(next_fire)
            state.clear()

    def __repr__(self) -> str:
        return f"ContinuousEventTimeTrigger({self.interval} ms)"
