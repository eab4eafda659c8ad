"""InternalTimerService: deduplication, firing order, deletion, processing time, key-group snapshots."""

import random

import pytest

from strom.common.keygroups import key_group_for_key, key_group_range
from strom.taskmanager.time import (
    MIN_WATERMARK,
    VOID_NAMESPACE,
    InternalTimer,
    InternalTimerService,
    ManualClock,
    ProcessingTimeService,
)

NS = VOID_NAMESPACE


def fired(iterator):
    return [(t.timestamp, t.key, t.namespace) for t in iterator]


def test_timers_are_deduplicated_per_key_namespace_and_time():
    timers = InternalTimerService()
    assert timers.register_event_time_timer("k", NS, 10)
    assert not timers.register_event_time_timer("k", NS, 10)
    assert timers.register_event_time_timer("k", "w1", 10)
    assert timers.register_event_time_timer("j", NS, 10)
    assert timers.register_event_time_timer("k", NS, 11)
    assert timers.num_event_time_timers() == 4
    assert fired(timers.advance_watermark(100)) == [(10, "k", NS), (10, "k", "w1"), (10, "j", NS), (11, "k", NS)]
    assert timers.num_event_time_timers() == 0


def test_firing_order_is_timestamp_then_first_registration():
    timers = InternalTimerService()
    registrations = [(30, "a"), (10, "b"), (20, "c"), (10, "d"), (30, "e"), (10, "b"), (20, "a")]
    for ts, key in registrations:
        timers.register_event_time_timer(key, NS, ts)
    # independently: unique (ts, key) in order of first appearance, stably sorted by ts
    unique = list(dict.fromkeys(registrations))
    expected = [(ts, key, NS) for ts, key in sorted(unique, key=lambda r: r[0])]
    assert fired(timers.advance_watermark(30)) == expected


def test_advance_fires_only_due_timers_and_the_watermark_never_goes_back():
    timers = InternalTimerService()
    assert timers.current_watermark == MIN_WATERMARK
    for ts in (5, 15, 25):
        timers.register_event_time_timer("k", NS, ts)
    assert fired(timers.advance_watermark(14)) == [(5, "k", NS)]
    assert timers.next_event_time() == 15
    assert fired(timers.advance_watermark(10)) == []  # lower watermark: nothing, and no regression
    assert timers.current_watermark == 14
    assert fired(timers.advance_watermark(15)) == [(15, "k", NS)]


def test_deleted_timers_do_not_fire_and_may_be_registered_again():
    timers = InternalTimerService()
    timers.register_event_time_timer("a", NS, 10)
    timers.register_event_time_timer("b", NS, 10)
    assert timers.delete_event_time_timer("a", NS, 10)
    assert not timers.delete_event_time_timer("a", NS, 10)
    timers.register_event_time_timer("a", NS, 10)  # now after b
    assert fired(timers.advance_watermark(10)) == [(10, "b", NS), (10, "a", NS)]


def test_timers_registered_or_deleted_while_firing():
    timers = InternalTimerService()
    timers.register_event_time_timer("a", NS, 10)
    timers.register_event_time_timer("b", NS, 20)
    timers.register_event_time_timer("c", NS, 30)
    out = []
    for t in timers.advance_watermark(25):
        out.append((t.timestamp, t.key))
        if t.key == "a":
            timers.register_event_time_timer("late", NS, 12)   # due: fires in the same pass
            timers.register_event_time_timer("future", NS, 26)  # not due
            timers.delete_event_time_timer("b", NS, 20)         # deleted before its turn
    assert out == [(10, "a"), (12, "late")]
    assert [(t.timestamp, t.key) for t in timers.event_time_timers()] == [(26, "future"), (30, "c")]


def test_many_deletions_compact_and_keep_order():
    timers = InternalTimerService()
    for i in range(1_000):
        timers.register_event_time_timer(i, NS, i % 50)
    for i in range(0, 1_000, 3):
        timers.delete_event_time_timer(i, NS, i % 50)
    remaining = [i for i in range(1_000) if i % 3]
    expected = [(i % 50, i, NS) for i in sorted(remaining, key=lambda i: i % 50)]
    assert timers.num_event_time_timers() == len(remaining)
    assert fired(timers.advance_watermark(10**6)) == expected


def test_processing_time_timers_by_hand():
    timers = InternalTimerService()
    timers.register_processing_time_timer("k", NS, 100)
    timers.register_processing_time_timer("k", NS, 50)
    assert timers.next_processing_time() == 50
    assert fired(timers.advance_processing_time(99)) == [(50, "k", NS)]
    assert timers.delete_processing_time_timer("k", NS, 100)
    assert timers.num_processing_time_timers() == 0


def test_processing_time_timers_fire_through_the_processing_time_service():
    clock = ManualClock(1_000)
    pts = ProcessingTimeService(clock)
    out = []
    timers = InternalTimerService(processing_time_service=pts,
                                  on_processing_timer=lambda t: out.append((clock.now_ms(), t.timestamp, t.key)))
    timers.register_processing_time_timer("a", NS, 1_100)
    timers.register_processing_time_timer("b", NS, 1_050)   # earlier: rescheduled
    timers.register_processing_time_timer("c", NS, 1_100)
    assert timers.current_processing_time() == 1_000
    assert pts.time_until_next_ms() == 51
    clock.set(1_050)
    pts.run_due()
    assert out == []                                         # fires only once time is past 1050
    clock.set(1_051)
    pts.run_due()
    assert out == [(1_051, 1_050, "b")]
    clock.set(2_000)
    pts.run_due()
    assert out[1:] == [(2_000, 1_100, "a"), (2_000, 1_100, "c")]
    assert pts.next_timer_time() is None


def test_a_processing_timer_registered_while_firing_is_scheduled():
    clock = ManualClock(0)
    pts = ProcessingTimeService(clock)
    out = []

    def on_timer(t):
        out.append(t.timestamp)
        if t.timestamp == 10:
            timers.register_processing_time_timer("k", NS, 20)

    timers = InternalTimerService(processing_time_service=pts, on_processing_timer=on_timer)
    timers.register_processing_time_timer("k", NS, 10)
    clock.set(11)
    pts.run_due()
    assert out == [10] and pts.next_timer_time() == 20
    clock.set(21)
    pts.run_due()
    assert out == [10, 20]


def test_the_service_and_its_callback_go_together():
    with pytest.raises(ValueError):
        InternalTimerService(processing_time_service=ProcessingTimeService(ManualClock()))


def test_snapshot_by_key_group_and_restore_at_another_parallelism():
    max_p = 16
    rng = random.Random(3)
    original = InternalTimerService(max_p)
    for _ in range(300):
        key, ts = rng.randrange(40), rng.randrange(100)
        original.register_event_time_timer(key, ("w", ts // 10), ts)
        if rng.random() < 0.3:
            original.register_processing_time_timer(key, NS, ts + 1_000)
    snapshot = original.snapshot()
    for group, snap in snapshot.items():
        assert {key_group_for_key(k, max_p) for _, k, _ in snap.event_time + snap.processing_time} == {group}

    # rescale to 3 subtasks: every timer lands in exactly one of them
    parts = [InternalTimerService(max_p, key_group_range(i, 3, max_p)) for i in range(3)]
    for part in parts:
        part.restore(snapshot)
    restored_event = sorted((t.timestamp, t.key, t.namespace) for p in parts for t in p.event_time_timers())
    restored_proc = sorted((t.timestamp, t.key, t.namespace) for p in parts for t in p.processing_time_timers())
    assert restored_event == sorted((t.timestamp, t.key, t.namespace) for t in original.event_time_timers())
    assert restored_proc == sorted((t.timestamp, t.key, t.namespace) for t in original.processing_time_timers())
    for i, part in enumerate(parts):
        owned = key_group_range(i, 3, max_p)
        assert all(key_group_for_key(t.key, max_p) in owned for t in part.event_time_timers())


def test_restore_keeps_the_order_of_equal_timestamps_within_a_key_group():
    original = InternalTimerService(1)  # one key group: the whole order is kept
    for key in ("z", "a", "m"):
        original.register_event_time_timer(key, NS, 5)
    copy = InternalTimerService(1)
    copy.restore(original.snapshot())
    assert [t.key for t in copy.advance_watermark(5)] == ["z", "a", "m"]


def test_snapshot_of_selected_key_groups():
    timers = InternalTimerService(8)
    for key in range(20):
        timers.register_event_time_timer(key, NS, key)
    some = timers.snapshot(key_groups=[0, 1])
    assert set(some) <= {0, 1}
    assert sum(len(s.event_time) for s in some.values()) == sum(
        1 for k in range(20) if key_group_for_key(k, 8) in (0, 1))


def test_timer_values():
    t = InternalTimer(5, "k", NS)
    assert t == InternalTimer(5, "k", NS) and hash(t) == hash(InternalTimer(5, "k", NS))
