from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from strom.common.keygroups import key_group_for_key, operator_index_for_key_group
from strom.taskmanager.network.partitioner import (
    BroadcastPartitioner,
    ForwardPartitioner,
    HashPartitioner,
    RebalancePartitioner,
    create_partitioner,
)

pytestmark = pytest.mark.timeout(60)


def _batch(keys, **extra) -> pa.RecordBatch:
    columns = {"__key__": pa.array(keys), "row": pa.array(np.arange(len(keys)))}
    columns.update(extra)
    return pa.record_batch(columns)


def _rows_by_channel(parts):
    return {channel: part.column("row").to_pylist() for channel, part in parts}


def test_forward_and_broadcast_pass_the_same_batch():
    batch = _batch([1, 2, 3])
    assert ForwardPartitioner().select(batch, 1) == [(0, batch)]
    parts = BroadcastPartitioner().select(batch, 3)
    assert [c for c, _ in parts] == [0, 1, 2]
    assert all(part is batch for _, part in parts)
    assert ForwardPartitioner().select(batch.slice(0, 0), 1) == []
    assert BroadcastPartitioner().select(batch.slice(0, 0), 3) == []


@pytest.mark.parametrize("keys", [
    list(range(-500, 1500)),
    [f"word-{i % 97}" for i in range(3000)],
    [f"b{i % 13}".encode() for i in range(400)],
    [i * 0.5 for i in range(600)],
    [None if i % 5 == 0 else f"k{i % 11}" for i in range(500)],
])
@pytest.mark.parametrize("num_channels", [2, 3, 7])
def test_hash_puts_every_row_on_the_channel_owning_its_key_group(keys, num_channels):
    max_parallelism = 128
    batch = _batch(keys)
    parts = HashPartitioner(max_parallelism=max_parallelism).select(batch, num_channels)
    channels = [c for c, _ in parts]
    assert channels == sorted(set(channels))
    assert all(part.num_rows for _, part in parts)
    seen = []
    for channel, part in parts:
        for key, row in zip(part.column("__key__").to_pylist(), part.column("row").to_pylist(), strict=True):
            group = key_group_for_key(key, max_parallelism)
            assert operator_index_for_key_group(group, num_channels, max_parallelism) == channel
            seen.append(row)
        rows = part.column("row").to_pylist()
        assert rows == sorted(rows), "rows keep their order within a channel"
    assert sorted(seen) == list(range(len(keys)))


def test_hash_single_channel_is_zero_copy_and_single_key_group_too():
    batch = _batch([5] * 100)
    assert HashPartitioner().select(batch, 1) == [(0, batch)]
    [(channel, part)] = HashPartitioner().select(batch, 4)
    assert part is batch


def test_hash_needs_the_key_column():
    batch = pa.record_batch({"x": pa.array([1, 2])})
    with pytest.raises(KeyError, match="__key__"):
        HashPartitioner().select(batch, 2)
    assert HashPartitioner(key_column="x").select(batch, 2)


def test_hash_refuses_more_channels_than_key_groups():
    with pytest.raises(ValueError, match="max parallelism"):
        HashPartitioner(max_parallelism=4).select(_batch([1, 2, 3]), 5)


_CHILD = r"""
import json, sys
import pyarrow as pa
from strom.taskmanager.network.partitioner import HashPartitioner
keys = json.loads(sys.stdin.read())
out = {}
for name, values in keys.items():
    batch = pa.record_batch({"__key__": pa.array(values), "row": pa.array(range(len(values)))})
    parts = HashPartitioner(max_parallelism=128).select(batch, 5)
    out[name] = {str(c): p.column("row").to_pylist() for c, p in parts}
print(json.dumps(out))
"""


def test_hash_partitioning_is_identical_in_a_fresh_process():
    keys = {"str": [f"user-{i}" for i in range(2000)], "int": list(range(-1000, 1000)),
            "bytes_like": [f"{i:x}" * 3 for i in range(500)]}
    local = {name: {str(c): rows for c, rows in _rows_by_channel(
        HashPartitioner(max_parallelism=128).select(pa.record_batch(
            {"__key__": pa.array(values), "row": pa.array(range(len(values)))}), 5)).items()}
        for name, values in keys.items()}
    results = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(keys), capture_output=True,
                              text=True, timeout=60, env=env, check=True)
        results.append(json.loads(proc.stdout))
    assert results[0] == results[1] == local


def test_rebalance_spreads_rows_evenly_whole_batches():
    part = RebalancePartitioner()
    totals = np.zeros(3, dtype=np.int64)
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(1, 2000))
        [(channel, out)] = part.select(_batch(list(range(n))), 3)
        assert out.num_rows == n
        totals[channel] += n
    assert totals.max() - totals.min() < 2000


def test_rebalance_round_robins_equal_batches():
    part = RebalancePartitioner(start_channel=1)
    channels = [part.select(_batch([0] * 10), 3)[0][0] for _ in range(6)]
    assert channels == [1, 2, 0, 1, 2, 0]


def test_rebalance_splits_large_batches_into_contiguous_slices():
    part = RebalancePartitioner(min_split_rows=100)
    batch = _batch(list(range(1001)))
    parts = part.select(batch, 4)
    assert [c for c, _ in parts] == [0, 1, 2, 3]
    sizes = [p.num_rows for _, p in parts]
    assert sum(sizes) == 1001 and max(sizes) - min(sizes) <= 1
    rows = [r for _, p in parts for r in p.column("row").to_pylist()]
    assert rows == list(range(1001))


def test_create_partitioner_by_edge_name():
    assert isinstance(create_partitioner("forward"), ForwardPartitioner)
    assert isinstance(create_partitioner("broadcast"), BroadcastPartitioner)
    assert isinstance(create_partitioner("rebalance"), RebalancePartitioner)
    hashed = create_partitioner("hash", max_parallelism=64)
    assert isinstance(hashed, HashPartitioner) and hashed.max_parallelism == 64
    with pytest.raises(ValueError, match="unknown partitioner"):
        create_partitioner("shuffle")


def test_the_runtimes_rebalance_spreads_even_a_small_batch():
    import pyarrow as pa

    part = create_partitioner("rebalance", subtask_index=0)
    pieces = part.select(pa.RecordBatch.from_pydict({"v": list(range(100))}), 4)
    assert [(c, b.num_rows) for c, b in pieces] == [(0, 25), (1, 25), (2, 25), (3, 25)]
    assert [v for _, b in pieces for v in b.column(0).to_pylist()] == list(range(100))
