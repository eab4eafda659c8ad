"""Internal window functions: how the contents of a fired window become output records.

Flink's ``InternalWindowFunction`` family. The window operator keeps a window's
contents in one of three shapes, and hands them to an internal function when a
trigger fires:

    list of elements    process(), apply(), and every window with an evictor
    one reduced value   reduce(fn)
    one aggregate       aggregate(AggregateFunction) (the result, not the accumulator)

The internal function adapts that shape to the user's function:

    PassThrough     reduce/aggregate without a window function: emit the value itself
    ProcessWindow   a ProcessWindowFunction: ``process(key, context, elements)``
                    (``process(context, elements)`` for all-windows)
    ApplyWindow     a WindowFunction: ``apply(key, window, inputs)`` (``apply(window, inputs)``)
    WindowFields    built-in aggregations: ``(key, window_start, window_end, r1, r2, ...)``
    ReduceApply, AggregateApply
                    an evictor's list of elements reduced/aggregated at firing time, then
                    handed on as one value (Flink's ``ReduceApplyWindowFunction``)

User functions are called by shape (method name or plain callable): the runtime
never imports the client's function classes. ``process`` returns an iterable of
outputs (None for none); ``(OutputTag, value)`` pairs among them are side outputs.
"""

from __future__ import annotations

import dis
from collections.abc import Iterable
from functools import reduce as fold
from typing import Any

from strom.taskmanager.windowing.windows import TimeWindow


def open_function(fn: Any, runtime_context: Any) -> None:
    """PyFlink's rich functions get ``open(runtime_context)`` once per parallel instance."""
    opener = getattr(fn, "open", None)
    if callable(opener) and not isinstance(fn, type) and hasattr(type(fn), "open"):
        opener(runtime_context)


def close_function(fn: Any) -> None:
    closer = getattr(fn, "close", None)
    if callable(closer) and not isinstance(fn, type) and hasattr(type(fn), "close"):
        closer()


def is_noop(fn: Any) -> bool:
    """Whether a Python function or method does nothing (a docstring or ``pass``: e.g. the base
    class's ``clear``), so that calling it can be skipped."""
    code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    if code is None:
        return False
    for ins in dis.get_instructions(code):
        if ins.opname in ("RESUME", "NOP", "RETURN_VALUE"):
            continue
        if ins.opname in ("LOAD_CONST", "RETURN_CONST") and ins.argval is None:
            continue
        return False
    return True


def method_or_callable(fn: Any, method: str) -> Any:
    """``fn.method`` when the object has it, else ``fn`` itself (a plain function)."""
    bound = getattr(fn, method, None)
    return bound if callable(bound) else fn


class InternalWindowFunction:
    """Base class. ``context`` is the operator's process context, already set to ``window``."""

    def open(self, runtime_context: Any) -> None:
        pass

    def process(self, key: Any, window: Any, context: Any, contents: Any) -> Iterable[Any] | None:
        raise NotImplementedError

    def clear(self, window: Any, context: Any) -> None:
        """The window's state is dropped (after its last firing): per-window user state goes too."""

    def has_user_clear(self) -> bool:
        """Whether ``clear`` runs code that may observe the key or the order of clears (after ``open``)."""
        return type(self).clear is not InternalWindowFunction.clear

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return type(self).__name__


class PassThrough(InternalWindowFunction):
    """The single pre-aggregated value is the result."""

    def process(self, key: Any, window: Any, context: Any, contents: Any) -> Iterable[Any]:
        return (contents,)


class _UserFunction(InternalWindowFunction):
    """Wraps one user function: opens and closes it with the operator."""

    def __init__(self, fn: Any, single_value: bool, keyed: bool) -> None:
        self.fn = fn
        self.single_value = single_value
        self.keyed = keyed

    def open(self, runtime_context: Any) -> None:
        open_function(self.fn, runtime_context)

    def close(self) -> None:
        close_function(self.fn)

    def describe(self) -> str:
        name = getattr(self.fn, "__qualname__", None) or type(self.fn).__name__
        return str(name)

    def _elements(self, contents: Any) -> list[Any]:
        return [contents] if self.single_value else contents


class ProcessWindow(_UserFunction):
    """A ProcessWindowFunction (or ProcessAllWindowFunction): gets the context and the elements."""

    def open(self, runtime_context: Any) -> None:
        super().open(runtime_context)
        self._process = method_or_callable(self.fn, "process")
        clear = getattr(self.fn, "clear", None)
        self._clear = clear if callable(clear) and not is_noop(clear) else None

    def process(self, key: Any, window: Any, context: Any, contents: Any) -> Iterable[Any] | None:
        elements = [contents] if self.single_value else contents
        if self.keyed:
            return self._process(key, context, elements)  # type: ignore[no-any-return]
        return self._process(context, elements)  # type: ignore[no-any-return]

    def clear(self, window: Any, context: Any) -> None:
        if self._clear is not None:
            self._clear(context)

    def has_user_clear(self) -> bool:
        return self._clear is not None


class ApplyWindow(_UserFunction):
    """A WindowFunction (or AllWindowFunction): gets the window and the elements."""

    def open(self, runtime_context: Any) -> None:
        super().open(runtime_context)
        self._apply = method_or_callable(self.fn, "apply")

    def process(self, key: Any, window: Any, context: Any, contents: Any) -> Iterable[Any] | None:
        if self.keyed:
            return self._apply(key, window, self._elements(contents))  # type: ignore[no-any-return]
        return self._apply(window, self._elements(contents))  # type: ignore[no-any-return]


def window_bounds(window: Any) -> tuple[Any, Any]:
    """``(start, end)`` of a time window; ``(None, None)`` for the global window."""
    if isinstance(window, TimeWindow):
        return window.start, window.end
    return None, None


class WindowFields(InternalWindowFunction):
    """Built-in aggregations: one row per key and window, ``(key, start, end, *results)``
    (``(start, end, *results)`` for all-windows). ``contents`` is the tuple of results."""

    def __init__(self, keyed: bool) -> None:
        self.keyed = keyed

    def process(self, key: Any, window: Any, context: Any, contents: Any) -> Iterable[Any]:
        start, end = window_bounds(window)
        if self.keyed:
            return ((key, start, end, *contents),)
        return ((start, end, *contents),)


class ReduceApply(InternalWindowFunction):
    """Evicting windows keep every element; reduce them when the window fires."""

    def __init__(self, reduce_function: Any, inner: InternalWindowFunction) -> None:
        self.reduce_function = reduce_function
        self.inner = inner

    def open(self, runtime_context: Any) -> None:
        open_function(self.reduce_function, runtime_context)
        self._reduce = method_or_callable(self.reduce_function, "reduce")
        self.inner.open(runtime_context)

    def process(self, key: Any, window: Any, context: Any, contents: Any) -> Iterable[Any] | None:
        if not contents:
            return None  # everything was evicted: nothing to reduce
        return self.inner.process(key, window, context, fold(self._reduce, contents))

    def clear(self, window: Any, context: Any) -> None:
        self.inner.clear(window, context)

    def has_user_clear(self) -> bool:
        return self.inner.has_user_clear()

    def close(self) -> None:
        close_function(self.reduce_function)
        self.inner.close()


class AggregateApply(InternalWindowFunction):
    """Evicting windows keep every element; aggregate them when the window fires (an empty
    window gives the result of a fresh accumulator, as in Flink)."""

    def __init__(self, aggregate_function: Any, inner: InternalWindowFunction) -> None:
        self.aggregate_function = aggregate_function
        self.inner = inner

    def open(self, runtime_context: Any) -> None:
        open_function(self.aggregate_function, runtime_context)
        self.inner.open(runtime_context)

    def process(self, key: Any, window: Any, context: Any, contents: Any) -> Iterable[Any] | None:
        agg = self.aggregate_function
        acc = agg.create_accumulator()
        for value in contents:
            acc = agg.add(value, acc)
        return self.inner.process(key, window, context, agg.get_result(acc))

    def clear(self, window: Any, context: Any) -> None:
        self.inner.clear(window, context)

    def has_user_clear(self) -> bool:
        return self.inner.has_user_clear()

    def close(self) -> None:
        close_function(self.aggregate_function)
        self.inner.close()


class CompositeAggregate:
    """Several AggregateFunctions over the same elements, as one: the result is the tuple of
    their results (built-in aggregations ``aggregate(sum_of("price"), count())``)."""

    def __init__(self, functions: list[Any]) -> None:
        if not functions:
            raise ValueError("CompositeAggregate needs at least one AggregateFunction")
        self.functions = list(functions)

    def bind_columns(self, names: list[str]) -> None:
        """Column names of tuple records, for functions that read a field by name."""
        for fn in self.functions:
            bind = getattr(fn, "bind_columns", None)
            if callable(bind):
                bind(names)

    def open(self, runtime_context: Any) -> None:
        for fn in self.functions:
            open_function(fn, runtime_context)

    def close(self) -> None:
        for fn in self.functions:
            close_function(fn)

    def create_accumulator(self) -> list[Any]:
        return [fn.create_accumulator() for fn in self.functions]

    def add(self, value: Any, accumulator: list[Any]) -> list[Any]:
        return [fn.add(value, acc) for fn, acc in zip(self.functions, accumulator, strict=True)]

    def get_result(self, accumulator: list[Any]) -> tuple[Any, ...]:
        return tuple(fn.get_result(acc) for fn, acc in zip(self.functions, accumulator, strict=True))

    def merge(self, acc_a: list[Any], acc_b: list[Any]) -> list[Any]:
        return [fn.merge(a, b) for fn, a, b in zip(self.functions, acc_a, acc_b, strict=True)]

    def __repr__(self) -> str:
        return f"CompositeAggregate({self.functions!r})"


class CountAggregate:
    """The number of elements (``count()`` when no built-in aggregation module provides one)."""

    def create_accumulator(self) -> int:
        return 0

    def add(self, value: Any, accumulator: int) -> int:
        return accumulator + 1

    def get_result(self, accumulator: int) -> int:
        return accumulator

    def merge(self, acc_a: int, acc_b: int) -> int:
        return acc_a + acc_b

    def __repr__(self) -> str:
        return "count()"
