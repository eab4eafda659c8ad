"""The window operator's fast paths give exactly the generic path's results.

The same randomized input (out-of-order elements over a few keys, watermarks that
sometimes overtake the data so that some elements are late, allowed lateness, a
late side output or none) goes through a ``WindowOperator`` with its fast path
and one with ``fast_path=False`` (Flink's WindowOperator step by step). Their
outputs must be identical: the same records in the same order, with the same
timestamps, in the same batches; the same side outputs; the same late records
dropped; and no state left behind.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from strom.client.api.state import AggregateFunction, ValueStateDescriptor
from strom.common.keygroups import key_group_for_key, key_group_range
from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.window import ApplyWindow, PassThrough, ProcessWindow, WindowOperator
from strom.taskmanager.operators.window.aligned import AlignedFastPath
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.state.errors import StateAccessError
from strom.taskmanager.time import MAX_WATERMARK
from strom.taskmanager.windowing import (
    ContinuousEventTimeTrigger,
    CountTrigger,
    EventTimeSessionWindows,
    EventTimeTrigger,
    GlobalWindows,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    TimeEvictor,
    TimeWindow,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
)
from tests.unit.taskmanager.operators.test_window_operator import FakeOutput, FakeWindowTask

SIDE = OutputTag("side")


# ---- window contents and functions ------------------------------------------------------------------


class CountSumMax(AggregateFunction):
    def create_accumulator(self):
        return (0, 0, None)

    def add(self, value, accumulator):
        n, total, top = accumulator
        return n + 1, total + value, value if top is None or value > top else top

    def get_result(self, accumulator):
        return accumulator

    def merge(self, a, b):
        return a[0] + b[0], a[1] + b[1], max(x for x in (a[2], b[2]) if x is not None)


class ListAccumulator(AggregateFunction):
    """A mutable accumulator: a list of the values."""

    def create_accumulator(self):
        return []

    def add(self, value, accumulator):
        accumulator.append(value)
        return accumulator

    def get_result(self, accumulator):
        return tuple(accumulator)

    def merge(self, a, b):
        return a + b


class Stateful:
    """A ProcessWindowFunction with per-window and per-key state, side outputs, a ``clear`` whose
    effects are visible (global state, a side output), and a habit of mutating its input list."""

    def process(self, key, context, elements):
        fires = context.window_state().get_state(ValueStateDescriptor("fires"))
        total = context.global_state().get_state(ValueStateDescriptor("total"))
        fires.update((fires.value() or 0) + 1)
        total.update((total.value() or 0) + 1)
        context.output(SIDE, ("fired", key, context.window().start, context.current_watermark()))
        if isinstance(elements, list):
            elements.append("mutated")  # must not reach the window's state
        yield key, context.window().start, context.window().end, fires.value(), total.value(), tuple(elements)

    def clear(self, context):
        fires = context.window_state().get_state(ValueStateDescriptor("fires"))
        total = context.global_state().get_state(ValueStateDescriptor("total"))
        context.output(SIDE, ("cleared", context.window().start, fires.value(), total.value()))
        fires.clear()
        total.update((total.value() or 0) + 100)


class GlobalStateful:
    """For session windows, which refuse per-window state: global state, side outputs, ``clear``."""

    def process(self, key, context, elements):
        total = context.global_state().get_state(ValueStateDescriptor("total"))
        total.update((total.value() or 0) + 1)
        context.output(SIDE, ("fired", key, context.window(), context.current_watermark()))
        if isinstance(elements, list):
            elements.append("mutated")
        yield key, context.window().start, context.window().end, total.value(), tuple(elements)

    def clear(self, context):
        total = context.global_state().get_state(ValueStateDescriptor("total"))
        context.output(SIDE, ("cleared", context.window(), total.value()))
        total.update((total.value() or 0) + 100)


def with_window(key, context, elements):
    (value,) = elements
    yield key, context.window().start, value


def list_window(key, window, inputs):
    yield key, window.start, window.end, list(inputs)


CONTENTS = {
    "aggregate": lambda: ({"aggregate_function": CountSumMax()}, PassThrough()),
    "aggregate-mutable": lambda: ({"aggregate_function": ListAccumulator()}, PassThrough()),
    "aggregate+process": lambda: ({"aggregate_function": CountSumMax()},
                                  ProcessWindow(with_window, single_value=True, keyed=True)),
    "reduce": lambda: ({"reduce_function": lambda a, b: a + b}, PassThrough()),
    "reduce+stateful": lambda: ({"reduce_function": lambda a, b: a * 31 + b},
                                ProcessWindow(Stateful(), single_value=True, keyed=True)),
    "apply": lambda: ({}, ApplyWindow(list_window, single_value=False, keyed=True)),
    "process-stateful": lambda: ({}, ProcessWindow(Stateful(), single_value=False, keyed=True)),
    "aggregate+global-stateful": lambda: ({"aggregate_function": CountSumMax()},
                                          ProcessWindow(GlobalStateful(), single_value=True, keyed=True)),
    "process-global-stateful": lambda: ({}, ProcessWindow(GlobalStateful(), single_value=False, keyed=True)),
}
SESSION_CONTENTS = ["aggregate", "aggregate-mutable", "aggregate+process", "reduce", "apply",
                    "aggregate+global-stateful", "process-global-stateful"]

EVENT_TIME_ASSIGNERS = {
    "tumbling": lambda: TumblingEventTimeWindows.of(10),
    "tumbling-offset": lambda: TumblingEventTimeWindows.of(10, 3),
    "sliding": lambda: SlidingEventTimeWindows.of(10, 5),
    "sliding-uneven": lambda: SlidingEventTimeWindows.of(10, 3),
    "sliding-gaps": lambda: SlidingEventTimeWindows.of(4, 10),  # some elements are in no window
}

KEYS = [1, 2, "a", "b", (3, "c"), 7.5]


def make_op(assigner, contents: str, fast: bool, **kwargs: Any) -> WindowOperator:
    op_kwargs, function = CONTENTS[contents]()
    op_kwargs.update(kwargs)
    op_kwargs.setdefault("late_tag", "late")
    return WindowOperator(assigner, assigner.get_default_trigger(), function, fast_path=fast, **op_kwargs)


def random_event_time_steps(seed: int, steps: int = 150) -> list[tuple[str, Any]]:
    """Batches of (key, value, timestamp) and watermarks; the watermark sometimes overtakes the data."""
    rng = random.Random(seed)
    now, watermark = 0, -(1 << 63)
    out: list[tuple[str, Any]] = []
    for _ in range(steps):
        if rng.random() < 0.3:
            watermark = max(watermark, now - rng.choice([0, 2, 6, 15, 30]))
            out.append(("watermark", watermark))
            continue
        batch = []
        for _ in range(rng.randrange(1, 14)):
            now += rng.randrange(0, 3)
            batch.append((rng.choice(KEYS), rng.randrange(-50, 100), now - rng.randrange(0, 25)))
        out.append(("batch", batch))
    out.append(("watermark", MAX_WATERMARK))
    return out


def run(task: FakeWindowTask, steps: list[tuple[str, Any]]) -> None:
    for what, item in steps:
        if what == "watermark":
            task.watermark(item)
        elif what == "advance":
            task.advance_processing_time(item)
        else:
            task.elements(*item)


def assert_same(fast: FakeWindowTask, generic: FakeWindowTask, *, same_batches: bool = True) -> None:
    if same_batches:
        assert fast.out.events == generic.out.events
        for tag in fast.sides:
            assert fast.sides[tag].events == generic.sides[tag].events, tag
    else:
        assert fast.take() == generic.take()
        for tag in fast.sides:
            assert fast.sides[tag].take() == generic.sides[tag].take(), tag
    assert fast.op.num_late_records_dropped == generic.op.num_late_records_dropped
    assert fast.op._backend.num_entries() == generic.op._backend.num_entries()


# ---- event time ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("assigner", list(EVENT_TIME_ASSIGNERS))
@pytest.mark.parametrize("contents", list(CONTENTS))
@pytest.mark.parametrize("lateness", [0, 7, 10])
def test_event_time_fast_path_equals_the_generic_path(assigner, contents, lateness):
    for seed in range(3):
        steps = random_event_time_steps(seed * 1000 + lateness)
        fast = FakeWindowTask(make_op(EVENT_TIME_ASSIGNERS[assigner](), contents, True, allowed_lateness=lateness))
        generic = FakeWindowTask(make_op(EVENT_TIME_ASSIGNERS[assigner](), contents, False,
                                         allowed_lateness=lateness))
        assert isinstance(fast.op._aligned, AlignedFastPath) and generic.op._aligned is None
        run(fast, steps)
        run(generic, steps)
        assert_same(fast, generic)
        assert fast.op._backend.num_keys("__window/contents") == 0
        assert generic.out.events, "the input produced no windows"


def test_the_random_input_exercises_late_data_and_refiring():
    steps = random_event_time_steps(7)
    task = FakeWindowTask(make_op(TumblingEventTimeWindows.of(10), "apply", True, allowed_lateness=7))
    run(task, steps)
    rows = [row for row, _ in task.take()]
    assert task.late(), "no element was late"
    windows = [(k, start) for k, start, _, _ in rows]
    assert len(windows) > len(set(windows)), "no window fired twice (allowed lateness)"


@pytest.mark.parametrize("late_tag", ["late", None])
def test_late_records_are_dropped_and_counted_alike_without_a_side_output(late_tag):
    steps = random_event_time_steps(11)
    fast = FakeWindowTask(make_op(SlidingEventTimeWindows.of(10, 5), "aggregate", True, late_tag=late_tag))
    generic = FakeWindowTask(make_op(SlidingEventTimeWindows.of(10, 5), "aggregate", False, late_tag=late_tag))
    run(fast, steps)
    run(generic, steps)
    assert_same(fast, generic)
    assert (generic.op.num_late_records_dropped > 0) == (late_tag is None)


def test_window_all_fast_path_equals_the_generic_path():
    def op(fast: bool) -> WindowOperator:
        return WindowOperator(TumblingEventTimeWindows.of(10), EventTimeTrigger(),
                              ApplyWindow(lambda w, xs: [(w.start, list(xs))], single_value=False, keyed=False),
                              keyed=False, allowed_lateness=5, late_tag="late", fast_path=fast)

    steps = random_event_time_steps(3)
    fast, generic = FakeWindowTask(op(True)), FakeWindowTask(op(False))
    run(fast, steps)
    run(generic, steps)
    assert_same(fast, generic)


# ---- processing time -------------------------------------------------------------------------------------


def random_processing_time_steps(seed: int, steps: int = 150) -> list[tuple[str, Any]]:
    rng = random.Random(seed)
    now = 0
    out: list[tuple[str, Any]] = []
    for _ in range(steps):
        if rng.random() < 0.3:
            now += rng.randrange(0, 12)
            out.append(("advance", now))
        else:
            out.append(("batch", [(rng.choice(KEYS), rng.randrange(100), None) for _ in range(rng.randrange(1, 10))]))
    out.append(("advance", now + 1_000))
    return out


@pytest.mark.parametrize("assigner", [lambda: TumblingProcessingTimeWindows.of(10),
                                      lambda: SlidingProcessingTimeWindows.of(10, 4)])
@pytest.mark.parametrize("contents", ["aggregate", "reduce+stateful", "process-stateful"])
def test_processing_time_fast_path_equals_the_generic_path(assigner, contents):
    steps = random_processing_time_steps(5)
    fast = FakeWindowTask(make_op(assigner(), contents, True))
    generic = FakeWindowTask(make_op(assigner(), contents, False))
    assert fast.op._aligned is not None
    run(fast, steps)
    run(generic, steps)
    # the generic path emits each (key, window) firing as a batch of its own, the fast path a window's
    assert_same(fast, generic, same_batches=False)
    assert fast.op._backend.num_keys("__window/contents") == 0


# ---- when the fast path applies ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: WindowOperator(TumblingEventTimeWindows.of(10), CountTrigger.of(2), PassThrough(),
                           reduce_function=lambda a, b: a + b),
    lambda: WindowOperator(TumblingEventTimeWindows.of(10), EventTimeTrigger(),
                           ApplyWindow(list_window, single_value=False, keyed=True), evictor=TimeEvictor.of(3)),
    lambda: WindowOperator(EventTimeSessionWindows.with_gap(10), ContinuousEventTimeTrigger.of(3), PassThrough(),
                           reduce_function=lambda a, b: a + b),
    lambda: WindowOperator(GlobalWindows.create(), CountTrigger.of(2), PassThrough(),
                           reduce_function=lambda a, b: a + b),
    lambda: WindowOperator(TumblingEventTimeWindows.of(10), EventTimeTrigger(), PassThrough(),
                           reduce_function=lambda a, b: a + b, fast_path=False),
    lambda: WindowOperator(EventTimeSessionWindows.with_gap(10), EventTimeTrigger(), PassThrough(),
                           reduce_function=lambda a, b: a + b, fast_path=False),
], ids=["custom-trigger", "evictor", "sessions-custom-trigger", "global", "switched-off", "sessions-switched-off"])
def test_other_windows_take_the_generic_path(make):
    op = FakeWindowTask(make()).op
    assert op._aligned is None and op._sessions is None


# ---- sessions -------------------------------------------------------------------------------------------

SESSION_ASSIGNERS = {
    "gap": lambda: EventTimeSessionWindows.with_gap(8),
    "dynamic-gap": lambda: EventTimeSessionWindows.with_dynamic_gap(lambda value: 3 + value % 9),
}


@pytest.mark.parametrize("assigner", list(SESSION_ASSIGNERS))
@pytest.mark.parametrize("contents", SESSION_CONTENTS)
@pytest.mark.parametrize("lateness", [0, 7])
def test_event_time_session_fast_path_equals_the_generic_path(assigner, contents, lateness):
    for seed in range(3):
        steps = random_event_time_steps(seed * 1000 + lateness + 1)
        fast = FakeWindowTask(make_op(SESSION_ASSIGNERS[assigner](), contents, True, allowed_lateness=lateness))
        generic = FakeWindowTask(make_op(SESSION_ASSIGNERS[assigner](), contents, False,
                                         allowed_lateness=lateness))
        assert fast.op._sessions is not None and generic.op._sessions is None
        run(fast, steps)
        run(generic, steps)
        assert_same(fast, generic)
        assert fast.op._backend.num_keys("__window/contents") == 0
        assert fast.op._timers.num_event_time_timers() == 0
        assert generic.out.events, "the input produced no windows"


def test_the_session_input_merges_windows_and_has_late_data():
    steps = random_event_time_steps(1)
    task = FakeWindowTask(make_op(EventTimeSessionWindows.with_gap(8), "apply", True, allowed_lateness=7))
    run(task, steps)
    rows = [row for row, _ in task.take()]
    assert task.late(), "no element was late"
    assert any(end - start > 8 for _, start, end, _ in rows), "no session merged"


@pytest.mark.parametrize("contents", ["aggregate", "process-global-stateful"])
def test_processing_time_session_fast_path_equals_the_generic_path(contents):
    from strom.taskmanager.windowing import ProcessingTimeSessionWindows

    steps = random_processing_time_steps(8)
    fast = FakeWindowTask(make_op(ProcessingTimeSessionWindows.with_gap(5), contents, True))
    generic = FakeWindowTask(make_op(ProcessingTimeSessionWindows.with_gap(5), contents, False))
    assert fast.op._sessions is not None
    run(fast, steps)
    run(generic, steps)
    assert_same(fast, generic, same_batches=False)
    assert fast.op._backend.num_keys("__window/contents") == 0


# ---- the window index is derived from the state backend ---------------------------------------------------


@pytest.mark.parametrize("contents", ["aggregate", "process-stateful"])
def test_the_index_is_rebuilt_from_a_restored_backend(contents):
    steps = random_event_time_steps(21)
    cut = len(steps) // 2
    while steps[cut][0] != "watermark":
        cut += 1
    watermark_at_cut = steps[cut][1]
    before, after = steps[:cut + 1], steps[cut + 1:]

    reference = FakeWindowTask(make_op(TumblingEventTimeWindows.of(10), contents, True, allowed_lateness=7))
    run(reference, steps)

    first = FakeWindowTask(make_op(TumblingEventTimeWindows.of(10), contents, True, allowed_lateness=7))
    run(first, before)
    snapshot = first.op._backend.snapshot()
    restored = FakeWindowTask(make_op(TumblingEventTimeWindows.of(10), contents, True, allowed_lateness=7))
    restored.op._backend.restore([snapshot])
    restored.op._aligned.rebuild(watermark_at_cut)
    restored.watermark(watermark_at_cut)
    run(restored, after)

    # keys of one window may fire in another order after a restore; the rows are the same
    assert sorted(map(repr, first.take() + restored.take())) == sorted(map(repr, reference.take()))
    assert sorted(map(repr, first.late() + restored.late())) == sorted(map(repr, reference.late()))
    assert restored.op._backend.num_keys("__window/contents") == 0


def test_contents_are_where_the_state_api_finds_them_in_a_subtask_of_many():
    owned = key_group_range(1, 2, 128)  # subtask 2 of 2 owns key groups 64..127
    keys = [k for k in [*range(40), *"abcdefghij"] if key_group_for_key(k, 128) in owned]
    items = [(k, i, i % 17) for i, k in enumerate(keys * 3)]
    ops = []
    for fast in (True, False):
        op = make_op(SlidingEventTimeWindows.of(10, 5), "apply", fast)
        op.open(OperatorContext("job", "job", "vertex", op.name, 1, 2, 128, 0, {}))
        op.output = FakeOutput()
        op.process(Batch(records=[v for _, v, _ in items], keys=[k for k, _, _ in items],
                         timestamps=np.array([t for _, _, t in items], dtype=np.int64)))
        assert op._backend.num_keys("__window/contents") == len(keys)
        ops.append(op)
    for key in keys:
        for start in (-5, 0, 5, 10, 15):
            contents = []
            for op in ops:
                op._backend.set_current_key(key)
                contents.append(op._backend.get_partitioned_state(TimeWindow(start, start + 10), op._descriptor).get())
            assert contents[0] == contents[1]


def test_an_unhashable_key_is_named_as_on_the_generic_path():
    for fast in (True, False):
        task = FakeWindowTask(make_op(TumblingEventTimeWindows.of(10), "aggregate", fast))
        with pytest.raises(StateAccessError, match="not hashable"):
            task.elements((1, 5, 1), ([1, 2], 5, 2))


def test_an_empty_clear_is_skipped_and_a_real_one_is_not():
    from strom.client.api.window_functions import ProcessWindowFunction

    class NoClear(ProcessWindowFunction):
        def process(self, key, context, elements):
            yield key

    class PassClear(NoClear):
        def clear(self, context):
            pass

    for fn, runs_clear in ((NoClear(), False), (PassClear(), False), (Stateful(), True)):
        op = make_op(TumblingEventTimeWindows.of(10), "apply", True)
        op.function = ProcessWindow(fn, single_value=False, keyed=True)
        assert FakeWindowTask(op).op._fn.has_user_clear() is runs_clear
