"""Built-in window aggregations: ``count``, ``sum``, ``min``, ``max``, ``mean`` (the vectorized fast path).

    from strom.client.api.aggregations import count, max

    (bids.key_by("auction")
         .window(TumblingEventTimeWindows.of(Time.seconds(10)))
         .aggregate(count(), max("price").alias("top_price")))

Each window of each key gives one record ``(key, window_start, window_end,
result1, result2, ...)``, the results in the order the aggregations are given.
As Arrow (``map_batches``, CSV/Parquet sinks) the columns are named:

- the key: the column name given to ``key_by("auction")``, else ``key``;
- ``window_start``, ``window_end`` (int ms; the window is ``[start, end)``);
- each aggregation's name: its ``alias(...)``, else ``count``, ``sum_<field>``,
  ``min_<field>``, ``max_<field>``, ``mean_<field>`` (``max_price``; for a
  tuple position, ``max_2``). Names must be distinct.

A field is a column name (Arrow sources, ``map_batches`` output, dict records,
attributes) or a tuple position. ``sum``/``min``/``max``/``mean`` skip None
values and give None for a window without values, as SQL does; ``count``
counts records; ``mean`` is a float.

**Built-ins are how you ask for the fast path.** On a tumbling or sliding
window (event or processing time) with its default trigger and no evictor,
``aggregate`` with built-ins only runs
``strom.taskmanager.operators.window_vectorized``: whole Arrow batches grouped
by window and key with numpy, no Python call per record. Anywhere else
(session or global windows, custom triggers, evictors) the same built-ins run
as ordinary ``AggregateFunction``\\ s in the per-record window operator, with
the same results. Allowed lateness and the late side output work on both.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from strom.client.api.state import AggregateFunction
from strom.taskmanager.operators.window_vectorized import (
    VectorizedWindowAggregateOperator,
    WindowAggregation,
    accumulator_result,
    add_value,
    create_accumulator,
    field_value,
    merge_accumulators,
)
from strom.taskmanager.windowing.assigners import AlignedWindowAssigner

if TYPE_CHECKING:
    from strom.taskmanager.operators.base import Operator

__all__ = ["BuiltinAggregation", "count", "max", "mean", "min", "sum", "vectorized_window_operator"]


class BuiltinAggregation(AggregateFunction[Any, Any, Any]):
    """A built-in aggregation of one field (``count`` of records). Usable wherever an
    ``AggregateFunction`` is; ``WindowedStream.aggregate`` runs it vectorized when it can."""

    kind: ClassVar[str]

    def __init__(self, field: int | str | None = None) -> None:
        if self.kind == "count":
            if field is not None:
                raise TypeError("count() takes no field: it counts records")
        elif isinstance(field, bool) or not (isinstance(field, str) and field
                                             or isinstance(field, int) and field >= 0):
            raise TypeError(f"{self.kind}() needs a column name or a tuple position, got {field!r}")
        self.field = field
        self._alias: str | None = None
        self._position: int | None = None   # a column name's position in tuple records (bind_columns)

    def alias(self, name: str) -> BuiltinAggregation:
        """The same aggregation with output column ``name``: ``max("price").alias("top")``."""
        if not isinstance(name, str) or not name:
            raise TypeError(f"alias() takes a non-empty column name, got {name!r}")
        other = copy.copy(self)
        other._alias = name
        return other

    @property
    def name(self) -> str:
        """The output column: the alias, else ``count`` / ``<kind>_<field>``."""
        if self._alias is not None:
            return self._alias
        return self.kind if self.field is None else f"{self.kind}_{self.field}"

    def to_runtime(self) -> WindowAggregation:
        return WindowAggregation(self.kind, self.field, self.name)

    # ---- AggregateFunction (the per-record path) -----------------------------------

    def create_accumulator(self) -> Any:
        return create_accumulator(self.kind)

    def bind_columns(self, names: list[str]) -> None:
        """The column names of the tuple records this function will see (an Arrow source's
        schema), so that a column name reads the right tuple position."""
        if isinstance(self.field, str) and self.field in names:
            self._position = names.index(self.field)

    def add(self, value: Any, accumulator: Any) -> Any:
        if self.field is None:
            return add_value(self.kind, accumulator, None)
        try:
            if self._position is not None and type(value) is tuple:
                return add_value(self.kind, accumulator, value[self._position])
            field = field_value(value, self.field)
        except (TypeError, KeyError, IndexError, AttributeError) as e:
            raise TypeError(f"{self!r}: {e}") from e
        return add_value(self.kind, accumulator, field)

    def get_result(self, accumulator: Any) -> Any:
        return accumulator_result(self.kind, accumulator)

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        return merge_accumulators(self.kind, acc_a, acc_b)

    def __repr__(self) -> str:
        arg = "" if self.field is None else repr(self.field)
        alias = "" if self._alias is None else f".alias({self._alias!r})"
        return f"{self.kind}({arg}){alias}"


class _Count(BuiltinAggregation):
    kind = "count"


class _Sum(BuiltinAggregation):
    kind = "sum"


class _Min(BuiltinAggregation):
    kind = "min"


class _Max(BuiltinAggregation):
    kind = "max"


class _Mean(BuiltinAggregation):
    kind = "mean"


def count() -> BuiltinAggregation:
    """The number of records per key and window."""
    return _Count()


def sum(field: int | str) -> BuiltinAggregation:  # shadows the builtin on purpose: the aggregation's name
    """The sum of ``field`` (None values skipped)."""
    return _Sum(field)


def min(field: int | str) -> BuiltinAggregation:
    """The smallest value of ``field``."""
    return _Min(field)


def max(field: int | str) -> BuiltinAggregation:
    """The largest value of ``field``."""
    return _Max(field)


def mean(field: int | str) -> BuiltinAggregation:
    """The arithmetic mean of ``field``, a float."""
    return _Mean(field)


class BuiltinAggregations(AggregateFunction[Any, list[Any], tuple[Any, ...]]):
    """Several built-ins as one AggregateFunction whose result is the tuple of their results
    (what the per-record window operator runs for ``aggregate(count(), max("price"))``)."""

    def __init__(self, aggregations: Sequence[BuiltinAggregation]) -> None:
        self.aggregations = list(aggregations)

    def bind_columns(self, names: list[str]) -> None:
        for a in self.aggregations:
            a.bind_columns(names)

    def create_accumulator(self) -> list[Any]:
        return [a.create_accumulator() for a in self.aggregations]

    def add(self, value: Any, accumulator: list[Any]) -> list[Any]:
        return [a.add(value, acc) for a, acc in zip(self.aggregations, accumulator, strict=True)]

    def get_result(self, accumulator: list[Any]) -> tuple[Any, ...]:
        return tuple(a.get_result(acc) for a, acc in zip(self.aggregations, accumulator, strict=True))

    def merge(self, acc_a: list[Any], acc_b: list[Any]) -> list[Any]:
        return [a.merge(x, y) for a, x, y in zip(self.aggregations, acc_a, acc_b, strict=True)]


def key_column_name(key_selector: Any) -> str:
    """The output column of the key: the column ``key_by`` named, else ``key``."""
    return key_selector if isinstance(key_selector, str) else "key"


def output_column_names(key_selector: Any, aggregations: Sequence[BuiltinAggregation]) -> list[str]:
    return [key_column_name(key_selector), "window_start", "window_end", *(a.name for a in aggregations)]


def vectorized_window_operator(windowed: Any, aggregations: list[Any]) -> Operator | None:
    """The vectorized operator for ``windowed.aggregate(*aggregations)``, or None when the fast path
    does not apply (not all built-ins, not a tumbling/sliding window, a custom trigger, an evictor).

    ``windowed`` is a ``WindowedStream``: its ``_assigner``, ``_trigger``, ``_evictor``,
    ``_allowed_lateness_ms``, ``_late_tag`` and ``_keyed._key`` are read.
    """
    if not aggregations or not all(isinstance(a, BuiltinAggregation) for a in aggregations):
        return None
    assigner = windowed._assigner
    if not isinstance(assigner, AlignedWindowAssigner):
        return None
    if windowed._trigger is not None or windowed._evictor is not None:
        return None
    late_tag = windowed._late_tag
    return VectorizedWindowAggregateOperator(
        assigner, [a.to_runtime() for a in aggregations], key_name=key_column_name(windowed._keyed._key),
        allowed_lateness=int(windowed._allowed_lateness_ms or 0),
        late_tag_id=None if late_tag is None else late_tag.tag_id)
