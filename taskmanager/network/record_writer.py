"""The producer task's writer (Flink's RecordWriter + output buffers): partitions each batch,
collects the pieces per channel and hands the partition batches of about ``batch_rows``
rows, so small upstream batches do not become small network messages.

A channel's pending rows go out when they reach ``batch_rows`` (full ``batch_rows``
slices; the remainder waits), when the oldest of them is older than the buffer timeout
(``flush_if_due``, driven by the task loop via ``next_flush_deadline``), before an event
(events stay ordered after the data), and before rows of another schema (schemas are
never mixed in one batch). ``buffer_timeout_ms`` follows Flink: 0 flushes on every emit,
-1 only when full.

Not thread-safe: the producer task's thread owns it.

    writer = RecordWriter(partition, HashPartitioner(max_parallelism=128), batch_rows=8192)
    writer.emit(batch)                       # may block: backpressure
    deadline = writer.next_flush_deadline()  # wait on the input no longer than this
    writer.flush_if_due(time.monotonic())
    writer.finish()
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pyarrow as pa

from strom.taskmanager.network.events import Event
from strom.taskmanager.network.partition import ResultPartition
from strom.taskmanager.network.partitioner import Partitioner


class RecordWriter:
    def __init__(self, partition: ResultPartition, partitioner: Partitioner, batch_rows: int = 8192,
                 buffer_timeout_ms: int = 100, clock: Callable[[], float] = time.monotonic) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows must be positive, got {batch_rows}")
        self.partition = partition
        self.partitioner = partitioner
        self.batch_rows = batch_rows
        self.buffer_timeout_ms = buffer_timeout_ms
        self._timeout_s = buffer_timeout_ms / 1000.0
        self._clock = clock
        n = partition.num_subpartitions
        self._num_channels = n
        self._pending: list[list[pa.RecordBatch]] = [[] for _ in range(n)]
        self._arrivals: list[list[float]] = [[] for _ in range(n)]
        self._rows = [0] * n
        self._schema: list[pa.Schema | None] = [None] * n
        self._pending_channels = 0
        self.records_out = 0
        self.batches_out = 0
        self.bytes_out = 0

    @property
    def num_channels(self) -> int:
        return self._num_channels

    def pending_rows(self, channel: int | None = None) -> int:
        return sum(self._rows) if channel is None else self._rows[channel]

    def emit(self, batch: pa.RecordBatch) -> None:
        """Partition ``batch`` and buffer its pieces; emits full batches (may block: backpressure)."""
        if not batch.num_rows:
            return
        now = self._clock()
        for channel, part in self.partitioner.select(batch, self._num_channels):
            pending = self._pending[channel]
            if pending and not part.schema.equals(self._schema[channel], check_metadata=True):
                self._flush_channel(channel)
            if not pending:
                self._schema[channel] = part.schema
                self._pending_channels += 1
            pending.append(part)
            self._arrivals[channel].append(now)
            self._rows[channel] += part.num_rows
            if self._rows[channel] >= self.batch_rows:
                self._flush_full(channel)
        if self.buffer_timeout_ms == 0:
            self.flush()

    def emit_event(self, channel: int, event: Event) -> None:
        """An event on one channel, after that channel's pending data."""
        self._flush_channel(channel)
        self.partition.emit_event(channel, event)

    def broadcast_event(self, event: Event) -> None:
        """An event on every channel, after all pending data (watermarks, barriers)."""
        self.flush()
        self.partition.broadcast_event(event)

    def flush(self) -> None:
        if not self._pending_channels:
            return
        for channel in range(self._num_channels):
            if self._pending[channel]:
                self._flush_channel(channel)

    def flush_if_due(self, now: float | None = None) -> None:
        """Flush channels whose oldest pending rows waited at least the buffer timeout."""
        if not self._pending_channels or self.buffer_timeout_ms < 0:
            return
        if now is None:
            now = self._clock()
        limit = now - self._timeout_s
        for channel in range(self._num_channels):
            arrivals = self._arrivals[channel]
            if arrivals and arrivals[0] <= limit:
                self._flush_channel(channel)

    def next_flush_deadline(self) -> float | None:
        """Clock time at which ``flush_if_due`` will next have work; None if nothing is pending
        (or the timeout is disabled)."""
        if not self._pending_channels or self.buffer_timeout_ms < 0:
            return None
        oldest = min(arrivals[0] for arrivals in self._arrivals if arrivals)
        return oldest + self._timeout_s

    def finish(self) -> None:
        """Flush everything, then EndOfPartition on every channel."""
        self.flush()
        self.partition.finish()

    # ---- internals --------------------------------------------------------------------

    def _take_pending(self, channel: int) -> pa.RecordBatch:
        pending = self._pending[channel]
        batch = pending[0] if len(pending) == 1 else pa.concat_batches(pending)
        pending.clear()
        return batch

    def _flush_channel(self, channel: int) -> None:
        if not self._pending[channel]:
            return
        batch = self._take_pending(channel)
        self._arrivals[channel].clear()
        self._rows[channel] = 0
        self._schema[channel] = None
        self._pending_channels -= 1
        self._send(channel, batch)

    def _flush_full(self, channel: int) -> None:
        """Send all full ``batch_rows`` slices; keep the remainder pending."""
        rows = self._rows[channel]
        arrivals = self._arrivals[channel]
        parts = self._pending[channel]
        full = rows - rows % self.batch_rows
        # Arrival time of the oldest piece the remainder comes from.
        seen = 0
        remainder_since = arrivals[-1]
        for part, arrived in zip(parts, arrivals, strict=True):
            seen += part.num_rows
            if seen > full:
                remainder_since = arrived
                break
        batch = self._take_pending(channel)
        for offset in range(0, full, self.batch_rows):
            self._send(channel, batch.slice(offset, self.batch_rows))
        arrivals.clear()
        self._rows[channel] = rows - full
        if rows > full:
            parts.append(batch.slice(full))
            arrivals.append(remainder_since)
        else:
            self._schema[channel] = None
            self._pending_channels -= 1

    def _send(self, channel: int, batch: pa.RecordBatch) -> None:
        self.bytes_out += self.partition.emit(channel, batch)
        self.records_out += batch.num_rows
        self.batches_out += 1
