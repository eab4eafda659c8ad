"""Windows and assigners: every assigner, negative timestamps and offsets, vectorized == scalar."""

import pickle
import random

import numpy as np
import pyarrow as pa
import pytest

from strom.client.api.time import Duration, Time
from strom.client.api.windowing import (
    EventTimeSessionWindows,
    EventTimeTrigger,
    GlobalWindow,
    GlobalWindows,
    MergingWindowAssigner,
    ProcessingTimeSessionWindows,
    ProcessingTimeTrigger,
    SessionWindowTimeGapExtractor,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    TimeWindow,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
)
from strom.taskmanager.time import MAX_TIMESTAMP, NO_TIMESTAMP, MissingTimestampError
from strom.taskmanager.windowing import (
    NeverTrigger,
    merge_windows,
    sliding_window_starts,
    tumbling_window_starts,
)
from tests.unit.taskmanager.windowing.fakes import FakeAssignerContext


def brute_force_windows(ts, size, slide, offset):
    """All [s, s + size) containing ts with s on the grid offset + k * slide, latest first."""
    starts = [s for s in range(ts - size + 1, ts + 1) if (s - offset) % slide == 0]
    return [TimeWindow(s, s + size) for s in sorted(starts, reverse=True)]


# ---- TimeWindow and GlobalWindow ---------------------------------------------------------

def test_time_window_basics():
    w = TimeWindow(0, 10)
    assert w.max_timestamp() == 9
    assert w.intersects(TimeWindow(10, 20)) and w.intersects(TimeWindow(-5, 0))  # touching counts
    assert not w.intersects(TimeWindow(11, 20))
    assert w.cover(TimeWindow(-3, 4)) == TimeWindow(-3, 10)
    assert sorted([TimeWindow(5, 6), TimeWindow(0, 9), TimeWindow(0, 3)]) == [
        TimeWindow(0, 3), TimeWindow(0, 9), TimeWindow(5, 6)]
    assert pickle.loads(pickle.dumps(w)) == w and hash(w) == hash(TimeWindow(0, 10))


@pytest.mark.parametrize(("ts", "offset", "size", "start"), [
    (0, 0, 10, 0), (9, 0, 10, 0), (10, 0, 10, 10), (-1, 0, 10, -10), (-10, 0, 10, -10), (-11, 0, 10, -20),
    (7, 3, 10, 3), (2, 3, 10, -7), (-8, -3, 10, -13), (1_700_000_000_123, 0, 60_000, 1_699_999_980_000),
])
def test_window_start_with_offset(ts, offset, size, start):
    assert TimeWindow.get_window_start_with_offset(ts, offset, size) == start
    assert start <= ts < start + size and (start - offset) % size == 0


def test_global_window_is_one_value_that_never_ends():
    assert GlobalWindow.get() is GlobalWindow() is pickle.loads(pickle.dumps(GlobalWindow()))
    assert GlobalWindow.get().max_timestamp() == MAX_TIMESTAMP
    assert {GlobalWindow(): 1}[GlobalWindow.get()] == 1


def test_merge_windows_reports_only_real_merges():
    calls = []
    merge_windows([TimeWindow(0, 5), TimeWindow(20, 25), TimeWindow(4, 10), TimeWindow(10, 12), TimeWindow(30, 31)],
                  lambda merged, result: calls.append((sorted(merged), result)))
    assert calls == [([TimeWindow(0, 5), TimeWindow(4, 10), TimeWindow(10, 12)], TimeWindow(0, 12))]


# ---- tumbling and sliding -----------------------------------------------------------------

def test_tumbling_event_time_windows():
    assigner = TumblingEventTimeWindows.of(Time.seconds(10))
    assert assigner.assign_windows("x", 0, None) == [TimeWindow(0, 10_000)]
    assert assigner.assign_windows("x", 9_999, None) == [TimeWindow(0, 10_000)]
    assert assigner.assign_windows("x", -1, None) == [TimeWindow(-10_000, 0)]
    assert assigner.is_event_time() and isinstance(assigner.get_default_trigger(), EventTimeTrigger)
    days_utc8 = TumblingEventTimeWindows.of(Duration.of_days(1), Duration.of_hours(-8))
    # 2024-01-01T20:00Z is 2024-01-02T04:00+08: the UTC+8 day starts at 2024-01-01T16:00Z
    assert days_utc8.assign_windows("x", 1_704_139_200_000, None) == [
        TimeWindow(1_704_124_800_000, 1_704_211_200_000)]


@pytest.mark.parametrize("seed", range(10))
def test_tumbling_and_sliding_match_brute_force_with_negative_timestamps_and_offsets(seed):
    rng = random.Random(seed)
    for _ in range(50):
        slide = rng.randint(1, 12)
        size = rng.randint(1, 30)
        offset = rng.randint(-slide + 1, slide - 1)
        ts = rng.randint(-100, 100)
        sliding = SlidingEventTimeWindows.of(size, slide, offset)
        assert sliding.assign_windows(None, ts, None) == brute_force_windows(ts, size, slide, offset)
        tumbling = TumblingEventTimeWindows.of(slide, offset)
        assert tumbling.assign_windows(None, ts, None) == brute_force_windows(ts, slide, slide, offset)


def test_sliding_with_gaps_between_windows():
    assigner = SlidingEventTimeWindows.of(5, 10)  # [0,5), [10,15), ...
    assert assigner.assign_windows(None, 3, None) == [TimeWindow(0, 5)]
    assert assigner.assign_windows(None, 7, None) == []


def test_processing_time_assigners_use_the_current_processing_time():
    ctx = FakeAssignerContext(now=12_345)
    tumbling = TumblingProcessingTimeWindows.of(Time.seconds(10))
    assert tumbling.assign_windows("x", NO_TIMESTAMP, ctx) == [TimeWindow(10_000, 20_000)]
    sliding = SlidingProcessingTimeWindows.of(Time.seconds(10), Time.seconds(5))
    assert sliding.assign_windows("x", 0, ctx) == [TimeWindow(10_000, 20_000), TimeWindow(5_000, 15_000)]
    for a in (tumbling, sliding):
        assert not a.is_event_time() and isinstance(a.get_default_trigger(), ProcessingTimeTrigger)


@pytest.mark.parametrize("assigner", [
    TumblingEventTimeWindows.of(10), SlidingEventTimeWindows.of(10, 5), EventTimeSessionWindows.with_gap(10)])
def test_event_time_assigners_refuse_records_without_timestamp(assigner):
    with pytest.raises(MissingTimestampError, match="assign_timestamps_and_watermarks"):
        assigner.assign_windows("x", NO_TIMESTAMP, None)


def test_offset_none_means_no_offset_as_in_pyflink():
    assert TumblingEventTimeWindows.of(Time.seconds(10), None).offset == 0
    assert SlidingProcessingTimeWindows.of(Time.seconds(10), Time.seconds(5), None).offset == 0


def test_invalid_parameters():
    with pytest.raises(ValueError, match=r"abs\(offset\) < size"):
        TumblingEventTimeWindows.of(Time.seconds(10), Time.seconds(10))
    with pytest.raises(ValueError, match=r"abs\(offset\) < slide"):
        SlidingEventTimeWindows.of(10, 5, -5)
    with pytest.raises(ValueError, match="size must be positive"):
        TumblingProcessingTimeWindows.of(0)
    with pytest.raises(ValueError, match="slide must be positive"):
        SlidingProcessingTimeWindows.of(10, 0)
    with pytest.raises(TypeError, match="TumblingEventTimeWindows size must be a Duration"):
        TumblingEventTimeWindows.of("10s")


# ---- vectorized == scalar ---------------------------------------------------------------

def scalar_pairs(assigner, timestamps):
    return [(row, w.start) for row, ts in enumerate(timestamps) for w in assigner.assign_windows(None, ts, None)]


@pytest.mark.parametrize("seed", range(8))
def test_vectorized_assignment_equals_scalar(seed):
    rng = np.random.default_rng(seed)
    timestamps = np.concatenate([rng.integers(-50_000, 50_000, 300), rng.integers(1_700_000_000_000, 1_700_000_100_000, 100),
                                 np.array([0, -1, 1], dtype=np.int64)])
    for size, slide, offset in [(10_000, 10_000, 0), (10_000, 10_000, -3_000), (7, 7, 3), (10_000, 5_000, 0),
                                (10_000, 3_000, 1_000), (5, 10, -4), (60_000, 1_000, 0)]:
        assigner = (TumblingEventTimeWindows.of(size, offset) if size == slide
                    else SlidingEventTimeWindows.of(size, slide, offset))
        rows, starts = assigner.window_starts(timestamps)
        assert rows.dtype == starts.dtype == np.int64
        assert list(zip(rows.tolist(), starts.tolist(), strict=True)) == scalar_pairs(assigner, timestamps.tolist())


def test_vectorized_accepts_arrow_and_chunked_arrays():
    values = [-1, 0, 10_001, 25_000]
    expected = tumbling_window_starts(np.array(values), 10_000).tolist()
    assert expected == [-10_000, 0, 10_000, 20_000]
    assert tumbling_window_starts(pa.array(values), 10_000).tolist() == expected
    assert tumbling_window_starts(pa.chunked_array([values[:2], values[2:]]), 10_000).tolist() == expected
    assert tumbling_window_starts(pa.array(values, pa.timestamp("ms")), 10_000).tolist() == expected
    rows, starts = sliding_window_starts(pa.array(values, pa.int32()), 10_000, 5_000)
    assert list(zip(rows.tolist(), starts.tolist(), strict=True)) == scalar_pairs(
        SlidingEventTimeWindows.of(10_000, 5_000), values)


def test_vectorized_empty_input():
    rows, starts = SlidingEventTimeWindows.of(10, 5).window_starts(np.array([], dtype=np.int64))
    assert rows.tolist() == starts.tolist() == []


# ---- sessions and global windows -----------------------------------------------------------

def test_event_time_sessions():
    assigner = EventTimeSessionWindows.with_gap(Time.seconds(5))
    assert isinstance(assigner, MergingWindowAssigner) and assigner.is_event_time()
    assert assigner.assign_windows("x", -3, None) == [TimeWindow(-3, 4_997)]
    assert isinstance(assigner.get_default_trigger(), EventTimeTrigger)
    with pytest.raises(ValueError, match="gap must be positive"):
        EventTimeSessionWindows.with_gap(0)


def test_dynamic_gaps_from_a_callable_or_an_extractor():
    class ByValue(SessionWindowTimeGapExtractor):
        def extract(self, element):
            return Duration.of_millis(element)

    for extractor in (ByValue(), lambda element: element):
        assigner = EventTimeSessionWindows.with_dynamic_gap(extractor)
        assert assigner.assign_windows(7, 100, None) == [TimeWindow(100, 107)]
        with pytest.raises(ValueError, match=r"0 < gap.*got 0 ms for element 0"):
            assigner.assign_windows(0, 100, None)
    with pytest.raises(ValueError, match="either a gap or a dynamic gap extractor"):
        EventTimeSessionWindows()


def test_processing_time_sessions():
    ctx = FakeAssignerContext(now=1_000)
    assigner = ProcessingTimeSessionWindows.with_gap(Duration.of_millis(50))
    assert assigner.assign_windows("x", NO_TIMESTAMP, ctx) == [TimeWindow(1_000, 1_050)]
    assert not assigner.is_event_time() and isinstance(assigner.get_default_trigger(), ProcessingTimeTrigger)
    dyn = ProcessingTimeSessionWindows.with_dynamic_gap(lambda e: e * 10)
    assert dyn.assign_windows(3, NO_TIMESTAMP, ctx) == [TimeWindow(1_000, 1_030)]


def test_global_windows():
    assigner = GlobalWindows.create()
    assert assigner.assign_windows("x", NO_TIMESTAMP, None) == [GlobalWindow.get()]
    assert isinstance(assigner.get_default_trigger(), NeverTrigger) and not assigner.is_event_time()


def test_assigners_pickle_and_describe_themselves():
    for assigner in (TumblingEventTimeWindows.of(10, 2), SlidingEventTimeWindows.of(10, 5),
                     EventTimeSessionWindows.with_gap(3), GlobalWindows.create()):
        copy = pickle.loads(pickle.dumps(assigner))
        assert repr(copy) == repr(assigner)
    assert repr(SlidingEventTimeWindows.of(10, 5, 1)) == "SlidingEventTimeWindows(size=10, slide=5, offset=1)"
