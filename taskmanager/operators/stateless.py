"""Stateless per-record and per-batch operators: map, flat_map, filter, map_batches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import chain, compress
from typing import Any

import numpy as np
import pyarrow as pa

from strom.taskmanager.operators.base import Operator, OperatorContext
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.records import TS_COLUMN, with_timestamps


def _call_open(fn: Any, ctx: OperatorContext) -> None:
    """PyFlink's rich functions (MapFunction etc. with open()) get a runtime context."""
    opener = getattr(fn, "open", None)
    if callable(opener) and not isinstance(fn, type):
        from strom.taskmanager.operators.runtime_context import RuntimeContext

        opener(RuntimeContext(ctx, f"{ctx.operator_name!r}"))


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
        self.output.emit(Batch.of_records(list(map(self._call, batch.records)), batch.timestamps))


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
        ts = batch.timestamps
        if ts is not None:
            self._process_timestamped(batch.records, ts)
            return
        results = list(map(call, batch.records))       # one call per record, whatever it returns
        if any(p is None for p in results):            # None: nothing for that record
            results = [p for p in results if p is not None]
        out = list(chain.from_iterable(results))
        if out:
            self.output.emit(Batch.of_records(out))

    def _process_timestamped(self, records: list[Any], ts: np.ndarray) -> None:
        """Every output record keeps the timestamp of the record it came from."""
        call = self._call
        out: list[Any] = []
        counts = np.zeros(len(records), dtype=np.int64)
        for i, r in enumerate(records):
            produced = call(r)
            if produced is not None:
                before = len(out)
                out.extend(produced)
                counts[i] = len(out) - before
        if out:
            self.output.emit(Batch.of_records(out, np.repeat(ts, counts)))


class FilterOperator(_UserFunctionOperator):
    def __init__(self, fn: Callable[[Any], bool], name: str = "Filter") -> None:
        self.fn = fn
        self.name = name

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._call = getattr(self.fn, "filter", self.fn)
        _call_open(self.fn, ctx)

    def process(self, batch: Batch, input_index: int = 0) -> None:
        ts = batch.timestamps
        if ts is None:
            out = list(filter(self._call, batch.records))
            if out:
                self.output.emit(Batch.of_records(out))
            return
        records = batch.records
        keep = np.fromiter(map(bool, map(self._call, records)), dtype=bool, count=len(records))
        if keep.any():
            self.output.emit(Batch.of_records(list(compress(records, keep)), ts[keep]))


class MapBatchesOperator(Operator):
    """The Arrow fast path: a function from RecordBatch to RecordBatch (or Table).

    Event time: when the stream has timestamps, the function's batch carries them as the
    int64 column ``__ts__``, so filters, sorts and takes keep each row's event time with
    it, and the result's ``__ts__`` sets the output's timestamps. A result without that
    column keeps the input's timestamps by position when it has as many rows (a function
    that builds new columns row for row); otherwise its records have none."""

    def __init__(self, fn: Callable[[pa.RecordBatch], pa.RecordBatch | pa.Table | None],
                 name: str = "Map Batches") -> None:
        self.fn = fn
        self.name = name

    def process(self, batch: Batch, input_index: int = 0) -> None:
        arrow = batch.arrow
        ts = batch.timestamps
        result = self.fn(arrow if ts is None else with_timestamps(arrow, ts))
        if result is None:
            return
        keep_ts = (ts is not None and result.num_rows == arrow.num_rows
                   and result.schema.get_field_index(TS_COLUMN) < 0)
        if isinstance(result, pa.Table):
            offset = 0
            for b in result.to_batches():
                if b.num_rows:
                    self.output.emit(Batch.of_arrow(b, ts[offset:offset + b.num_rows] if keep_ts else None))
                offset += b.num_rows
        elif isinstance(result, pa.RecordBatch):
            if result.num_rows:
                self.output.emit(Batch.of_arrow(result, ts if keep_ts else None))
        else:
            raise TypeError(f"map_batches function {self.name!r} must return a pyarrow.RecordBatch or Table, "
                            f"got {type(result).__name__}")
