"""Key groups: the unit in which keyed state and keyed traffic are partitioned.

A key maps to key group ``stable_hash(key) % max_parallelism``; subtask ``i``
of ``p`` owns the contiguous range Flink computes
(``KeyGroupRangeAssignment``): key group ``g`` goes to ``g * p // max_parallelism``.

The hash is identical in every process and run (Python's ``hash()`` of str is
salted per process, so it is never used). Vectorized forms hash integer arrays
with numpy arithmetic and everything else per *distinct* value, so partitioning
costs per distinct key, not per row.
"""

from __future__ import annotations

import pickle
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DEFAULT_MAX_PARALLELISM = 128

_M64 = 0xFFFFFFFFFFFFFFFF


def _mix64(x: int) -> int:
    """splitmix64 finalizer: a good avalanche for integers."""
    x &= _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def stable_hash(key: Any) -> int:
    """A non-negative 63-bit hash, stable across processes and runs."""
    if isinstance(key, bool):
        return _mix64(int(key)) >> 1
    if isinstance(key, int):
        if -(1 << 63) <= key < (1 << 63):
            return _mix64(key) >> 1
        return _bytes_hash(str(key).encode()) >> 1
    if isinstance(key, str):
        return _bytes_hash(key.encode("utf-8")) >> 1
    if isinstance(key, bytes):
        return _bytes_hash(b"\x01" + key) >> 1
    if isinstance(key, float):
        if key.is_integer() and -(1 << 63) <= key < (1 << 63):
            return stable_hash(int(key))  # 1.0 and 1 are the same key, as in Python
        return _bytes_hash(struct.pack("<d", key)) >> 1
    if isinstance(key, tuple):
        h = 0x345678
        for item in key:
            h = _mix64(h * 1000003 ^ stable_hash(item))
        return h >> 1
    if key is None:
        return 0
    return _bytes_hash(pickle.dumps(key, protocol=4)) >> 1


def _bytes_hash(data: bytes) -> int:
    lo = zlib.crc32(data)
    hi = zlib.adler32(data)
    return _mix64((hi << 32) | lo)


def key_group_for_key(key: Any, max_parallelism: int = DEFAULT_MAX_PARALLELISM) -> int:
    return stable_hash(key) % max_parallelism


def operator_index_for_key_group(key_group: int, parallelism: int, max_parallelism: int) -> int:
    return key_group * parallelism // max_parallelism


def key_group_range(subtask: int, parallelism: int, max_parallelism: int) -> range:
    """The key groups subtask ``subtask`` of ``parallelism`` owns (contiguous)."""
    start = (subtask * max_parallelism + parallelism - 1) // parallelism
    end = ((subtask + 1) * max_parallelism + parallelism - 1) // parallelism
    return range(start, end)


def _mix64_np(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def key_groups_of_array(keys: pa.Array | pa.ChunkedArray | Sequence[Any],
                        max_parallelism: int = DEFAULT_MAX_PARALLELISM,
                        decode: Callable[[Any], Any] | None = None) -> np.ndarray:
    """Key group of every element, vectorized. Equal to ``key_group_for_key`` per element.

    ``decode`` maps each distinct stored value to the key it stands for (e.g.
    unpickling a binary column of composite keys), so that a key's group never
    depends on how it travelled.
    """
    if not isinstance(keys, (pa.Array, pa.ChunkedArray)):
        try:
            keys = pa.array(keys)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return np.fromiter((key_group_for_key(k, max_parallelism) for k in keys), dtype=np.int64,
                               count=len(keys))
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    t = keys.type
    if decode is None and (pa.types.is_integer(t) and t.bit_width <= 64 and not pa.types.is_uint64(t)) and keys.null_count == 0:
        hashed = _mix64_np(keys.to_numpy(zero_copy_only=False).astype(np.int64).view(np.uint64)) >> np.uint64(1)
        return (hashed % np.uint64(max_parallelism)).astype(np.int64)
    encoded = pc.dictionary_encode(keys)
    distinct = encoded.dictionary.to_pylist()
    if decode is not None:
        distinct = [None if v is None else decode(v) for v in distinct]
    groups = np.fromiter(_cached_key_groups(distinct, max_parallelism), dtype=np.int64, count=len(distinct))
    indices = encoded.indices
    if indices.null_count:
        idx = indices.fill_null(0).to_numpy()
        out = groups[idx] if len(groups) else np.zeros(len(idx), dtype=np.int64)
        out[indices.is_null().to_numpy(zero_copy_only=False)] = key_group_for_key(None, max_parallelism)
        return out
    return groups[indices.to_numpy()]


_CACHE_LIMIT = 1 << 20
_cache: dict[int, dict[Any, int]] = {}


def _cached_key_groups(distinct: list[Any], max_parallelism: int) -> list[int]:
    """Key groups of distinct keys, remembering them: a stream's hot keys recur in every batch.

    Bounded: the cache starts over when it exceeds about a million keys. Keys
    that are not hashable in Python (lists) are computed each time.
    """
    cache = _cache.get(max_parallelism)
    if cache is None or len(cache) > _CACHE_LIMIT:
        cache = _cache[max_parallelism] = {}
    out = []
    append = out.append
    get = cache.get
    for k in distinct:
        try:
            g = get(k)
        except TypeError:
            append(key_group_for_key(k, max_parallelism))
            continue
        if g is None:
            g = cache[k] = key_group_for_key(k, max_parallelism)
        append(g)
    return out


def channels_for_key_groups(key_groups: np.ndarray, parallelism: int, max_parallelism: int) -> np.ndarray:
    return key_groups * parallelism // max_parallelism
