"""ChainSpec: the operators of one JobVertex, as the client builds and pickles them.

A chain is a small tree: node 0 is the head (the source, or the operator that
reads the vertex's inputs); every node hands its output to chained successor
nodes (no serialization: batches by reference) and/or to exits, one per
JobEdge leaving the vertex, in the JobGraph's edge order. Side outputs
(``OutputTag``) have successors and exits of their own, per tag.
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
from strom.taskmanager.runtime.records import KEY_COLUMN, KIND, column_to_arrow, is_pickled, records_to_arrow

KeySpec = Callable[[Any], Any] | int | str


@dataclass
class ChainedNode:
    operator: Operator | None            # None for a source head
    successors: list[tuple[int, int]] = field(default_factory=list)  # (node index, input index)
    exits: list[int] = field(default_factory=list)
    uid: str | None = None
    # side outputs, by OutputTag id: chained consumers and exits, like the main output's
    side_successors: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    side_exits: dict[str, list[int]] = field(default_factory=dict)


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


def subscript_constant(fn: Any) -> int | None:
    """The ``i`` of a selector that is exactly ``lambda r: r[i]`` (int constant), else None.

    Such a selector needs no call per record: the key is column ``f{i}`` of the
    tuple records, already converted to Arrow for the exchange.
    """
    import dis
    import types

    if not isinstance(fn, types.FunctionType) or fn.__code__.co_argcount != 1 or fn.__closure__:
        return None
    ops = [(i.opname, i.argval) for i in dis.get_instructions(fn) if i.opname not in ("RESUME", "NOP")]
    if (len(ops) == 4 and ops[0][0] == "LOAD_FAST" and ops[0][1] == fn.__code__.co_varnames[0]
            and ops[1][0] == "LOAD_CONST" and type(ops[1][1]) is int and ops[1][1] >= 0
            and ops[2][0] == "BINARY_SUBSCR" and ops[3][0] == "RETURN_VALUE"):
        return int(ops[1][1])
    return None


class KeyExtractor:
    """Adds the ``__key__`` column a hash exchange partitions on.

    A key given as a column (name or position) of an Arrow batch, or as a
    selector ``lambda r: r[i]`` of tuple records, reuses that column; any other
    selector is called once per record.
    """

    def __init__(self, key: KeySpec) -> None:
        self.key = key
        if callable(key):
            self._fn: Callable[[Any], Any] = getattr(key, "get_key", key)
            self._position = subscript_constant(key)
        else:
            self._fn = itemgetter(key)
            self._position = key if isinstance(key, int) else None

    def to_arrow(self, batch: Batch) -> pa.RecordBatch:
        if batch._records is None:                      # Arrow-only batch: sources, map_batches
            arrow = batch.arrow
            if not callable(self.key):
                names = arrow.schema.names
                key = self.key
                name = key if isinstance(key, str) else (names[key] if 0 <= key < len(names) else None)
                if name in names:
                    return _with_key(arrow, arrow.schema.field(name).type, arrow.column(name))
            f, a = column_to_arrow(list(map(self._fn, batch.records)), KEY_COLUMN)
            return arrow.append_column(f, a)
        records = batch.records
        pos = self._position
        if pos is not None:
            arrow = records_to_arrow(records)
            if (arrow.schema.metadata or {}).get(KIND) == b"tuple" and pos < arrow.num_columns \
                    and not is_pickled(arrow.schema.field(pos)):
                return _with_key(arrow, arrow.schema.field(pos).type, arrow.column(pos))
            f, a = column_to_arrow(list(map(self._fn, records)), KEY_COLUMN)
            return arrow.append_column(f, a)
        try:
            keys = list(map(self._fn, records))
        except (TypeError, KeyError, IndexError) as exc:
            if callable(self.key):
                raise
            raise ValueError(self._explain(records, exc)) from None
        return records_to_arrow(records, keys)

    def _explain(self, records: list[Any], exc: BaseException) -> str:
        bad = next((r for r in records if not _has_field(r, self.key)), records[0] if records else None)
        if isinstance(self.key, str):
            hint = ("a column name works for Arrow batches (read_csv, map_batches) and dict records; "
                    "give a tuple position (key_by(0)) or a function (key_by(lambda r: ...))")
        else:
            hint = "a position works for tuples and lists that long; give a function (key_by(lambda r: ...))"
        return (f"key_by({self.key!r}): cannot take field {self.key!r} of the record {bad!r:.120} "
                f"({type(bad).__name__}): {exc}; {hint}")


def _has_field(record: Any, field: Any) -> bool:
    try:
        record[field]
    except (TypeError, KeyError, IndexError):
        return False
    return True


def _with_key(arrow: pa.RecordBatch, key_type: pa.DataType, column: pa.Array) -> pa.RecordBatch:
    return arrow.append_column(pa.field(KEY_COLUMN, key_type), column)
