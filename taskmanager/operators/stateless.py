"""Stateless per-record and per-batch operators: map, flat_map, filter, map_batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import pyarrow as pa

from strom.taskmanager.operators.base import Operator, OperatorContext
from strom.taskmanager.runtime.batch import Batch


def _call_open(fn: Any, ctx: OperatorContext) -> None:
    """PyFlink's rich functions (MapFunction etc. with open()) get a runtime context."""
    opener = getattr(fn, "open", None)
    if callable(opener) and not isinstance(fn, type):
        opener(ctx)


class _UserFunctionOperator(Operator):
    fn: Any

    def close(self) -> None:
        """PyFlink's rich functions get close() once per parallel instance."""
        closer = getattr(self.fn, "close", None)
        if callable(closer) and not isinstance(self.fn, type) and hasattr(type(self.fn), "close"):
            closer()


class MapOperator(_UserFunctionOperator):
    def __init__(self, fn: Callable[[Any], Any], name: str = "Map") -> None:
        self.fn = fn
        self.name = name

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._call = getattr(self.fn, "map", self.fn)
        _call_open(self.fn, ctx)

    def process(self, batch: Batch, input_index: int = 0) -> None:
        self.output.emit(Batch.of_records(list(map(self._call, batch.records))))


class FlatMapOperator(_UserFunctionOperator):
    def __init__(self, fn: Callable[[Any], Iterable[Any] | None], name: str = "Flat Map") -> None:
        self.fn = fn
        self.name = name

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._call = getattr(self.fn, "flat_map", self.fn)
        _call_open(self.fn, ctx)

    def process(self, batch: Batch, input_index: int = 0) -> None:
        call = self._call
        try:
            out = list(chain.from_iterable(map(call, batch.records)))
        except TypeError:
            # a function returning None for some records (emits nothing for them)
            out = []
            for r in batch.records:
                produced = call(r)
                if produced is not None:
                    out.extend(produced)
        if out:
            self.output.emit(Batch.of_records(out))


class FilterOperator(_UserFunctionOperator):
    def __init__(self, fn: Callable[[Any], bool], name: str = "Filter") -> None:
        self.fn = fn
        self.name = name

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._call = getattr(self.fn, "filter", self.fn)
        _call_open(self.fn, ctx)

    def process(self, batch: Batch, input_index: int = 0) -> None:
        out = list(filter(self._call, batch.records))
        if out:
            self.output.emit(Batch.of_records(out))


class MapBatchesOperator(Operator):
    """The Arrow fast path: a function from RecordBatch to RecordBatch (or Table)."""

    def __init__(self, fn: Callable[[pa.RecordBatch], pa.RecordBatch | pa.Table | None],
                 name: str = "Map Batches") -> None:
        self.fn = fn
        self.name = name

    def process(self, batch: Batch, input_index: int = 0) -> None:
        result = self.fn(batch.arrow)
        if result is None:
            return
        if isinstance(result, pa.Table):
            for b in result.to_batches():
                if b.num_rows:
                    self.output.emit(Batch.of_arrow(b))
        elif isinstance(result, pa.RecordBatch):
            if result.num_rows:
                self.output.emit(Batch.of_arrow(result))
        else:
            raise TypeError(f"map_batches function {self.name!r} must return a pyarrow.RecordBatch or Table, "
                            f"got {type(result).__name__}")
