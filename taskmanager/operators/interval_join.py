"""The interval join of two keyed streams: Flink's IntervalJoinOperator.

    left.key_by(k).interval_join(right.key_by(k)).between(-2_000, 1_000).process(ProcessJoinFunction)

A left element ``l`` and a right element ``r`` of the same key join when

    l.ts + lower <= r.ts <= l.ts + upper

(an exclusive bound is moved by one millisecond inwards before the operator sees it). Both sides wait in
keyed map state, ``timestamp -> [elements]``, one map per side. An arriving element is added to its side's
buffer, joined with every buffered element of the other side inside its interval, and gets a cleanup timer
(event time) after which no element of the other side can join it any more; the timer removes its bucket.
An element whose timestamp is below the current watermark is late: it is dropped (or sent to the late
side output of its side) and joins nothing, as in Flink.

Each joined pair is handed to ``process_element(left, right, ctx)``; ``ctx.get_left_timestamp()``,
``get_right_timestamp()`` and ``get_timestamp()`` (the larger of both, which is also the output records'
timestamp) tell the times. Event time only: records without a timestamp fail the job with
MissingTimestampError.
"""

from __future__ import annotations

from typing import Any

from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.co_process import UserFunctionOperator, keys_of
from strom.taskmanager.operators.process import TimeDomain
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.state import RuntimeStateDescriptor, StateKind
from strom.taskmanager.time.errors import MissingTimestampError
from strom.taskmanager.time.timers import InternalTimer

LEFT_BUFFER = RuntimeStateDescriptor("interval-join-left-buffer", StateKind.MAP)
RIGHT_BUFFER = RuntimeStateDescriptor("interval-join-right-buffer", StateKind.MAP)
CLEANUP_LEFT = "cleanup-left"
CLEANUP_RIGHT = "cleanup-right"


class ProcessJoinContext:
    """The ``ctx`` of ``ProcessJoinFunction.process_element``: the pair's timestamps, side outputs."""

    __slots__ = ("_op", "_left", "_right")

    def __init__(self, op: IntervalJoinOperator) -> None:
        self._op = op
        self._left = 0
        self._right = 0

    def get_left_timestamp(self) -> int:
        return self._left

    def get_right_timestamp(self) -> int:
        return self._right

    def get_timestamp(self) -> int:
        """The timestamp of the joined result: the larger of both elements' timestamps."""
        return max(self._left, self._right)

    def output(self, output_tag: OutputTag, value: Any) -> None:
        self._op.out.side(output_tag, value, max(self._left, self._right))


class IntervalJoinOperator(UserFunctionOperator):
    """Input 0 is the left stream, input 1 the right; both keyed by keys that hash alike."""

    keyed = True
    kind = "ProcessJoinFunction"

    def __init__(self, fn: Any, lower_bound: int, upper_bound: int, *, lower_bound_inclusive: bool = True,
                 upper_bound_inclusive: bool = True, left_late_tag: OutputTag | None = None,
                 right_late_tag: OutputTag | None = None, name: str = "Interval Join") -> None:
        super().__init__(fn, name)
        lower = lower_bound if lower_bound_inclusive else lower_bound + 1
        upper = upper_bound if upper_bound_inclusive else upper_bound - 1
        if lower > upper:
            raise ValueError(f"{name}: the interval [{lower_bound}, {upper_bound}] with "
                             f"{'inclusive' if lower_bound_inclusive else 'exclusive'} lower and "
                             f"{'inclusive' if upper_bound_inclusive else 'exclusive'} upper bound is empty")
        self.lower = lower
        self.upper = upper
        self.late_tags = (left_late_tag, right_late_tag)

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        assert self.backend is not None
        self._left_buffer = self.backend.get_state(LEFT_BUFFER)
        self._right_buffer = self.backend.get_state(RIGHT_BUFFER)
        self._join = self.method("process_element")
        self._context = ProcessJoinContext(self)

    def process(self, batch: Batch, input_index: int = 0) -> None:
        ts = batch.timestamps
        side = "left" if input_index == 0 else "right"
        if ts is None:
            raise MissingTimestampError(
                f"{self.step}: records of the {side} input have no timestamp; an interval join works in event "
                f"time: call assign_timestamps_and_watermarks(...) on both streams before interval_join")
        is_left = input_index == 0
        if is_left:
            ours, theirs, lower, upper = self._left_buffer, self._right_buffer, self.lower, self.upper
        else:
            ours, theirs, lower, upper = self._right_buffer, self._left_buffer, -self.upper, -self.lower
        cleanup_delay = upper if upper > 0 else 0
        namespace = CLEANUP_LEFT if is_left else CLEANUP_RIGHT
        assert self.backend is not None and self.timers is not None
        set_key = self.backend.set_current_key
        register = self.timers.register_event_time_timer
        late_tag = self.late_tags[input_index]
        late: list[Any] = []
        late_stamps: list[int] = []
        for key, value, t in zip(keys_of(batch, self.step, input_index), batch.records, ts.tolist(), strict=True):
            if t < self.timers.current_watermark:
                if late_tag is not None:
                    late.append(value)
                    late_stamps.append(t)
                continue
            set_key(key)
            bucket = ours.get(t)
            if bucket is None:
                ours.put(t, [value])
            else:
                bucket.append(value)
                ours.put(t, bucket)
            low, high = t + lower, t + upper
            for other_ts, others in theirs.items():
                if low <= other_ts <= high:
                    for other in others:
                        if is_left:
                            self._emit(value, other, t, other_ts)
                        else:
                            self._emit(other, value, other_ts, t)
            register(key, namespace, t + cleanup_delay)
        if late:
            for v, s in zip(late, late_stamps, strict=True):
                self.out.side(late_tag, v, s)
        self.out.flush(self)

    def _emit(self, left: Any, right: Any, left_ts: int, right_ts: int) -> None:
        context = self._context
        context._left = left_ts
        context._right = right_ts
        self.out.collect(self._join(left, right, context), max(left_ts, right_ts), "process_element")

    def on_timer(self, timer: InternalTimer, domain: TimeDomain) -> None:
        """A cleanup timer: drop the bucket no element of the other side can join any more."""
        assert self.backend is not None
        self.backend.set_current_key(timer.key)
        if timer.namespace == CLEANUP_LEFT:
            bucket = timer.timestamp if self.upper <= 0 else timer.timestamp - self.upper
            self._left_buffer.remove(bucket)
        else:
            bucket = timer.timestamp + self.lower if self.lower <= 0 else timer.timestamp
            self._right_buffer.remove(bucket)
