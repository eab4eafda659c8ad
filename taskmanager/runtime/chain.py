"""ChainSpec: the operators of one JobVertex, as the client builds and pickles them.

A chain is a small tree: node 0 is the head (the source, or the operator that
reads the vertex's inputs); every node hands its output to chained successor
nodes (no serialization: batches by reference) and/or to exits, one per
JobEdge leaving the vertex, in the JobGraph's edge order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import pyarrow as pa
from strom.taskmanager.operators.base import Operator
from strom.taskmanager.operators.sources.base import Source
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.records import KEY_COLUMN, column_to_arrow, records_to_arrow

KeySpec = Callable[[Any], Any] | int | str


@dataclass
class ChainedNode:
    operator: Operator | None            # None for a source head
    successors: list[tuple[int, int]] = field(default_factory=list)  # (node index, input index)
    exits: list[int] = field(default_factory=list)
    uid: str | None = None


@dataclass
class ExitSpec:
    partitioner: str                     # forward | hash | rebalance | broadcast
    key: KeySpec | None = None           # for hash exits: selector, tuple position or column name


@dataclass
class ChainSpec:
    nodes: list[ChainedNode]
    exits: list[ExitSpec]
    source: Source | None = None

    @property
    def head(self) -> ChainedNode:
        return self.nodes[0]


class KeyExtractor:
    """Adds the ``__key__`` column a hash exchange partitions on."""

    def __init__(self, key: KeySpec) -> None:
        self.key = key
        if callable(key):
            self._fn: Callable[[Any], Any] = getattr(key, "get_key", key)
        else:
            self._fn = itemgetter(key)

    def to_arrow(self, batch: Batch) -> pa.RecordBatch:
        key = self.key
        if not callable(key) and batch._records is None:
            arrow = batch.arrow
            names = arrow.schema.names
            name = key if isinstance(key, str) else (names[key] if 0 <= key < len(names) else None)
            if name is not None and name in names:
                return arrow.append_column(pa.field(KEY_COLUMN, arrow.schema.field(name).type),
                                           arrow.column(name))
        records = batch.records
        keys = list(map(self._fn, records))
        if batch._records is None:
            arrow = batch.arrow
            f, a = column_to_arrow(keys, KEY_COLUMN)
            return arrow.append_column(f, a)
        return records_to_arrow(records, keys)
