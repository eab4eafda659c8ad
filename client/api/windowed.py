"""WindowedStream and AllWindowedStream: windows in the user API (PyFlink's names).

    from strom.client.api.time import Time
    from strom.client.api.windowing import TumblingEventTimeWindows

    best = (bids.key_by(lambda b: b[0])
                .window(TumblingEventTimeWindows.of(Time.seconds(10)))
                .allowed_lateness(Time.seconds(5))
                .side_output_late_data(late)
                .reduce(lambda a, b: a if a[2] >= b[2] else b))
    best.get_side_output(late).print()

``keyed.window(assigner)`` gives a ``WindowedStream``; ``trigger``, ``evictor``,
``allowed_lateness`` and ``side_output_late_data`` configure it, and one of
``reduce``, ``aggregate``, ``process``, ``apply``, ``sum``/``min``/``max`` or
``count`` ends it, returning a DataStream of window results stamped with
``window.max_timestamp()``. ``stream.window_all(assigner)`` gives an
``AllWindowedStream``: the same over the whole stream, at parallelism 1.

Contents are kept as Flink keeps them: ``aggregate`` one accumulator per key and
window, ``reduce`` one value, ``process``/``apply`` (and any window with an
evictor) the list of elements. Built-in aggregations (``strom.client.api.aggregations``)
passed to ``aggregate`` give one row per key and window,
``(key, window_start, window_end, result1, ...)``, and may run vectorized.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strom.client.api.datastream import DataStream
from strom.client.api.state import AggregateFunction
from strom.common.errors import JobGraphError
from strom.taskmanager.operators.window import (
    ApplyWindow,
    CompositeAggregate,
    CountAggregate,
    FieldAggregator,
    InternalWindowFunction,
    PassThrough,
    ProcessWindow,
    WindowFields,
    WindowOperator,
)
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.time.durations import DurationLike, non_negative_millis
from strom.taskmanager.windowing.assigners import GlobalWindows, MergingWindowAssigner, WindowAssigner
from strom.taskmanager.windowing.evictors import CountEvictor, Evictor
from strom.taskmanager.windowing.triggers import CountTrigger, PurgingTrigger, Trigger

if TYPE_CHECKING:
    from strom.client.api.datastream import KeyedStream

__all__ = ["AllWindowedStream", "WindowedStream", "count_window"]


def _is_aggregate_function(fn: Any) -> bool:
    return all(callable(getattr(fn, m, None)) for m in ("create_accumulator", "add", "get_result"))


def _builtin_aggregation_class() -> type | None:
    try:
        from strom.client.api.aggregations import BuiltinAggregation
    except ImportError:
        return None
    return BuiltinAggregation if isinstance(BuiltinAggregation, type) else None


def _check_instance(fn: Any, step: str) -> None:
    if isinstance(fn, type):
        raise TypeError(f"{step} expects an instance, got the class {fn.__name__}: write {fn.__name__}()")


def _describe(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or type(fn).__name__)


class _Windowed:
    """What WindowedStream and AllWindowedStream share: configuration and the terminal operations."""

    _keyed_functions: bool   # window functions receive the key
    _step: str               # how error messages name this step

    def __init__(self, window_assigner: Any) -> None:
        if not isinstance(window_assigner, WindowAssigner):
            raise TypeError(f"{self._step} expects a WindowAssigner such as "
                            f"TumblingEventTimeWindows.of(Time.seconds(10)), got {type(window_assigner).__name__}")
        self._assigner: WindowAssigner = window_assigner
        self._trigger: Trigger | None = None
        self._evictor: Evictor | None = None
        self._allowed_lateness_ms = 0
        self._late_tag: OutputTag | None = None

    # ---- configuration ----------------------------------------------------------

    def trigger(self, trigger: Trigger) -> Any:
        """When windows fire (replaces the assigner's default trigger)."""
        if not isinstance(trigger, Trigger):
            raise TypeError(f"{self._step}.trigger expects a Trigger such as CountTrigger.of(100), "
                            f"got {type(trigger).__name__}")
        if isinstance(self._assigner, MergingWindowAssigner) and not trigger.can_merge():
            raise JobGraphError(f"{self._step}.trigger({trigger!r}): the merging window assigner "
                                f"{self._assigner!r} needs a trigger that supports merging windows "
                                f"(can_merge() is False for {type(trigger).__name__})")
        self._trigger = trigger
        return self

    def evictor(self, evictor: Evictor) -> Any:
        """Remove elements before and/or after the window function runs (keeps every element)."""
        if not isinstance(evictor, Evictor):
            raise TypeError(f"{self._step}.evictor expects an Evictor such as CountEvictor.of(10), "
                            f"got {type(evictor).__name__}")
        self._evictor = evictor
        return self

    def allowed_lateness(self, time: DurationLike) -> Any:
        """Keep windows this long past their end: late elements fire them again (event time)."""
        self._allowed_lateness_ms = non_negative_millis(time, f"{self._step}.allowed_lateness")
        return self

    def side_output_late_data(self, output_tag: OutputTag) -> Any:
        """Elements too late for every window go to ``output_tag`` (read with get_side_output)."""
        if not isinstance(output_tag, OutputTag):
            raise TypeError(f"{self._step}.side_output_late_data expects an OutputTag, "
                            f"got {type(output_tag).__name__}")
        self._late_tag = output_tag
        return self

    # ---- terminal operations ------------------------------------------------------

    def reduce(self, reduce_function: Any, window_function: Any = None) -> DataStream:
        """Combine the elements of each window pairwise; with a window function, it receives
        the reduced value as its only element."""
        _check_instance(reduce_function, f"{self._step}.reduce")
        if not (callable(reduce_function) or callable(getattr(reduce_function, "reduce", None))):
            raise TypeError(f"{self._step}.reduce expects a ReduceFunction or a function of two values, "
                            f"got {type(reduce_function).__name__}")
        function = self._single_value_function(window_function, "reduce")
        return self._window(function, f"reduce {_describe(reduce_function)}", reduce_function=reduce_function)

    def aggregate(self, *aggregate_functions: Any, window_function: Any = None) -> DataStream:
        """One accumulator per window. One AggregateFunction emits its result (or hands it to
        ``window_function``); built-in aggregations emit ``(key, start, end, r1, ...)``.

            .aggregate(Average())                       # the average per key and window
            .aggregate(Average(), AddWindowEnd())       # a ProcessWindowFunction gets it
        """
        functions = list(aggregate_functions)
        if window_function is None and len(functions) > 1 and not _is_aggregate_function(functions[-1]):
            window_function = functions.pop()
        if not functions:
            raise TypeError(f"{self._step}.aggregate expects an AggregateFunction")
        for fn in functions:
            _check_instance(fn, f"{self._step}.aggregate")
            if not _is_aggregate_function(fn):
                raise TypeError(f"{self._step}.aggregate expects an AggregateFunction (create_accumulator, "
                                f"add, get_result, merge), got {type(fn).__name__}; for a function of two "
                                f"values use reduce()")
        builtin = _builtin_aggregation_class()
        all_builtin = builtin is not None and all(isinstance(fn, builtin) for fn in functions)
        if not all_builtin and len(functions) > 1:
            raise TypeError(f"{self._step}.aggregate takes one AggregateFunction, or several built-in "
                            f"aggregations (strom.client.api.aggregations); got {len(functions)} functions "
                            f"that are not all built-in: combine them into one AggregateFunction")
        if window_function is None:
            fast = self._vectorized(functions)
            if fast is not None:
                return fast
        return self._aggregate(functions, window_function, builtin=all_builtin)

    def count(self) -> DataStream:
        """The number of elements per key and window: ``(key, window_start, window_end, count)``."""
        try:
            from strom.client.api.aggregations import count
        except ImportError:
            counter: Any = CountAggregate()
        else:
            counter = count()
        fast = self._vectorized([counter])
        if fast is not None:
            return fast
        return self._aggregate([counter], None, builtin=True)

    def process(self, process_window_function: Any) -> DataStream:
        """A ProcessWindowFunction over each window's elements (or a function
        ``(key, context, elements)``, ``(context, elements)`` for window_all)."""
        fn = process_window_function
        _check_instance(fn, f"{self._step}.process")
        if not (callable(fn) or callable(getattr(fn, "process", None))):
            raise TypeError(f"{self._step}.process expects a ProcessWindowFunction, got {type(fn).__name__}")
        return self._window(ProcessWindow(fn, single_value=False, keyed=self._keyed_functions),
                            f"process {_describe(fn)}")

    def apply(self, window_function: Any) -> DataStream:
        """A WindowFunction over each window's elements (or a function ``(key, window, inputs)``,
        ``(window, inputs)`` for window_all)."""
        fn = window_function
        _check_instance(fn, f"{self._step}.apply")
        if not (callable(fn) or callable(getattr(fn, "apply", None))):
            raise TypeError(f"{self._step}.apply expects a WindowFunction, got {type(fn).__name__}")
        return self._window(ApplyWindow(fn, single_value=False, keyed=self._keyed_functions),
                            f"apply {_describe(fn)}")

    def sum(self, position_to_sum: int | str = 0) -> DataStream:
        """Per window: the first element with field ``position_to_sum`` replaced by the sum."""
        return self._field("sum", position_to_sum)

    def min(self, position_to_min: int | str = 0) -> DataStream:
        return self._field("min", position_to_min)

    def max(self, position_to_max: int | str = 0) -> DataStream:
        return self._field("max", position_to_max)

    # ---- building the operator ------------------------------------------------------

    def _field(self, kind: str, field: int | str) -> DataStream:
        try:
            aggregator = FieldAggregator(kind, field)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{self._step}.{exc}") from None
        return self._window(PassThrough(), repr(aggregator), reduce_function=aggregator)

    def _single_value_function(self, window_function: Any, method: str) -> InternalWindowFunction:
        """The function that receives a reduced/aggregated value: as is, or a window function's
        only element (an object with ``apply`` is a WindowFunction, anything else is called
        like a ProcessWindowFunction)."""
        fn = window_function
        if fn is None:
            return PassThrough()
        _check_instance(fn, f"{self._step}.{method}")
        if callable(getattr(fn, "process", None)):
            return ProcessWindow(fn, single_value=True, keyed=self._keyed_functions)
        if callable(getattr(fn, "apply", None)):
            return ApplyWindow(fn, single_value=True, keyed=self._keyed_functions)
        if callable(fn):
            return ProcessWindow(fn, single_value=True, keyed=self._keyed_functions)
        raise TypeError(f"{self._step}.{method}: window_function must be a ProcessWindowFunction or a "
                        f"WindowFunction, got {type(fn).__name__}")

    def _aggregate(self, functions: list[Any], window_function: Any, builtin: bool) -> DataStream:
        merging = isinstance(self._assigner, MergingWindowAssigner)
        for fn in functions:
            if merging and isinstance(fn, AggregateFunction) and type(fn).merge is AggregateFunction.merge:
                raise JobGraphError(f"{self._step}.aggregate({type(fn).__name__}()): {self._assigner!r} merges "
                                    f"windows, and with them accumulators: implement "
                                    f"{type(fn).__name__}.merge(acc_a, acc_b)")
        if builtin:
            agg: Any = CompositeAggregate(functions)
            if window_function is None:
                function: InternalWindowFunction = WindowFields(keyed=self._keyed_functions)
            else:
                if len(functions) == 1:
                    agg = functions[0]
                function = self._single_value_function(window_function, "aggregate")
            what = "aggregate " + ", ".join(repr(fn) for fn in functions)
        else:
            agg = functions[0]
            function = self._single_value_function(window_function, "aggregate")
            what = f"aggregate {_describe(agg)}"
        return self._window(function, what, aggregate_function=agg)

    def _window(self, function: InternalWindowFunction, what: str, *, reduce_function: Any = None,
                aggregate_function: Any = None, label: str | None = None) -> DataStream:
        trigger = self._trigger or self._assigner.get_default_trigger()
        parts = [repr(self._assigner), repr(trigger)]
        if self._evictor is not None:
            parts.append(repr(self._evictor))
        parts.append(what)
        name = f"{label or self._label}({', '.join(parts)})"
        operator = WindowOperator(
            self._assigner, trigger, function, reduce_function=reduce_function,
            aggregate_function=aggregate_function, evictor=self._evictor,
            allowed_lateness=self._allowed_lateness_ms,
            late_tag=None if self._late_tag is None else self._late_tag.tag_id,
            keyed=self._keyed_functions, name=name)
        return self._add(operator, name)

    _label = "Window"

    def _vectorized(self, aggregations: list[Any]) -> DataStream | None:
        return None

    def _add(self, operator: WindowOperator, name: str) -> DataStream:
        raise NotImplementedError


class WindowedStream(_Windowed):
    """Windows per key of a KeyedStream: ``keyed.window(assigner)``."""

    _keyed_functions = True
    _step = "window"

    def __init__(self, keyed_stream: KeyedStream, window_assigner: Any) -> None:
        self._keyed = keyed_stream
        super().__init__(window_assigner)
        self._step = f"window({window_assigner!r})"

    def _vectorized(self, aggregations: list[Any]) -> DataStream | None:
        """The Arrow fast path of built-in aggregations, when it applies to this window."""
        try:
            from strom.client.api.aggregations import vectorized_window_operator
        except ImportError:
            return None
        operator = vectorized_window_operator(self, aggregations)
        if operator is None:
            return None
        trigger = self._trigger or self._assigner.get_default_trigger()
        what = "aggregate " + ", ".join(repr(fn) for fn in aggregations)
        name = f"Window({self._assigner!r}, {trigger!r}, {what})"
        return self._keyed._then(operator, name, stateful=True)

    def _add(self, operator: WindowOperator, name: str) -> DataStream:
        return self._keyed._then(operator, name, stateful=True)


class _NonParallelStream(DataStream):
    """The result of a window_all: its operator runs as one parallel instance."""

    def set_parallelism(self, parallelism: int) -> DataStream:
        if parallelism != 1:
            raise JobGraphError(f"operator {self.get_name()!r} evaluates windows over the whole stream and "
                                f"runs at parallelism 1; it cannot run at parallelism {parallelism}")
        return super().set_parallelism(parallelism)


class AllWindowedStream(_Windowed):
    """Windows over a whole stream: ``stream.window_all(assigner)``, evaluated at parallelism 1."""

    _keyed_functions = False
    _label = "Window All"
    _step = "window_all"

    def __init__(self, stream: DataStream, window_assigner: Any) -> None:
        self._stream = stream
        super().__init__(window_assigner)
        self._step = f"window_all({window_assigner!r})"

    def _add(self, operator: WindowOperator, name: str) -> DataStream:
        out = self._stream._then(operator, name, stateful=True)
        out._node.parallelism = 1
        return _NonParallelStream(out._env, out._node)


def count_window(keyed_stream: KeyedStream, size: int, slide: int | None = None) -> WindowedStream:
    """Flink's countWindow: every ``size`` elements per key (purged after each firing), or with
    ``slide`` the last ``size`` elements every ``slide`` elements."""
    for what, n in (("size", size), ("slide", slide)):
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
            raise ValueError(f"count_window: {what} must be a positive number of elements, got {n!r}")
    windowed = WindowedStream(keyed_stream, GlobalWindows.create())
    if slide is None:
        return windowed.trigger(PurgingTrigger.of(CountTrigger.of(size)))  # type: ignore[no-any-return]
    return windowed.evictor(CountEvictor.of(size)).trigger(CountTrigger.of(slide))  # type: ignore[no-any-return]
