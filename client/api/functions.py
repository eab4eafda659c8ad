"""PyFlink's function interfaces. Plain callables work everywhere too:

    ds.map(lambda x: x * 2)          # a callable
    ds.map(Doubler())                # a MapFunction with open()/close()

Process functions see each element with a context (its timestamp, the timer
service, side outputs) and, on keyed streams, keyed state and timers:

    class Alert(KeyedProcessFunction):
        def open(self, runtime_context):
            self.seen = runtime_context.get_state(ValueStateDescriptor("seen"))

        def process_element(self, value, ctx):
            if self.seen.value() is None:
                self.seen.update(True)
                ctx.timer_service().register_event_time_timer(ctx.timestamp() + 60_000)
                yield ctx.get_current_key(), "first"

        def on_timer(self, timestamp, ctx):
            self.seen.clear()
            yield ctx.get_current_key(), "forgotten"

Functions ``yield`` their outputs (or return an iterable, or None); a yielded
``(OutputTag, value)`` pair, like ``ctx.output(tag, value)``, goes to that side
output.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any

from strom.taskmanager.operators.process import (
    KeyedOnTimerContext,
    KeyedProcessContext,
    KeyedTimerService,
    ProcessContext,
    ProcessFunctionError,
    ProcessTimerService,
    TimeDomain,
)
from strom.taskmanager.operators.runtime_context import RuntimeContext
from strom.taskmanager.runtime.output_tag import OutputTag

__all__ = [
    "FilterFunction",
    "FlatMapFunction",
    "Function",
    "KeySelector",
    "KeyedProcessFunction",
    "MapFunction",
    "OutputTag",
    "ProcessFunction",
    "ProcessFunctionError",
    "ReduceFunction",
    "RuntimeContext",
    "TimeDomain",
    "TimerService",
]


class Function(abc.ABC):  # noqa: B024 - a marker base with optional lifecycle hooks
    def open(self, runtime_context: RuntimeContext) -> None:
        """Called once per parallel instance before the first record."""

    def close(self) -> None:
        """Called once per parallel instance after the last record."""


class MapFunction(Function):
    @abc.abstractmethod
    def map(self, value: Any) -> Any: ...


class FlatMapFunction(Function):
    @abc.abstractmethod
    def flat_map(self, value: Any) -> Iterable[Any]: ...


class FilterFunction(Function):
    @abc.abstractmethod
    def filter(self, value: Any) -> bool: ...


class ReduceFunction(Function):
    @abc.abstractmethod
    def reduce(self, value1: Any, value2: Any) -> Any: ...


class KeySelector(Function):
    @abc.abstractmethod
    def get_key(self, value: Any) -> Any: ...


# ---- process functions ---------------------------------------------------------------------------


class TimerService(abc.ABC):
    """Querying time and, on keyed streams, registering timers of the current key.

    Times are int milliseconds. A timer is one per key and time: registering it
    again changes nothing. Event-time timers fire once the watermark reaches
    them; processing-time timers once the clock is past them.
    """

    @abc.abstractmethod
    def current_processing_time(self) -> int: ...

    @abc.abstractmethod
    def current_watermark(self) -> int: ...

    @abc.abstractmethod
    def register_processing_time_timer(self, timestamp: int) -> None: ...

    @abc.abstractmethod
    def register_event_time_timer(self, timestamp: int) -> None: ...

    @abc.abstractmethod
    def delete_processing_time_timer(self, timestamp: int) -> None: ...

    @abc.abstractmethod
    def delete_event_time_timer(self, timestamp: int) -> None: ...


class ProcessFunction(Function):
    """Processes each element of a stream: ``ds.process(MyProcessFunction())``.

        class Tag(ProcessFunction):
            def process_element(self, value, ctx):
                yield value, ctx.timestamp()

    Timers and keyed state need a keyed stream (``KeyedProcessFunction``).
    """

    class Context(abc.ABC):
        """What ``process_element`` knows besides the element; valid during the call only."""

        @abc.abstractmethod
        def timer_service(self) -> TimerService: ...

        @abc.abstractmethod
        def timestamp(self) -> int | None:
            """The element's event time, or None when the stream has none."""

        @abc.abstractmethod
        def output(self, output_tag: OutputTag, value: Any) -> None:
            """Send ``value`` to a side output (same as ``yield output_tag, value``)."""

    @abc.abstractmethod
    def process_element(self, value: Any, ctx: ProcessFunction.Context) -> Iterable[Any] | None:
        """Yield zero or more outputs for ``value``."""


class KeyedProcessFunction(Function):
    """Processes each element of a keyed stream with keyed state and timers:
    ``ds.key_by(...).process(MyKeyedProcessFunction())`` (see the module docstring).

    ``on_timer(timestamp, ctx)`` is called for every timer that fires, with the
    timer's key current, so state reads and writes are the key's. Outputs of
    event-time timers carry the timer's time as their timestamp.
    """

    class Context(abc.ABC):
        @abc.abstractmethod
        def get_current_key(self) -> Any: ...

        @abc.abstractmethod
        def timer_service(self) -> TimerService: ...

        @abc.abstractmethod
        def timestamp(self) -> int | None:
            """The element's event time (or the firing timer's time); None without event time."""

        @abc.abstractmethod
        def output(self, output_tag: OutputTag, value: Any) -> None:
            """Send ``value`` to a side output (same as ``yield output_tag, value``)."""

    class OnTimerContext(Context):
        @abc.abstractmethod
        def time_domain(self) -> TimeDomain:
            """``TimeDomain.EVENT_TIME`` or ``TimeDomain.PROCESSING_TIME``: which timer fired."""

    @abc.abstractmethod
    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Iterable[Any] | None:
        """Yield zero or more outputs for ``value``; read and write keyed state, set timers."""

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterable[Any] | None:
        """Yield zero or more outputs when a timer fires. Override it to use timers: registering a
        timer in a function that does not fails, naming the step."""
        return None


def implements_on_timer(fn: Any) -> bool:
    """Whether ``fn`` handles timers: an ``on_timer`` other than KeyedProcessFunction's default."""
    method = getattr(type(fn), "on_timer", None)
    return callable(method) and method is not KeyedProcessFunction.on_timer


# The runtime's objects are what user functions receive; they satisfy these interfaces.
TimerService.register(ProcessTimerService)
TimerService.register(KeyedTimerService)
ProcessFunction.Context.register(ProcessContext)
KeyedProcessFunction.Context.register(KeyedProcessContext)
KeyedProcessFunction.OnTimerContext.register(KeyedOnTimerContext)
