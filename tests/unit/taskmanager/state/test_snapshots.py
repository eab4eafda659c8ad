"""Keyed-state snapshots per key group, and restoring them at another parallelism (rescaling)."""

import pytest

from strom.client.api.state import (
    AggregateFunction,
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    StateTtlConfig,
    Time,
    ValueStateDescriptor,
)
from strom.common.keygroups import key_group_for_key, key_group_range
from strom.taskmanager.state import (
    VOID_NAMESPACE,
    HashMapKeyedStateBackend,
    IncompatibleStateError,
    KeyGroupsStateSnapshot,
    StateKind,
    StateRestoreError,
)

MAX_P = 128


class Mean(AggregateFunction):
    def create_accumulator(self):
        return [0, 0]

    def add(self, value, accumulator):
        return [accumulator[0] + value, accumulator[1] + 1]

    def get_result(self, accumulator):
        return accumulator[0] / accumulator[1]


def descriptors():
    ttl = StateTtlConfig.new_builder(Time.seconds(10)).build()
    with_ttl = ValueStateDescriptor("last-seen")
    with_ttl.enable_time_to_live(ttl)
    return {
        "count": ValueStateDescriptor("count"),
        "events": ListStateDescriptor("events"),
        "by-item": MapStateDescriptor("by-item"),
        "total": ReducingStateDescriptor("total", lambda a, b: a + b),
        "mean": AggregatingStateDescriptor("mean", Mean()),
        "last-seen": with_ttl,
    }


WINDOWS = [VOID_NAMESPACE, ("w", 0), ("w", 10)]
KEYS = [f"user-{i}" for i in range(300)] + list(range(200)) + [("pair", i) for i in range(50)]


def owner(key, parallelism):
    return key_group_for_key(key, MAX_P) * parallelism // MAX_P


def fill(backends, parallelism):
    """Write the same records into the subtasks that own them (as a keyed exchange would)."""
    d = descriptors()
    for i, key in enumerate(KEYS):
        b = backends[owner(key, parallelism)]
        b.set_current_key(key)
        for w, ns in enumerate(WINDOWS):
            if (i + w) % 3 == 0:
                continue
            b.get_partitioned_state(ns, d["count"]).update(i)
            b.get_partitioned_state(ns, d["events"]).add_all([i, w])
            b.get_partitioned_state(ns, d["by-item"]).put_all({"i": i, "w": w})
            b.get_partitioned_state(ns, d["total"]).add(i)
            b.get_partitioned_state(ns, d["total"]).add(w)
            b.get_partitioned_state(ns, d["mean"]).add(i)
            b.get_partitioned_state(ns, d["last-seen"]).update(str(key))


def contents(backends):
    """Every (state, namespace, key) -> value the backends hold, read through the public API."""
    d = descriptors()
    out = {}
    for b in backends:
        for name, descriptor in d.items():
            for ns in WINDOWS:
                for key in b.get_keys(name, ns):
                    b.set_current_key(key)
                    state = b.get_partitioned_state(ns, descriptor)
                    if name in ("count", "last-seen"):
                        value = state.value()
                    elif name == "by-item":
                        value = sorted(state.items())
                    else:
                        value = state.get()
                    entry = (name, repr(ns), repr(key))
                    assert entry not in out, f"{entry} restored twice"
                    out[entry] = value
    return out


def backends_of(parallelism, clock):
    return [HashMapKeyedStateBackend.for_subtask(i, parallelism, MAX_P, clock=clock) for i in range(parallelism)]


@pytest.mark.parametrize("new_parallelism", [3, 1, 2, 5])
def test_parallelism_2_restored_at_another_parallelism_holds_exactly_the_same_state(clock, new_parallelism):
    old = backends_of(2, clock)
    fill(old, 2)
    expected = contents(old)
    assert len(expected) > 3000
    blobs = [b.snapshot() for b in old]

    new = backends_of(new_parallelism, clock)
    for b in new:
        b.restore(blobs)
    assert contents(new) == expected
    for i, b in enumerate(new):  # each key landed in the subtask the key-group assignment routes it to
        assert b.key_group_range == key_group_range(i, new_parallelism, MAX_P)
        for key in b.get_keys("total", ("w", 10)):
            assert owner(key, new_parallelism) == i


def test_restored_state_keeps_working_and_ttl_timestamps_survive(clock):
    old = backends_of(1, clock)
    fill(old, 1)
    blob = old[0].snapshot()
    clock.advance(6_000)
    new = backends_of(3, clock)
    for b in new:
        b.restore([blob])
    key = "user-1"
    b = new[owner(key, 3)]
    b.set_current_key(key)
    total = b.get_partitioned_state(("w", 0), descriptors()["total"])
    before = total.get()
    total.add(100)
    assert total.get() == before + 100
    seen = b.get_partitioned_state(("w", 0), descriptors()["last-seen"])
    assert seen.value() == "user-1"
    clock.advance(4_000)  # 10 s after the write, before the snapshot
    assert seen.value() is None


def test_snapshot_layout_is_per_key_group(clock):
    b = HashMapKeyedStateBackend.for_subtask(0, 1, MAX_P, clock=clock)
    v = b.get_state(ValueStateDescriptor("v"))
    for key in ["a", "b", "c"]:
        b.set_current_key(key)
        v.update(key.upper())
    snap = KeyGroupsStateSnapshot.from_bytes(b.snapshot())
    assert snap.max_parallelism == MAX_P and snap.key_groups == range(0, MAX_P)
    assert snap.states["v"].kind is StateKind.VALUE and not snap.states["v"].ttl
    groups = sorted({key_group_for_key(k, MAX_P) for k in "abc"})
    assert snap.non_empty_key_groups() == groups
    assert snap.read_key_group(key_group_for_key("b", MAX_P))["v"][VOID_NAMESPACE]["b"] == "B"
    empty = next(g for g in range(MAX_P) if g not in groups)
    assert snap.read_key_group(empty) == {}
    assert len(snap.key_group_bytes(empty)) == 0


def test_restore_reads_only_the_owned_key_groups(clock):
    old = backends_of(1, clock)
    fill(old, 1)
    snap = KeyGroupsStateSnapshot.from_bytes(old[0].snapshot())
    new_range = key_group_range(0, 2, MAX_P)
    foreign = next(g for g in snap.non_empty_key_groups() if g not in new_range)
    start, end = snap.offsets[foreign], snap.offsets[foreign + 1]
    payload = bytearray(snap.payload)
    payload[start:end] = b"\x00" * (end - start)  # garbage where a group we do not own lives
    corrupt = KeyGroupsStateSnapshot(snap.max_parallelism, snap.key_groups, snap.states, snap.offsets,
                                     bytes(payload)).to_bytes()
    mine = HashMapKeyedStateBackend.for_subtask(0, 2, MAX_P, clock=clock)
    mine.restore([corrupt])
    assert mine.num_keys() > 0
    theirs = HashMapKeyedStateBackend.for_subtask(1, 2, MAX_P, clock=clock)
    with pytest.raises(StateRestoreError, match=f"key group {foreign} .* cannot be read"):
        theirs.restore([corrupt])


def test_snapshot_and_restore_of_a_sub_range(clock):
    b = HashMapKeyedStateBackend.for_subtask(0, 1, MAX_P, clock=clock)
    fill([b], 1)
    part = range(10, 20)
    snap = KeyGroupsStateSnapshot.from_bytes(b.snapshot(part))
    assert snap.key_groups == part
    r = HashMapKeyedStateBackend.for_subtask(0, 1, MAX_P, clock=clock)
    r.restore([b.snapshot()], range(10, 15))
    keys = r.get_keys("count", ("w", 0))
    assert keys and all(10 <= key_group_for_key(k, MAX_P) < 15 for k in keys)
    with pytest.raises(StateRestoreError, match="owns 0..63"):
        HashMapKeyedStateBackend.for_subtask(0, 2, MAX_P).snapshot(range(60, 70))


def test_restore_validates_its_input(clock):
    b = HashMapKeyedStateBackend.for_subtask(0, 1, 256, clock=clock)
    b.set_current_key("k")
    b.get_state(ValueStateDescriptor("v")).update(1)
    blob = b.snapshot()
    with pytest.raises(StateRestoreError, match="max parallelism 256 .* max parallelism 128"):
        HashMapKeyedStateBackend.for_subtask(0, 1, 128).restore([blob])
    with pytest.raises(StateRestoreError, match="more than one of the snapshots"):
        HashMapKeyedStateBackend.for_subtask(0, 1, 256).restore([blob, blob])
    with pytest.raises(StateRestoreError, match="not a keyed-state snapshot"):
        HashMapKeyedStateBackend.for_subtask(0, 1, 256).restore([b"garbage-bytes"])
    with pytest.raises(StateRestoreError, match="truncated"):
        HashMapKeyedStateBackend.for_subtask(0, 1, 256).restore([blob[:-3]])


def test_restored_state_names_keep_their_kind(clock):
    b = HashMapKeyedStateBackend.for_subtask(0, 1, MAX_P, clock=clock)
    b.set_current_key("k")
    b.get_state(ListStateDescriptor("x")).add(1)
    blob = b.snapshot()
    r = HashMapKeyedStateBackend.for_subtask(0, 1, MAX_P, clock=clock)
    r.restore([blob])
    assert r.registered_state_names() == ["x"]
    with pytest.raises(IncompatibleStateError, match="'x' holds list state but is now requested as value"):
        r.get_state(ValueStateDescriptor("x"))
    pre = HashMapKeyedStateBackend.for_subtask(0, 1, MAX_P, clock=clock)
    pre.get_state(MapStateDescriptor("x"))
    with pytest.raises(IncompatibleStateError, match="registered as map state .* holds list state"):
        pre.restore([blob])


def test_state_obtained_before_restore_sees_the_restored_contents(clock):
    b = HashMapKeyedStateBackend.for_subtask(0, 1, MAX_P, clock=clock)
    b.set_current_key("k")
    b.get_state(ValueStateDescriptor("v")).update("restored")
    r = HashMapKeyedStateBackend.for_subtask(0, 1, MAX_P, clock=clock)
    v = r.get_state(ValueStateDescriptor("v"))
    r.restore([b.snapshot()])
    r.set_current_key("k")
    assert v.value() == "restored"


def test_cleanup_full_snapshot_leaves_expired_entries_out(clock):
    config = StateTtlConfig.new_builder(Time.milliseconds(100)).cleanup_full_snapshot().build()
    d = ListStateDescriptor("l")
    d.enable_time_to_live(config)
    b = HashMapKeyedStateBackend.for_subtask(0, 1, MAX_P, clock=clock)
    for key in ("old", "new"):
        b.set_current_key(key)
        b.get_state(d).add(key)
        clock.advance(60)
    r = HashMapKeyedStateBackend.for_subtask(0, 1, MAX_P, clock=clock)
    r.restore([b.snapshot()])
    assert r.num_entries() == 1 and r.get_keys("l") == ["new"]
    assert b.num_entries() == 2  # the live backend is untouched
