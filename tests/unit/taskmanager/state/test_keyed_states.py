"""Semantics of every keyed state type on the hashmap backend: keys, namespaces, errors, merging."""

import pytest

from strom.client.api import state as api
from strom.client.api.functions import ReduceFunction
from strom.common.errors import StromError
from strom.common.keygroups import key_group_for_key, key_group_range
from strom.taskmanager.state import (
    VOID_NAMESPACE,
    HashMapKeyedStateBackend,
    IncompatibleStateError,
    KeyGroupOutOfRangeError,
    RuntimeStateDescriptor,
    StateAccessError,
    StateKind,
)


class Sum(ReduceFunction):
    def reduce(self, a, b):
        return a + b


class Average(api.AggregateFunction):
    def create_accumulator(self):
        return (0, 0)

    def add(self, value, accumulator):
        return accumulator[0] + value, accumulator[1] + 1

    def get_result(self, accumulator):
        return accumulator[0] / accumulator[1]

    def merge(self, acc_a, acc_b):
        return acc_a[0] + acc_b[0], acc_a[1] + acc_b[1]


@pytest.fixture
def backend():
    return HashMapKeyedStateBackend.for_subtask(0, 1, 128)


def test_value_state_is_per_key_and_update_none_clears(backend):
    count = backend.get_state(api.ValueStateDescriptor("count"))
    for key in ["a", "b", "a", "a", 7, ("x", 1)]:
        backend.set_current_key(key)
        count.update((count.value() or 0) + 1)
    expected = {"a": 3, "b": 1, 7: 1, ("x", 1): 1}
    for key, n in expected.items():
        backend.set_current_key(key)
        assert count.value() == n
    backend.set_current_key("b")
    count.update(None)
    assert count.value() is None
    assert sorted(map(repr, backend.get_keys("count"))) == sorted(map(repr, ["a", 7, ("x", 1)]))
    backend.set_current_key("a")
    count.clear()
    assert count.value() is None
    assert backend.num_keys() == 2


def test_state_object_follows_the_current_key_and_get_state_is_cached(backend):
    descriptor = api.ValueStateDescriptor("v")
    first = backend.get_state(descriptor)
    assert backend.get_state(descriptor) is first
    backend.set_current_key(1)
    first.update("one")
    backend.set_current_key(2)
    assert first.value() is None
    first.update("two")
    backend.set_current_key(1)
    assert first.value() == "one"


def test_falsy_values_are_values(backend):
    v = backend.get_state(api.ValueStateDescriptor("v"))
    backend.set_current_key("k")
    v.update(0)
    assert v.value() == 0
    assert backend.get_keys("v") == ["k"]


def test_list_state(backend):
    items = backend.get_state(api.ListStateDescriptor("items"))
    backend.set_current_key("k")
    assert list(items.get()) == []
    items.add(1)
    items.add_all([2, 3])
    items.add(None)
    got = items.get()
    assert list(got) == [1, 2, 3, None]
    got.append("not in state")  # get() is a copy
    assert list(items.get()) == [1, 2, 3, None]
    items.update([9, 8])
    assert list(items.get()) == [9, 8]
    items.add_all([])
    assert list(items.get()) == [9, 8]
    items.update([])
    assert list(items.get()) == []
    assert backend.get_keys("items") == []
    items.add("x")
    items.clear()
    assert list(items.get()) == []
    assert backend.num_entries() == 0


def test_map_state(backend):
    m = backend.get_state(api.MapStateDescriptor("m", key_type=str, value_type=int))
    backend.set_current_key("k")
    assert m.is_empty() and m.get("a") is None and not m.contains("a")
    m.put("a", 1)
    m.put_all({"b": 2, "c": 3})
    m.put_all([("d", 4)])
    assert m.get("b") == 2 and m.contains("c") and "d" in m and "z" not in m
    assert sorted(m.keys()) == ["a", "b", "c", "d"]
    assert sorted(m.values()) == [1, 2, 3, 4]
    assert sorted(m.items()) == [("a", 1), ("b", 2), ("c", 3), ("d", 4)]
    for key in m.keys():  # iterating a copy: removing while iterating is fine
        if key in ("a", "b"):
            m.remove(key)
    assert sorted(m) == ["c", "d"]
    m.remove("missing")
    backend.set_current_key("other")
    assert m.is_empty()
    backend.set_current_key("k")
    m.remove("c")
    m.remove("d")
    assert m.is_empty()
    assert backend.num_entries() == 0
    m.put("e", 5)
    m.clear()
    assert m.is_empty()


def test_reducing_state_with_reduce_function_and_callable(backend):
    total = backend.get_state(api.ReducingStateDescriptor("total", Sum()))
    biggest = backend.get_state(api.ReducingStateDescriptor("max", max))
    backend.set_current_key("k")
    assert total.get() is None
    for x in [3, 1, 4, 1, 5]:
        total.add(x)
        biggest.add(x)
    assert total.get() == 14
    assert biggest.get() == 5
    backend.set_current_key("j")
    assert total.get() is None
    total.add(2)
    assert total.get() == 2
    total.clear()
    assert total.get() is None


def test_aggregating_state(backend):
    avg = backend.get_state(api.AggregatingStateDescriptor("avg", Average()))
    backend.set_current_key("k")
    assert avg.get() is None
    for x in [1, 2, 3, 6]:
        avg.add(x)
    assert avg.get() == 3.0
    avg.clear()
    assert avg.get() is None


def test_namespaces_are_independent_and_listed(backend):
    descriptor = api.ListStateDescriptor("contents")
    for key, window, value in [("a", (0, 10), 1), ("a", (10, 20), 2), ("b", (0, 10), 3), ("a", (0, 10), 4)]:
        backend.set_current_key(key)
        backend.get_partitioned_state(window, descriptor).add(value)
    backend.set_current_key("a")
    assert backend.get_partitioned_state((0, 10), descriptor).get() == [1, 4]
    assert backend.get_partitioned_state((10, 20), descriptor).get() == [2]
    assert backend.get_state(descriptor).get() == []  # the void namespace is another namespace
    assert sorted(backend.get_keys("contents", (0, 10))) == ["a", "b"]
    assert backend.get_keys("contents", (10, 20)) == ["a"]
    assert backend.get_keys("contents", VOID_NAMESPACE) == []
    assert backend.get_keys("unknown") == []
    state = backend.get_partitioned_state((0, 10), descriptor)
    state.set_current_namespace((10, 20))
    assert state.namespace == (10, 20) and state.get() == [2]


def test_apply_to_all_keys_sets_each_key_and_restores_the_current_one(backend):
    descriptor = api.ValueStateDescriptor("v")
    for key in range(20):
        backend.set_current_key(key)
        backend.get_partitioned_state("w", descriptor).update(key * 10)
    backend.set_current_key("current")
    seen = {}

    def visit(key, state):
        seen[key] = state.value()
        if key % 2:
            state.clear()

    backend.apply_to_all_keys("w", descriptor, visit)
    assert seen == {k: k * 10 for k in range(20)}
    assert sorted(backend.get_keys("v", "w")) == list(range(0, 20, 2))
    assert backend.current_key == "current"


def test_num_keys_counts_distinct_keys(backend):
    v = api.ValueStateDescriptor("v")
    lst = api.ListStateDescriptor("l")
    for key in ["a", "b", "c"]:
        backend.set_current_key(key)
        backend.get_state(v).update(1)
        backend.get_partitioned_state("w1", lst).add(1)
        backend.get_partitioned_state("w2", lst).add(1)
    assert backend.num_keys() == 3
    assert backend.num_keys("l") == 3
    assert backend.num_keys("nope") == 0
    assert backend.num_entries() == 9
    assert sorted(backend.registered_state_names()) == ["l", "v"]


def test_state_outside_keyed_context_names_the_state(backend):
    count = backend.get_state(api.ValueStateDescriptor("count"))
    with pytest.raises(StateAccessError, match=r"state 'count' accessed outside a keyed context: .*key_by"):
        count.value()
    backend.set_current_key("k")
    count.update(1)
    backend.clear_current_key()
    with pytest.raises(StateAccessError, match="state 'count'"):
        count.update(2)
    with pytest.raises(StateAccessError):
        _ = backend.current_key
    assert not backend.has_current_key and backend.current_key_group is None
    items = backend.get_state(api.ListStateDescriptor("items"))
    with pytest.raises(StromError, match="state 'items' accessed outside a keyed context"):
        items.add(1)


def test_key_outside_the_subtask_key_groups_is_refused():
    backend = HashMapKeyedStateBackend.for_subtask(1, 3, 128, owner="counter (2/3)")
    owned = key_group_range(1, 3, 128)
    assert backend.key_group_range == owned
    inside = next(k for k in range(1000) if key_group_for_key(k, 128) in owned)
    outside = next(k for k in range(1000) if key_group_for_key(k, 128) not in owned)
    backend.set_current_key(inside)
    assert backend.current_key_group == key_group_for_key(inside, 128)
    with pytest.raises(KeyGroupOutOfRangeError, match=r"counter \(2/3\): key .* key group .* owns key groups 43\.\.85"):
        backend.set_current_key(outside)
    assert not backend.has_current_key  # a refused key leaves no stale key behind
    with pytest.raises(KeyGroupOutOfRangeError):
        backend.set_current_key(inside, key_group=owned.stop)


def test_precomputed_key_group_is_used(backend):
    v = backend.get_state(api.ValueStateDescriptor("v"))
    backend.set_current_key("k", key_group=key_group_for_key("k", 128))
    v.update(1)
    backend.set_current_key("k")
    assert v.value() == 1


def test_unhashable_key_and_namespace_are_refused(backend):
    with pytest.raises(StateAccessError, match="not hashable.*tuple instead of a list"):
        backend.set_current_key([1, 2])
    with pytest.raises(StateAccessError, match="namespace .* not hashable"):
        backend.get_partitioned_state([0, 10], api.ValueStateDescriptor("v"))


def test_a_name_keeps_its_kind(backend):
    backend.get_state(api.ValueStateDescriptor("x"))
    with pytest.raises(IncompatibleStateError, match="'x' holds value state but is now requested as list"):
        backend.get_state(api.ListStateDescriptor("x"))


def test_reregistering_a_new_descriptor_object_keeps_the_contents(backend):
    backend.set_current_key("k")
    backend.get_state(api.ValueStateDescriptor("x")).update(5)
    assert backend.get_state(api.ValueStateDescriptor("x")).value() == 5


def test_runtime_descriptor_and_bad_specs(backend):
    best = backend.get_state(RuntimeStateDescriptor("best", StateKind.REDUCING, reduce_function=max))
    backend.set_current_key("k")
    best.add(3)
    best.add(9)
    best.add(4)
    assert best.get() == 9
    with pytest.raises(IncompatibleStateError, match="unknown kind 'bag'"):
        backend.get_state(RuntimeStateDescriptor("bag", "bag"))
    with pytest.raises(IncompatibleStateError, match="needs a reduce_function"):
        backend.get_state(RuntimeStateDescriptor("r", StateKind.REDUCING))
    with pytest.raises(IncompatibleStateError, match="needs an AggregateFunction"):
        backend.get_state(RuntimeStateDescriptor("a", StateKind.AGGREGATING, agg_function=object()))


def test_runtime_states_satisfy_the_user_facing_protocols(backend):
    assert isinstance(backend.get_state(api.ValueStateDescriptor("v")), api.ValueState)
    assert isinstance(backend.get_state(api.ListStateDescriptor("l")), api.ListState)
    assert isinstance(backend.get_state(api.MapStateDescriptor("m")), api.MapState)
    assert isinstance(backend.get_state(api.ReducingStateDescriptor("r", max)), api.ReducingState)
    assert isinstance(backend.get_state(api.AggregatingStateDescriptor("a", Average())), api.AggregatingState)
    ttl = api.StateTtlConfig.new_builder(api.Time.seconds(1)).build()
    for descriptor, protocol in [(api.ValueStateDescriptor("tv"), api.ValueState),
                                 (api.ListStateDescriptor("tl"), api.ListState),
                                 (api.MapStateDescriptor("tm"), api.MapState)]:
        descriptor.enable_time_to_live(ttl)
        assert isinstance(backend.get_state(descriptor), protocol)


# -- merging namespaces (session windows) -----------------------------------------------------------


def test_merge_list_state_target_first_then_sources(backend):
    d = api.ListStateDescriptor("contents")
    backend.set_current_key("k")
    for window, values in [("w1", [1, 2]), ("w2", [3]), ("w3", [4, 5])]:
        backend.get_partitioned_state(window, d).add_all(values)
    backend.set_current_key("other")
    backend.get_partitioned_state("w2", d).add("other's")
    backend.set_current_key("k")
    backend.merge_namespaces("w1", ["w2", "w3", "w1", "empty"], d)
    assert backend.get_partitioned_state("w1", d).get() == [1, 2, 3, 4, 5]
    assert backend.get_partitioned_state("w2", d).get() == []
    assert backend.get_partitioned_state("w3", d).get() == []
    assert backend.get_keys("contents", "w2") == ["other"]  # other keys untouched
    backend.merge_namespaces("fresh", ["w1"], d)  # into an empty target
    assert backend.get_partitioned_state("fresh", d).get() == [1, 2, 3, 4, 5]
    assert backend.get_keys("contents", "w1") == []


def test_merge_reducing_and_aggregating_state(backend):
    total = api.ReducingStateDescriptor("total", Sum())
    avg = api.AggregatingStateDescriptor("avg", Average())
    backend.set_current_key("k")
    for window, values in [("a", [1, 2]), ("b", [3]), ("c", [10])]:
        for v in values:
            backend.get_partitioned_state(window, total).add(v)
            backend.get_partitioned_state(window, avg).add(v)
    backend.merge_namespaces("c", ["a", "b"], total)
    backend.merge_namespaces("c", ["a", "b"], avg)
    assert backend.get_partitioned_state("c", total).get() == 16
    assert backend.get_partitioned_state("c", avg).get() == 4.0
    assert backend.get_partitioned_state("a", total).get() is None
    assert backend.get_partitioned_state("b", avg).get() is None
    assert backend.num_entries() == 2


def test_merge_refuses_value_and_map_state(backend):
    backend.set_current_key("k")
    with pytest.raises(IncompatibleStateError, match="value state, which cannot merge namespaces"):
        backend.merge_namespaces("a", ["b"], api.ValueStateDescriptor("v"))
    with pytest.raises(IncompatibleStateError, match="map state"):
        backend.merge_namespaces("a", ["b"], api.MapStateDescriptor("m"))


def test_merge_outside_keyed_context(backend):
    with pytest.raises(StateAccessError, match="state 'l' accessed outside a keyed context"):
        backend.merge_namespaces("a", ["b"], api.ListStateDescriptor("l"))


def test_dispose_drops_everything(backend):
    backend.set_current_key("k")
    backend.get_state(api.ValueStateDescriptor("v")).update(1)
    backend.dispose()
    assert backend.num_keys() == 0 and backend.registered_state_names() == []
    assert not backend.has_current_key


def test_current_key_group_always_equals_key_group_for_key():
    import decimal

    import numpy as np

    backend = HashMapKeyedStateBackend.for_subtask(0, 1, 128)
    for key in [5, np.int64(5), 5.0, True, 1, "a", b"a", ("a", 1), ("a", 1.0), decimal.Decimal("1.5"), 1.5, None]:
        backend.set_current_key(key)
        assert backend.current_key_group == key_group_for_key(key, 128), key
