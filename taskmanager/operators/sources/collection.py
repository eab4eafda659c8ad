"""from_collection, from_sequence and the rate-limited data generator."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.sources.base import END_OF_INPUT, EndOfInput, Source, SourceReader
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.records import KIND

_BATCH = 8192


class _ListReader(SourceReader):
    def __init__(self, records: Sequence[Any], batch_rows: int) -> None:
        self.records = records
        self.pos = 0
        self.batch_rows = batch_rows

    def poll(self) -> Batch | EndOfInput | None:
        if self.pos >= len(self.records):
            return END_OF_INPUT
        chunk = list(self.records[self.pos:self.pos + self.batch_rows])
        self.pos += len(chunk)
        return Batch.of_records(chunk)


class CollectionSource(Source):
    """The records of a Python collection, in order, from one subtask."""

    max_parallelism = 1

    def __init__(self, records: Sequence[Any], name: str = "Collection Source") -> None:
        self.records = list(records)
        self.name = name

    def create_reader(self, ctx: OperatorContext) -> SourceReader:
        return _ListReader(self.records if ctx.subtask_index == 0 else [], _BATCH)


class _SequenceReader(SourceReader):
    def __init__(self, start: int, end: int) -> None:
        self.next = start
        self.end = end  # inclusive

    def poll(self) -> Batch | EndOfInput | None:
        if self.next > self.end:
            return END_OF_INPUT
        stop = min(self.end + 1, self.next + _BATCH)
        arr = pa.array(range(self.next, stop), type=pa.int64())
        self.next = stop
        schema = pa.schema([pa.field("f0", pa.int64())], metadata={KIND: b"value"})
        return Batch.of_arrow(pa.RecordBatch.from_arrays([arr], schema=schema))


class NumberSequenceSource(Source):
    """The integers ``start..end`` (inclusive), split into contiguous ranges per subtask."""

    def __init__(self, start: int, end: int) -> None:
        if end < start:
            raise ValueError(f"from_sequence: end ({end}) must not be smaller than start ({start})")
        self.start = start
        self.end = end
        self.name = f"Sequence Source ({start}..{end})"

    def create_reader(self, ctx: OperatorContext) -> SourceReader:
        total = self.end - self.start + 1
        lo = self.start + total * ctx.subtask_index // ctx.parallelism
        hi = self.start + total * (ctx.subtask_index + 1) // ctx.parallelism - 1
        return _SequenceReader(lo, hi)


class _GeneratorReader(SourceReader):
    def __init__(self, fn: Callable[[int], Any], subtask: int, parallelism: int, count: int | None,
                 rate: float | None) -> None:
        self.fn = fn
        self.index = subtask          # global index of the next record
        self.step = parallelism
        self.count = count
        self.rate = None if rate is None else rate / parallelism
        self.started = 0.0           # the rate clock starts at the first poll, not at deployment
        self.emitted = 0

    def poll(self) -> Batch | EndOfInput | None:
        if self.count is not None and self.index >= self.count:
            return END_OF_INPUT
        budget = _BATCH
        if self.rate is not None:
            if not self.started:
                self.started = time.monotonic()
            allowed = int((time.monotonic() - self.started) * self.rate) - self.emitted
            if allowed <= 0:
                return None
            budget = min(budget, allowed)
        stop = self.index + budget * self.step
        if self.count is not None:
            stop = min(stop, self.count)
        out = [self.fn(i) for i in range(self.index, stop, self.step)]
        self.index = stop if (stop - self.index) % self.step == 0 else self.index + len(out) * self.step
        self.emitted += len(out)
        return Batch.of_records(out) if out else END_OF_INPUT

    def wait_hint(self) -> float:
        if self.rate is None:
            return 0.0
        return max(0.001, (self.emitted + 1) / self.rate - (time.monotonic() - self.started))


class DataGeneratorSource(Source):
    """``generator_function(i)`` for i = 0, 1, 2, ... (unbounded when count is None),
    at most ``records_per_second`` in total across subtasks.

        DataGeneratorSource(lambda i: (i % 10, i), count=None, records_per_second=1000)
    """

    def __init__(self, generator_function: Callable[[int], Any], count: int | None = None,
                 records_per_second: float | None = None, name: str = "Data Generator Source") -> None:
        if records_per_second is not None and records_per_second <= 0:
            raise ValueError("records_per_second must be positive")
        self.fn = generator_function
        self.count = count
        self.rate = records_per_second
        self.name = name
        self.bounded = count is not None

    def create_reader(self, ctx: OperatorContext) -> SourceReader:
        return _GeneratorReader(self.fn, ctx.subtask_index, ctx.parallelism, self.count, self.rate)
