"""Functions of two inputs (PyFlink's names and signatures): connected streams, broadcast state, interval joins.

    class Enrich(KeyedCoProcessFunction):
        def open(self, runtime_context):
            self.price = runtime_context.get_state(ValueStateDescriptor("price"))

        def process_element1(self, order, ctx):          # first stream: orders
            price = self.price.value()
            if price is not None:
                yield order, price

        def process_element2(self, price, ctx):          # second stream: prices, same key
            self.price.update(price)

    orders.connect(prices).key_by(lambda o: o[0], lambda p: p[0]).process(Enrich())

Functions ``yield`` (or return an iterable of) their outputs; ``yield tag, value`` with an ``OutputTag``, or
``ctx.output(tag, value)``, sends ``value`` to a side output. The ``ctx`` objects are valid during the
call only. The Context classes below describe what the runtime hands over (it does not subclass them).

=============================  ==============================================  ===============================
function                       methods                                         used by
=============================  ==============================================  ===============================
CoMapFunction                  map1, map2                                      ``a.connect(b).map``
CoFlatMapFunction              flat_map1, flat_map2                            ``a.connect(b).flat_map``
CoProcessFunction              process_element1/2(value, ctx)                  ``a.connect(b).process``
KeyedCoProcessFunction         process_element1/2(value, ctx), on_timer        ``...key_by(k1, k2).process``
BroadcastProcessFunction       process_element, process_broadcast_element      ``a.connect(b.broadcast(d))``
KeyedBroadcastProcessFunction  the same, plus on_timer and keyed state         ``keyed.connect(b.broadcast(d))``
ProcessJoinFunction            process_element(left, right, ctx)               ``interval_join(...).process``
=============================  ==============================================  ===============================
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import Any

from strom.client.api.functions import Function, TimeDomain
from strom.taskmanager.runtime.output_tag import OutputTag

__all__ = [
    "BaseBroadcastProcessFunction",
    "BroadcastProcessFunction",
    "CoFlatMapFunction",
    "CoMapFunction",
    "CoProcessFunction",
    "KeyedBroadcastProcessFunction",
    "KeyedCoProcessFunction",
    "ProcessJoinFunction",
    "TimeDomain",
]


class CoMapFunction(Function):
    """One output per element of either stream; one instance serves both, so they can share state."""

    @abc.abstractmethod
    def map1(self, value: Any) -> Any: ...

    @abc.abstractmethod
    def map2(self, value: Any) -> Any: ...


class CoFlatMapFunction(Function):
    """Zero or more outputs per element of either stream (``yield`` them)."""

    @abc.abstractmethod
    def flat_map1(self, value: Any) -> Iterable[Any] | None: ...

    @abc.abstractmethod
    def flat_map2(self, value: Any) -> Iterable[Any] | None: ...


class CoProcessFunction(Function):
    """Elements of two streams with a context: event time, the time service, side outputs.

    On non-keyed connected streams timers cannot be registered (as in Flink); on keyed ones (both inputs
    keyed) state and timers work as in a KeyedCoProcessFunction.
    """

    class Context(abc.ABC):
        @abc.abstractmethod
        def timer_service(self) -> Any:
            """``current_processing_time()``, ``current_watermark()``; timers on keyed streams only."""

        @abc.abstractmethod
        def timestamp(self) -> int | None:
            """Event time of the element (None when the stream has none), or the firing timer's time."""

        @abc.abstractmethod
        def output(self, output_tag: OutputTag, value: Any) -> None:
            """Send ``value`` to the side output ``output_tag``."""

    @abc.abstractmethod
    def process_element1(self, value: Any, ctx: CoProcessFunction.Context) -> Iterable[Any] | None: ...

    @abc.abstractmethod
    def process_element2(self, value: Any, ctx: CoProcessFunction.Context) -> Iterable[Any] | None: ...


class KeyedCoProcessFunction(Function):
    """Two keyed streams: state per key shared by both inputs, event- and processing-time timers.

    Outputs of ``process_element1/2`` carry the element's event time; outputs of ``on_timer`` the timer's
    time (event-time timers) or none (processing-time timers).
    """

    class Context(abc.ABC):
        @abc.abstractmethod
        def get_current_key(self) -> Any: ...

        @abc.abstractmethod
        def timer_service(self) -> Any:
            """Register and delete timers of the current key; query processing time and the watermark."""

        @abc.abstractmethod
        def timestamp(self) -> int | None: ...

        @abc.abstractmethod
        def output(self, output_tag: OutputTag, value: Any) -> None: ...

    class OnTimerContext(Context):
        @abc.abstractmethod
        def time_domain(self) -> TimeDomain:
            """``TimeDomain.EVENT_TIME`` or ``TimeDomain.PROCESSING_TIME``: which timer fired."""

    @abc.abstractmethod
    def process_element1(self, value: Any, ctx: KeyedCoProcessFunction.Context) -> Iterable[Any] | None: ...

    @abc.abstractmethod
    def process_element2(self, value: Any, ctx: KeyedCoProcessFunction.Context) -> Iterable[Any] | None: ...

    def on_timer(self, timestamp: int, ctx: KeyedCoProcessFunction.OnTimerContext) -> Iterable[Any] | None:
        """A timer registered through ``ctx.timer_service()`` fired (the current key is the timer's)."""
        return None


class BaseBroadcastProcessFunction(Function):
    """What both broadcast process functions share: their contexts."""

    class BaseContext(abc.ABC):
        @abc.abstractmethod
        def timestamp(self) -> int | None: ...

        @abc.abstractmethod
        def current_processing_time(self) -> int: ...

        @abc.abstractmethod
        def current_watermark(self) -> int: ...

        @abc.abstractmethod
        def output(self, output_tag: OutputTag, value: Any) -> None: ...

    class Context(BaseContext):
        """The broadcast side's context: read and write access to the broadcast state."""

        @abc.abstractmethod
        def get_broadcast_state(self, state_descriptor: Any) -> Any:
            """The broadcast state of a MapStateDescriptor given to ``broadcast(...)``: MapState's methods."""

    class ReadOnlyContext(BaseContext):
        """The non-broadcast side's context: the broadcast state can be read, not changed."""

        @abc.abstractmethod
        def get_broadcast_state(self, state_descriptor: Any) -> Any:
            """A read-only view (``get``, ``contains``, ``items``, ...); writing raises."""


class BroadcastProcessFunction(BaseBroadcastProcessFunction):
    """A non-keyed stream connected with a broadcast stream.

        class Filter(BroadcastProcessFunction):
            def process_element(self, value, ctx):
                if ctx.get_broadcast_state(BLOCKED).contains(value):
                    return
                yield value

            def process_broadcast_element(self, word, ctx):
                ctx.get_broadcast_state(BLOCKED).put(word, True)

        words.connect(blocked.broadcast(BLOCKED)).process(Filter())

    Every parallel instance receives every broadcast element and must change its broadcast state the
    same way, so that all instances hold the same state: only ``process_broadcast_element`` may write it.
    """

    class Context(BaseBroadcastProcessFunction.Context, abc.ABC):
        pass

    class ReadOnlyContext(BaseBroadcastProcessFunction.ReadOnlyContext, abc.ABC):
        pass

    @abc.abstractmethod
    def process_element(self, value: Any, ctx: BroadcastProcessFunction.ReadOnlyContext
                        ) -> Iterable[Any] | None: ...

    @abc.abstractmethod
    def process_broadcast_element(self, value: Any, ctx: BroadcastProcessFunction.Context
                                  ) -> Iterable[Any] | None: ...


class KeyedBroadcastProcessFunction(BaseBroadcastProcessFunction):
    """A keyed stream connected with a broadcast stream: keyed state and timers on the keyed side.

        class Match(KeyedBroadcastProcessFunction):
            def open(self, runtime_context):
                self.seen = runtime_context.get_list_state(SEEN)

            def process_element(self, item, ctx):
                self.seen.add(item)
                for name, rule in ctx.get_broadcast_state(RULES).items():
                    if rule(item):
                        yield name, item

            def process_broadcast_element(self, rule, ctx):
                name, predicate = rule
                ctx.get_broadcast_state(RULES).put(name, predicate)
                matches = []
                ctx.apply_to_keyed_state(SEEN, lambda key, seen: matches.extend(
                    (name, item) for item in seen.get() if predicate(item)))
                yield from matches

        items.key_by(lambda i: i[0]).connect(rules.broadcast(RULES)).process(Match())
    """

    class Context(BaseBroadcastProcessFunction.Context, abc.ABC):
        @abc.abstractmethod
        def apply_to_keyed_state(self, state_descriptor: Any, function: Callable[[Any, Any], Any]) -> None:
            """Call ``function(key, state)`` for every key of this parallel instance holding that keyed
            state, with the key current (the function may update or clear the state)."""

    class ReadOnlyContext(BaseBroadcastProcessFunction.ReadOnlyContext, abc.ABC):
        @abc.abstractmethod
        def timer_service(self) -> Any: ...

        @abc.abstractmethod
        def get_current_key(self) -> Any: ...

    class OnTimerContext(ReadOnlyContext, abc.ABC):
        @abc.abstractmethod
        def time_domain(self) -> TimeDomain: ...

    @abc.abstractmethod
    def process_element(self, value: Any, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext
                        ) -> Iterable[Any] | None: ...

    @abc.abstractmethod
    def process_broadcast_element(self, value: Any, ctx: KeyedBroadcastProcessFunction.Context
                                  ) -> Iterable[Any] | None: ...

    def on_timer(self, timestamp: int, ctx: KeyedBroadcastProcessFunction.OnTimerContext
                 ) -> Iterable[Any] | None:
        return None


class ProcessJoinFunction(Function):
    """Called once per joined pair of an interval join; yields the results.

        class Pair(ProcessJoinFunction):
            def process_element(self, left, right, ctx):
                yield left, right, ctx.get_timestamp()
    """

    class Context(abc.ABC):
        @abc.abstractmethod
        def get_left_timestamp(self) -> int: ...

        @abc.abstractmethod
        def get_right_timestamp(self) -> int: ...

        @abc.abstractmethod
        def get_timestamp(self) -> int:
            """The joined result's timestamp: the larger of the two elements' timestamps."""

        @abc.abstractmethod
        def output(self, output_tag: OutputTag, value: Any) -> None: ...

    @abc.abstractmethod
    def process_element(self, left: Any, right: Any, ctx: ProcessJoinFunction.Context) -> Iterable[Any] | None: ...
