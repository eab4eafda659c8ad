"""WindowOperator driven directly: elements, watermarks and a manual processing-time clock in,
window results (with their timestamps), side outputs and forwarded watermarks out.
Expected rows are worked out by hand in the comments (Flink's WindowOperator rules)."""

from __future__ import annotations

import numpy as np
import pytest

from strom.client.api.state import AggregateFunction, ValueStateDescriptor
from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.window import (
    ApplyWindow,
    PassThrough,
    ProcessWindow,
    WindowOperator,
)
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.state.errors import StateAccessError
from strom.taskmanager.time import MAX_TIMESTAMP, MAX_WATERMARK, ManualClock, ProcessingTimeService
from strom.taskmanager.time.errors import MissingTimestampError
from strom.taskmanager.windowing import (
    ContinuousEventTimeTrigger,
    CountEvictor,
    CountTrigger,
    EventTimeSessionWindows,
    GlobalWindows,
    ProcessingTimeSessionWindows,
    PurgingTrigger,
    SlidingEventTimeWindows,
    TimeEvictor,
    TimeWindow,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
)


class FakeOutput:
    """Records batches (with their timestamps) and watermarks in arrival order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def emit(self, batch: Batch) -> None:
        ts = batch.timestamps
        self.events.append(("batch", list(zip(batch.records, ts.tolist(), strict=True))))

    def emit_watermark(self, watermark: int) -> None:
        self.events.append(("watermark", watermark))

    def emit_watermark_status(self, idle: bool) -> None:
        self.events.append(("idle", idle))

    def take(self) -> list[tuple[object, int]]:
        """Every (record, timestamp) emitted since the last take."""
        rows = [row for kind, batch in self.events if kind == "batch" for row in batch]  # type: ignore[union-attr]
        self.events = []
        return rows


class FakeWindowTask:
    """Opens a window operator as its task would, with a manual clock for processing time."""

    def __init__(self, op: WindowOperator, now: int = 0) -> None:
        self.op = op
        self.clock = ManualClock(now)
        self.pts = ProcessingTimeService(self.clock)
        self.out = op.output = FakeOutput()
        self.sides = {"late": FakeOutput(), "side": FakeOutput()}
        op.side_outputs = dict(self.sides)
        op.open(OperatorContext("job", "job", "vertex", op.name, 0, 1, 128, 0, {},
                                processing_time_service=self.pts))

    def elements(self, *items: tuple) -> None:
        """One batch of (key, value, timestamp) items (timestamp None: a stream without event time)."""
        keys = [k for k, _, _ in items]
        values = [v for _, v, _ in items]
        stamps = [t for _, _, t in items]
        ts = None if stamps[0] is None else np.array(stamps, dtype=np.int64)
        self.op.process(Batch(records=values, keys=keys if self.op.keyed else None, timestamps=ts))

    def watermark(self, watermark: int) -> None:
        self.op.process_watermark(watermark)

    def advance_processing_time(self, now: int) -> None:
        self.clock.set(now)
        self.pts.run_due()

    def take(self) -> list[tuple[object, int]]:
        return self.out.take()

    def late(self) -> list[tuple[object, int]]:
        return self.sides["late"].take()


def list_window(key, window, inputs):
    """A WindowFunction: (key, start, end, elements in arrival order)."""
    yield key, window.start, window.end, list(inputs)


def window_op(assigner, function=None, trigger=None, **kwargs) -> WindowOperator:
    kwargs.setdefault("late_tag", "late")
    return WindowOperator(assigner, trigger or assigner.get_default_trigger(),
                          function or ApplyWindow(list_window, single_value=False, keyed=True), **kwargs)


def add_pairs(a, b):
    return a[0], a[1] + b[1]


# ---- tumbling, sliding ------------------------------------------------------------------------


def test_tumbling_reduce_fires_in_order_on_the_watermark_then_forwards_it():
    task = FakeWindowTask(window_op(TumblingEventTimeWindows.of(10), PassThrough(), reduce_function=add_pairs))
    task.elements(("a", ("a", 1), 1), ("b", ("b", 5), 3), ("a", ("a", 2), 12))
    task.elements(("a", ("a", 3), 9), ("b", ("b", 1), 15))
    assert task.out.events == []
    task.watermark(9)                       # [0,10) ends at 9: a = 1 + 3, b = 5, in timer order (a first)
    task.watermark(20)                      # [10,20): a = 2, b = 1
    assert task.out.events == [
        ("batch", [(("a", 4), 9), (("b", 5), 9)]), ("watermark", 9),
        ("batch", [(("a", 2), 19), (("b", 1), 19)]), ("watermark", 20)]
    assert task.op._backend.num_entries() == 0
    assert task.op._timers.num_event_time_timers() == 0


def test_sliding_windows_hold_each_element_in_size_over_slide_windows():
    task = FakeWindowTask(window_op(SlidingEventTimeWindows.of(10, 5)))
    task.elements(("k", "x7", 7), ("k", "x12", 12))   # 7 -> [5,15) [0,10); 12 -> [10,20) [5,15)
    task.watermark(MAX_WATERMARK)
    assert task.take() == [(("k", 0, 10, ["x7"]), 9), (("k", 5, 15, ["x7", "x12"]), 14),
                           (("k", 10, 20, ["x12"]), 19)]


def test_event_time_window_without_timestamps_names_the_fix():
    task = FakeWindowTask(window_op(TumblingEventTimeWindows.of(10), name="Window(bids)"))
    with pytest.raises(MissingTimestampError, match=r"Window\(bids\).*assign_timestamps_and_watermarks"):
        task.elements(("k", "x", None))


def test_the_results_of_one_watermark_leave_as_one_batch():
    task = FakeWindowTask(window_op(TumblingEventTimeWindows.of(10), PassThrough(), reduce_function=add_pairs))
    task.elements(*[(k, (k, 1), 5) for k in "abcde"])
    task.watermark(100)
    batches = [e for e in task.out.events if e[0] == "batch"]
    assert len(batches) == 1 and sorted(r for r, _ in batches[0][1]) == [(k, 1) for k in "abcde"]


# ---- sessions -----------------------------------------------------------------------------------


def sessions(op_kwargs=None, function=None):
    return FakeWindowTask(window_op(EventTimeSessionWindows.with_gap(10), function, **(op_kwargs or {})))


def test_session_windows_merge_across_out_of_order_arrivals():
    task = sessions()
    # key "k": a@1 b@25 c@12 -> [1,11) [25,35) [12,22); d@21 -> [21,31) bridges -> [12,35)
    # key "j" runs alongside and never merges: [3,13) and [40,50)
    task.elements(("k", "a", 1), ("j", "p", 3), ("k", "b", 25), ("k", "c", 12))
    task.elements(("k", "d", 21), ("j", "q", 40))
    task.watermark(20)                        # passes 10 (end of k's [1,11)) and 12 (j's [3,13))
    assert task.take() == [(("k", 1, 11, ["a"]), 10), (("j", 3, 13, ["p"]), 12)]
    task.elements(("k", "e", 0))              # [0,10) is behind the watermark and touches nothing live
    assert task.late() == [("e", 0)]
    task.elements(("k", "f", 5))              # [5,15) touches [12,35): the merged [5,35) is on time
    assert task.late() == []
    task.watermark(33)
    assert task.take() == []
    task.watermark(MAX_WATERMARK)
    # the merged window keeps the state window of the earliest one it swallowed ([12,22) with c)
    assert task.take() == [(("k", 5, 35, ["c", "b", "d", "f"]), 34), (("j", 40, 50, ["q"]), 49)]
    assert task.op._backend.num_entries() == 0            # contents, merging sets: all gone
    assert task.op._timers.num_event_time_timers() == 0


class CountAndSum(AggregateFunction):
    def __init__(self):
        self.results = 0

    def create_accumulator(self):
        return [0, 0]

    def add(self, value, accumulator):
        return [accumulator[0] + 1, accumulator[1] + value]

    def get_result(self, accumulator):
        self.results += 1
        return tuple(accumulator)

    def merge(self, acc_a, acc_b):
        return [acc_a[0] + acc_b[0], acc_a[1] + acc_b[1]]


def test_session_aggregate_merges_accumulators_and_keeps_no_element_list():
    agg = CountAndSum()
    task = sessions({"aggregate_function": agg}, PassThrough())
    task.elements(("k", 1, 1), ("k", 100, 25), ("k", 10, 12))
    task.elements(("k", 1000, 21))            # merges the sessions of 100, 10 and 1000: count 3, sum 1110
    assert agg.results == 0                   # nothing read yet: contents are one accumulator per window
    task.watermark(MAX_WATERMARK)
    assert task.take() == [((1, 1), 10), ((3, 1110), 34)]
    assert agg.results == 2


def test_session_reduce_merges_reduced_values():
    task = sessions({"reduce_function": lambda a, b: a + b}, PassThrough())
    task.elements(("k", "a", 1), ("k", "b", 25), ("k", "c", 12), ("k", "d", 21))
    task.watermark(MAX_WATERMARK)
    assert task.take() == [("a", 10), ("cbd", 34)]  # c's window is the state window: b merges into it


def test_per_window_state_is_refused_on_session_windows():
    def uses_window_state(key, ctx, elements):
        ctx.window_state().get_state(ValueStateDescriptor("n"))
        return []

    task = sessions(function=ProcessWindow(uses_window_state, single_value=False, keyed=True))
    task.elements(("k", "a", 1))
    with pytest.raises(StateAccessError, match="global_state"):
        task.watermark(MAX_WATERMARK)


def test_a_merging_assigner_refuses_a_trigger_that_cannot_merge():
    class NoMerge(CountTrigger):
        def can_merge(self):
            return False

    with pytest.raises(ValueError, match="does not support merging"):
        window_op(EventTimeSessionWindows.with_gap(10), trigger=NoMerge(2))


# ---- lateness ------------------------------------------------------------------------------------


def test_allowed_lateness_refires_then_drops_to_the_late_side_output():
    task = FakeWindowTask(window_op(TumblingEventTimeWindows.of(10), allowed_lateness=5))
    task.elements(("k", "a", 3), ("k", "b", 12))
    task.watermark(9)                         # [0,10) fires; its state lives until 9 + 5 = 14
    assert task.take() == [(("k", 0, 10, ["a"]), 9)]
    task.elements(("k", "c", 7))              # late but allowed: fires again at once, with everything
    assert task.take() == [(("k", 0, 10, ["a", "c"]), 9)]
    task.watermark(14)                        # cleanup of [0,10)
    task.elements(("k", "d", 8), ("k", "e", 13))   # d is too late; e (window [10,20)) is on time
    assert task.late() == [("d", 8)]
    task.watermark(19)
    assert task.take() == [(("k", 10, 20, ["b", "e"]), 19)]


def test_late_elements_without_a_side_output_are_counted_and_dropped():
    task = FakeWindowTask(window_op(TumblingEventTimeWindows.of(10), late_tag=None))
    task.watermark(50)
    task.elements(("k", "old", 3), ("k", "new", 55))
    task.watermark(MAX_WATERMARK)
    assert task.take() == [(("k", 50, 60, ["new"]), 59)]
    assert task.op.num_late_records_dropped == 1


# ---- triggers and evictors -----------------------------------------------------------------------


def test_count_window_fires_and_purges_every_n_elements():
    op = window_op(GlobalWindows.create(), trigger=PurgingTrigger.of(CountTrigger.of(3)),
                   function=ApplyWindow(lambda k, w, xs: [(k, list(xs))], single_value=False, keyed=True))
    task = FakeWindowTask(op)
    task.elements(*[("k", i, None) for i in range(1, 8)])
    task.watermark(MAX_WATERMARK)             # the global window never ends: 7 stays unfired
    assert task.take() == [(("k", [1, 2, 3]), MAX_TIMESTAMP), (("k", [4, 5, 6]), MAX_TIMESTAMP)]


def test_sliding_count_window_evicts_to_the_last_n_before_each_firing():
    op = window_op(GlobalWindows.create(), trigger=CountTrigger.of(2), evictor=CountEvictor.of(3),
                   function=ApplyWindow(lambda k, w, xs: [list(xs)], single_value=False, keyed=True))
    task = FakeWindowTask(op)
    task.elements(*[("k", i, None) for i in range(1, 8)])
    assert [r for r, _ in task.take()] == [[1, 2], [2, 3, 4], [4, 5, 6]]


def test_evict_after_keeps_what_the_evictor_left_for_the_next_firing():
    op = window_op(GlobalWindows.create(), trigger=CountTrigger.of(3), evictor=CountEvictor.of(2, True),
                   function=ApplyWindow(lambda k, w, xs: [list(xs)], single_value=False, keyed=True))
    task = FakeWindowTask(op)
    task.elements(*[("k", i, None) for i in range(1, 7)])
    assert [r for r, _ in task.take()] == [[1, 2, 3], [2, 3, 4, 5, 6]]


def test_evictor_with_reduce_reduces_what_is_left():
    op = window_op(GlobalWindows.create(), PassThrough(), trigger=CountTrigger.of(3),
                   evictor=CountEvictor.of(2), reduce_function=lambda a, b: a + b)
    task = FakeWindowTask(op)
    task.elements(*[("k", i, None) for i in range(1, 7)])
    assert [r for r, _ in task.take()] == [2 + 3, 5 + 6]


def test_time_evictor_keeps_the_elements_near_the_newest():
    task = FakeWindowTask(window_op(TumblingEventTimeWindows.of(20), evictor=TimeEvictor.of(5)))
    task.elements(("k", "a", 1), ("k", "b", 14), ("k", "c", 3), ("k", "d", 10))
    task.watermark(MAX_WATERMARK)             # newest 14: keep timestamps > 9
    assert task.take() == [(("k", 0, 20, ["b", "d"]), 19)]


def test_continuous_event_time_trigger_fires_early_and_at_the_end():
    task = FakeWindowTask(window_op(TumblingEventTimeWindows.of(10),
                                    trigger=ContinuousEventTimeTrigger.of(3)))
    task.elements(("k", "e1", 1))             # next early firing at 3
    task.watermark(3)
    task.elements(("k", "e2", 4))
    task.watermark(6)
    task.watermark(9)                         # the window's end
    assert [r[3] for r, _ in task.take()] == [["e1"], ["e1", "e2"], ["e1", "e2"]]
    assert task.op._backend.num_entries() == 0


def test_purging_continuous_trigger_emits_only_what_arrived_since_the_last_firing():
    task = FakeWindowTask(window_op(TumblingEventTimeWindows.of(10),
                                    trigger=PurgingTrigger.of(ContinuousEventTimeTrigger.of(3))))
    task.elements(("k", "e1", 1))
    task.watermark(3)
    task.elements(("k", "e2", 4))
    task.watermark(MAX_WATERMARK)             # 6 fires e2; at 9 the window is empty: nothing
    assert [r[3] for r, _ in task.take()] == [["e1"], ["e2"]]


# ---- processing time -----------------------------------------------------------------------------


def test_processing_time_tumbling_windows_fire_when_the_clock_passes_their_end():
    task = FakeWindowTask(window_op(TumblingProcessingTimeWindows.of(10)), now=3)
    task.elements(("k", "a", None), ("k", "b", None))
    task.advance_processing_time(8)
    task.elements(("k", "c", None))
    task.advance_processing_time(9)           # a timer for 9 fires once the clock is past 9
    assert task.take() == []
    task.advance_processing_time(10)
    assert task.take() == [(("k", 0, 10, ["a", "b", "c"]), 9)]
    task.elements(("k", "d", None))
    task.advance_processing_time(25)
    assert task.take() == [(("k", 10, 20, ["d"]), 19)]
    assert task.op._backend.num_entries() == 0


def test_processing_time_sessions_merge():
    task = FakeWindowTask(window_op(ProcessingTimeSessionWindows.with_gap(5)), now=0)
    task.elements(("k", "a", None))           # [0,5)
    task.advance_processing_time(3)
    task.elements(("k", "b", None))           # [3,8) merges: [0,8)
    task.advance_processing_time(6)
    assert task.take() == []                  # [0,5)'s timer went with the merge
    task.advance_processing_time(8)
    assert task.take() == [(("k", 0, 8, ["a", "b"]), 7)]


# ---- process window functions --------------------------------------------------------------------


class FiringCounter:
    """A ProcessWindowFunction counting firings per window (window state) and per key (global
    state), emitting a side output per firing and clearing its window state in clear()."""

    side = OutputTag("side")

    def __init__(self):
        self.opened_with = None
        self.closed = False

    def open(self, runtime_context):
        self.opened_with = runtime_context.get_index_of_this_subtask()

    def close(self):
        self.closed = True

    def process(self, key, context, elements):
        fires = context.window_state().get_state(ValueStateDescriptor("fires"))
        total = context.global_state().get_state(ValueStateDescriptor("total"))
        fires.update((fires.value() or 0) + 1)
        total.update((total.value() or 0) + 1)
        context.output(self.side, ("watermark", context.current_watermark()))
        yield self.side, ("window", context.window().start)
        yield key, context.window().start, fires.value(), total.value(), len(list(elements))

    def clear(self, context):
        context.window_state().get_state(ValueStateDescriptor("fires")).clear()


def test_process_window_function_state_side_outputs_and_clear():
    fn = FiringCounter()
    op = window_op(TumblingEventTimeWindows.of(10), ProcessWindow(fn, single_value=False, keyed=True),
                   allowed_lateness=5)
    task = FakeWindowTask(op)
    assert fn.opened_with == 0
    task.elements(("k", "a", 1))
    task.watermark(9)
    task.elements(("k", "b", 2))              # re-fires [0,10): its second firing, the key's second
    task.watermark(14)                        # cleanup: clear() drops the window's counter
    task.elements(("k", "c", 11))
    task.watermark(30)
    assert task.take() == [(("k", 0, 1, 1, 1), 9), (("k", 0, 2, 2, 2), 9), (("k", 10, 1, 3, 1), 19)]
    assert task.sides["side"].take() == [
        (("watermark", 9), 9), (("window", 0), 9), (("watermark", 9), 9), (("window", 0), 9),
        (("watermark", 30), 19), (("window", 10), 19)]
    assert task.op._backend.get_keys("fires", TimeWindow(0, 10)) == []
    assert task.op._backend.get_keys("fires", TimeWindow(10, 20)) == []
    task.op.close()
    assert fn.closed


def test_aggregate_with_a_process_window_function_gets_the_single_result():
    def with_window(key, context, elements):
        (value,) = elements
        yield key, context.window().end, value

    op = window_op(TumblingEventTimeWindows.of(10), ProcessWindow(with_window, single_value=True, keyed=True),
                   aggregate_function=CountAndSum())
    task = FakeWindowTask(op)
    task.elements(("k", 5, 1), ("k", 7, 2))
    task.watermark(MAX_WATERMARK)
    assert task.take() == [(("k", 10, (2, 12)), 9)]


def test_window_all_has_one_key_and_no_key_argument():
    op = WindowOperator(TumblingEventTimeWindows.of(10), TumblingEventTimeWindows.of(10).get_default_trigger(),
                        ProcessWindow(lambda ctx, xs: [(ctx.window().start, sorted(xs))], single_value=False,
                                      keyed=False), keyed=False)
    task = FakeWindowTask(op)
    task.elements((None, 3, 1), (None, 1, 2), (None, 2, 15))
    task.watermark(MAX_WATERMARK)
    assert task.take() == [((0, [1, 3]), 9), ((10, [2]), 19)]
