"""Keyed aggregation operators: reduce and the built-in sum/min/max.

They run at the head of a vertex fed by a hash exchange, so every batch carries
its keys. STREAMING mode emits the updated value per record (Flink's running
aggregate); BATCH mode emits one final value per key when the input ends.

Built-in aggregations in BATCH mode take the vectorized path: each incoming
Arrow batch is grouped with pyarrow (``group_by().aggregate``) into a partial
table; partials are re-aggregated when they grow and once at the end, so the
per-record cost is Arrow's, not Python's. A batch that cannot be aggregated
that way (a pickled column, a non-numeric field) moves the operator to the
per-record path for good, carrying the partial results over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from strom.taskmanager.operators.base import Operator, OperatorContext
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.records import KEY_COLUMN, KIND, is_pickled

_MISSING = object()
_COMPACT_ROWS = 200_000


class KeyedValues:
    """One value per key in the operator's keyed state backend (void namespace, partitioned by key
    group, so checkpoints snapshot it and rescaling moves it), updated per batch through the
    backend's bulk access instead of a state object per record."""

    def __init__(self, ctx: OperatorContext, name: str) -> None:
        from strom.taskmanager.state import VOID_NAMESPACE, RuntimeStateDescriptor

        self._void = VOID_NAMESPACE
        self.backend = ctx.create_keyed_state_backend()
        self._maps = self.backend.bulk_maps(RuntimeStateDescriptor(name, "value"))
        self._dicts: list[dict[Any, Any] | None] = [None] * len(self._maps)

    def dicts_of(self, batch: Batch, keys: Any) -> list[dict[Any, Any]]:
        """Per record, the dict (key -> value) of its key group."""
        arrow = batch.arrow_with_key
        typed = arrow is not None and not is_pickled(arrow.schema.field(KEY_COLUMN))
        index = self.backend.key_group_indices(arrow.column(KEY_COLUMN) if typed else keys)  # type: ignore[union-attr]
        dicts = self._dicts
        for i in np.unique(index).tolist():
            if dicts[i] is None:
                dicts[i] = self._maps[i].setdefault(self._void, {})
        return list(map(dicts.__getitem__, index.tolist()))  # type: ignore[arg-type]

    def values(self) -> list[Any]:
        return [v for m in self._maps for v in m.get(self._void, {}).values()]



class ReduceOperator(Operator):
    """``KeyedStream.reduce(fn)``: fn(accumulated, new) -> accumulated, per key."""

    def __init__(self, fn: Callable[[Any, Any], Any], name: str = "Keyed Reduce") -> None:
        self.fn = fn
        self.name = name

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._reduce = getattr(self.fn, "reduce", self.fn)
        self._emit_updates = not ctx.batch_mode
        self.state = KeyedValues(ctx, "reduce")

    def _keys_of(self, batch: Batch) -> Any:
        keys = batch.keys
        if keys is None:
            raise RuntimeError(f"{self.name}: received a batch without keys; reduce must follow key_by()")
        return keys

    def process(self, batch: Batch, input_index: int = 0) -> None:
        keys = self._keys_of(batch)
        reduce = self._reduce
        dicts = self.state.dicts_of(batch, keys)
        if self._emit_updates:
            out = []
            append = out.append
            for d, k, r in zip(dicts, keys, batch.records, strict=True):
                cur = d.get(k, _MISSING)
                cur = r if cur is _MISSING else reduce(cur, r)
                d[k] = cur
                append(cur)
            self.output.emit(Batch.of_records(out, batch.timestamps))   # each update keeps its input's time
        else:
            for d, k, r in zip(dicts, keys, batch.records, strict=True):
                cur = d.get(k, _MISSING)
                d[k] = r if cur is _MISSING else reduce(cur, r)

    def finish(self) -> None:
        if not self._emit_updates:
            values = self.state.values()
            for i in range(0, len(values), 8192):
                self.output.emit(Batch.of_records(values[i:i + 8192]))


def _field_getter(field: int | str) -> tuple[Callable[[Any], Any], Callable[[Any, Any], Any]]:
    """Read and replace one field of a record (tuple position, dict key, or the scalar itself)."""

    def get(record: Any) -> Any:
        if isinstance(record, (tuple, list)):
            return record[field]  # type: ignore[index]
        if isinstance(record, dict):
            return record[field]
        if field in (0, "f0"):
            return record
        return getattr(record, str(field))

    def replace(record: Any, value: Any) -> Any:
        if isinstance(record, tuple):
            return record[:field] + (value,) + record[field + 1:]  # type: ignore[operator]
        if isinstance(record, list):
            out = list(record)
            out[field] = value  # type: ignore[index]
            return out
        if isinstance(record, dict):
            return {**record, field: value}
        if field in (0, "f0"):
            return value
        raise TypeError(f"cannot aggregate field {field!r} of a {type(record).__name__}")

    return get, replace


_COMBINE: dict[str, Callable[[Any, Any], Any]] = {
    "sum": lambda a, b: a + b,
    "min": lambda a, b: b if b < a else a,
    "max": lambda a, b: b if b > a else a,
}


class AggregationOperator(Operator):
    """``KeyedStream.sum/min/max(field)``: aggregates one field, keeps the first record's other fields."""

    def __init__(self, kind: str, field: int | str, name: str | None = None) -> None:
        if kind not in _COMBINE:
            raise ValueError(f"unknown aggregation {kind!r}")
        self.kind = kind
        self.field = field
        self.name = name or f"Keyed Aggregation ({kind} of field {field})"
        self._partials: list[pa.Table] = []
        self._partial_rows = 0
        self._vectorized = True

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._emit_updates = not ctx.batch_mode
        self._get, self._replace = _field_getter(self.field)
        self._combine = _COMBINE[self.kind]
        self.state = KeyedValues(ctx, self.kind)

    # ---- vectorized (BATCH mode, Arrow-typed numeric field) -----------------

    def _column_name(self, arrow: pa.RecordBatch) -> str | None:
        names = [n for n in arrow.schema.names if n != KEY_COLUMN]
        if isinstance(self.field, int):
            kind = (arrow.schema.metadata or {}).get(KIND)
            if kind == b"value" and self.field == 0 and len(names) == 1:
                return names[0]
            return names[self.field] if 0 <= self.field < len(names) else None
        return self.field if self.field in names else None

    def _try_vectorized(self, batch: Batch) -> bool:
        arrow = batch.arrow_with_key
        if arrow is None:
            return False
        col = self._column_name(arrow)
        if col is None:
            return False
        field = arrow.schema.field(col)
        key_field = arrow.schema.field(KEY_COLUMN)
        if not (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)) or is_pickled(key_field):
            return False
        if any(is_pickled(f) for f in arrow.schema):
            return False
        if self._partials and arrow.schema.remove_metadata() != self._schema.remove_metadata():
            return False
        self._col = col
        self._schema = arrow.schema
        partial = self._group(pa.Table.from_batches([arrow]))
        self._partials.append(partial)
        self._partial_rows += partial.num_rows
        if self._partial_rows > _COMPACT_ROWS and len(self._partials) > 1:
            self._compact()
        return True

    def _group(self, table: pa.Table, col: str | None = None) -> pa.Table:
        """One row per distinct key: the aggregate of ``col``, the first value of every other column.

        Keys are dictionary-encoded once; the aggregation is numpy arithmetic on
        the indices (Acero's group_by costs milliseconds per call at these sizes).
        """
        col = col or self._col
        table = table.combine_chunks()
        keys = table.column(KEY_COLUMN).chunk(0) if table.num_rows else pa.array([], table.schema.field(KEY_COLUMN).type)
        values = table.column(col)
        if keys.null_count or values.null_count or not table.num_rows:
            return self._group_acero(table, col)
        encoded = pc.dictionary_encode(keys)
        idx = encoded.indices.to_numpy()
        distinct = len(encoded.dictionary)
        vals = values.chunk(0).to_numpy()
        n = len(idx)
        first = np.full(distinct, n, dtype=np.int64)
        np.minimum.at(first, idx, np.arange(n, dtype=np.int64))
        if self.kind == "sum":
            agg = np.zeros(distinct, dtype=vals.dtype)
            np.add.at(agg, idx, vals)
        elif self.kind == "min":
            agg = vals[first].copy()
            np.minimum.at(agg, idx, vals)
        else:
            agg = vals[first].copy()
            np.maximum.at(agg, idx, vals)
        out = table.take(pa.array(first))
        pos = out.schema.get_field_index(col)
        return out.set_column(pos, out.schema.field(pos), pa.array(agg, type=values.type))

    def _group_acero(self, table: pa.Table, col: str) -> pa.Table:
        aggs = [(n, self.kind if n == col else "first") for n in table.schema.names if n != KEY_COLUMN]
        grouped = table.group_by(KEY_COLUMN, use_threads=False).aggregate(aggs)
        renamed = {f"{n}_{a}": n for n, a in aggs}
        return grouped.rename_columns([renamed.get(n, n) for n in grouped.schema.names]).select(
            [n for n in table.schema.names])

    def _compact(self) -> None:
        merged = pa.concat_tables(self._partials)
        self._partials = [self._group(merged)]
        self._partial_rows = self._partials[0].num_rows

    def _leave_vectorized(self) -> None:
        """Move partial results into the per-record state and continue per record."""
        self._vectorized = False
        if not self._partials:
            return
        self._compact()
        table = self._partials[0]
        self._partials = []
        for b in table.to_batches():
            full = Batch.of_arrow(b.replace_schema_metadata(self._schema.metadata))
            keys = full.keys or []
            for d, k, r in zip(self.state.dicts_of(full, keys), keys, full.records, strict=True):
                d[k] = r

    # ---- per record ----------------------------------------------------------

    def process(self, batch: Batch, input_index: int = 0) -> None:
        if not self._emit_updates and self._vectorized:
            if self._try_vectorized(batch):
                return
            self._leave_vectorized()
        keys = batch.keys
        if keys is None:
            raise RuntimeError(f"{self.name}: received a batch without keys; {self.kind} must follow key_by()")
        if isinstance(self.field, str) and batch._arrow is not None:
            self._resolve_column(batch.arrow)
        dicts = self.state.dicts_of(batch, keys)
        get, replace, combine = self._get, self._replace, self._combine
        out: list[Any] | None = [] if self._emit_updates else None
        for d, k, r in zip(dicts, keys, batch.records, strict=True):
            cur = d.get(k, _MISSING)
            if cur is _MISSING:
                cur = r
            else:
                a, b = get(cur), get(r)
                c = combine(a, b)
                if c is not a:
                    cur = replace(cur, c)
            d[k] = cur
            if out is not None:
                out.append(cur)
        if out:
            self.output.emit(Batch.of_records(out, batch.timestamps))

    def _resolve_column(self, arrow: pa.RecordBatch) -> None:
        """A column name over Arrow rows: records are tuples in column order, so aggregate by position."""
        names = arrow.schema.names
        if (arrow.schema.metadata or {}).get(KIND) is None and len(names) > 1:
            if self.field not in names:
                raise KeyError(f"{self.name}: no column {self.field!r} to {self.kind}; the stream's columns are "
                               f"{names}")
            self._get, self._replace = _field_getter(names.index(self.field))

    def finish(self) -> None:
        if self._emit_updates:
            return
        if self._partials:
            self._compact()
            table = self._partials[0].drop_columns([KEY_COLUMN])
            for b in table.to_batches(max_chunksize=8192):
                self.output.emit(Batch.of_arrow(b.replace_schema_metadata(self._schema.metadata)))
            self._partials = []
        values = self.state.values()
        if values:
            for i in range(0, len(values), 8192):
                self.output.emit(Batch.of_records(values[i:i + 8192]))
