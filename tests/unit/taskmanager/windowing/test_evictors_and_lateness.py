"""Evictors (before/after, count, time, delta) and the allowed-lateness rules."""

import pytest

from strom.client.api.time import Time
from strom.client.api.windowing import (
    CountEvictor,
    DeltaEvictor,
    GlobalWindow,
    TimeEvictor,
    TimestampedValue,
    TimeWindow,
)
from strom.taskmanager.time import MAX_TIMESTAMP
from strom.taskmanager.windowing import Lateness, cleanup_time, is_cleanup_time, is_element_late, is_late


def values(pairs):
    return [TimestampedValue(v, t) for v, t in pairs]


def run(evictor, elements, after=False):
    items = values(elements)
    (evictor.evict_after if after else evictor.evict_before)(items, len(items), None, None)
    return [(e.value, e.timestamp) for e in items]


def test_count_evictor_keeps_the_last_n():
    elements = [("a", 1), ("b", 2), ("c", 3), ("d", 4)]
    assert run(CountEvictor.of(2), elements) == [("c", 3), ("d", 4)]
    assert run(CountEvictor.of(10), elements) == elements
    assert run(CountEvictor.of(0), elements) == []
    assert run(CountEvictor.of(2), elements, after=True) == elements  # evicts before by default
    assert run(CountEvictor.of(2, do_evict_after=True), elements, after=True) == [("c", 3), ("d", 4)]
    assert run(CountEvictor.of(2, do_evict_after=True), elements) == elements
    with pytest.raises(ValueError):
        CountEvictor.of(-1)


def test_time_evictor_keeps_what_is_within_the_size_of_the_newest():
    elements = [("a", 10), ("b", 25), ("c", 12), ("d", 20), ("e", 15)]
    # newest 25, size 10: keep timestamps > 15
    assert run(TimeEvictor.of(Time.milliseconds(10)), elements) == [("b", 25), ("d", 20)]
    assert run(TimeEvictor.of(100), elements) == elements
    assert run(TimeEvictor.of(10), [("x", None), ("y", 1)]) == [("x", None), ("y", 1)]  # no timestamps
    assert run(TimeEvictor.of(10, do_evict_after=True), elements, after=True) == [("b", 25), ("d", 20)]
    with pytest.raises(ValueError):
        TimeEvictor.of(0)


def test_delta_evictor_keeps_elements_close_to_the_last():
    elements = [(1.0, 1), (9.0, 2), (4.5, 3), (5.0, 4)]
    assert run(DeltaEvictor.of(1.0, lambda a, b: abs(a - b)), elements) == [(4.5, 3), (5.0, 4)]
    assert run(DeltaEvictor.of(1.0, lambda a, b: abs(a - b)), []) == []


def test_cleanup_time_is_the_window_end_plus_lateness_in_event_time():
    w = TimeWindow(0, 10_000)
    assert cleanup_time(w, 0) == 9_999
    assert cleanup_time(w, 5_000) == 14_999
    assert cleanup_time(w, 5_000, is_event_time=False) == 9_999
    assert cleanup_time(GlobalWindow(), 0) == MAX_TIMESTAMP
    assert cleanup_time(TimeWindow(0, MAX_TIMESTAMP), 10) == MAX_TIMESTAMP  # never past the end of time


def test_a_window_is_late_once_the_watermark_reaches_its_cleanup_time():
    w = TimeWindow(0, 10_000)
    assert not is_late(w, 9_998, 0) and is_late(w, 9_999, 0)
    assert not is_late(w, 11_998, 2_000) and is_late(w, 11_999, 2_000)
    assert not is_late(w, 10**12, 0, is_event_time=False)
    assert not is_late(GlobalWindow(), MAX_TIMESTAMP - 1, 0)


def test_late_elements_for_the_side_output():
    assert not is_element_late(100, 99, 0)
    assert is_element_late(100, 100, 0)
    assert not is_element_late(100, 149, 50) and is_element_late(100, 150, 50)
    assert not is_element_late(100, 10**9, 0, is_event_time=False)


def test_lateness_policy_object():
    policy = Lateness(allowed_lateness=1_000)
    w = TimeWindow(0, 10_000)
    assert policy.cleanup_time(w) == 10_999 and policy.needs_cleanup_timer(w)
    assert not policy.needs_cleanup_timer(GlobalWindow())
    assert policy.is_window_late(w, 10_999) and not policy.is_window_late(w, 10_998)
    assert policy.is_element_late(5, 1_005)
    assert policy.is_cleanup_time(w, 10_999) and not policy.is_cleanup_time(w, 9_999)
    assert is_cleanup_time(w, 9_999, 1_000, is_event_time=False)
    with pytest.raises(ValueError):
        Lateness(-1)
