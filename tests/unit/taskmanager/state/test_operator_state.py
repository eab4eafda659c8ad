"""Operator (non-keyed) state and Flink's redistribution on restore: split, union, broadcast."""

import pytest

from strom.client.api.state import (
    ListStateDescriptor,
    MapStateDescriptor,
    StateTtlConfig,
    Time,
    ValueStateDescriptor,
)
from strom.taskmanager.state import (
    IncompatibleStateError,
    OperatorStateBackend,
    OperatorStateMode,
    OperatorStateSnapshot,
    StateRestoreError,
    split_evenly,
)

OFFSETS = ListStateDescriptor("offsets")
WATERMARKS = ListStateDescriptor("watermarks")
RULES = MapStateDescriptor("rules")


def old_subtasks():
    """Two old subtasks: 5 + 2 split elements, one union element each, the same broadcast map."""
    blobs = []
    for items, wm in [(["a", "b", "c", "d", "e"], 100), (["f", "g"], 200)]:
        backend = OperatorStateBackend()
        backend.get_list_state(OFFSETS).update(items)
        backend.get_union_list_state(WATERMARKS).add(wm)
        backend.get_broadcast_state(RULES).put_all({"max": 10, "min": 1})
        blobs.append(backend.snapshot())
    return blobs


def restored(blobs, parallelism):
    out = []
    for i in range(parallelism):
        backend = OperatorStateBackend(f"op ({i + 1}/{parallelism})")
        backend.restore(blobs, i, parallelism)
        out.append(backend)
    return out


def test_list_state_basics():
    backend = OperatorStateBackend()
    state = backend.get_list_state(OFFSETS)
    assert state.get() == []
    state.add(1)
    state.add_all([2, 3])
    got = state.get()
    got.append("copy")
    assert state.get() == [1, 2, 3]
    state.update([4])
    assert state.get() == [4]
    state.clear()
    assert state.get() == []
    assert backend.get_list_state(OFFSETS) is state


@pytest.mark.parametrize("parallelism,expected", [
    (3, [["a", "b", "c"], ["d", "e"], ["f", "g"]]),
    (1, [["a", "b", "c", "d", "e", "f", "g"]]),
    (4, [["a", "b"], ["c", "d"], ["e", "f"], ["g"]]),
    (2, [["a", "b", "c", "d", "e"], ["f", "g"]]),  # unchanged parallelism: each keeps its own
])
def test_split_list_state_is_divided_evenly_and_nothing_is_lost_or_duplicated(parallelism, expected):
    backends = restored(old_subtasks(), parallelism)
    assert [b.get_list_state(OFFSETS).get() for b in backends] == expected


@pytest.mark.parametrize("parallelism", [1, 2, 3])
def test_union_list_state_goes_to_everyone(parallelism):
    for b in restored(old_subtasks(), parallelism):
        assert b.get_union_list_state(WATERMARKS).get() == [100, 200]


@pytest.mark.parametrize("parallelism", [1, 3])
def test_broadcast_state_is_the_same_everywhere(parallelism):
    for b in restored(old_subtasks(), parallelism):
        rules = b.get_broadcast_state(RULES)
        assert sorted(rules.items()) == [("max", 10), ("min", 1)]
        rules.put("max", 99)  # each subtask's copy is its own
    assert restored(old_subtasks(), 1)[0].get_broadcast_state(RULES).get("max") == 10


def test_broadcast_state_map_methods():
    rules = OperatorStateBackend().get_broadcast_state(RULES)
    assert rules.is_empty() and rules.get("x") is None
    rules.put("x", 1)
    rules.put_all([("y", 2)])
    assert rules.contains("x") and "y" in rules and sorted(rules) == ["x", "y"]
    assert sorted(rules.keys()) == ["x", "y"] and sorted(rules.values()) == [1, 2]
    rules.remove("x")
    assert rules.items() == [("y", 2)]
    rules.clear()
    assert rules.is_empty()


def test_restored_states_are_kept_even_if_not_asked_for_and_handed_out_objects_follow():
    backend = OperatorStateBackend()
    early = backend.get_list_state(OFFSETS)
    backend.restore(old_subtasks(), 0, 1)
    assert early.get() == ["a", "b", "c", "d", "e", "f", "g"]
    assert sorted(backend.registered_state_names()) == ["offsets", "rules", "watermarks"]
    again = OperatorStateSnapshot.from_bytes(backend.snapshot())
    assert again.states["watermarks"] == (OperatorStateMode.UNION, [100, 200])


def test_a_name_keeps_its_mode_and_kind():
    backend = OperatorStateBackend("src (1/1)")
    backend.get_list_state(OFFSETS)
    with pytest.raises(IncompatibleStateError, match="SPLIT_DISTRIBUTE list state but get_union_list_state"):
        backend.get_union_list_state(OFFSETS)
    with pytest.raises(IncompatibleStateError, match="not broadcast state"):
        backend.get_broadcast_state(MapStateDescriptor("offsets"))
    with pytest.raises(IncompatibleStateError, match="needs a list state descriptor, got value state"):
        backend.get_list_state(ValueStateDescriptor("v"))
    with_ttl = ListStateDescriptor("t")
    with_ttl.enable_time_to_live(StateTtlConfig.new_builder(Time.seconds(1)).build())
    with pytest.raises(IncompatibleStateError, match="TTL applies to keyed state only"):
        backend.get_list_state(with_ttl)
    registered = OperatorStateBackend()
    registered.get_union_list_state(OFFSETS)
    with pytest.raises(IncompatibleStateError, match="registered as UNION but the snapshot holds it as SPLIT"):
        registered.restore(old_subtasks(), 0, 2)


def test_restore_validates_its_input():
    with pytest.raises(StateRestoreError, match="not an operator-state snapshot"):
        OperatorStateBackend().restore([b"nope"], 0, 1)
    with pytest.raises(StateRestoreError, match="outside parallelism"):
        OperatorStateBackend().restore(old_subtasks(), 3, 3)


def test_split_evenly():
    assert split_evenly([], 3) == [[], [], []]
    assert split_evenly(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    parts = split_evenly(list(range(100)), 7)
    assert [x for p in parts for x in p] == list(range(100))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
