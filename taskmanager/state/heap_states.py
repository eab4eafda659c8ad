"""The in-memory keyed states: Value, List, Map, Reducing and Aggregating state without TTL.

A state object is a view: it holds its table and a namespace, and on every
call reads the backend's current key from the shared ``KeyContext``. So an
object obtained once in ``open()`` follows the key as records arrive, and a
window operator may keep one object and move it between windows with
``set_current_namespace``. Values are stored by reference (as in Flink's heap
backend): a value mutated after ``update`` is mutated in state too.

Owned by the subtask's task thread: state objects must not be used from others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from strom.taskmanager.state.table import MISSING, KeyContext, StateTable, outside_keyed_context


class KeyedStateBase:
    """Raw access to the entry of (current key, namespace) in one table."""

    __slots__ = ("_ctx", "_table", "_namespace")

    def __init__(self, ctx: KeyContext, table: StateTable, namespace: Any) -> None:
        self._ctx = ctx
        self._table = table
        self._namespace = namespace

    @property
    def name(self) -> str:
        return self._table.name

    @property
    def namespace(self) -> Any:
        return self._namespace

    def set_current_namespace(self, namespace: Any) -> None:
        """Point this object at another namespace (window) of the same state."""
        self._namespace = namespace

    def clear(self) -> None:
        """Remove the current key's entry in this namespace."""
        self._remove_raw()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._table.name!r}, namespace={self._namespace!r})"

    def _group(self) -> dict[Any, dict[Any, Any]]:
        index = self._ctx.index
        if index < 0:
            raise outside_keyed_context(self._table.name)
        return self._table.maps[index]

    def _get_raw(self) -> Any:
        ns_map = self._group().get(self._namespace)
        return MISSING if ns_map is None else ns_map.get(self._ctx.key, MISSING)

    def _put_raw(self, stored: Any) -> None:
        group = self._group()
        ns_map = group.get(self._namespace)
        if ns_map is None:
            group[self._namespace] = {self._ctx.key: stored}
        else:
            ns_map[self._ctx.key] = stored

    def _remove_raw(self) -> None:
        group = self._group()
        ns_map = group.get(self._namespace)
        if ns_map is not None and ns_map.pop(self._ctx.key, MISSING) is not MISSING and not ns_map:
            del group[self._namespace]


class MergingStateBase(KeyedStateBase):
    """State whose namespaces can be merged into one (Flink's InternalMergingState, for session windows)."""

    __slots__ = ()

    def merge_namespaces(self, target: Any, sources: Iterable[Any]) -> None:
        """Merge the current key's entries in ``sources`` into ``target``, removing them from the sources.

        Target contents come first, then the sources' in order (list state).
        """
        group = self._group()
        key = self._ctx.key
        merged: Any = MISSING
        for source in sources:
            if source == target:
                continue
            ns_map = group.get(source)
            if ns_map is None:
                continue
            stored = ns_map.pop(key, MISSING)
            if not ns_map:
                del group[source]
            if stored is not MISSING:
                merged = self._merge_stored(merged, stored)
        if merged is MISSING:
            return
        ns_map = group.get(target)
        if ns_map is None:
            group[target] = {key: merged}
            return
        current = ns_map.get(key, MISSING)
        if current is not MISSING:
            merged = self._merge_stored(current, merged)
        if merged is MISSING:
            ns_map.pop(key, None)
            if not ns_map:
                del group[target]
        else:
            ns_map[key] = merged

    def _merge_stored(self, first: Any, second: Any) -> Any:
        """Combine two stored values (``first`` may be MISSING); MISSING if nothing remains."""
        raise NotImplementedError


class HeapValueState(KeyedStateBase):
    """``value()``, ``update(v)``, ``clear()``; ``update(None)`` clears, as in Flink."""

    __slots__ = ()

    def value(self) -> Any:
        stored = self._get_raw()
        return None if stored is MISSING else stored

    def update(self, value: Any) -> None:
        if value is None:
            self._remove_raw()
        else:
            self._put_raw(value)


class HeapListState(MergingStateBase):
    """``get()`` (a copy), ``add``, ``add_all``, ``update(values)``, ``clear()``."""

    __slots__ = ()

    def get(self) -> list[Any]:
        stored = self._get_raw()
        return [] if stored is MISSING else list(stored)

    def add(self, value: Any) -> None:
        stored = self._get_raw()
        if stored is MISSING:
            self._put_raw([value])
        else:
            stored.append(value)

    def add_all(self, values: Iterable[Any]) -> None:
        values = list(values)
        if not values:
            return
        stored = self._get_raw()
        if stored is MISSING:
            self._put_raw(values)
        else:
            stored.extend(values)

    def update(self, values: Iterable[Any] | None) -> None:
        values = list(values) if values is not None else []
        if values:
            self._put_raw(values)
        else:
            self._remove_raw()

    def _merge_stored(self, first: Any, second: Any) -> Any:
        if first is MISSING:
            return second
        first.extend(second)
        return first


class HeapMapState(KeyedStateBase):
    """A dict per key: ``get``, ``put``, ``put_all``, ``remove``, ``contains``, ``keys``, ``values``,
    ``items`` (lists, safe to iterate while modifying the state), ``is_empty``, ``clear``."""

    __slots__ = ()

    def get(self, key: Any) -> Any:
        stored = self._get_raw()
        return None if stored is MISSING else stored.get(key)

    def put(self, key: Any, value: Any) -> None:
        stored = self._get_raw()
        if stored is MISSING:
            self._put_raw({key: value})
        else:
            stored[key] = value

    def put_all(self, entries: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> None:
        new = dict(entries)
        if not new:
            return
        stored = self._get_raw()
        if stored is MISSING:
            self._put_raw(new)
        else:
            stored.update(new)

    def remove(self, key: Any) -> None:
        stored = self._get_raw()
        if stored is not MISSING and stored.pop(key, MISSING) is not MISSING and not stored:
            self._remove_raw()

    def contains(self, key: Any) -> bool:
        stored = self._get_raw()
        return stored is not MISSING and key in stored

    def keys(self) -> list[Any]:
        stored = self._get_raw()
        return [] if stored is MISSING else list(stored)

    def values(self) -> list[Any]:
        stored = self._get_raw()
        return [] if stored is MISSING else list(stored.values())

    def items(self) -> list[tuple[Any, Any]]:
        stored = self._get_raw()
        return [] if stored is MISSING else list(stored.items())

    def is_empty(self) -> bool:
        return self._get_raw() is MISSING

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __contains__(self, key: Any) -> bool:
        return self.contains(key)


class HeapReducingState(MergingStateBase):
    """``add(v)`` folds ``v`` into the stored value with the reduce function; ``get()`` returns it."""

    __slots__ = ("_reduce",)

    def __init__(self, ctx: KeyContext, table: StateTable, namespace: Any) -> None:
        super().__init__(ctx, table, namespace)
        assert table.reduce is not None, "reducing state bound without a reduce function"
        self._reduce = table.reduce

    def get(self) -> Any:
        stored = self._get_raw()
        return None if stored is MISSING else stored

    def add(self, value: Any) -> None:
        stored = self._get_raw()
        self._put_raw(value if stored is MISSING else self._reduce(stored, value))

    def _merge_stored(self, first: Any, second: Any) -> Any:
        return second if first is MISSING else self._reduce(first, second)


class HeapAggregatingState(MergingStateBase):
    """Stores an accumulator: ``add(v)`` = ``agg.add(v, acc)``, ``get()`` = ``agg.get_result(acc)``."""

    __slots__ = ("_agg",)

    def __init__(self, ctx: KeyContext, table: StateTable, namespace: Any) -> None:
        super().__init__(ctx, table, namespace)
        assert table.aggregate is not None, "aggregating state bound without an AggregateFunction"
        self._agg = table.aggregate

    def get(self) -> Any:
        stored = self._get_raw()
        return None if stored is MISSING else self._agg.get_result(stored)

    def add(self, value: Any) -> None:
        stored = self._get_raw()
        acc = self._agg.create_accumulator() if stored is MISSING else stored
        self._put_raw(self._agg.add(value, acc))

    def _merge_stored(self, first: Any, second: Any) -> Any:
        return second if first is MISSING else self._agg.merge(first, second)
