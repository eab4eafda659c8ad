"""The ``hashmap`` keyed state backend: all keyed state in Python dicts, partitioned by key group.

    backend = HashMapKeyedStateBackend.for_subtask(0, parallelism=2, max_parallelism=128)
    count = backend.get_state(RuntimeStateDescriptor("count", StateKind.VALUE))
    backend.set_current_key("alice")
    count.update((count.value() or 0) + 1)
    blob = backend.snapshot()          # per key group; restorable at another parallelism

Flink's HeapKeyedStateBackend in spirit: a ``StateTable`` per state name with
one dict per owned key group, a current key (and its key group, computed with
``strom.common.keygroups`` and cached) that every state object follows, TTL
via an injected millisecond clock, namespace merging for session windows, and
snapshots that a backend of any other parallelism restores by key group.

Owned by the subtask's task thread: every method and every state object it
hands out must be used on that thread only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from strom.common.keygroups import (
    DEFAULT_MAX_PARALLELISM,
    key_group_for_key,
    key_group_range,
    key_groups_of_array,
)
from strom.taskmanager.state.descriptor import (
    VOID_NAMESPACE,
    StateKind,
    StateSpec,
    aggregate_function_of,
    kind_of,
    reducer_of,
)
from strom.taskmanager.state.errors import (
    IncompatibleStateError,
    KeyGroupOutOfRangeError,
    StateAccessError,
    StateRestoreError,
)
from strom.taskmanager.state.heap_states import (
    HeapAggregatingState,
    HeapListState,
    HeapMapState,
    HeapReducingState,
    HeapValueState,
    KeyedStateBase,
    MergingStateBase,
)
from strom.taskmanager.state.snapshot import KeyGroupsStateSnapshot, StateMetaInfo, encode_key_group
from strom.taskmanager.state.table import MISSING, KeyContext, StateTable
from strom.taskmanager.state.ttl import TtlPolicy, has_live, purge
from strom.taskmanager.state.ttl_states import (
    TtlAggregatingState,
    TtlListState,
    TtlMapState,
    TtlReducingState,
    TtlValueState,
)

_STATE_CLASSES: dict[tuple[StateKind, bool], type[KeyedStateBase]] = {
    (StateKind.VALUE, False): HeapValueState,
    (StateKind.LIST, False): HeapListState,
    (StateKind.MAP, False): HeapMapState,
    (StateKind.REDUCING, False): HeapReducingState,
    (StateKind.AGGREGATING, False): HeapAggregatingState,
    (StateKind.VALUE, True): TtlValueState,
    (StateKind.LIST, True): TtlListState,
    (StateKind.MAP, True): TtlMapState,
    (StateKind.REDUCING, True): TtlReducingState,
    (StateKind.AGGREGATING, True): TtlAggregatingState,
}

_KEY_CACHE_LIMIT = 1 << 16
# Types whose equal values always have equal stable hashes (1 == 1.0 == True hash alike), so the key-group
# cache may be keyed by value; other types (numpy scalars equal to ints, Decimals) are hashed every time.
_CACHEABLE_KEY_TYPES = frozenset({str, int, float, bytes, tuple, bool})


def wall_clock_ms() -> int:
    """Processing time in milliseconds: the default TTL clock."""
    return time.time_ns() // 1_000_000


class SubtaskInfo(Protocol):
    """What ``from_context`` reads of an ``OperatorContext``."""

    subtask_index: int
    parallelism: int
    max_parallelism: int

    @property
    def task_name_with_subtask(self) -> str: ...


class HashMapKeyedStateBackend:
    """In-memory keyed state of the key groups ``key_group_range`` (of ``max_parallelism``)."""

    def __init__(self, key_group_range: range, max_parallelism: int = DEFAULT_MAX_PARALLELISM, *,
                 clock: Callable[[], int] = wall_clock_ms, owner: str = "keyed state backend") -> None:
        if max_parallelism <= 0:
            raise ValueError(f"max_parallelism must be positive, got {max_parallelism}")
        if key_group_range.step != 1 or not 0 <= key_group_range.start <= key_group_range.stop <= max_parallelism:
            raise ValueError(f"key group range {key_group_range} is not a contiguous part of "
                             f"[0, {max_parallelism})")
        self._range = key_group_range
        self._max_parallelism = max_parallelism
        self._owner = owner
        self._ctx = KeyContext(clock)
        self._tables: dict[str, StateTable] = {}
        self._void_states: dict[str, KeyedStateBase] = {}
        self._key_groups: dict[Any, int] = {}

    @classmethod
    def for_subtask(cls, subtask_index: int, parallelism: int,
                    max_parallelism: int = DEFAULT_MAX_PARALLELISM, *, clock: Callable[[], int] = wall_clock_ms,
                    owner: str | None = None) -> HashMapKeyedStateBackend:
        """The backend of subtask ``subtask_index`` of ``parallelism``: Flink's key-group assignment."""
        return cls(key_group_range(subtask_index, parallelism, max_parallelism), max_parallelism, clock=clock,
                   owner=owner or f"subtask {subtask_index + 1}/{parallelism}")

    @classmethod
    def from_context(cls, ctx: SubtaskInfo, *, clock: Callable[[], int] = wall_clock_ms
                     ) -> HashMapKeyedStateBackend:
        """The backend of the operator described by an ``OperatorContext``."""
        return cls.for_subtask(ctx.subtask_index, ctx.parallelism, ctx.max_parallelism, clock=clock,
                               owner=ctx.task_name_with_subtask)

    # -- the current key ---------------------------------------------------------------------------

    @property
    def key_group_range(self) -> range:
        return self._range

    @property
    def max_parallelism(self) -> int:
        return self._max_parallelism

    @property
    def has_current_key(self) -> bool:
        return self._ctx.index >= 0

    @property
    def current_key(self) -> Any:
        if self._ctx.index < 0:
            raise StateAccessError(f"{self._owner}: there is no current key (not in a keyed context)")
        return self._ctx.key

    @property
    def current_key_group(self) -> int | None:
        return self._ctx.key_group if self._ctx.index >= 0 else None

    def set_current_key(self, key: Any, key_group: int | None = None) -> None:
        """Make ``key`` current for every state object of this backend.

        ``key_group`` skips hashing when the caller already knows it (keyed
        exchanges compute it per batch); otherwise it is computed and cached.
        """
        if key_group is None:
            if type(key) in _CACHEABLE_KEY_TYPES:
                cache = self._key_groups
                try:
                    key_group = cache.get(key)
                except TypeError:  # a tuple holding a list
                    raise self._unhashable(key) from None
                if key_group is None:
                    key_group = key_group_for_key(key, self._max_parallelism)
                    if len(cache) >= _KEY_CACHE_LIMIT:
                        cache.clear()
                    cache[key] = key_group
            else:
                try:
                    hash(key)
                except TypeError:
                    raise self._unhashable(key) from None
                key_group = key_group_for_key(key, self._max_parallelism)
        index = key_group - self._range.start
        if not 0 <= index < len(self._range):
            self._ctx.unset()
            raise KeyGroupOutOfRangeError(
                f"{self._owner}: key {key!r} is in key group {key_group} of {self._max_parallelism}, but this "
                f"subtask owns key groups {self._range.start}..{self._range.stop - 1}: the record did not "
                f"arrive through a key_by on this key (keyed state needs the stream partitioned by the same "
                f"key, and the key must not change inside a keyed function)")
        ctx = self._ctx
        ctx.key, ctx.key_group, ctx.index = key, key_group, index

    def _unhashable(self, key: Any) -> StateAccessError:
        return StateAccessError(
            f"{self._owner}: key {key!r} of type {type(key).__name__} is not hashable; a key selector "
            f"must return a hashable value (e.g. a tuple instead of a list)")

    def clear_current_key(self) -> None:
        """Leave the keyed context: state access raises until the next ``set_current_key``."""
        self._ctx.unset()

    # -- state objects -----------------------------------------------------------------------------

    def get_state(self, descriptor: StateSpec) -> Any:
        """The state of ``descriptor`` in the void namespace; the same object on every call."""
        table = self._table_for(descriptor)
        state = self._void_states.get(table.name)
        if state is None:
            state = self._void_states[table.name] = self._new_state(table, VOID_NAMESPACE)
        return state

    def get_partitioned_state(self, namespace: Any, descriptor: StateSpec) -> Any:
        """A new state object for ``descriptor`` in ``namespace`` (e.g. a window), following the current key."""
        table = self._table_for(descriptor)
        try:
            hash(namespace)
        except TypeError:
            raise StateAccessError(f"state '{table.name}': namespace {namespace!r} is not hashable") from None
        return self._new_state(table, namespace)

    def merge_namespaces(self, target: Any, sources: Iterable[Any], descriptor: StateSpec) -> None:
        """Merge the current key's state in ``sources`` into ``target`` (session windows merging).

        List state concatenates (target first), reducing state reduces, aggregating
        state merges accumulators; the sources are cleared.
        """
        table = self._table_for(descriptor)
        if not table.kind.is_merging:
            raise IncompatibleStateError(
                f"state '{table.name}' is {table.kind} state, which cannot merge namespaces; only list, "
                f"reducing and aggregating state can (merging windows keep their contents in those)")
        state = self._new_state(table, target)
        assert isinstance(state, MergingStateBase)
        state.merge_namespaces(target, list(sources))

    def _new_state(self, table: StateTable, namespace: Any) -> KeyedStateBase:
        assert table.state_class is not None
        state: KeyedStateBase = table.state_class(self._ctx, table, namespace)
        return state

    def _table_for(self, descriptor: StateSpec) -> StateTable:
        table = self._tables.get(descriptor.name)
        if table is not None and (table.spec is descriptor or table.spec == descriptor):
            return table
        return self._register(descriptor)

    def _register(self, descriptor: StateSpec) -> StateTable:
        name = descriptor.name
        kind = kind_of(descriptor)
        policy = TtlPolicy.from_spec(name, descriptor.ttl_config)
        table = self._tables.get(name)
        if table is None:
            table = self._tables[name] = StateTable(name, kind, policy is not None, len(self._range))
        elif table.kind is not kind:
            raise IncompatibleStateError(
                f"state '{name}' holds {table.kind} state but is now requested as {kind} state; "
                f"a state name keeps its kind (across restores too): use another name")
        elif table.ttl_enabled != (policy is not None):
            if not table.is_empty():
                had, wants = ("with", "without") if table.ttl_enabled else ("without", "with")
                raise IncompatibleStateError(
                    f"state '{name}' holds entries written {had} TTL but is now requested {wants} TTL; "
                    f"enabling or disabling TTL on existing state is not supported: use another state name")
            table.ttl_enabled = policy is not None
        self._void_states.pop(name, None)  # cached objects captured the old functions
        table.spec = descriptor
        table.ttl = policy
        table.reduce = reducer_of(descriptor) if kind is StateKind.REDUCING else None
        table.aggregate = aggregate_function_of(descriptor) if kind is StateKind.AGGREGATING else None
        table.state_class = _STATE_CLASSES[kind, policy is not None]
        return table

    # -- inspection and bulk operations --------------------------------------------------------------

    def bulk_maps(self, descriptor: StateSpec) -> list[dict[Any, dict[Any, Any]]]:
        """Direct access for operators that update many keys per batch without a state object per
        record: ``maps[key_group - key_group_range.start][namespace][key]`` is the stored value
        (TTL-stamped for states with TTL). Writes must keep that layout; the backend snapshots,
        restores and counts what is there like any other entry."""
        return self._table_for(descriptor).maps

    def key_group_indices(self, keys: Any) -> np.ndarray:
        """``key_group - key_group_range.start`` of every key (an Arrow array or a sequence),
        vectorized; raises when a key belongs to another subtask."""
        groups = key_groups_of_array(keys, self._max_parallelism)
        index = groups - self._range.start
        if len(index) and (index.min() < 0 or index.max() >= len(self._range)):
            bad = int(np.flatnonzero((index < 0) | (index >= len(self._range)))[0])
            key = keys[bad].as_py() if isinstance(keys, pa.Array) else keys[bad]
            self.set_current_key(key)   # raises KeyGroupOutOfRangeError with the full explanation
        return index

    def registered_state_names(self) -> list[str]:
        """Names of all states, registered or restored."""
        return list(self._tables)

    def get_keys(self, state_name: str, namespace: Any = VOID_NAMESPACE) -> list[Any]:
        """The keys holding state ``state_name`` in ``namespace`` (expired TTL entries hidden)."""
        table = self._tables.get(state_name)
        if table is None:
            return []
        policy = table.ttl if table.ttl is not None and not table.ttl.return_expired else None
        now = self._ctx.clock() if policy is not None else 0
        keys: list[Any] = []
        for group in table.maps:
            ns_map = group.get(namespace)
            if not ns_map:
                continue
            if policy is None:
                keys.extend(ns_map)
            else:
                keys.extend(k for k, stored in ns_map.items() if has_live(table.kind, stored, policy, now))
        return keys

    def apply_to_all_keys(self, namespace: Any, descriptor: StateSpec,
                          function: Callable[[Any, Any], None]) -> None:
        """Call ``function(key, state)`` for every key with state in ``namespace``, that key being current.

        ``function`` may clear or update the state. The current key is restored afterwards.
        """
        table = self._table_for(descriptor)
        state = self._new_state(table, namespace)
        ctx = self._ctx
        saved = ctx.key, ctx.key_group, ctx.index
        try:
            for index, group in enumerate(table.maps):
                ns_map = group.get(namespace)
                if not ns_map:
                    continue
                for key in list(ns_map):
                    ctx.key, ctx.key_group, ctx.index = key, self._range.start + index, index
                    function(key, state)
        finally:
            ctx.key, ctx.key_group, ctx.index = saved

    def num_keys(self, state_name: str | None = None) -> int:
        """Distinct keys holding any state (or state ``state_name``), in any namespace."""
        if state_name is None:
            tables = list(self._tables.values())
        else:
            tables = [self._tables[state_name]] if state_name in self._tables else []
        keys: set[Any] = set()
        for table in tables:
            for group in table.maps:
                for ns_map in group.values():
                    keys.update(ns_map)
        return len(keys)

    def num_entries(self) -> int:
        """(state, namespace, key) entries held, expired TTL entries included until cleaned."""
        return sum(table.num_entries() for table in self._tables.values())

    def cleanup_expired(self) -> int:
        """Remove every expired TTL entry (list elements and map entries too); returns how many
        (state, namespace, key) entries vanished completely."""
        now = self._ctx.clock()
        removed = 0
        for table in self._tables.values():
            policy = table.ttl
            if policy is None:
                continue
            for group in table.maps:
                for namespace, ns_map in list(group.items()):
                    for key, stored in list(ns_map.items()):
                        live = purge(table.kind, stored, policy, now)
                        if live is MISSING:
                            del ns_map[key]
                            removed += 1
                        elif live is not stored:
                            ns_map[key] = live
                    if not ns_map:
                        del group[namespace]
        return removed

    def dispose(self) -> None:
        """Drop all state (the operator closed for good)."""
        self._tables.clear()
        self._void_states.clear()
        self._key_groups.clear()
        self._ctx.unset()

    # -- snapshot and restore ----------------------------------------------------------------------

    def snapshot(self, key_group_range: range | None = None) -> bytes:
        """All state of ``key_group_range`` (default: every owned key group) as bytes, per key group.

        Synchronous: the bytes are a consistent cut at the call. TTL states configured with
        ``cleanup_full_snapshot`` leave their expired entries out.
        """
        return self.snapshot_key_groups(key_group_range).to_bytes()

    def snapshot_key_groups(self, key_group_range: range | None = None) -> KeyGroupsStateSnapshot:
        rng = self._owned_subrange(key_group_range, "snapshot")
        now = self._ctx.clock()
        meta = {name: StateMetaInfo(t.kind, t.ttl_enabled) for name, t in self._tables.items()}
        groups = []
        for key_group in rng:
            index = key_group - self._range.start
            contents: dict[str, dict[Any, dict[Any, Any]]] = {}
            for name, table in self._tables.items():
                group = table.maps[index]
                if not group:
                    continue
                if table.ttl is not None and table.ttl.cleanup_full_snapshot:
                    group = _purged_copy(table, group, table.ttl, now)
                    if not group:
                        continue
                contents[name] = group
            groups.append(encode_key_group(contents))
        return KeyGroupsStateSnapshot.build(self._max_parallelism, rng, meta, groups)

    def restore(self, snapshots: Iterable[bytes | memoryview | KeyGroupsStateSnapshot],
                my_key_group_range: range | None = None) -> None:
        """Load the key groups in ``my_key_group_range`` (default: all owned) from ``snapshots``.

        The snapshots may come from any old parallelism (one per old subtask);
        groups outside the range are skipped without being unpickled. Call it
        before processing: a restored key group replaces what the backend held
        for it. The max parallelism must be the one the snapshots were taken with.
        """
        rng = self._owned_subrange(my_key_group_range, "restore")
        restored: set[int] = set()
        for item in snapshots:
            snap = item if isinstance(item, KeyGroupsStateSnapshot) else KeyGroupsStateSnapshot.from_bytes(item)
            if snap.max_parallelism != self._max_parallelism:
                raise StateRestoreError(
                    f"{self._owner}: the snapshot was taken with max parallelism {snap.max_parallelism} but "
                    f"this operator runs with max parallelism {self._max_parallelism}; keys cannot be "
                    f"remapped between them: keep the max parallelism when rescaling")
            for name, meta in snap.states.items():
                self._restored_table(name, meta)
            lo, hi = max(rng.start, snap.key_groups.start), min(rng.stop, snap.key_groups.stop)
            for key_group in range(lo, hi):
                if key_group in restored:
                    raise StateRestoreError(
                        f"{self._owner}: key group {key_group} is in more than one of the snapshots to restore")
                restored.add(key_group)
                index = key_group - self._range.start
                for name, group in snap.read_key_group(key_group).items():
                    self._tables[name].maps[index] = group

    def _restored_table(self, name: str, meta: StateMetaInfo) -> None:
        table = self._tables.get(name)
        if table is None:
            self._tables[name] = StateTable(name, meta.kind, meta.ttl, len(self._range))
        elif table.kind is not meta.kind or table.ttl_enabled != meta.ttl:
            raise IncompatibleStateError(
                f"{self._owner}: state '{name}' is registered as {table.kind} state "
                f"{'with' if table.ttl_enabled else 'without'} TTL, but the snapshot holds {meta.kind} state "
                f"{'with' if meta.ttl else 'without'} TTL under that name")

    def _owned_subrange(self, rng: range | None, what: str) -> range:
        if rng is None:
            return self._range
        if rng.step != 1 or (len(rng) and not (self._range.start <= rng.start and rng.stop <= self._range.stop)):
            raise StateRestoreError(
                f"{self._owner}: cannot {what} key groups {rng.start}..{rng.stop - 1}: this backend owns "
                f"{self._range.start}..{self._range.stop - 1}")
        return rng

    def __repr__(self) -> str:
        return (f"HashMapKeyedStateBackend({self._owner!r}, key groups {self._range.start}.."
                f"{self._range.stop - 1} of {self._max_parallelism}, states {list(self._tables)})")


def _purged_copy(table: StateTable, group: dict[Any, dict[Any, Any]], policy: TtlPolicy,
                 now: int) -> dict[Any, dict[Any, Any]]:
    out: dict[Any, dict[Any, Any]] = {}
    for namespace, ns_map in group.items():
        live_map = {}
        for key, stored in ns_map.items():
            live = purge(table.kind, stored, policy, now)
            if live is not MISSING:
                live_map[key] = live
        if live_map:
            out[namespace] = live_map
    return out
