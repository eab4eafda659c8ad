"""The interval join of two keyed streams (Flink's ``KeyedStream.intervalJoin``).

    class Pair(ProcessJoinFunction):
        def process_element(self, click, order, ctx):
            yield click, order

    (clicks.key_by(lambda c: c.user)
        .interval_join(orders.key_by(lambda o: o.user))
        .between(Duration.of_seconds(-10), Duration.of_seconds(5))    # order.ts in [click.ts - 10 s, click.ts + 5 s]
        .process(Pair()))

A left element ``l`` and a right element ``r`` with equal keys join when
``l.ts + lower <= r.ts <= l.ts + upper``; ``lower_bound_exclusive()`` / ``upper_bound_exclusive()`` leave a
bound out. Results carry the larger of both timestamps. The join runs in event time: both streams need
timestamps and watermarks (``assign_timestamps_and_watermarks``). Elements behind the watermark are late
and dropped, or sent to ``side_output_left_late_data(tag)`` / ``side_output_right_late_data(tag)``.
"""

from __future__ import annotations

from typing import Any

from strom.client.api.datastream import DataStream, KeyedStream
from strom.taskmanager.operators.interval_join import IntervalJoinOperator
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.time.durations import DurationLike, to_millis


class IntervalJoin:
    """``left.interval_join(right)``: both keyed; pick the interval with ``between``."""

    def __init__(self, left: KeyedStream, right: Any) -> None:
        if not isinstance(right, KeyedStream):
            raise TypeError(f"interval_join() needs a KeyedStream on both sides, got {type(right).__name__}: "
                            f"call key_by(...) on the other stream first")
        self._left = left
        self._right = right

    def in_event_time(self) -> IntervalJoin:
        """The interval join's only time: event time (the default)."""
        return self

    def in_processing_time(self) -> IntervalJoin:
        raise ValueError("interval joins are only supported in event time (as in Flink); assign timestamps "
                         "and watermarks to both streams and keep the default in_event_time()")

    def between(self, lower_bound: DurationLike, upper_bound: DurationLike) -> IntervalJoined:
        """Join ``l`` with ``r`` when ``l.ts + lower_bound <= r.ts <= l.ts + upper_bound`` (ms, Duration or Time)."""
        lower = to_millis(lower_bound, "interval_join between() lower bound")
        upper = to_millis(upper_bound, "interval_join between() upper bound")
        if lower > upper:
            raise ValueError(f"interval_join between({lower}, {upper}): the lower bound must not be above the "
                             f"upper bound")
        return IntervalJoined(self._left, self._right, lower, upper)


class IntervalJoined:
    """An interval join with its bounds; ``process`` makes it a DataStream."""

    def __init__(self, left: KeyedStream, right: KeyedStream, lower: int, upper: int) -> None:
        self._left = left
        self._right = right
        self._lower = lower
        self._upper = upper
        self._lower_inclusive = True
        self._upper_inclusive = True
        self._left_late: OutputTag | None = None
        self._right_late: OutputTag | None = None

    def lower_bound_exclusive(self) -> IntervalJoined:
        """``r.ts > l.ts + lower`` instead of ``>=``."""
        self._lower_inclusive = False
        return self

    def upper_bound_exclusive(self) -> IntervalJoined:
        """``r.ts < l.ts + upper`` instead of ``<=``."""
        self._upper_inclusive = False
        return self

    def side_output_left_late_data(self, output_tag: OutputTag) -> IntervalJoined:
        """Left elements behind the watermark go to ``output_tag`` instead of being dropped."""
        self._left_late = _tag(output_tag, "side_output_left_late_data")
        return self

    def side_output_right_late_data(self, output_tag: OutputTag) -> IntervalJoined:
        self._right_late = _tag(output_tag, "side_output_right_late_data")
        return self

    def process(self, process_join_function: Any, output_type: Any = None) -> DataStream:
        """``process_join_function.process_element(left, right, ctx)`` yields the results of each pair."""
        if not callable(getattr(process_join_function, "process_element", None)):
            raise TypeError(f"interval_join(...).process expects a ProcessJoinFunction (with "
                            f"process_element(left, right, ctx)), got {type(process_join_function).__name__}")
        lower = self._lower if self._lower_inclusive else self._lower + 1
        upper = self._upper if self._upper_inclusive else self._upper - 1
        if lower > upper:
            raise ValueError(f"interval_join between({self._lower}, {self._upper}) with exclusive bounds is an "
                             f"empty interval: no pair can join")
        name = "Interval Join"
        op = IntervalJoinOperator(process_join_function, self._lower, self._upper,
                                  lower_bound_inclusive=self._lower_inclusive,
                                  upper_bound_inclusive=self._upper_inclusive,
                                  left_late_tag=self._left_late, right_late_tag=self._right_late, name=name)
        return self._left._then_multi(op, name, [(self._left, 0), (self._right, 1)], stateful=True)


def _tag(output_tag: Any, method: str) -> OutputTag:
    if not isinstance(output_tag, OutputTag):
        raise TypeError(f"{method} expects an OutputTag, got {type(output_tag).__name__}")
    return output_tag
