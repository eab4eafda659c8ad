"""Where keyed state lives: one StateTable per state name, partitioned by key group.

Layout (Flink's StateTable, one map per key group)::

    table.maps[key_group - range.start][namespace][key] -> stored value

so a snapshot or restore of a key-group range touches only those groups'
maps, and a window (a namespace) finds its keys without scanning others.
Empty namespace maps are removed, so ``maps[i]`` is empty iff the key group
holds nothing for this state.

``KeyContext`` is the backend's current key; every state object reads it on
each access. Both are owned by the subtask's task thread; nothing here locks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from strom.taskmanager.state.descriptor import AggregateFunctionLike, StateKind, StateSpec
from strom.taskmanager.state.errors import StateAccessError

if TYPE_CHECKING:
    from strom.taskmanager.state.ttl import TtlPolicy


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()
"""Marks an absent entry (None is a legal stored value)."""


class KeyContext:
    """The current key of a keyed backend: its key group and the index of that group in the range."""

    __slots__ = ("key", "key_group", "index", "clock")

    def __init__(self, clock: Callable[[], int]) -> None:
        self.key: Any = None
        self.key_group = -1
        self.index = -1  # key_group - range.start; -1: no current key
        self.clock = clock

    def unset(self) -> None:
        self.key, self.key_group, self.index = None, -1, -1


def outside_keyed_context(state_name: str) -> StateAccessError:
    return StateAccessError(
        f"state '{state_name}' accessed outside a keyed context: keyed state exists per key, so it can "
        f"only be used on a keyed stream (after key_by) while processing an element or firing a timer, "
        f"not in open()/close() or on a non-keyed stream (use operator state there)")


class StateTable:
    """All entries of one state name in this backend, with the functions its descriptor brought.

    A table restored from a snapshot exists before its descriptor is registered
    (``spec`` is None, ``ttl_enabled`` comes from the snapshot); registering binds it.
    """

    __slots__ = ("name", "kind", "ttl_enabled", "maps", "spec", "ttl", "reduce", "aggregate", "state_class")

    def __init__(self, name: str, kind: StateKind, ttl_enabled: bool, num_key_groups: int) -> None:
        self.name = name
        self.kind = kind
        self.ttl_enabled = ttl_enabled
        self.maps: list[dict[Any, dict[Any, Any]]] = [{} for _ in range(num_key_groups)]
        self.spec: StateSpec | None = None
        self.ttl: TtlPolicy | None = None
        self.reduce: Callable[[Any, Any], Any] | None = None
        self.aggregate: AggregateFunctionLike | None = None
        self.state_class: type | None = None

    def is_empty(self) -> bool:
        return not any(self.maps)

    def num_entries(self) -> int:
        return sum(len(ns_map) for m in self.maps for ns_map in m.values())
