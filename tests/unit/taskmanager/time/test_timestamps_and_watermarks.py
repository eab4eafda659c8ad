"""The logic of assign_timestamps_and_watermarks: checked timestamps, periodic emission, idleness,
end of input; timestamps from Arrow columns."""

import datetime
import math
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from strom.taskmanager.network.events import Watermark
from strom.taskmanager.time import (
    MAX_WATERMARK,
    ManualClock,
    MissingTimestampError,
    TimestampAssigner,
    TimestampAssignmentError,
    TimestampsAndWatermarks,
    WatermarkSpec,
    WatermarkStatus,
    check_timestamp,
    timestamp_function,
    timestamps_from_column,
)

STEP = "assign_timestamps_and_watermarks 'bids'"


def by_first(value, record_ts):
    return value[0]


def make(spec=None, interval=200, clock=None):
    clock = clock or ManualClock(0)
    spec = spec or WatermarkSpec(500, timestamp_assigner=by_first)
    return TimestampsAndWatermarks(spec, STEP, interval_ms=interval, clock=clock), clock


def test_periodic_emission_only_when_due_and_only_when_advancing():
    tw, clock = make()
    assert tw.next_emit_time == 200
    assert [tw.assign_timestamp((ts, "x")) for ts in (1_000, 3_000, 2_000)] == [1_000, 3_000, 2_000]
    assert tw.on_processing_time(199) == []          # not due yet
    assert tw.on_processing_time(200) == [Watermark(2_499)]
    assert tw.next_emit_time == 400
    tw.assign_timestamp((2_900, "late-ish"))
    assert tw.on_processing_time(400) == []          # no progress: nothing sent
    tw.assign_timestamp((4_000, "y"))
    assert tw.on_processing_time(650) == [Watermark(3_499)]
    assert tw.next_emit_time == 850                  # next interval counts from the emission
    assert tw.current_watermark == 3_499


def test_idleness_becomes_a_status_and_the_next_watermark_ends_it():
    clock = ManualClock(0)
    tw, _ = make(WatermarkSpec(0, idle_timeout_ms=300, timestamp_assigner=by_first), 100, clock)
    tw.assign_timestamp((10, "a"))
    out = []
    for now in range(100, 700, 100):
        clock.set(now)
        out += tw.on_processing_time(now)
    # first quiet check at 200, idle at the first check > 300 ms later (600)
    assert out == [Watermark(9), WatermarkStatus.IDLE]
    assert tw.is_idle
    tw.assign_timestamp((5, "old"))                  # activity without progress: still idle
    clock.set(700)
    assert tw.on_processing_time(700) == []
    tw.assign_timestamp((20, "new"))
    clock.set(800)
    assert tw.on_processing_time(800) == [WatermarkStatus.ACTIVE, Watermark(19)]


def test_end_of_input_flushes_then_ends_event_time():
    tw, _ = make()
    tw.assign_timestamp((10_000, "a"))
    assert tw.on_end_of_input() == [Watermark(9_499), Watermark(MAX_WATERMARK)]
    assert tw.next_emit_time is None


def test_upstream_watermarks_are_replaced_except_the_end_of_event_time():
    tw, _ = make()
    assert tw.on_upstream_watermark(123) == []
    assert tw.on_upstream_watermark(MAX_WATERMARK) == [Watermark(MAX_WATERMARK)]


def test_no_watermarks_strategy_still_ends_event_time():
    tw, _ = make(WatermarkSpec(None, timestamp_assigner=by_first))
    assert tw.next_emit_time is None
    tw.assign_timestamp((5, "a"))
    assert tw.on_processing_time(10_000) == []
    assert tw.on_end_of_input() == [Watermark(MAX_WATERMARK)]


def test_zero_interval_disables_periodic_emission():
    tw, _ = make(interval=0)
    tw.assign_timestamp((5, "a"))
    assert tw.next_emit_time is None
    assert tw.on_processing_time(10**9) == []


@pytest.mark.parametrize("bad", ["12:00", None, True, [1], datetime.datetime(2024, 1, 1), math.nan, math.inf])
def test_a_non_number_from_the_assigner_fails_naming_the_step_and_the_record(bad):
    tw, _ = make(WatermarkSpec(0, timestamp_assigner=lambda v, ts: bad))
    with pytest.raises(TimestampAssignmentError) as info:
        tw.assign_timestamp(("rec", 1))
    message = str(info.value)
    assert message.startswith(STEP + ": the timestamp assigner returned ")
    assert repr(bad) in message and "('rec', 1)" in message and "milliseconds" in message


@pytest.mark.parametrize(("value", "ms"), [(7, 7), (-7, -7), (1.9, 1), (-1.5, -2), (np.int32(12), 12),
                                           (np.float64(3.7), 3), (Decimal("4.2"), 4)])
def test_numbers_become_whole_milliseconds(value, ms):
    assert check_timestamp(value, STEP) == ms
    assert type(check_timestamp(value, STEP)) is int


def test_out_of_range_is_refused():
    with pytest.raises(TimestampAssignmentError, match="64-bit"):
        check_timestamp(1 << 70, STEP)


def test_records_without_timestamp_and_no_assigner_fail_clearly():
    tw, _ = make(WatermarkSpec(0))
    with pytest.raises(MissingTimestampError, match="has no timestamp.*with_timestamp_assigner"):
        tw.assign_timestamp("rec")
    assert tw.assign_timestamp("rec", record_timestamp=42) == 42


def test_timestamp_assigner_shapes():
    class ByField(TimestampAssigner):
        def extract_timestamp(self, value, record_timestamp):
            return value["t"]

    assert timestamp_function(ByField())({"t": 3}, 0) == 3
    assert timestamp_function(lambda v, ts: v + ts)(1, 2) == 3
    assert timestamp_function(lambda v: v * 2)(4, 99) == 8
    with pytest.raises(TypeError, match="TimestampAssigner or a callable"):
        timestamp_function(42)


def test_batch_assignment_returns_int64_and_feeds_the_generator():
    tw, _ = make()
    ts = tw.assign_timestamps([(3, "a"), (1, "b")])
    assert ts.dtype == np.int64 and ts.tolist() == [3, 1]
    assert tw.on_processing_time(200) == [Watermark(3 - 501)]
    ts = tw.assign_timestamps([(9, "c"), (8, "d")], record_timestamps=[0, 0])
    assert ts.tolist() == [9, 8]
    assert tw.on_processing_time(400) == [Watermark(9 - 501)]


def test_column_path_reads_int_timestamp_date_and_float_columns():
    batch = pa.record_batch({
        "ms": pa.array([1_000, -5], pa.int32()),
        "us": pa.array([1_500_999, -1], pa.timestamp("us")),
        "s": pa.array([2, 3], pa.timestamp("s")),
        "d": pa.array([1, 0], pa.date32()),
        "f": pa.array([1.9, -0.5]),
    })
    assert timestamps_from_column(batch, "ms", STEP).tolist() == [1_000, -5]
    assert timestamps_from_column(batch, "us", STEP).tolist() == [1_500, -1]  # floor division
    assert timestamps_from_column(batch, "s", STEP).tolist() == [2_000, 3_000]
    assert timestamps_from_column(batch, "d", STEP).tolist() == [86_400_000, 0]
    assert timestamps_from_column(batch, "f", STEP).tolist() == [1, -1]
    for col in ("ms", "us", "s", "d", "f"):
        assert timestamps_from_column(batch, col, STEP).dtype == np.int64


def test_column_path_errors_name_the_step_and_the_column():
    batch = pa.record_batch({"event_ms": pa.array([1, None]), "name": pa.array(["a", "b"]),
                             "nan": pa.array([1.0, math.nan])})
    with pytest.raises(TimestampAssignmentError, match=r"'bids': the timestamp column 'ts' is not in the stream; "
                                                       r"its columns are 'event_ms', 'name', 'nan'"):
        timestamps_from_column(batch, "ts", STEP)
    with pytest.raises(TimestampAssignmentError, match=r"column 'event_ms' has 1 null"):
        timestamps_from_column(batch, "event_ms", STEP)
    with pytest.raises(TimestampAssignmentError, match=r"column 'name' has type string"):
        timestamps_from_column(batch, "name", STEP)
    with pytest.raises(TimestampAssignmentError, match=r"column 'nan' has NaN"):
        timestamps_from_column(batch, "nan", STEP)


def test_column_strategy_feeds_the_generator_per_batch():
    tw, _ = make(WatermarkSpec(100, timestamp_column="event_ms"))
    ts = tw.timestamps_of_batch(pa.record_batch({"event_ms": pa.array([5_000, 7_000, 6_000])}))
    assert ts.tolist() == [5_000, 7_000, 6_000]
    assert tw.on_processing_time(200) == [Watermark(6_899)]


def test_spec_refuses_both_an_assigner_and_a_column():
    with pytest.raises(ValueError, match="not both"):
        WatermarkSpec(0, timestamp_assigner=by_first, timestamp_column="t")
