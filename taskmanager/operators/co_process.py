"""Two-input operators of connected streams: Flink's CoStreamMap, CoStreamFlatMap, CoProcessOperator and
KeyedCoProcessOperator.

    a.connect(b).map(CoMapFunction)                             -> CoMapOperator
    a.connect(b).flat_map(CoFlatMapFunction)                    -> CoFlatMapOperator
    a.connect(b).process(CoProcessFunction)                     -> CoProcessOperator
    a.connect(b).key_by(ka, kb).process(KeyedCoProcessFunction) -> KeyedCoProcessOperator

Input 0 is the first stream (``map1``, ``process_element1``), input 1 the second. An output record keeps
the event time of the element it came from; outputs of ``on_timer`` carry the timer's time (event time)
or none (processing time), as in Flink. A keyed operator has one keyed state backend for both inputs, so
both functions see the same state for the same key, and one timer service: event-time timers fire, in
order, when the operator's watermark (the minimum over both inputs, computed by the task) passes them,
before the watermark goes downstream.

The pieces every user-function operator of this package uses live here too (broadcast.py and
interval_join.py build on them):

- ``UserFunctionOperator``: opens the function with its ``RuntimeContext`` (keyed state when keyed, operator
  state always), closes it, remembers the current watermark.
- ``OutputCollector``: what a function yielded for one batch (or one timer firing): main-output records,
  ``(OutputTag, value)`` side outputs and ``ctx.output(tag, value)``, each with its timestamp; emitted as one
  batch per output.
- ``UserTimerService``: what ``ctx.timer_service()`` returns.

``TimeDomain`` and ``ProcessFunctionError`` (timers where there is no key, timers without ``on_timer``) are
the process functions' (strom.taskmanager.operators.process).

Every call happens on the subtask's task thread (processing-time timers too: the task's
ProcessingTimeService runs them between batches).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from strom.taskmanager.operators.base import Operator, OperatorContext, describe_function
from strom.taskmanager.operators.process import ProcessFunctionError, TimeDomain
from strom.taskmanager.operators.runtime_context import RuntimeContext
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.state import VOID_NAMESPACE, StateAccessError
from strom.taskmanager.time.timers import InternalTimer
from strom.taskmanager.time.watermarks import MIN_WATERMARK

# iterable, but returning one is a mistake: a str would be emitted character by character
_NOT_RESULTS = frozenset({str, bytes, bytearray, dict})


# ---- shared by the user-function operators -------------------------------------------------------------


def _batches(records: list[Any], stamps: list[int | None]) -> list[Batch]:
    """One batch; two when some records have event time and others have none."""
    missing = stamps.count(None)
    if missing == len(stamps):
        return [Batch.of_records(records)]
    if not missing:
        return [Batch.of_records(records, np.array(stamps, dtype=np.int64))]
    timed = [i for i, s in enumerate(stamps) if s is not None]
    untimed = [i for i, s in enumerate(stamps) if s is None]
    return [Batch.of_records([records[i] for i in timed], np.array([stamps[i] for i in timed], dtype=np.int64)),
            Batch.of_records([records[i] for i in untimed])]


class OutputCollector:
    """The outputs of a user function for one batch or one timer firing, until ``flush``."""

    __slots__ = ("step", "records", "stamps", "sides")

    def __init__(self, step: str) -> None:
        self.step = step
        self.records: list[Any] = []
        self.stamps: list[int | None] = []
        self.sides: dict[str, tuple[list[Any], list[int | None]]] = {}

    def collect(self, result: Iterable[Any] | None, timestamp: int | None, method: str) -> None:
        """Everything ``result`` (what ``method`` returned or yielded) holds, stamped with ``timestamp``."""
        if result is None:
            return
        try:
            if type(result) in _NOT_RESULTS:
                raise TypeError
            items = iter(result)
        except TypeError:
            raise TypeError(
                f"{self.step}: {method} returned {type(result).__name__} ({result!r:.80}); it must yield its "
                f"outputs (or return a list of them, or None)") from None
        records, stamps = self.records, self.stamps
        for item in items:
            if type(item) is tuple and len(item) == 2 and isinstance(item[0], OutputTag):
                self.side(item[0], item[1], timestamp)
            else:
                records.append(item)
                stamps.append(timestamp)

    def side(self, tag: Any, value: Any, timestamp: int | None) -> None:
        if not isinstance(tag, OutputTag):
            raise TypeError(f"{self.step}: output() expects an OutputTag and a value, got {type(tag).__name__}")
        entry = self.sides.get(tag.tag_id)
        if entry is None:
            entry = self.sides[tag.tag_id] = ([], [])
        entry[0].append(value)
        entry[1].append(timestamp)

    def flush(self, op: Operator) -> None:
        if self.records:
            records, stamps = self.records, self.stamps
            self.records, self.stamps = [], []
            for batch in _batches(records, stamps):
                op.output.emit(batch)
        if self.sides:
            sides, self.sides = self.sides, {}
            for tag_id, (values, side_stamps) in sides.items():
                for batch in _batches(values, side_stamps):
                    op.side_output(tag_id, batch)


def stamps_of(batch: Batch) -> list[int | None]:
    """The batch's event times as Python ints (None per record when it has none)."""
    ts = batch.timestamps
    return ts.tolist() if ts is not None else [None] * len(batch)


def keys_of(batch: Batch, step: str, input_index: int) -> Any:
    keys = batch.keys
    if keys is None:
        raise RuntimeError(f"{step}: input {input_index + 1} delivered records without keys; a keyed two-input "
                           f"operator must be fed by key_by() on both inputs")
    return keys


class UserFunctionOperator(Operator):
    """Runs one user function: its RuntimeContext, its open/close, the current watermark, its outputs.

    Subclasses set ``keyed`` (a keyed state backend and a timer service for the function) and implement
    ``process``; ``on_timer`` is called for timers of keyed operators.
    """

    keyed: bool = False
    kind: str = "function"

    def __init__(self, fn: Any, name: str) -> None:
        self.fn = fn
        self.name = name

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self.step = f"{self.name} '{describe_function(self.fn)}'"
        self.current_watermark = MIN_WATERMARK
        self.backend = ctx.create_keyed_state_backend() if self.keyed else None
        self.timers = (ctx.create_timer_service(self._on_processing_timer, self._flush_output)
                       if self.keyed else None)
        self.operator_state = ctx.create_operator_state_backend()
        self.runtime_context = RuntimeContext(ctx, self.step, self.backend, self.operator_state)
        self.out = OutputCollector(self.step)
        self.timer_service = UserTimerService(self)
        opener = getattr(self.fn, "open", None)
        if callable(opener) and not isinstance(self.fn, type):
            opener(self.runtime_context)

    def close(self) -> None:
        closer = getattr(self.fn, "close", None)
        if callable(closer) and not isinstance(self.fn, type):
            closer()

    def method(self, name: str) -> Callable[..., Any]:
        fn = getattr(self.fn, name, None)
        if not callable(fn):
            raise TypeError(f"{self.step}: a {self.kind} needs a method {name}(), "
                            f"{type(self.fn).__name__} has none")
        return fn  # type: ignore[no-any-return]

    # ---- time --------------------------------------------------------------------------------------------

    def process_watermark(self, watermark: int) -> None:
        self.current_watermark = watermark
        if self.timers is not None:
            for timer in self.timers.advance_watermark(watermark):
                self.on_timer(timer, TimeDomain.EVENT_TIME)
            self.out.flush(self)
        self.emit_watermark(watermark)

    def _on_processing_timer(self, timer: InternalTimer) -> None:
        self.on_timer(timer, TimeDomain.PROCESSING_TIME)   # flushed once per firing pass

    def _flush_output(self) -> None:
        self.out.flush(self)

    def on_timer(self, timer: InternalTimer, domain: TimeDomain) -> None:
        """A timer of this keyed operator fired (event-time timers in watermark order)."""

    def call_user_on_timer(self, timer: InternalTimer, domain: TimeDomain, context: Any) -> None:
        """The user's ``on_timer(timestamp, ctx)`` under the timer's key; event-time outputs carry
        the timer's time, processing-time outputs none (Flink)."""
        call = getattr(self.fn, "on_timer", None)
        if not callable(call):
            raise ProcessFunctionError(f"{self.step}: a timer fired but {type(self.fn).__name__} has no "
                                       f"on_timer(timestamp, ctx) method")
        assert self.backend is not None
        self.backend.set_current_key(timer.key)
        context._timestamp = timer.timestamp
        context._domain = domain
        try:
            self.out.collect(call(timer.timestamp, context),
                             timer.timestamp if domain is TimeDomain.EVENT_TIME else None, "on_timer")
        finally:
            context._domain = None

    def timer_key(self, method: str) -> Any:
        """The key a timer registered now belongs to; raises where timers do not exist."""
        if self.timers is None or self.backend is None:
            raise ProcessFunctionError(
                f"{self.step}: timer_service().{method}(): Setting timers is only supported on keyed streams. "
                f"Timers belong to a key: key the stream(s) with key_by (for connected streams "
                f"connect(...).key_by(key1, key2)); here the timer service only tells the time")
        if not self.backend.has_current_key:
            raise ProcessFunctionError(f"{self.step}: timer_service().{method}() needs a current key; it is not "
                                   f"available while processing a broadcast element")
        return self.backend.current_key


class UserTimerService:
    """``ctx.timer_service()`` (PyFlink's TimerService): the time, and timers of the current key."""

    __slots__ = ("_op",)

    def __init__(self, op: UserFunctionOperator) -> None:
        self._op = op

    def current_processing_time(self) -> int:
        return self._op.ctx.get_current_processing_time()

    def current_watermark(self) -> int:
        return self._op.current_watermark

    def register_event_time_timer(self, timestamp: int) -> None:
        """``on_timer`` is called once the watermark reaches ``timestamp`` (once per key and time)."""
        key = self._op.timer_key("register_event_time_timer")
        self._op.timers.register_event_time_timer(key, VOID_NAMESPACE, _millis(timestamp))  # type: ignore[union-attr]

    def register_processing_time_timer(self, timestamp: int) -> None:
        key = self._op.timer_key("register_processing_time_timer")
        self._op.timers.register_processing_time_timer(  # type: ignore[union-attr]
            key, VOID_NAMESPACE, _millis(timestamp))

    def delete_event_time_timer(self, timestamp: int) -> None:
        key = self._op.timer_key("delete_event_time_timer")
        self._op.timers.delete_event_time_timer(key, VOID_NAMESPACE, _millis(timestamp))  # type: ignore[union-attr]

    def delete_processing_time_timer(self, timestamp: int) -> None:
        key = self._op.timer_key("delete_processing_time_timer")
        self._op.timers.delete_processing_time_timer(  # type: ignore[union-attr]
            key, VOID_NAMESPACE, _millis(timestamp))


def _millis(timestamp: Any) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, np.integer)):
        raise TypeError(f"a timer's time is int milliseconds, got {type(timestamp).__name__} ({timestamp!r})")
    return int(timestamp)


# ---- co-map and co-flat-map ------------------------------------------------------------------------------


class CoMapOperator(UserFunctionOperator):
    """``connect(...).map(CoMapFunction)``: ``map1`` for input 0, ``map2`` for input 1; one output per record.

    On keyed connected streams the function may use keyed state (the current key is set per record)."""

    kind = "CoMapFunction"

    def __init__(self, fn: Any, name: str = "Co-Map", keyed: bool = False) -> None:
        super().__init__(fn, name)
        self.keyed = keyed

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._calls = (self.method("map1"), self.method("map2"))

    def process(self, batch: Batch, input_index: int = 0) -> None:
        call = self._calls[input_index]
        if self.backend is None:
            out = list(map(call, batch.records))
        else:
            set_key = self.backend.set_current_key
            out = []
            for key, value in zip(keys_of(batch, self.step, input_index), batch.records, strict=True):
                set_key(key)
                out.append(call(value))
        self.output.emit(Batch.of_records(out, batch.timestamps))


class CoFlatMapOperator(UserFunctionOperator):
    """``connect(...).flat_map(CoFlatMapFunction)``: ``flat_map1``/``flat_map2`` yield zero or more outputs."""

    kind = "CoFlatMapFunction"

    def __init__(self, fn: Any, name: str = "Co-Flat Map", keyed: bool = False) -> None:
        super().__init__(fn, name)
        self.keyed = keyed

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._calls = (self.method("flat_map1"), self.method("flat_map2"))

    def process(self, batch: Batch, input_index: int = 0) -> None:
        call = self._calls[input_index]
        method = ("flat_map1", "flat_map2")[input_index]
        collect = self.out.collect
        if self.backend is None:
            for value, ts in zip(batch.records, stamps_of(batch), strict=True):
                collect(call(value), ts, method)
        else:
            set_key = self.backend.set_current_key
            keys = keys_of(batch, self.step, input_index)
            for key, value, ts in zip(keys, batch.records, stamps_of(batch), strict=True):
                set_key(key)
                collect(call(value), ts, method)
        self.out.flush(self)


# ---- co-process --------------------------------------------------------------------------------------------


class CoProcessContext:
    """The ``ctx`` of ``process_element1/2`` and ``on_timer`` (CoProcessFunction and KeyedCoProcessFunction
    Context / OnTimerContext). Valid during the call only."""

    __slots__ = ("_op", "_timestamp", "_domain")

    def __init__(self, op: UserFunctionOperator) -> None:
        self._op = op
        self._timestamp: int | None = None
        self._domain: TimeDomain | None = None

    def timestamp(self) -> int | None:
        """Event time of the element (None when the stream has none), or the firing timer's time."""
        return self._timestamp

    def timer_service(self) -> UserTimerService:
        return self._op.timer_service

    def get_current_key(self) -> Any:
        backend = self._op.backend
        if backend is None:
            raise StateAccessError(f"{self._op.step}: get_current_key() exists only on keyed connected streams")
        return backend.current_key

    def time_domain(self) -> TimeDomain:
        """In ``on_timer``: whether the firing timer is an event-time or a processing-time timer."""
        if self._domain is None:
            raise StateAccessError(f"{self._op.step}: time_domain() is only available in on_timer")
        return self._domain

    def output(self, output_tag: OutputTag, value: Any) -> None:
        """Send ``value`` to the side output ``output_tag`` (with the current timestamp)."""
        self._op.out.side(output_tag, value, self._timestamp if self._domain is not TimeDomain.PROCESSING_TIME
                          else None)


class CoProcessOperator(UserFunctionOperator):
    """``connect(...).process(fn)``: ``process_element1``/``process_element2(value, ctx)`` yield outputs.

    Not keyed: ``ctx.timer_service()`` tells the time but registering a timer raises (as in Flink). Keyed
    (``KeyedCoProcessOperator``): shared keyed state per key, timers, ``on_timer(timestamp, ctx)``.
    """

    kind = "CoProcessFunction"
    _METHODS = ("process_element1", "process_element2")

    def __init__(self, fn: Any, name: str = "Co-Process") -> None:
        super().__init__(fn, name)

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._calls = tuple(self.method(m) for m in self._METHODS)
        self._context = CoProcessContext(self)

    def process(self, batch: Batch, input_index: int = 0) -> None:
        call = self._calls[input_index]
        method = self._METHODS[input_index]
        context = self._context
        collect = self.out.collect
        if self.backend is None:
            for value, ts in zip(batch.records, stamps_of(batch), strict=True):
                context._timestamp = ts
                collect(call(value, context), ts, method)
        else:
            set_key = self.backend.set_current_key
            keys = keys_of(batch, self.step, input_index)
            for key, value, ts in zip(keys, batch.records, stamps_of(batch), strict=True):
                set_key(key)
                context._timestamp = ts
                collect(call(value, context), ts, method)
        self.out.flush(self)


class KeyedCoProcessOperator(CoProcessOperator):
    """Keyed connected streams: state per key shared by both inputs, event- and processing-time timers."""

    keyed = True
    kind = "KeyedCoProcessFunction"

    def __init__(self, fn: Any, name: str = "Co-Keyed-Process") -> None:
        super().__init__(fn, name)

    def on_timer(self, timer: InternalTimer, domain: TimeDomain) -> None:
        self.call_user_on_timer(timer, domain, self._context)
