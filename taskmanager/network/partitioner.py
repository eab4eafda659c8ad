"""Partitioners (Flink's ChannelSelectors), batch at a time: each splits one RecordBatch
into per-channel batches with vectorized work, never a Python loop over rows.

    >>> HashPartitioner(max_parallelism=128).select(batch, num_channels=4)
    [(0, <rows of key groups 0..31>), (2, <rows of key groups 64..95>), ...]

``select`` returns ``(channel, batch)`` pairs, channels ascending, no empty batches (an
empty input gives ``[]``). Slices are zero-copy; the hash partitioner does one ``take``
per batch.
"""

from __future__ import annotations

from typing import Protocol

import cloudpickle
import numpy as np
import pyarrow as pa

from strom.common.keygroups import DEFAULT_MAX_PARALLELISM, channels_for_key_groups, key_groups_of_array

KEY_COLUMN = "__key__"


class Partitioner(Protocol):
    def select(self, batch: pa.RecordBatch, num_channels: int) -> list[tuple[int, pa.RecordBatch]]: ...


class ForwardPartitioner:
    """Everything to channel 0: a forward edge's partition has one subpartition."""

    def select(self, batch: pa.RecordBatch, num_channels: int) -> list[tuple[int, pa.RecordBatch]]:
        return [(0, batch)] if batch.num_rows else []


class BroadcastPartitioner:
    """Every batch to every channel (the same batch object: no copies)."""

    def select(self, batch: pa.RecordBatch, num_channels: int) -> list[tuple[int, pa.RecordBatch]]:
        return [(c, batch) for c in range(num_channels)] if batch.num_rows else []


class RebalancePartitioner:
    """Even spread of rows: a batch goes whole to the channel that received the fewest rows so
    far (ties: the next in round-robin order); batches of at least ``num_channels *
    min_split_rows`` rows are cut into one contiguous zero-copy slice per channel, so a few
    huge batches still spread. Stateful: one instance per producer subtask."""

    def __init__(self, min_split_rows: int = 4096, start_channel: int = 0) -> None:
        self._min_split_rows = min_split_rows
        self._start = start_channel
        self._rows: np.ndarray = np.zeros(0, dtype=np.int64)

    def select(self, batch: pa.RecordBatch, num_channels: int) -> list[tuple[int, pa.RecordBatch]]:
        rows = batch.num_rows
        if not rows:
            return []
        if num_channels == 1:
            return [(0, batch)]
        if len(self._rows) != num_channels:
            self._rows = np.zeros(num_channels, dtype=np.int64)
            self._start %= num_channels
        if rows >= num_channels * self._min_split_rows:
            base, extra = divmod(rows, num_channels)
            # The ``extra`` one-row-longer slices go to the least loaded channels.
            order = np.argsort(np.roll(self._rows, -self._start), kind="stable")
            order = (order + self._start) % num_channels
            sizes = np.full(num_channels, base, dtype=np.int64)
            sizes[order[:extra]] += 1
            self._rows += sizes
            self._start = (self._start + 1) % num_channels
            out = []
            offset = 0
            for channel in range(num_channels):
                size = int(sizes[channel])
                out.append((channel, batch.slice(offset, size)))
                offset += size
            return out
        # argmin over the rotated counts: fewest rows first, round-robin among ties.
        channel = (int(np.argmin(np.roll(self._rows, -self._start))) + self._start) % num_channels
        self._rows[channel] += rows
        self._start = (channel + 1) % num_channels
        return [(channel, batch)]


class HashPartitioner:
    """Rows to the subtask owning their key group: ``stable_hash(key) % max_parallelism``,
    contiguous key-group ranges per channel (``strom.common.keygroups``). The key is the
    ``key_column`` the keyed exchange carries."""

    def __init__(self, key_column: str = KEY_COLUMN, max_parallelism: int = DEFAULT_MAX_PARALLELISM) -> None:
        self.key_column = key_column
        self.max_parallelism = max_parallelism

    def channels_of(self, batch: pa.RecordBatch, num_channels: int) -> np.ndarray:
        """The channel of every row (int64 numpy array)."""
        index = batch.schema.get_field_index(self.key_column)
        if index < 0:
            raise KeyError(f"hash partitioning needs the key column {self.key_column!r}, but the batch has "
                           f"columns {batch.schema.names}")
        field = batch.schema.field(index)
        pickled = bool(field.metadata and field.metadata.get(b"strom.pickled") == b"1")
        key_groups = key_groups_of_array(batch.column(index), self.max_parallelism,
                                         decode=cloudpickle.loads if pickled else None)
        return channels_for_key_groups(key_groups, num_channels, self.max_parallelism)

    def select(self, batch: pa.RecordBatch, num_channels: int) -> list[tuple[int, pa.RecordBatch]]:
        rows = batch.num_rows
        if not rows:
            return []
        if num_channels == 1:
            return [(0, batch)]
        if num_channels > self.max_parallelism or num_channels > 1 << 16:
            raise ValueError(f"hash partitioning to {num_channels} channels exceeds max parallelism "
                             f"{self.max_parallelism}")
        # uint16 (max parallelism is at most 32768) makes numpy's stable sort a radix sort: O(rows).
        channels = self.channels_of(batch, num_channels).astype(np.uint16)
        counts = np.bincount(channels, minlength=num_channels)
        nonzero = np.flatnonzero(counts)
        if len(nonzero) == 1:
            return [(int(nonzero[0]), batch)]
        order = np.argsort(channels, kind="stable")
        grouped = batch.take(pa.array(order))
        ends = np.cumsum(counts)
        return [(int(c), grouped.slice(int(ends[c] - counts[c]), int(counts[c]))) for c in nonzero]


def create_partitioner(kind: str, max_parallelism: int = DEFAULT_MAX_PARALLELISM,
                       key_column: str = KEY_COLUMN, subtask_index: int = 0) -> Partitioner:
    """The partitioner for a job edge's ``partitioner`` name (forward|hash|rebalance|broadcast).
    ``subtask_index`` staggers where each producer's rebalance starts, as Flink does."""
    if kind == "forward":
        return ForwardPartitioner()
    if kind == "hash":
        return HashPartitioner(key_column, max_parallelism)
    if kind == "rebalance":
        # every batch of at least one row per channel is cut into even contiguous slices (zero-copy;
        # the record writer coalesces them per channel), so even small inputs spread like Flink's
        # per-record round robin
        return RebalancePartitioner(min_split_rows=1, start_channel=subtask_index)
    if kind == "broadcast":
        return BroadcastPartitioner()
    raise ValueError(f"unknown partitioner {kind!r}: expected forward, hash, rebalance or broadcast")
