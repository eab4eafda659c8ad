"""State time-to-live on the hashmap backend with a fake clock: both update types, both visibilities."""

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
from strom.taskmanager.state import HashMapKeyedStateBackend, IncompatibleStateError

UpdateType = StateTtlConfig.UpdateType
Visibility = StateTtlConfig.StateVisibility


def ttl(update=UpdateType.OnCreateAndWrite, visibility=Visibility.NeverReturnExpired, ms=100):
    return (StateTtlConfig.new_builder(Time.milliseconds(ms))
            .set_update_type(update)
            .set_state_visibility(visibility)
            .build())


def with_ttl(descriptor, config):
    descriptor.enable_time_to_live(config)
    return descriptor


@pytest.fixture
def backend(clock):
    b = HashMapKeyedStateBackend.for_subtask(0, 1, 128, clock=clock)
    b.set_current_key("k")
    return b


class Count(AggregateFunction):
    def create_accumulator(self):
        return 0

    def add(self, value, accumulator):
        return accumulator + 1

    def get_result(self, accumulator):
        return accumulator

    def merge(self, acc_a, acc_b):
        return acc_a + acc_b


def test_value_expires_ttl_after_the_write(backend, clock):
    v = backend.get_state(with_ttl(ValueStateDescriptor("v"), ttl()))
    v.update("x")
    clock.advance(99)
    assert v.value() == "x"
    clock.advance(1)  # written at t, expired from t + ttl on
    assert v.value() is None
    assert backend.num_entries() == 0  # the read cleaned it up


def test_on_create_and_write_reads_do_not_extend(backend, clock):
    v = backend.get_state(with_ttl(ValueStateDescriptor("v"), ttl(UpdateType.OnCreateAndWrite)))
    v.update(1)
    for _ in range(3):
        clock.advance(40)
        v.value()
    assert v.value() is None  # 120 ms after the write


def test_on_read_and_write_reads_extend(backend, clock):
    v = backend.get_state(with_ttl(ValueStateDescriptor("v"), ttl(UpdateType.OnReadAndWrite)))
    v.update(1)
    for _ in range(5):
        clock.advance(90)
        assert v.value() == 1
    clock.advance(100)
    assert v.value() is None


def test_writes_extend_under_both_update_types(backend, clock):
    for update in (UpdateType.OnCreateAndWrite, UpdateType.OnReadAndWrite):
        v = backend.get_state(with_ttl(ValueStateDescriptor(f"v-{update}"), ttl(update)))
        v.update(1)
        clock.advance(90)
        v.update(2)
        clock.advance(90)
        assert v.value() == 2


def test_return_expired_if_not_cleaned_up(backend, clock):
    v = backend.get_state(with_ttl(ValueStateDescriptor("v"), ttl(visibility=Visibility.ReturnExpiredIfNotCleanedUp)))
    v.update("old")
    clock.advance(500)
    assert v.value() == "old"  # still there: returned, and cleaned up by this access
    assert v.value() is None


def test_return_expired_value_is_gone_after_a_sweep(backend, clock):
    v = backend.get_state(with_ttl(ValueStateDescriptor("v"), ttl(visibility=Visibility.ReturnExpiredIfNotCleanedUp)))
    v.update("old")
    clock.advance(500)
    assert backend.cleanup_expired() == 1
    assert v.value() is None


def test_list_elements_expire_one_by_one(backend, clock):
    lst = backend.get_state(with_ttl(ListStateDescriptor("l"), ttl()))
    lst.add("a")
    clock.advance(50)
    lst.add_all(["b", "c"])
    clock.advance(60)  # a is 110 ms old, b and c 60 ms
    assert lst.get() == ["b", "c"]
    clock.advance(40)
    assert lst.get() == []
    assert backend.num_entries() == 0


def test_list_on_read_and_write_restamps_what_it_returns(backend, clock):
    lst = backend.get_state(with_ttl(ListStateDescriptor("l"), ttl(UpdateType.OnReadAndWrite)))
    lst.update([1, 2])
    clock.advance(90)
    assert lst.get() == [1, 2]
    clock.advance(90)
    assert lst.get() == [1, 2]
    clock.advance(100)
    assert lst.get() == []


def test_list_return_expired_returns_them_once(backend, clock):
    lst = backend.get_state(with_ttl(ListStateDescriptor("l"),
                                     ttl(visibility=Visibility.ReturnExpiredIfNotCleanedUp)))
    lst.add("old")
    clock.advance(100)
    lst.add("new")
    assert lst.get() == ["old", "new"]
    assert lst.get() == ["new"]


def test_map_entries_expire_one_by_one(backend, clock):
    m = backend.get_state(with_ttl(MapStateDescriptor("m"), ttl()))
    m.put("a", 1)
    clock.advance(50)
    m.put_all({"b": 2})
    clock.advance(60)
    assert m.get("a") is None and not m.contains("a")
    assert m.items() == [("b", 2)]
    assert m.keys() == ["b"] and m.values() == [2] and list(m) == ["b"]
    assert not m.is_empty()
    clock.advance(50)
    assert m.is_empty()
    assert backend.num_entries() == 0


def test_map_on_read_and_write(backend, clock):
    m = backend.get_state(with_ttl(MapStateDescriptor("m"), ttl(UpdateType.OnReadAndWrite)))
    m.put("read", 1)
    m.put("unread", 2)
    clock.advance(90)
    assert m.get("read") == 1
    clock.advance(90)
    assert m.contains("read") and not m.contains("unread")


def test_map_return_expired(backend, clock):
    m = backend.get_state(with_ttl(MapStateDescriptor("m"), ttl(visibility=Visibility.ReturnExpiredIfNotCleanedUp)))
    m.put("a", 1)
    m.put("b", 2)
    clock.advance(100)
    assert m.get("a") == 1
    assert m.get("a") is None
    assert m.items() == [("b", 2)]
    assert m.is_empty()


def test_reducing_and_aggregating_start_over_after_expiry(backend, clock):
    total = backend.get_state(with_ttl(ReducingStateDescriptor("sum", lambda a, b: a + b), ttl()))
    count = backend.get_state(with_ttl(AggregatingStateDescriptor("count", Count()), ttl()))
    for x in (1, 2, 3):
        total.add(x)
        count.add(x)
    assert (total.get(), count.get()) == (6, 3)
    clock.advance(100)
    assert (total.get(), count.get()) == (None, None)
    total.add(10)
    count.add(10)
    clock.advance(100)
    total.add(5)  # the 10 expired before this add
    count.add(5)
    assert (total.get(), count.get()) == (5, 1)


def test_ttl_merge_drops_expired_sources(backend, clock):
    lst = with_ttl(ListStateDescriptor("l"), ttl())
    total = with_ttl(ReducingStateDescriptor("sum", lambda a, b: a + b), ttl())
    count = with_ttl(AggregatingStateDescriptor("count", Count()), ttl())
    for d, adds in [(lst, "add"), (total, "add"), (count, "add")]:
        getattr(backend.get_partitioned_state("old", d), adds)(1)
    clock.advance(100)
    for d in (lst, total, count):
        backend.get_partitioned_state("new", d).add(2)
        backend.get_partitioned_state("target", d).add(3)
        backend.merge_namespaces("target", ["old", "new"], d)
    assert backend.get_partitioned_state("target", lst).get() == [3, 2]
    assert backend.get_partitioned_state("target", total).get() == 5
    assert backend.get_partitioned_state("target", count).get() == 2
    assert backend.get_keys("l", "old") == [] and backend.get_keys("l", "new") == []


def test_cleanup_expired_sweeps_every_key_and_namespace(backend, clock):
    v = with_ttl(ValueStateDescriptor("v"), ttl())
    lst = with_ttl(ListStateDescriptor("l"), ttl())
    plain = ValueStateDescriptor("plain")
    for key in range(10):
        backend.set_current_key(key)
        backend.get_state(v).update(key)
        backend.get_partitioned_state("w", lst).add(key)
        backend.get_state(plain).update(key)
    clock.advance(50)
    for key in range(5):
        backend.set_current_key(key)
        backend.get_partitioned_state("w", lst).add("fresh")
    clock.advance(60)
    assert backend.num_entries() == 30
    assert backend.cleanup_expired() == 15  # 10 values, 5 lists left without elements
    assert backend.num_entries() == 15
    assert sorted(backend.get_keys("l", "w")) == list(range(5))
    backend.set_current_key(3)
    assert backend.get_partitioned_state("w", lst).get() == ["fresh"]
    assert backend.get_state(plain).value() == 3


def test_get_keys_hides_expired_entries_unless_visible(backend, clock):
    v = backend.get_state(with_ttl(ValueStateDescriptor("v"), ttl()))
    r = backend.get_state(with_ttl(ValueStateDescriptor("r"), ttl(visibility=Visibility.ReturnExpiredIfNotCleanedUp)))
    v.update(1)
    r.update(1)
    clock.advance(100)
    assert backend.get_keys("v") == []
    assert backend.get_keys("r") == ["k"]


def test_ttl_cannot_be_switched_on_existing_entries(backend, clock):
    backend.get_state(ValueStateDescriptor("v")).update(1)
    with pytest.raises(IncompatibleStateError, match="written without TTL but is now requested with TTL"):
        backend.get_state(with_ttl(ValueStateDescriptor("v"), ttl()))
    empty = backend.get_state(ValueStateDescriptor("empty"))
    assert empty.value() is None
    switched = backend.get_state(with_ttl(ValueStateDescriptor("empty"), ttl()))  # nothing stored yet: fine
    switched.update(1)
    clock.advance(100)
    assert switched.value() is None


def test_disabled_update_type_means_no_ttl(backend, clock):
    v = backend.get_state(with_ttl(ValueStateDescriptor("v"), ttl(UpdateType.Disabled)))
    v.update(1)
    clock.advance(10**9)
    assert v.value() == 1
