"""Python records <-> Arrow record batches.

Inside a chain, per-record operators see Python objects; exchanges and
``map_batches`` see Arrow. The mapping is exact (a round trip returns equal
records of the same types):

- scalars (str, int, float, bool, bytes, None) -> one typed column ``f0``
- tuples of equal length -> columns ``f0..fn``, each typed or pickled on its own
- anything else (dicts, lists, user classes, mixed types) -> one pickled
  binary column (cloudpickle), the slow but always-correct fallback

Schema metadata ``strom.kind`` records which form a batch is in. Batches
without it (from Arrow sources or ``map_batches``) convert to scalars when they
have one column and to tuples otherwise. ``__key__`` (the key of a keyed
exchange) and ``__ts__`` (event timestamps, int64 ms) are never part of the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import is_, itemgetter
from typing import Any

import cloudpickle
import numpy as np
import pyarrow as pa

KIND = b"strom.kind"
PICKLED = b"strom.pickled"
KEY_COLUMN = "__key__"
TS_COLUMN = "__ts__"
INTERNAL_COLUMNS = frozenset((KEY_COLUMN, TS_COLUMN))

_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_NONE = type(None)
_PICKLED_FIELD_META = {PICKLED: b"1"}


def _pickled_array(values: Sequence[Any]) -> pa.Array:
    dumps = cloudpickle.dumps
    return pa.array([dumps(v) for v in values], type=pa.binary())


_EXACT_INFERRED = (pa.types.is_string, pa.types.is_int64, pa.types.is_boolean, pa.types.is_binary)


def column_to_arrow(values: Sequence[Any], name: str) -> tuple[pa.Field, pa.Array]:
    """One column: typed when Arrow's inference is exact for it, else pickled.

    Arrow infers str -> string, int -> int64, bool -> bool, bytes -> binary
    exactly. A double may hide ints among floats (1 would come back as 1.0), so
    doubles are accepted only when every value is a float; everything else
    (lists, dicts, datetimes, mixed types, ints beyond int64) is pickled.
    """
    try:
        arr = pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError, TypeError):
        return pa.field(name, pa.binary(), metadata=_PICKLED_FIELD_META), _pickled_array(values)
    t = arr.type
    if any(check(t) for check in _EXACT_INFERRED) or pa.types.is_null(t):
        if pa.types.is_int64(t) and not _all_exact_ints(values):
            return pa.field(name, pa.binary(), metadata=_PICKLED_FIELD_META), _pickled_array(values)
        return pa.field(name, t), arr
    if pa.types.is_float64(t) and set(map(type, values)) <= {float, _NONE}:
        return pa.field(name, t), arr
    return pa.field(name, pa.binary(), metadata=_PICKLED_FIELD_META), _pickled_array(values)


def _all_exact_ints(values: Sequence[Any]) -> bool:
    """int64 inference also accepts numpy integers and bools mixed with ints; keep only plain ints."""
    return set(map(type, values)) <= {int, _NONE}


def records_to_arrow(records: Sequence[Any], keys: Sequence[Any] | None = None) -> pa.RecordBatch:
    """Convert Python records (and optionally their keys) to a record batch."""
    fields: list[pa.Field] = []
    arrays: list[pa.Array] = []
    columns: list[list[Any]] = []
    n = len(records)
    first = records[0] if n else None
    kind = b"value"
    if n and type(first) is tuple and set(map(type, records)) == {tuple}:
        width = len(first)
        if width and set(map(len, records)) == {width}:
            kind = b"tuple"
            columns = [list(map(itemgetter(i), records)) for i in range(width)]
    if kind == b"tuple":
        for i, col in enumerate(columns):
            f, a = column_to_arrow(col, f"f{i}")
            fields.append(f)
            arrays.append(a)
    else:
        columns = [records if isinstance(records, list) else list(records)]
        f, a = column_to_arrow(columns[0], "f0")
        fields.append(f)
        arrays.append(a)
    if keys is not None:
        # key_by(lambda r: r[0]) returns the very objects of a column: reuse its Arrow array
        same = next((i for i, col in enumerate(columns)
                     if n and keys[0] is col[0] and all(map(is_, keys, col))), None)
        if same is not None and not is_pickled(fields[same]):
            fields.append(pa.field(KEY_COLUMN, fields[same].type))
            arrays.append(arrays[same])
        else:
            f, a = column_to_arrow(keys, KEY_COLUMN)
            fields.append(f)
            arrays.append(a)
    schema = pa.schema(fields, metadata={KIND: kind})
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _column_values(batch: pa.RecordBatch, i: int) -> list[Any]:
    field = batch.schema.field(i)
    col = batch.column(i)
    if field.metadata and field.metadata.get(PICKLED) == b"1":
        loads = cloudpickle.loads
        return [None if v is None else loads(v) for v in col.to_pylist()]
    return col.to_pylist()


def data_column_indices(batch: pa.RecordBatch) -> list[int]:
    return [i for i, name in enumerate(batch.schema.names) if name not in INTERNAL_COLUMNS]


def arrow_to_records(batch: pa.RecordBatch) -> list[Any]:
    """The records of a batch as Python objects (``__key__`` excluded)."""
    meta = batch.schema.metadata or {}
    kind = meta.get(KIND)
    idx = data_column_indices(batch)
    if kind == b"value" or (kind is None and len(idx) == 1):
        return _column_values(batch, idx[0]) if idx else [None] * batch.num_rows
    columns = [_column_values(batch, i) for i in idx]
    if not columns:
        return [()] * batch.num_rows
    return list(zip(*columns, strict=True))


def arrow_keys(batch: pa.RecordBatch) -> list[Any] | None:
    """The keys carried by a keyed exchange, or None."""
    i = batch.schema.get_field_index(KEY_COLUMN)
    if i < 0:
        return None
    return _column_values(batch, i)


def without_internal(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The user's columns: ``__key__`` and ``__ts__`` dropped."""
    internal = [n for n in batch.schema.names if n in INTERNAL_COLUMNS]
    return batch.drop_columns(internal) if internal else batch


def arrow_timestamps(batch: pa.RecordBatch) -> np.ndarray | None:
    """The event timestamps a batch carries in ``__ts__`` (int64 ms), or None."""
    i = batch.schema.get_field_index(TS_COLUMN)
    if i < 0:
        return None
    column = batch.column(i)
    if pa.types.is_int64(column.type) and not column.null_count:
        return column.to_numpy(zero_copy_only=False)
    from strom.taskmanager.time.timestamps import to_millis_array  # a user's map_batches set it: check it

    return to_millis_array(column, f"the {TS_COLUMN} column")


def with_timestamps(batch: pa.RecordBatch, timestamps: np.ndarray) -> pa.RecordBatch:
    """``batch`` plus the ``__ts__`` column (replacing one it has)."""
    i = batch.schema.get_field_index(TS_COLUMN)
    if i >= 0:
        batch = batch.drop_columns([TS_COLUMN])
    return batch.append_column(pa.field(TS_COLUMN, pa.int64()), pa.array(timestamps, type=pa.int64()))


def is_pickled(field: pa.Field) -> bool:
    return bool(field.metadata and field.metadata.get(PICKLED) == b"1")
