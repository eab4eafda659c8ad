"""The user API of client/api/time.py: Duration, Time, WatermarkStrategy -> WatermarkSpec."""

import datetime

import cloudpickle
import pytest

from strom.client.api.time import Duration, Time, TimestampAssigner, WatermarkStrategy
from strom.taskmanager.time import ManualClock, TimestampsAndWatermarks, WatermarkSpec, to_millis
from strom.taskmanager.time.watermarks import BoundedOutOfOrdernessWatermarks, NoWatermarksGenerator


def test_durations():
    assert Duration.of_millis(5).to_milliseconds() == 5
    assert Duration.of_seconds(2).to_milliseconds() == 2_000
    assert Duration.of_seconds(1.5).to_milliseconds() == 1_500
    assert Duration.of_minutes(3).to_milliseconds() == 180_000
    assert Duration.of_hours(1).to_milliseconds() == 3_600_000
    assert Duration.of_days(1).to_milliseconds() == 86_400_000
    assert Time.seconds(10).to_milliseconds() == 10_000
    assert Time.milliseconds(7).to_milliseconds() == 7
    assert Time.hours(-8).to_milliseconds() == -28_800_000
    assert Duration.of_seconds(1) < Duration.of_millis(1_001)
    assert Duration.of(datetime.timedelta(milliseconds=1_250)) == Duration.of_millis(1_250)
    with pytest.raises(TypeError):
        Duration.of_seconds("10")
    with pytest.raises(TypeError):
        Duration(1.5)


def test_to_millis_accepts_durations_time_timedelta_and_ints_and_names_bad_arguments():
    assert to_millis(Duration.of_seconds(1), "x") == 1_000
    assert to_millis(Time.minutes(1), "x") == 60_000
    assert to_millis(datetime.timedelta(days=1, microseconds=1_999), "x") == 86_400_001
    assert to_millis(42, "x") == 42
    with pytest.raises(TypeError, match="window size must be a Duration"):
        to_millis("10s", "window size")
    with pytest.raises(TypeError, match="not a bool"):
        to_millis(True, "gap")


def test_bounded_out_of_orderness_with_assigner_and_idleness():
    strategy = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(500))
                .with_timestamp_assigner(lambda v, ts: v["t"])
                .with_idleness(Duration.of_seconds(30)))
    spec = strategy.to_spec()
    assert (spec.out_of_orderness_ms, spec.idle_timeout_ms, spec.timestamp_column) == (500, 30_000, None)
    assert spec.timestamp_assigner({"t": 9}, 0) == 9
    assert repr(strategy) == ("WatermarkStrategy.for_bounded_out_of_orderness(500 ms).with_idleness(30000 ms)"
                              ".with_timestamp_assigner(...)")


def test_monotonous_and_no_watermarks():
    assert WatermarkStrategy.for_monotonous_timestamps().to_spec().out_of_orderness_ms == 0
    assert isinstance(WatermarkStrategy.for_monotonous_timestamps().to_spec().create_generator(),
                      BoundedOutOfOrdernessWatermarks)
    assert isinstance(WatermarkStrategy.no_watermarks().to_spec().create_generator(), NoWatermarksGenerator)


def test_assigner_and_column_replace_each_other():
    base = WatermarkStrategy.for_monotonous_timestamps()
    with_column = base.with_timestamp_assigner(lambda v, ts: v).with_timestamp_column("event_ms")
    assert with_column.to_spec() == WatermarkSpec(0, timestamp_column="event_ms")
    back = with_column.with_timestamp_assigner(lambda v, ts: v)
    assert back.to_spec().timestamp_column is None and back.to_spec().timestamp_assigner is not None
    assert base.to_spec().timestamp_assigner is None  # immutable: base unchanged


def test_timestamp_assigner_subclass_and_one_argument_callable():
    class ByIndex(TimestampAssigner):
        def extract_timestamp(self, value, record_timestamp):
            return value[1]

    s1 = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(ByIndex())
    s2 = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda v: v[1])
    for strategy in (s1, s2):
        spec = cloudpickle.loads(cloudpickle.dumps(strategy.to_spec()))  # travels to the task
        tw = TimestampsAndWatermarks(spec, "assign 'x'", clock=ManualClock())
        assert tw.assign_timestamp(("a", 77)) == 77


def test_invalid_arguments_fail_with_the_method_named():
    with pytest.raises(ValueError, match="for_bounded_out_of_orderness.*negative"):
        WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(-1))
    with pytest.raises(ValueError, match="with_idleness.*positive"):
        WatermarkStrategy.for_monotonous_timestamps().with_idleness(Duration.of_millis(0))
    with pytest.raises(TypeError, match="for_bounded_out_of_orderness"):
        WatermarkStrategy.for_bounded_out_of_orderness("500ms")
    with pytest.raises(TypeError, match="column name"):
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_column("")
    with pytest.raises(TypeError, match="TimestampAssigner or a callable"):
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner("event_ms")
