"""The keyed states with time-to-live: same API as ``heap_states``, values stored as ``TtlValue``.

Value, reducing and aggregating state carry one stamp per entry; list
elements and map entries one each (they expire independently). Reads check
the stamp against the backend's clock, remove what expired (lazy cleanup),
return it only under ``ReturnExpiredIfNotCleanedUp``, and restamp what they
return under ``OnReadAndWrite``. Writes always stamp. A reducing or
aggregating state whose value expired starts over from the next ``add``.

Owned by the subtask's task thread, like all keyed state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from strom.taskmanager.state.heap_states import KeyedStateBase, MergingStateBase
from strom.taskmanager.state.table import MISSING, KeyContext, StateTable
from strom.taskmanager.state.ttl import TtlPolicy, TtlValue


def _policy_of(table: StateTable) -> TtlPolicy:
    assert table.ttl is not None, f"state '{table.name}' bound as TTL state without a TTL policy"
    return table.ttl


def _read_single(state: KeyedStateBase, policy: TtlPolicy) -> tuple[bool, Any]:
    """(visible, value) of a single stamped entry, cleaning it up if expired."""
    stored = state._get_raw()
    if stored is MISSING:
        return False, None
    now = state._ctx.clock()
    if policy.is_expired(stored.timestamp, now):
        state._remove_raw()
        return policy.return_expired, stored.value
    if policy.update_on_read:
        state._put_raw(TtlValue(stored.value, now))
    return True, stored.value


class TtlValueState(KeyedStateBase):
    __slots__ = ("_policy",)

    def __init__(self, ctx: KeyContext, table: StateTable, namespace: Any) -> None:
        super().__init__(ctx, table, namespace)
        self._policy = _policy_of(table)

    def value(self) -> Any:
        visible, value = _read_single(self, self._policy)
        return value if visible else None

    def update(self, value: Any) -> None:
        if value is None:
            self._remove_raw()
        else:
            self._put_raw(TtlValue(value, self._ctx.clock()))


class TtlListState(MergingStateBase):
    __slots__ = ("_policy",)

    def __init__(self, ctx: KeyContext, table: StateTable, namespace: Any) -> None:
        super().__init__(ctx, table, namespace)
        self._policy = _policy_of(table)

    def get(self) -> list[Any]:
        stored = self._get_raw()
        if stored is MISSING:
            return []
        policy, now = self._policy, self._ctx.clock()
        live = [e for e in stored if not policy.is_expired(e.timestamp, now)]
        result = [e.value for e in (stored if policy.return_expired else live)]
        if policy.update_on_read:
            live = [TtlValue(e.value, now) for e in live]
        if policy.update_on_read or len(live) != len(stored):
            if live:
                self._put_raw(live)
            else:
                self._remove_raw()
        return result

    def add(self, value: Any) -> None:
        self.add_all((value,))

    def add_all(self, values: Iterable[Any]) -> None:
        now = self._ctx.clock()
        stamped = [TtlValue(v, now) for v in values]
        if not stamped:
            return
        stored = self._get_raw()
        if stored is MISSING:
            self._put_raw(stamped)
        else:
            stored.extend(stamped)

    def update(self, values: Iterable[Any] | None) -> None:
        now = self._ctx.clock()
        stamped = [TtlValue(v, now) for v in values] if values is not None else []
        if stamped:
            self._put_raw(stamped)
        else:
            self._remove_raw()

    def _merge_stored(self, first: Any, second: Any) -> Any:
        policy, now = self._policy, self._ctx.clock()
        head = [] if first is MISSING else first
        live = [e for part in (head, second) for e in part if not policy.is_expired(e.timestamp, now)]
        return live or MISSING


class TtlMapState(KeyedStateBase):
    __slots__ = ("_policy",)

    def __init__(self, ctx: KeyContext, table: StateTable, namespace: Any) -> None:
        super().__init__(ctx, table, namespace)
        self._policy = _policy_of(table)

    def _lookup(self, key: Any) -> tuple[bool, Any]:
        stored = self._get_raw()
        if stored is MISSING:
            return False, None
        entry = stored.get(key, MISSING)
        if entry is MISSING:
            return False, None
        policy, now = self._policy, self._ctx.clock()
        if policy.is_expired(entry.timestamp, now):
            del stored[key]
            if not stored:
                self._remove_raw()
            return policy.return_expired, entry.value
        if policy.update_on_read:
            stored[key] = TtlValue(entry.value, now)
        return True, entry.value

    def _entries(self) -> list[tuple[Any, Any]]:
        """Visible (key, value) pairs; removes expired entries, restamps live ones on OnReadAndWrite."""
        stored = self._get_raw()
        if stored is MISSING:
            return []
        policy, now = self._policy, self._ctx.clock()
        visible: list[tuple[Any, Any]] = []
        expired: list[Any] = []
        for key, entry in list(stored.items()):
            if policy.is_expired(entry.timestamp, now):
                expired.append(key)
                if policy.return_expired:
                    visible.append((key, entry.value))
            else:
                visible.append((key, entry.value))
                if policy.update_on_read:
                    stored[key] = TtlValue(entry.value, now)
        for key in expired:
            del stored[key]
        if expired and not stored:
            self._remove_raw()
        return visible

    def get(self, key: Any) -> Any:
        visible, value = self._lookup(key)
        return value if visible else None

    def contains(self, key: Any) -> bool:
        return self._lookup(key)[0]

    def put(self, key: Any, value: Any) -> None:
        self.put_all(((key, value),))

    def put_all(self, entries: Mapping[Any, Any] | Iterable[tuple[Any, Any]]) -> None:
        now = self._ctx.clock()
        stamped = {k: TtlValue(v, now) for k, v in dict(entries).items()}
        if not stamped:
            return
        stored = self._get_raw()
        if stored is MISSING:
            self._put_raw(stamped)
        else:
            stored.update(stamped)

    def remove(self, key: Any) -> None:
        stored = self._get_raw()
        if stored is not MISSING and stored.pop(key, MISSING) is not MISSING and not stored:
            self._remove_raw()

    def keys(self) -> list[Any]:
        return [k for k, _ in self._entries()]

    def values(self) -> list[Any]:
        return [v for _, v in self._entries()]

    def items(self) -> list[tuple[Any, Any]]:
        return self._entries()

    def is_empty(self) -> bool:
        return not self._entries()

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __contains__(self, key: Any) -> bool:
        return self.contains(key)


class TtlReducingState(MergingStateBase):
    __slots__ = ("_policy", "_reduce")

    def __init__(self, ctx: KeyContext, table: StateTable, namespace: Any) -> None:
        super().__init__(ctx, table, namespace)
        self._policy = _policy_of(table)
        assert table.reduce is not None, "reducing state bound without a reduce function"
        self._reduce = table.reduce

    def get(self) -> Any:
        visible, value = _read_single(self, self._policy)
        return value if visible else None

    def add(self, value: Any) -> None:
        stored = self._get_raw()
        now = self._ctx.clock()
        if stored is not MISSING and not self._policy.is_expired(stored.timestamp, now):
            value = self._reduce(stored.value, value)
        self._put_raw(TtlValue(value, now))

    def _merge_stored(self, first: Any, second: Any) -> Any:
        now = self._ctx.clock()
        first_live = first is not MISSING and not self._policy.is_expired(first.timestamp, now)
        second_live = not self._policy.is_expired(second.timestamp, now)
        if first_live and second_live:
            return TtlValue(self._reduce(first.value, second.value), now)
        return first if first_live else second if second_live else MISSING


class TtlAggregatingState(MergingStateBase):
    __slots__ = ("_policy", "_agg")

    def __init__(self, ctx: KeyContext, table: StateTable, namespace: Any) -> None:
        super().__init__(ctx, table, namespace)
        self._policy = _policy_of(table)
        assert table.aggregate is not None, "aggregating state bound without an AggregateFunction"
        self._agg = table.aggregate

    def get(self) -> Any:
        visible, acc = _read_single(self, self._policy)
        return self._agg.get_result(acc) if visible else None

    def add(self, value: Any) -> None:
        stored = self._get_raw()
        now = self._ctx.clock()
        if stored is MISSING or self._policy.is_expired(stored.timestamp, now):
            acc = self._agg.create_accumulator()
        else:
            acc = stored.value
        self._put_raw(TtlValue(self._agg.add(value, acc), now))

    def _merge_stored(self, first: Any, second: Any) -> Any:
        now = self._ctx.clock()
        first_live = first is not MISSING and not self._policy.is_expired(first.timestamp, now)
        second_live = not self._policy.is_expired(second.timestamp, now)
        if first_live and second_live:
            return TtlValue(self._agg.merge(first.value, second.value), now)
        return first if first_live else second if second_live else MISSING
