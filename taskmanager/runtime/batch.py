"""Batch: what operators of a chain hand each other.

A batch holds Python records, an Arrow record batch, or both, and converts
lazily: a chain of per-record operators never touches Arrow, a chain of
``map_batches`` never builds Python objects. Keys of a keyed exchange ride
along (``keys``), so a keyed operator never re-runs the key selector.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from strom.taskmanager.runtime.records import (
    KEY_COLUMN,
    arrow_keys,
    arrow_to_records,
    records_to_arrow,
    without_key,
)


class Batch:
    __slots__ = ("_records", "_arrow", "_keys", "_keys_loaded")

    def __init__(self, records: list[Any] | None = None, arrow: pa.RecordBatch | None = None,
                 keys: Sequence[Any] | None = None) -> None:
        self._records = records
        self._arrow = arrow
        self._keys = keys
        self._keys_loaded = keys is not None or arrow is None

    @classmethod
    def of_records(cls, records: list[Any]) -> Batch:
        return cls(records=records)

    @classmethod
    def of_arrow(cls, batch: pa.RecordBatch) -> Batch:
        return cls(arrow=batch)

    @property
    def records(self) -> list[Any]:
        if self._records is None:
            assert self._arrow is not None
            self._records = arrow_to_records(self._arrow)
        return self._records

    @property
    def arrow(self) -> pa.RecordBatch:
        """The data as Arrow, without the key column."""
        if self._arrow is None:
            self._arrow = records_to_arrow(self._records or [])
            return self._arrow
        return without_key(self._arrow)

    @property
    def arrow_with_key(self) -> pa.RecordBatch | None:
        """The Arrow form including ``__key__`` when this batch came from a keyed exchange."""
        if self._arrow is not None and self._arrow.schema.get_field_index(KEY_COLUMN) >= 0:
            return self._arrow
        return None

    @property
    def keys(self) -> Sequence[Any] | None:
        if not self._keys_loaded:
            assert self._arrow is not None
            self._keys = arrow_keys(self._arrow)
            self._keys_loaded = True
        return self._keys

    def __len__(self) -> int:
        if self._records is not None:
            return len(self._records)
        assert self._arrow is not None
        return self._arrow.num_rows
