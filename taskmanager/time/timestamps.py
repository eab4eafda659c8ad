"""Event timestamps: int milliseconds since the epoch, checked where they enter the job.

A record's event time comes from a ``TimestampAssigner`` (per record) or from an
Arrow column (per batch). Either way it is checked here, and a bad value fails
with an error naming the step, the value and the record:

    >>> check_timestamp(1_700_000_000_000.0, "assign_timestamps_and_watermarks 'bids'")
    1700000000000
    >>> check_timestamp("12:00", "assign_timestamps_and_watermarks 'bids'")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    strom.taskmanager.time.errors.TimestampAssignmentError: assign_timestamps_and_watermarks 'bids': ...

Java's ``Long.MIN_VALUE`` means "no timestamp" (as in Flink), ``Long.MAX_VALUE``
is the end of event time.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from strom.taskmanager.time.errors import TimestampAssignmentError

MIN_TIMESTAMP = -(1 << 63)
MAX_TIMESTAMP = (1 << 63) - 1
NO_TIMESTAMP = MIN_TIMESTAMP
"""The record timestamp handed to an assigner when the record carries none (Flink's Long.MIN_VALUE)."""

TimestampFunction: TypeAlias = Callable[[Any, int], Any]
_MISSING: Any = object()
_UNIT_MS = {"s": (1000, 1), "ms": (1, 1), "us": (1, 1000), "ns": (1, 1_000_000)}


class TimestampAssigner:
    """Extracts the event time of a record (PyFlink's interface).

        class BidTime(TimestampAssigner):
            def extract_timestamp(self, value, record_timestamp):
                return value["event_ms"]

    ``record_timestamp`` is the timestamp the record already has, or
    ``NO_TIMESTAMP`` when it has none. Return int milliseconds since the epoch.
    """

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement extract_timestamp(value, record_timestamp)")


class _OneArgument:
    """Adapts ``lambda value: ...`` to the two-argument assigner shape."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn

    def __call__(self, value: Any, record_timestamp: int) -> Any:
        return self.fn(value)


def timestamp_function(assigner: TimestampAssigner | Callable[..., Any]) -> TimestampFunction:
    """The ``(value, record_timestamp) -> timestamp`` callable behind an assigner.

    Accepts a ``TimestampAssigner``, a two-argument callable (Flink's shape) or a
    one-argument callable.
    """
    if isinstance(assigner, TimestampAssigner):
        return assigner.extract_timestamp
    extract = getattr(assigner, "extract_timestamp", None)
    if callable(extract):
        return extract  # type: ignore[no-any-return]
    if not callable(assigner):
        raise TypeError(f"a timestamp assigner must be a TimestampAssigner or a callable "
                        f"(value, record_timestamp) -> int, not {type(assigner).__name__}")
    if _positional_arity(assigner) == 1:
        return _OneArgument(assigner)
    return assigner


def _positional_arity(fn: Callable[..., Any]) -> int | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    return sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty)


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_timestamp(value: Any, step: str, record: Any = _MISSING) -> int:
    """``value`` as int milliseconds, or a ``TimestampAssignmentError`` naming ``step``.

    Ints pass; finite floats (and other real numbers, Decimal) are floored to whole
    milliseconds; bools, None, strings, datetimes and NaN are refused.
    """
    if type(value) is int:  # the common case first
        if MIN_TIMESTAMP <= value <= MAX_TIMESTAMP:
            return value
        raise _bad(step, value, record, "is outside the 64-bit millisecond range")
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
        raise _bad(step, value, record)
    if isinstance(value, numbers.Integral):
        ms = int(value)
    else:
        as_float = float(value)
        if not math.isfinite(as_float):
            raise _bad(step, value, record, "is not a finite number")
        ms = int(math.floor(value))
    if not MIN_TIMESTAMP <= ms <= MAX_TIMESTAMP:
        raise _bad(step, value, record, "is outside the 64-bit millisecond range")
    return ms


def _bad(step: str, value: Any, record: Any, why: str = "") -> TimestampAssignmentError:
    where = "" if record is _MISSING else f" for record {_short(record)}"
    problem = f" which {why}" if why else ""
    return TimestampAssignmentError(
        f"{step}: the timestamp assigner returned {_short(value)} ({type(value).__name__}){where}{problem}; "
        f"it must return the event time as a number of milliseconds since the epoch "
        f"(for a datetime use int(dt.timestamp() * 1000))")


def timestamps_from_column(batch: pa.RecordBatch | pa.Table, column: str, step: str) -> np.ndarray:
    """The event times in ``column`` of ``batch`` as an int64 numpy array of milliseconds.

    Integer columns are milliseconds; Arrow timestamp and date columns are
    converted from their unit; float columns are floored. Nulls, NaN and other
    types fail with an error naming the step and the column.
    """
    index = batch.schema.get_field_index(column)
    if index < 0:
        names = ", ".join(repr(n) for n in batch.schema.names if not n.startswith("__"))
        raise TimestampAssignmentError(
            f"{step}: the timestamp column {column!r} is not in the stream; its columns are {names}")
    return to_millis_array(batch.column(index), f"{step}: timestamp column {column!r}")


def to_millis_array(values: Any, what: str) -> np.ndarray:
    """An int64 numpy array of milliseconds from a numpy array, an Arrow array or a sequence."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind in "iu":
            return values.astype(np.int64, copy=False)
        if values.dtype.kind == "M":
            return values.astype("datetime64[ms]").astype(np.int64)
        values = pa.array(values)
    elif not isinstance(values, (pa.Array, pa.ChunkedArray)):
        try:
            values = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as e:
            raise TimestampAssignmentError(f"{what}: cannot read as timestamps ({e})") from None
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.null_count:
        raise TimestampAssignmentError(
            f"{what} has {values.null_count} null value(s); every record needs an event time")
    t = values.type
    if pa.types.is_integer(t):
        return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    if pa.types.is_timestamp(t):
        mul, div = _UNIT_MS[t.unit]
        raw = values.view(pa.int64()).to_numpy(zero_copy_only=False)
        return raw * mul if mul != 1 else (raw // div if div != 1 else raw)
    if pa.types.is_date64(t):
        return values.view(pa.int64()).to_numpy(zero_copy_only=False)
    if pa.types.is_date32(t):
        return values.view(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64) * 86_400_000
    if pa.types.is_floating(t):
        if pc.any(pc.invert(pc.is_finite(values))).as_py():
            raise TimestampAssignmentError(f"{what} has NaN or infinite values; every record needs an event time")
        return np.floor(values.to_numpy(zero_copy_only=False)).astype(np.int64)
    raise TimestampAssignmentError(
        f"{what} has type {t}; event time must be integer milliseconds, an Arrow timestamp or a date")
