"""Operator (non-keyed) state: list state, union list state and broadcast state, with Flink's redistribution.

    backend = OperatorStateBackend("source (1/2)")
    offsets = backend.get_list_state(RuntimeStateDescriptor("offsets", StateKind.LIST))
    offsets.update([("split-0", 1200)])
    blob = backend.snapshot()
    # after rescaling to 3, new subtask 1 restores from every old subtask's blob:
    OperatorStateBackend().restore([blob_0, blob_1], subtask_index=1, parallelism=3)

How a state is redistributed when the operator is restored (Flink's
OperatorStateHandle.Mode):

- ``SPLIT_DISTRIBUTE`` (``get_list_state``): the old subtasks' lists are
  concatenated in subtask order and cut into ``parallelism`` contiguous,
  even parts (the first ``n % parallelism`` one element longer). At an
  unchanged parallelism each subtask gets its own list back.
- ``UNION`` (``get_union_list_state``): every subtask gets the concatenation.
- ``BROADCAST`` (``get_broadcast_state``): every subtask holds the same map;
  new subtask ``i`` gets old subtask ``i % old_parallelism``'s copy.

Owned by the subtask's task thread, like keyed state.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cloudpickle

from strom.taskmanager.state.descriptor import StateKind, StateSpec, kind_of
from strom.taskmanager.state.errors import IncompatibleStateError, StateRestoreError

MAGIC = b"STOP"
VERSION = 1
_PREFIX = struct.Struct("<4sB")


class OperatorStateMode(StrEnum):
    SPLIT_DISTRIBUTE = "SPLIT_DISTRIBUTE"
    UNION = "UNION"
    BROADCAST = "BROADCAST"


class PartitionableListState:
    """A list held by one subtask: ``get()`` (a copy), ``add``, ``add_all``, ``update``, ``clear``."""

    __slots__ = ("name", "mode", "_items")

    def __init__(self, name: str, mode: OperatorStateMode, items: list[Any] | None = None) -> None:
        self.name = name
        self.mode = mode
        self._items: list[Any] = items if items is not None else []

    def get(self) -> list[Any]:
        return list(self._items)

    def add(self, value: Any) -> None:
        self._items.append(value)

    def add_all(self, values: Iterable[Any]) -> None:
        self._items.extend(values)

    def update(self, values: Iterable[Any] | None) -> None:
        self._items = list(values) if values is not None else []

    def clear(self) -> None:
        self._items = []

    def __repr__(self) -> str:
        return f"PartitionableListState({self.name!r}, {self.mode}, {len(self._items)} items)"


class HeapBroadcastState:
    """A map every subtask holds the same copy of: MapState's methods."""

    __slots__ = ("name", "_entries")

    def __init__(self, name: str, entries: dict[Any, Any] | None = None) -> None:
        self.name = name
        self._entries: dict[Any, Any] = entries if entries is not None else {}

    def get(self, key: Any) -> Any:
        return self._entries.get(key)

    def put(self, key: Any, value: Any) -> None:
        self._entries[key] = value

    def put_all(self, entries: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> None:
        self._entries.update(entries)

    def remove(self, key: Any) -> None:
        self._entries.pop(key, None)

    def contains(self, key: Any) -> bool:
        return key in self._entries

    def keys(self) -> list[Any]:
        return list(self._entries)

    def values(self) -> list[Any]:
        return list(self._entries.values())

    def items(self) -> list[tuple[Any, Any]]:
        return list(self._entries.items())

    def is_empty(self) -> bool:
        return not self._entries

    def clear(self) -> None:
        self._entries.clear()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __contains__(self, key: Any) -> bool:
        return key in self._entries


@dataclass(frozen=True)
class OperatorStateSnapshot:
    """One subtask's operator state: name -> (mode, list items or broadcast map)."""

    states: dict[str, tuple[OperatorStateMode, Any]] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        body = {name: (mode.value, items) for name, (mode, items) in self.states.items()}
        return _PREFIX.pack(MAGIC, VERSION) + bytes(cloudpickle.dumps(body))

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> OperatorStateSnapshot:
        view = memoryview(data)
        if len(view) < _PREFIX.size or bytes(view[:4]) != MAGIC:
            raise StateRestoreError("not an operator-state snapshot (bad magic)")
        (_, version) = _PREFIX.unpack_from(view)
        if version != VERSION:
            raise StateRestoreError(
                f"operator-state snapshot has format version {version}; this Strom reads version {VERSION}")
        try:
            body = cloudpickle.loads(view[_PREFIX.size:])
            return cls({name: (OperatorStateMode(mode), items) for name, (mode, items) in body.items()})
        except Exception as e:
            raise StateRestoreError(f"operator-state snapshot cannot be read: {e!r}") from e


def split_evenly(items: Sequence[Any], parts: int) -> list[list[Any]]:
    """``items`` cut into ``parts`` contiguous pieces whose sizes differ by at most one (longer first)."""
    size, extra = divmod(len(items), parts)
    out, start = [], 0
    for i in range(parts):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return out


def assign_operator_state(snapshots: Sequence[OperatorStateSnapshot], subtask_index: int,
                          parallelism: int) -> OperatorStateSnapshot:
    """What new subtask ``subtask_index`` of ``parallelism`` gets from the old subtasks' snapshots."""
    if not 0 <= subtask_index < parallelism:
        raise StateRestoreError(f"subtask index {subtask_index} is outside parallelism {parallelism}")
    modes: dict[str, OperatorStateMode] = {}
    for snap in snapshots:
        for name, (mode, _) in snap.states.items():
            if modes.setdefault(name, mode) is not mode:
                raise StateRestoreError(
                    f"operator state '{name}' was snapshotted as {modes[name]} by one subtask and as {mode} "
                    f"by another")
    mine: dict[str, tuple[OperatorStateMode, Any]] = {}
    for name, mode in modes.items():
        if mode is OperatorStateMode.BROADCAST:
            holders = [s.states[name][1] for s in snapshots if name in s.states]
            mine[name] = (mode, dict(holders[subtask_index % len(holders)]))
        elif mode is OperatorStateMode.SPLIT_DISTRIBUTE and len(snapshots) == parallelism:
            own = snapshots[subtask_index].states.get(name)
            mine[name] = (mode, list(own[1]) if own is not None else [])
        else:
            everything = [x for s in snapshots if name in s.states for x in s.states[name][1]]
            if mode is OperatorStateMode.SPLIT_DISTRIBUTE:
                everything = split_evenly(everything, parallelism)[subtask_index]
            mine[name] = (mode, everything)
    return OperatorStateSnapshot(mine)


class OperatorStateBackend:
    """A subtask's operator state: named lists and broadcast maps, snapshotted together."""

    def __init__(self, owner: str = "operator state backend") -> None:
        self._owner = owner
        self._lists: dict[str, PartitionableListState] = {}
        self._broadcast: dict[str, HeapBroadcastState] = {}

    def get_list_state(self, descriptor: StateSpec) -> PartitionableListState:
        """List state redistributed by splitting (each element goes to exactly one new subtask)."""
        return self._list(descriptor, OperatorStateMode.SPLIT_DISTRIBUTE)

    def get_union_list_state(self, descriptor: StateSpec) -> PartitionableListState:
        """List state every new subtask restores completely (the union of all old subtasks' lists)."""
        return self._list(descriptor, OperatorStateMode.UNION)

    def get_broadcast_state(self, descriptor: StateSpec) -> HeapBroadcastState:
        """Map state with the same contents on every subtask (the broadcast state pattern)."""
        self._check(descriptor, StateKind.MAP, "get_broadcast_state", "map")
        name = descriptor.name
        if name in self._lists:
            raise IncompatibleStateError(
                f"{self._owner}: operator state '{name}' is {self._lists[name].mode} list state, not broadcast state")
        state = self._broadcast.get(name)
        if state is None:
            state = self._broadcast[name] = HeapBroadcastState(name)
        return state

    def _list(self, descriptor: StateSpec, mode: OperatorStateMode) -> PartitionableListState:
        method = "get_list_state" if mode is OperatorStateMode.SPLIT_DISTRIBUTE else "get_union_list_state"
        self._check(descriptor, StateKind.LIST, method, "list")
        name = descriptor.name
        if name in self._broadcast:
            raise IncompatibleStateError(
                f"{self._owner}: operator state '{name}' is broadcast state, not list state")
        state = self._lists.get(name)
        if state is None:
            state = self._lists[name] = PartitionableListState(name, mode)
        elif state.mode is not mode:
            raise IncompatibleStateError(
                f"{self._owner}: operator state '{name}' is {state.mode} list state but {method} asks for "
                f"{mode}: a state name keeps its redistribution mode (across restores too)")
        return state

    def _check(self, descriptor: StateSpec, kind: StateKind, method: str, wanted: str) -> None:
        if kind_of(descriptor) is not kind:
            raise IncompatibleStateError(
                f"{self._owner}: {method} needs a {wanted} state descriptor, got {descriptor.state_kind} "
                f"state '{descriptor.name}'")
        if descriptor.ttl_config is not None:
            raise IncompatibleStateError(
                f"{self._owner}: operator state '{descriptor.name}' has TTL configured; "
                f"TTL applies to keyed state only")

    def registered_state_names(self) -> list[str]:
        return [*self._lists, *self._broadcast]

    def snapshot(self) -> bytes:
        return self.snapshot_states().to_bytes()

    def snapshot_states(self) -> OperatorStateSnapshot:
        states: dict[str, tuple[OperatorStateMode, Any]] = {
            name: (s.mode, s.get()) for name, s in self._lists.items()}
        states.update((name, (OperatorStateMode.BROADCAST, dict(s._entries)))
                      for name, s in self._broadcast.items())
        return OperatorStateSnapshot(states)

    def restore(self, snapshots: Sequence[bytes | memoryview | OperatorStateSnapshot], subtask_index: int,
                parallelism: int) -> None:
        """Take this subtask's share of the old subtasks' snapshots (in old subtask order).

        Replaces the contents of states of the same name (objects already handed out
        see the restored contents); call it before the operator runs.
        """
        parsed = [s if isinstance(s, OperatorStateSnapshot) else OperatorStateSnapshot.from_bytes(s)
                  for s in snapshots]
        for name, (mode, items) in assign_operator_state(parsed, subtask_index, parallelism).states.items():
            current_mode = (self._lists[name].mode if name in self._lists
                            else OperatorStateMode.BROADCAST if name in self._broadcast else mode)
            if current_mode is not mode:
                raise IncompatibleStateError(
                    f"{self._owner}: operator state '{name}' is registered as {current_mode} but the "
                    f"snapshot holds it as {mode}")
            if mode is OperatorStateMode.BROADCAST:
                if name in self._broadcast:
                    self._broadcast[name]._entries = items
                else:
                    self._broadcast[name] = HeapBroadcastState(name, items)
            elif name in self._lists:
                self._lists[name]._items = items
            else:
                self._lists[name] = PartitionableListState(name, mode, items)

    def dispose(self) -> None:
        self._lists.clear()
        self._broadcast.clear()
