"""Batch: what operators of a chain hand each other.

A batch holds Python records, an Arrow record batch, or both, and converts
lazily: a chain of per-record operators never touches Arrow, a chain of
``map_batches`` never builds Python objects. Keys of a keyed exchange ride
along (``keys``), so a keyed operator never re-runs the key selector, and so
do event timestamps (``timestamps``, int64 milliseconds, one per record) once
``assign_timestamps_and_watermarks`` gave the stream event time. Over an
exchange they travel as the columns ``__key__`` and ``__ts__``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from strom.taskmanager.runtime.records import (
    KEY_COLUMN,
    TS_COLUMN,
    arrow_keys,
    arrow_timestamps,
    arrow_to_records,
    records_to_arrow,
    without_internal,
)


class Batch:
    __slots__ = ("_records", "_arrow", "_keys", "_keys_loaded", "_ts", "_ts_loaded")

    def __init__(self, records: list[Any] | None = None, arrow: pa.RecordBatch | None = None,
                 keys: Sequence[Any] | None = None, timestamps: np.ndarray | None = None) -> None:
        self._records = records
        self._arrow = arrow
        self._keys = keys
        self._keys_loaded = keys is not None or arrow is None
        self._ts = timestamps
        self._ts_loaded = timestamps is not None or arrow is None

    @classmethod
    def of_records(cls, records: list[Any], timestamps: np.ndarray | None = None) -> Batch:
        return cls(records=records, timestamps=timestamps)

    @classmethod
    def of_arrow(cls, batch: pa.RecordBatch, timestamps: np.ndarray | None = None) -> Batch:
        return cls(arrow=batch, timestamps=timestamps)

    def with_timestamps(self, timestamps: np.ndarray | None) -> Batch:
        """The same records (and keys) with other event timestamps."""
        b = Batch(self._records, self._arrow, self._keys if self._keys_loaded else None, timestamps)
        b._keys_loaded = self._keys_loaded
        b._ts_loaded = True
        return b

    @property
    def records(self) -> list[Any]:
        if self._records is None:
            assert self._arrow is not None
            self._records = arrow_to_records(self._arrow)
        return self._records

    @property
    def arrow(self) -> pa.RecordBatch:
        """The data as Arrow, without the key and timestamp columns."""
        if self._arrow is None:
            self._arrow = records_to_arrow(self._records or [])
            return self._arrow
        return without_internal(self._arrow)

    @property
    def arrow_with_key(self) -> pa.RecordBatch | None:
        """The Arrow form including ``__key__`` when this batch came from a keyed exchange."""
        arrow = self._arrow
        if arrow is not None and arrow.schema.get_field_index(KEY_COLUMN) >= 0:
            return arrow.drop_columns([TS_COLUMN]) if arrow.schema.get_field_index(TS_COLUMN) >= 0 else arrow
        return None

    @property
    def keys(self) -> Sequence[Any] | None:
        if not self._keys_loaded:
            assert self._arrow is not None
            self._keys = arrow_keys(self._arrow)
            self._keys_loaded = True
        return self._keys

    @property
    def timestamps(self) -> np.ndarray | None:
        """Event time of each record (int64 ms), or None when the stream has no event time."""
        if not self._ts_loaded:
            assert self._arrow is not None
            self._ts = arrow_timestamps(self._arrow)
            self._ts_loaded = True
        return self._ts

    def __len__(self) -> int:
        if self._records is not None:
            return len(self._records)
        assert self._arrow is not None
        return self._arrow.num_rows
