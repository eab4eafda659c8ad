"""The vectorized window aggregation: count/sum/min/max/mean per key and window on whole Arrow batches.

``WindowedStream.aggregate(count(), max("price"))`` on a tumbling or sliding
window with its default trigger and no evictor runs here instead of in the
per-record window operator. It keeps Flink's ``WindowOperator`` semantics for
that case (an ``EventTimeTrigger`` / ``ProcessingTimeTrigger`` and an
``AggregatingState`` per key and window) but does the work per batch:

1. every row gets its windows from the assigner's ``window_starts`` (numpy);
2. lateness is decided per (row, window) pair with Flink's rules
   (``strom.taskmanager.windowing.lateness``): a pair whose window's cleanup
   time (``max_timestamp + allowed_lateness``) is at or behind the watermark
   is dropped; a row none of whose windows took it goes to the late side
   output when ``timestamp + allowed_lateness <= watermark``;
3. on-time pairs are grouped by (window, key) into a *partial* table per
   window start (``__key__``, row count, and per value column its non-null
   count, sum, min, max): keys become small dense indices (integer keys of a
   narrow range by value, others by ``dictionary_encode``), and ``bincount``
   / ``ufunc.at`` aggregate over them; a window's partials are re-aggregated
   when they grow;
4. a watermark fires every window with ``max_timestamp <= watermark`` (a
   processing-time window: a processing-time callback at its
   ``max_timestamp``): its partials are merged and one Arrow batch (split
   past 65,536 rows), sorted by window then key, goes out with timestamps
   ``window.max_timestamp()``; then the watermark is forwarded;
5. late-but-allowed pairs (the window fired, its cleanup time has not come)
   update the window and re-fire it at once, one output row per element, as
   Flink's ``EventTimeTrigger`` does. That path is per record: it is rare.

Output rows are ``(key, window_start, window_end, result1, result2, ...)``;
as Arrow the columns are named ``<key name>, window_start, window_end`` and
then the aggregations' names. sum/min/max/mean skip nulls and give null for a
window without values (SQL's rules); ``count`` counts rows.

A batch the vectorized path cannot take (a pickled key or value column, a
non-numeric value column, types that change between batches) moves the
operator to a per-record accumulator path for good, carrying its partial
state over; both paths give the same rows (integer sums exactly while they
fit in int64 — beyond that the vectorized sum wraps around like a Java
``long`` in Flink, the per-record one does not; float sums may differ in the
last bits, their addition order differs).

State: ``_buckets`` maps a window start to Arrow partial tables that carry the
key in ``__key__``, so a snapshot can split them by key group
(``strom.common.keygroups``) like the keyed state backend does; ``_fired``
keeps fired windows until their cleanup time when lateness is allowed.
Owned by the task thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cloudpickle
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from strom.taskmanager.operators.base import Operator, OperatorContext
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.records import (
    KEY_COLUMN,
    KIND,
    column_to_arrow,
    data_column_indices,
    is_pickled,
)
from strom.taskmanager.time.errors import MissingTimestampError
from strom.taskmanager.time.timestamps import MAX_TIMESTAMP, NO_TIMESTAMP
from strom.taskmanager.time.watermarks import MIN_WATERMARK
from strom.taskmanager.windowing.assigners import AlignedWindowAssigner

KINDS = ("count", "sum", "min", "max", "mean")
WINDOW_COLUMNS = ("window_start", "window_end")
_OUTPUT_CHUNK = 65_536
_COMPACT_MIN_ROWS = 65_536
_I64 = np.iinfo(np.int64)


# ---- one aggregation, per record -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowAggregation:
    """One built-in aggregation: ``kind`` of ``field`` (None for count), output column ``name``."""

    kind: str
    field: int | str | None
    name: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown aggregation {self.kind!r}; expected one of {', '.join(KINDS)}")
        if (self.field is None) != (self.kind == "count"):
            raise ValueError(f"{self.kind} {'takes no' if self.kind == 'count' else 'needs a'} field")


_FN_FIELD = re.compile(r"f(\d+)")


def field_value(record: Any, field: int | str | None) -> Any:
    """The value of ``field`` in a record: a tuple position, a dict key, an attribute, or the
    record itself (``field`` None, or 0 / "f0" of a scalar record)."""
    if field is None:
        return record
    if isinstance(record, dict):
        return record[field]
    if isinstance(record, (tuple, list)):
        if isinstance(field, int):
            return record[field]
        if hasattr(record, field):  # a named tuple
            return getattr(record, field)
        m = _FN_FIELD.fullmatch(field)
        if m is not None and int(m.group(1)) < len(record):
            return record[int(m.group(1))]
    elif isinstance(field, str) and hasattr(record, field):
        return getattr(record, field)
    elif field in (0, "f0"):
        return record
    raise TypeError(f"cannot read field {field!r} of a {type(record).__name__} record ({record!r:.80}): use a "
                    f"tuple position, a dict key or an attribute name")


def create_accumulator(kind: str) -> Any:
    return 0 if kind == "count" else (0, 0) if kind == "mean" else None


def add_value(kind: str, acc: Any, value: Any) -> Any:
    """``acc`` with one more record whose field is ``value`` (None values are skipped, except by count)."""
    if kind == "count":
        return acc + 1
    if value is None:
        return acc
    if kind == "mean":
        return acc[0] + value, acc[1] + 1
    if acc is None:
        return value
    if kind == "sum":
        return acc + value
    if kind == "min":
        return value if value < acc else acc
    return value if value > acc else acc


def merge_accumulators(kind: str, a: Any, b: Any) -> Any:
    if kind == "count":
        return a + b
    if kind == "mean":
        return a[0] + b[0], a[1] + b[1]
    if a is None or b is None:
        return b if a is None else a
    if kind == "sum":
        return a + b
    if kind == "min":
        return b if b < a else a
    return b if b > a else a


def accumulator_result(kind: str, acc: Any) -> Any:
    if kind == "mean":
        return acc[0] / acc[1] if acc[1] else None
    return acc


# ---- partial aggregates on numpy arrays --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Layout:
    """The columns of a partial table: ``__key__``, ``__rows`` and per value field ``__n{i}`` plus
    the ``__sum{i}``/``__min{i}``/``__max{i}`` the aggregations need."""

    fields: tuple[int | str, ...]
    ops: tuple[tuple[str, int], ...]   # (op, field index), op in sum/min/max

    @staticmethod
    def of(aggregations: Sequence[WindowAggregation]) -> _Layout:
        fields: list[int | str] = []
        ops: list[tuple[str, int]] = []
        for agg in aggregations:
            if agg.field is None:
                continue
            if agg.field not in fields:
                fields.append(agg.field)
            op = ("sum", fields.index(agg.field)) if agg.kind == "mean" else (agg.kind, fields.index(agg.field))
            if op not in ops:
                ops.append(op)
        return _Layout(tuple(fields), tuple(ops))

    def names(self) -> list[str]:
        return ["__rows", *(f"__n{i}" for i in range(len(self.fields))), *(f"__{op}{i}" for op, i in self.ops)]


def _sentinel(op: str, dtype: np.dtype) -> Any:
    """What a partial min/max holds for a group without values: neutral under the merge."""
    if dtype.kind == "f":
        return np.inf if op == "min" else -np.inf
    return _I64.max if op == "min" else _I64.min


class _KeyIndex:
    """Small dense indices for a key column: ``index[i]`` of row ``i``, ``size`` distinct slots, and
    ``keys(slots)`` back to an Arrow array. Integer keys of a narrow range index by value (no
    hashing); anything else is dictionary-encoded."""

    __slots__ = ("index", "size", "_low", "_type", "_dictionary")

    def __init__(self, column: pa.Array) -> None:
        self._type = column.type
        self._dictionary: pa.Array | None = None
        n = len(column)
        if pa.types.is_integer(column.type) and column.type != pa.uint64() and not column.null_count and n:
            values = column.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
            low, high = int(values.min()), int(values.max())
            if high - low < max(4 * n, 1 << 16):
                self.index, self.size, self._low = values - low, high - low + 1, low
                return
        encoded = pc.dictionary_encode(column, null_encoding="encode")
        self._dictionary = encoded.dictionary
        self.index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self.size, self._low = len(self._dictionary), 0

    def keys(self, slots: np.ndarray) -> pa.Array:
        if self._dictionary is None:
            return pa.array(slots + self._low, type=self._type)
        return self._dictionary.take(pa.array(slots))


class _Groups:
    """Rows grouped by an int64 group id: ``slot`` of each row in ``0..len(ids)``, ``ids`` the
    group ids ascending. Dense ids use ``bincount``; sparse ones ``unique``."""

    __slots__ = ("slot", "ids")

    def __init__(self, group_ids: np.ndarray, id_range: int) -> None:
        if id_range <= max(8 * len(group_ids), 1 << 18):
            present = np.flatnonzero(np.bincount(group_ids, minlength=id_range))
            remap = np.empty(id_range, dtype=np.int64)
            remap[present] = np.arange(len(present), dtype=np.int64)
            self.ids, self.slot = present, remap[group_ids]
        else:
            self.ids, self.slot = np.unique(group_ids, return_inverse=True)

    def __len__(self) -> int:
        return len(self.ids)

    def count(self, mask: np.ndarray | None = None) -> np.ndarray:
        slot = self.slot if mask is None else self.slot[mask]
        return np.bincount(slot, minlength=len(self.ids)).astype(np.int64, copy=False)

    def reduce(self, op: str, values: np.ndarray) -> np.ndarray:
        """Per group the sum/min/max of ``values`` (one per row)."""
        n = len(self.ids)
        if op == "sum":
            if values.dtype.kind == "f":
                return np.bincount(self.slot, weights=values, minlength=n)
            out = np.zeros(n, dtype=values.dtype)
            np.add.at(out, self.slot, values)
            return out
        out = np.full(n, _sentinel(op, values.dtype), dtype=values.dtype)
        (np.minimum if op == "min" else np.maximum).at(out, self.slot, values)
        return out


class _Bucket:
    """The partial tables of one window start."""

    __slots__ = ("tables", "rows", "compacted_rows")

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []
        self.rows = 0
        self.compacted_rows = 0


# ---- the operator ------------------------------------------------------------------------------------


class VectorizedWindowAggregateOperator(Operator):
    """Built-in aggregations over tumbling/sliding windows of a keyed stream, per Arrow batch.

        op = VectorizedWindowAggregateOperator(TumblingEventTimeWindows.of(10_000),
                                               [WindowAggregation("count", None, "count"),
                                                WindowAggregation("max", "price", "max_price")],
                                               key_name="auction")
    """

    def __init__(self, assigner: AlignedWindowAssigner, aggregations: Sequence[WindowAggregation],
                 key_name: str = "key", allowed_lateness: int = 0, late_tag_id: str | None = None,
                 name: str | None = None) -> None:
        if not isinstance(assigner, AlignedWindowAssigner):
            raise TypeError(f"the vectorized window aggregation needs a tumbling or sliding window assigner, "
                            f"got {assigner!r}")
        if not aggregations:
            raise ValueError("the vectorized window aggregation needs at least one aggregation")
        if allowed_lateness < 0:
            raise ValueError(f"allowed lateness must not be negative, got {allowed_lateness} ms")
        names = [key_name, *WINDOW_COLUMNS, *(a.name for a in aggregations)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"window aggregation output columns must have distinct names, {duplicates} repeat: "
                             f"give the aggregations names with .alias(...)")
        self.assigner = assigner
        self.aggregations = tuple(aggregations)
        self.key_name = key_name
        self.allowed_lateness = allowed_lateness if assigner.is_event_time() else 0
        self.late_tag_id = late_tag_id
        self.name = name or f"Window({assigner!r}, {', '.join(a.name for a in aggregations)})"
        self._layout = _Layout.of(self.aggregations)
        self._names = names

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._event_time = self.assigner.is_event_time()
        self._size = self.assigner.size
        self._slide = self.assigner.slide
        self._watermark = MIN_WATERMARK
        self._vectorized = True
        self._buckets: dict[int, _Bucket] = {}
        self._key_type: pa.DataType | None = None
        self._dtypes: tuple[np.dtype, ...] | None = None
        self._windows: dict[int, dict[Any, list[Any]]] = {}      # per-record path: start -> key -> accs
        self._fired: dict[int, pa.Table | dict[Any, list[Any]]] = {}  # fired, kept until cleanup
        self._timers: dict[int, Any] = {}                         # processing time: start -> timer

    # ---- input -----------------------------------------------------------------------------------

    def process(self, batch: Batch, input_index: int = 0) -> None:
        n = len(batch)
        if not n:
            return
        if self._event_time:
            ts = batch.timestamps
            if ts is None:
                raise MissingTimestampError(
                    f"{self.name}: an event-time window got records without event timestamps; call "
                    f"assign_timestamps_and_watermarks(WatermarkStrategy...) before key_by(), or use a "
                    f"processing-time window")
            ts = np.asarray(ts, dtype=np.int64)
            if (ts == NO_TIMESTAMP).any():
                raise MissingTimestampError(f"{self.name}: an event-time window got a record without an event "
                                            f"timestamp; call assign_timestamps_and_watermarks(...) first")
        else:
            ts = np.full(n, self.ctx.get_current_processing_time(), dtype=np.int64)
        rows, starts = self.assigner.window_starts(ts)
        ontime, refire = self._classify(batch, ts, rows, starts)
        if ontime.any():
            if self._vectorized and not self._add_vectorized(batch, rows[ontime], starts[ontime]):
                self._leave_vectorized()
            if not self._vectorized:
                self._add_records(batch, rows[ontime], starts[ontime])
            if not self._event_time:
                self._register_processing_timers(np.unique(starts[ontime]))
        if refire.any():
            self._refire(batch, rows[refire], starts[refire])

    def _classify(self, batch: Batch, ts: np.ndarray, rows: np.ndarray,
                  starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Split (row, window) pairs into on-time and late-but-allowed ones; drop or side-output the
        rows no window accepted (Flink's WindowOperator.processElement)."""
        wm = self._watermark
        if not self._event_time or wm == MIN_WATERMARK:
            everything = np.ones(len(rows), dtype=bool)
            return everything, ~everything
        max_ts = starts + (self._size - 1)
        lateness = self.allowed_lateness
        cleanup = max_ts + lateness if lateness else max_ts
        accepted = cleanup > wm
        refire = accepted & (max_ts <= wm)
        ontime = accepted & ~refire
        if self.late_tag_id is not None:
            taken = np.zeros(len(ts), dtype=bool)
            taken[rows[accepted]] = True
            if not taken.all():  # rows in no window at all (slide > size) count as skipped too
                late = np.flatnonzero(~taken & (ts <= wm - lateness))
                if len(late):
                    self._side_output_late(batch, ts, late)
        return ontime, refire

    def _side_output_late(self, batch: Batch, ts: np.ndarray, late: np.ndarray) -> None:
        assert self.late_tag_id is not None
        if batch.arrow_with_key is not None:
            out = Batch.of_arrow(batch.arrow.take(pa.array(late)), timestamps=ts[late])
        else:
            records = batch.records
            out = Batch.of_records([records[i] for i in late.tolist()], timestamps=ts[late])
        self.side_output(self.late_tag_id, out)

    # ---- the vectorized path -----------------------------------------------------------------------

    def _value_arrays(self, arrow: pa.RecordBatch) -> list[tuple[np.ndarray, np.ndarray | None]] | None:
        """Per value field its numpy values (nulls filled) and validity mask, or None when a field is
        not a typed numeric column of this batch."""
        out: list[tuple[np.ndarray, np.ndarray | None]] = []
        for field in self._layout.fields:
            i = _column_index(arrow, field)
            if i is None:
                return None
            col = arrow.column(i)
            t = col.type
            if is_pickled(arrow.schema.field(i)) or not (
                    pa.types.is_floating(t) or (pa.types.is_integer(t) and t != pa.uint64())):
                return None
            target = pa.float64() if pa.types.is_floating(t) else pa.int64()
            mask = None
            if col.null_count:
                mask = col.is_valid().to_numpy(zero_copy_only=False)
                col = col.fill_null(0)
            out.append((col.cast(target).to_numpy(zero_copy_only=False), mask))
        return out

    def _add_vectorized(self, batch: Batch, rows: np.ndarray, starts: np.ndarray) -> bool:
        arrow = batch.arrow_with_key
        if arrow is None:
            return False
        key_field = arrow.schema.field(KEY_COLUMN)
        if is_pickled(key_field) or (self._key_type is not None and key_field.type != self._key_type):
            return False
        values = self._value_arrays(arrow)
        if values is None:
            return False
        dtypes = tuple(v.dtype for v, _ in values)
        if self._dtypes is not None and dtypes != self._dtypes:
            return False
        key_column = arrow.column(KEY_COLUMN)
        n = len(key_column)
        if len(rows) != n or rows[-1] != n - 1 or not np.array_equal(rows, np.arange(n)):
            # sliding windows (a row in several), or rows dropped as late
            key_column = key_column.take(pa.array(rows))
            values = [(v[rows], None if m is None else m[rows]) for v, m in values]
        try:
            keys = _KeyIndex(key_column)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid, pa.ArrowTypeError):
            return False
        self._key_type, self._dtypes = key_field.type, dtypes
        low = int(starts.min())
        window_index = (starts - low) // self._slide
        windows = int(window_index.max()) + 1
        groups = _Groups(window_index * keys.size + keys.index, windows * keys.size)
        columns = self._partial_columns(groups, values)
        group_windows = groups.ids // keys.size
        group_keys = keys.keys(groups.ids % keys.size)
        bounds = np.flatnonzero(np.diff(group_windows)) + 1
        for begin, end in zip([0, *bounds.tolist()], [*bounds.tolist(), len(groups)], strict=True):
            start = low + int(group_windows[begin]) * self._slide
            part = pa.table([group_keys.slice(begin, end - begin), *(pa.array(c[begin:end]) for c in columns)],
                            names=[KEY_COLUMN, *self._layout.names()])
            self._append(start, part)
        return True

    def _partial_columns(self, groups: _Groups, values: list[tuple[np.ndarray, np.ndarray | None]]
                         ) -> list[np.ndarray]:
        """The partial aggregates of raw rows: row count, per field non-null count, sum/min/max."""
        counts = groups.count()
        cols: list[np.ndarray] = [counts]
        for _, mask in values:
            cols.append(counts if mask is None else groups.count(mask))
        for op, i in self._layout.ops:
            v, mask = values[i]
            if mask is not None:
                v = np.where(mask, v, 0 if op == "sum" else _sentinel(op, v.dtype))
            cols.append(groups.reduce(op, v))
        return cols

    def _append(self, start: int, part: pa.Table) -> None:
        bucket = self._buckets.get(start)
        if bucket is None:
            bucket = self._buckets[start] = _Bucket()
        bucket.tables.append(part)
        bucket.rows += part.num_rows
        if bucket.rows > max(_COMPACT_MIN_ROWS, 2 * bucket.compacted_rows) and len(bucket.tables) > 1:
            self._compact(bucket)

    def _compact(self, bucket: _Bucket) -> pa.Table:
        """Merge a window's partial tables into one row per key."""
        if len(bucket.tables) == 1:
            return bucket.tables[0]
        table = pa.concat_tables(bucket.tables).combine_chunks()
        keys = _KeyIndex(table.column(KEY_COLUMN).chunk(0))
        groups = _Groups(keys.index, keys.size)
        merged = [keys.keys(groups.ids)]
        for name in self._layout.names():
            op = name[2:5] if name.startswith(("__min", "__max")) else "sum"
            merged.append(pa.array(groups.reduce(op, table.column(name).to_numpy())))
        result = pa.table(merged, names=[KEY_COLUMN, *self._layout.names()])
        bucket.tables = [result]
        bucket.rows = bucket.compacted_rows = result.num_rows
        return result

    def _results(self, partial: pa.Table) -> list[pa.Array]:
        """The aggregations' result columns of a compacted partial table."""
        rows = partial.column("__rows").to_numpy()
        out = []
        for agg in self.aggregations:
            if agg.kind == "count":
                out.append(pa.array(rows))
                continue
            i = self._layout.fields.index(agg.field)  # type: ignore[arg-type]
            n = partial.column(f"__n{i}").to_numpy()
            empty = n == 0
            if agg.kind == "mean":
                s = partial.column(f"__sum{i}").to_numpy()
                result = s.astype(np.float64) / np.where(empty, 1, n)
            else:
                result = partial.column(f"__{agg.kind}{i}").to_numpy()
            out.append(pa.array(result, mask=empty if empty.any() else None))
        return out

    def _fire_vectorized(self, start: int, bucket: _Bucket) -> tuple[pa.Table, np.ndarray]:
        partial = self._compact(bucket)
        partial = partial.take(pc.sort_indices(partial.column(KEY_COLUMN)))
        n = partial.num_rows
        table = pa.table([partial.column(KEY_COLUMN),
                          pa.array(np.full(n, start, dtype=np.int64)),
                          pa.array(np.full(n, start + self._size, dtype=np.int64)),
                          *self._results(partial)], names=self._names)
        if self._keeps_fired(start):
            self._fired[start] = partial
        return table, np.full(n, start + self._size - 1, dtype=np.int64)

    # ---- the per-record path -----------------------------------------------------------------------

    def _leave_vectorized(self) -> None:
        """Move the partial state into per-record accumulators; continue per record for good."""
        self._vectorized = False
        for start, bucket in sorted(self._buckets.items()):
            self._windows[start] = self._partial_to_accumulators(self._compact(bucket))
        self._buckets.clear()

    def _partial_to_accumulators(self, partial: pa.Table) -> dict[Any, list[Any]]:
        keys = partial.column(KEY_COLUMN).to_pylist()
        rows = partial.column("__rows").to_pylist()
        per_agg: list[list[Any]] = []
        for agg in self.aggregations:
            if agg.kind == "count":
                per_agg.append(rows)
                continue
            i = self._layout.fields.index(agg.field)  # type: ignore[arg-type]
            n = partial.column(f"__n{i}").to_pylist()
            if agg.kind == "mean":
                s = partial.column(f"__sum{i}").to_pylist()
                per_agg.append([(s_, n_) if n_ else create_accumulator("mean") for s_, n_ in zip(s, n, strict=True)])
            else:
                v = partial.column(f"__{agg.kind}{i}").to_pylist()
                per_agg.append([v_ if n_ else None for v_, n_ in zip(v, n, strict=True)])
        return {k: list(accs) for k, *accs in zip(keys, *per_agg, strict=True)}

    def _record_values(self, batch: Batch) -> tuple[Sequence[Any], list[Sequence[Any]]]:
        """The keys and, per value field, the values of a batch as Python objects."""
        keys = batch.keys
        if keys is None:
            raise RuntimeError(f"{self.name}: received a batch without keys; a window aggregation must follow "
                               f"key_by()")
        arrow = batch.arrow_with_key
        columns: list[Sequence[Any]] = []
        for field in self._layout.fields:
            i = None if arrow is None else _column_index(arrow, field)
            if arrow is not None and i is not None:
                columns.append(_python_column(arrow, i))
            else:
                try:
                    columns.append([field_value(r, field) for r in batch.records])
                except (TypeError, KeyError, IndexError, AttributeError) as e:
                    raise TypeError(f"{self.name}: {e}") from e
        return keys, columns

    def _add_records(self, batch: Batch, rows: np.ndarray, starts: np.ndarray) -> None:
        keys, columns = self._record_values(batch)
        plan = self._plan()
        windows = self._windows
        for r, s in zip(rows.tolist(), starts.tolist(), strict=True):
            per_key = windows.get(s)
            if per_key is None:
                per_key = windows[s] = {}
            key = keys[r]
            accs = per_key.get(key)
            if accs is None:
                accs = per_key[key] = [create_accumulator(a.kind) for a in self.aggregations]
            for j, (kind, col) in enumerate(plan):
                accs[j] = add_value(kind, accs[j], None if col < 0 else columns[col][r])

    def _plan(self) -> list[tuple[str, int]]:
        """Per aggregation its kind and the index of its value column (-1 for count)."""
        return [(a.kind, -1 if a.field is None else self._layout.fields.index(a.field)) for a in self.aggregations]

    def _row(self, key: Any, start: int, accs: list[Any]) -> tuple[Any, ...]:
        return (key, start, start + self._size,
                *(accumulator_result(a.kind, acc) for a, acc in zip(self.aggregations, accs, strict=True)))

    def _fire_records(self, start: int, per_key: dict[Any, list[Any]]) -> list[tuple[Any, ...]]:
        items = list(per_key.items())
        try:
            items.sort(key=lambda kv: (kv[0] is None, kv[0]))
        except TypeError:
            pass  # keys of mixed types: arrival order
        if self._keeps_fired(start):
            self._fired[start] = per_key
        return [self._row(k, start, accs) for k, accs in items]

    def _records_batch(self, rows: list[tuple[Any, ...]], timestamps: np.ndarray) -> Batch:
        fields, arrays = [], []
        for j, name in enumerate(self._names):
            f, a = column_to_arrow([r[j] for r in rows], name)
            fields.append(f)
            arrays.append(a)
        rb = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields, metadata={KIND: b"tuple"}))
        return Batch(records=rows, arrow=rb, timestamps=timestamps)

    # ---- late but allowed: re-fire per element ---------------------------------------------------------

    def _keeps_fired(self, start: int) -> bool:
        """Whether a window that fires now still accepts late elements (lateness allowed, cleanup ahead)."""
        return self.allowed_lateness > 0 and self._cleanup_time(start) > self._watermark

    def _cleanup_time(self, start: int) -> int:
        return min(start + self._size - 1 + self.allowed_lateness, MAX_TIMESTAMP)

    def _refire(self, batch: Batch, rows: np.ndarray, starts: np.ndarray) -> None:
        keys, columns = self._record_values(batch)
        plan = self._plan()
        out: list[tuple[Any, ...]] = []
        for r, s in zip(rows.tolist(), starts.tolist(), strict=True):
            per_key = self._fired.get(s)
            if per_key is None:
                per_key = self._fired[s] = {}
            elif isinstance(per_key, pa.Table):
                per_key = self._fired[s] = self._partial_to_accumulators(per_key)
            key = keys[r]
            accs = per_key.get(key)
            if accs is None:
                accs = per_key[key] = [create_accumulator(a.kind) for a in self.aggregations]
            for j, (kind, col) in enumerate(plan):
                accs[j] = add_value(kind, accs[j], None if col < 0 else columns[col][r])
            out.append(self._row(key, s, accs))
        self.output.emit(self._records_batch(out, starts + (self._size - 1)))

    # ---- time --------------------------------------------------------------------------------------

    def process_watermark(self, watermark: int) -> None:
        if self._event_time and watermark > self._watermark:
            self._watermark = watermark
            self._fire_until(watermark)
            for start in [s for s in self._fired if self._cleanup_time(s) <= watermark]:
                del self._fired[start]
        self.emit_watermark(watermark)

    def _register_processing_timers(self, starts: np.ndarray) -> None:
        pts = self.ctx._pts()
        for start in starts.tolist():
            if start not in self._timers:
                self._timers[start] = pts.register_timer(start + self._size - 1, self._on_processing_time)

    def _on_processing_time(self, time: int) -> None:
        for start in [s for s in self._timers if s + self._size - 1 <= time]:
            del self._timers[start]
        self._fire_until(time)

    def _fire_until(self, time: int) -> None:
        """Emit every window with ``max_timestamp <= time``, earliest first, in one batch."""
        last_start = time - self._size + 1
        if self._vectorized:
            due = sorted(s for s in self._buckets if s <= last_start)
            if not due:
                return
            tables, stamps = [], []
            for start in due:
                table, ts = self._fire_vectorized(start, self._buckets.pop(start))
                tables.append(table)
                stamps.append(ts)
            self._emit_table(pa.concat_tables(tables), np.concatenate(stamps))
            return
        rows: list[tuple[Any, ...]] = []
        stamps = []
        for start in sorted(s for s in self._windows if s <= last_start):
            fired = self._fire_records(start, self._windows.pop(start))
            rows.extend(fired)
            stamps.append(np.full(len(fired), start + self._size - 1, dtype=np.int64))
        if not rows:
            return
        timestamps = np.concatenate(stamps)
        for i in range(0, len(rows), _OUTPUT_CHUNK):
            self.output.emit(self._records_batch(rows[i:i + _OUTPUT_CHUNK], timestamps[i:i + _OUTPUT_CHUNK]))

    def _emit_table(self, table: pa.Table, timestamps: np.ndarray) -> None:
        table = table.replace_schema_metadata({KIND: b"tuple"}).combine_chunks()
        for i, rb in enumerate(table.to_batches(max_chunksize=_OUTPUT_CHUNK)):
            at = i * _OUTPUT_CHUNK
            self.output.emit(Batch.of_arrow(rb, timestamps=timestamps[at:at + rb.num_rows]))

    def close(self) -> None:
        timers = getattr(self, "_timers", {})  # absent when open() never ran
        for timer in timers.values():
            timer.cancel()
        timers.clear()


# ---- columns of a batch ----------------------------------------------------------------------------


def _column_index(arrow: pa.RecordBatch, field: int | str) -> int | None:
    """The index of ``field``'s column in ``arrow``, or None when the field must be read from the
    records (a field of pickled objects, or of the scalar records of a one-column batch)."""
    idx = data_column_indices(arrow)
    kind = (arrow.schema.metadata or {}).get(KIND)
    if kind == b"value" or (kind is None and len(idx) == 1 and field in (0, "f0")):
        if field in (0, "f0") and idx and not is_pickled(arrow.schema.field(idx[0])):
            return idx[0]
        return None
    if isinstance(field, int):
        return idx[field] if 0 <= field < len(idx) else None
    names = [arrow.schema.names[i] for i in idx]
    return idx[names.index(field)] if field in names else None


def _python_column(arrow: pa.RecordBatch, i: int) -> list[Any]:
    values = arrow.column(i).to_pylist()
    if is_pickled(arrow.schema.field(i)):
        loads = cloudpickle.loads
        return [None if v is None else loads(v) for v in values]
    return values


__all__ = [
    "KINDS",
    "VectorizedWindowAggregateOperator",
    "WindowAggregation",
    "accumulator_result",
    "add_value",
    "create_accumulator",
    "field_value",
    "merge_accumulators",
]
