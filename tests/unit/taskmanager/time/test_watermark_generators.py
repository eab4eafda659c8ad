"""Watermark generators: bounded out-of-orderness, monotonous, none, idleness with a manual clock."""

import numpy as np
import pytest

from strom.taskmanager.time import (
    MIN_WATERMARK,
    BoundedOutOfOrdernessWatermarks,
    IdlenessTimer,
    ManualClock,
    NoWatermarksGenerator,
    WatermarkSpec,
    WatermarkStatus,
    WatermarksWithIdleness,
)
from strom.taskmanager.time.watermarks import CollectingWatermarkOutput

IDLE = WatermarkStatus.IDLE


def periodic(gen, timestamps_per_period):
    """Feed each period's timestamps, then emit; the emitted events per period."""
    out = []
    for period in timestamps_per_period:
        sink = CollectingWatermarkOutput()
        for ts in period:
            gen.on_event(None, ts, sink)
        gen.on_periodic_emit(sink)
        out.append(sink.events)
    return out


def test_bounded_out_of_orderness_is_max_minus_delay_minus_one_with_out_of_order_input():
    gen = BoundedOutOfOrdernessWatermarks(out_of_orderness_ms=500)
    periods = [[1_000, 4_000, 2_500], [3_000, 3_900], [6_000, 5_000], [100]]
    # expected, independently: running max over all timestamps so far, minus 501
    expected, seen = [], []
    for period in periods:
        seen += period
        expected.append([max(seen) - 501])
    assert periodic(gen, periods) == expected == [[3_499], [3_499], [5_499], [5_499]]


def test_before_any_event_the_watermark_is_the_minimum():
    sink = CollectingWatermarkOutput()
    BoundedOutOfOrdernessWatermarks(100).on_periodic_emit(sink)
    assert sink.events == [MIN_WATERMARK]


def test_monotonous_timestamps_give_max_minus_one():
    gen = WatermarkSpec(out_of_orderness_ms=0).create_generator()
    assert periodic(gen, [[10, 20], [30]]) == [[19], [29]]


def test_vectorized_timestamps_update_like_single_events():
    rng = np.random.default_rng(7)
    batches = [rng.integers(-10_000, 10_000, size=n) for n in (5, 0, 17, 1)]
    per_event, vectorized = BoundedOutOfOrdernessWatermarks(250), BoundedOutOfOrdernessWatermarks(250)
    for batch in batches:
        a, b = CollectingWatermarkOutput(), CollectingWatermarkOutput()
        for ts in batch.tolist():
            per_event.on_event(None, ts, a)
        vectorized.on_timestamps(batch, b)
        per_event.on_periodic_emit(a)
        vectorized.on_periodic_emit(b)
        assert a.events == b.events
    assert per_event.current_watermark() == max(int(b.max()) for b in batches if len(b)) - 251


def test_no_watermarks_never_emits():
    gen = WatermarkSpec(out_of_orderness_ms=None).create_generator()
    assert isinstance(gen, NoWatermarksGenerator)
    assert periodic(gen, [[1, 2, 3], []]) == [[], []]


def test_negative_delay_is_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        BoundedOutOfOrdernessWatermarks(-1)
    with pytest.raises(ValueError, match="must not be negative"):
        WatermarkSpec(out_of_orderness_ms=-5)


def test_idleness_timer_starts_counting_at_the_first_quiet_check():
    clock = ManualClock(0)
    timer = IdlenessTimer(clock, idle_timeout_ms=1_000)
    timer.activity()
    assert not timer.check_if_idle()  # activity since last check: reset
    clock.set(200)
    assert not timer.check_if_idle()  # first quiet check: countdown starts at 200
    clock.set(1_200)
    assert not timer.check_if_idle()  # exactly the timeout: not yet (strictly more)
    clock.set(1_201)
    assert timer.check_if_idle()
    timer.activity()
    assert not timer.check_if_idle()


def test_with_idleness_marks_idle_once_and_resumes_with_the_next_watermark():
    clock = ManualClock(0)
    gen = WatermarkSpec(out_of_orderness_ms=0, idle_timeout_ms=1_000).create_generator(clock)
    assert isinstance(gen, WatermarksWithIdleness)
    events = []

    def tick(to, *timestamps):
        clock.set(to)
        sink = CollectingWatermarkOutput()
        for ts in timestamps:
            gen.on_event(None, ts, sink)
        gen.on_periodic_emit(sink)
        events.append(sink.events)

    tick(200, 100)   # activity -> watermark 99
    tick(400)        # quiet: countdown starts at 400, still emits 99
    tick(1_400)      # 1000 ms quiet: not yet idle
    tick(1_600)      # 1200 ms > 1000: idle
    tick(1_800)      # idle already: nothing more
    tick(2_000, 50)  # activity again: the wrapped generator emits (max stays 100)
    assert events == [[99], [99], [99], [IDLE], [], [99]]


def test_with_idleness_on_the_vectorized_path():
    clock = ManualClock(0)
    gen = WatermarkSpec(out_of_orderness_ms=10, idle_timeout_ms=100).create_generator(clock)
    sink = CollectingWatermarkOutput()
    gen.on_timestamps(np.array([5, 50], dtype=np.int64), sink)
    gen.on_periodic_emit(sink)
    for t in (50, 200):
        clock.set(t)
        gen.on_timestamps(np.array([], dtype=np.int64), sink)  # an empty batch is no activity
        gen.on_periodic_emit(sink)
    assert sink.events == [39, 39, IDLE]
