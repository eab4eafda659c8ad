"""The window API builds the WindowOperator Flink's WindowedStream would build, refuses what Flink
refuses with messages naming the step, and hands built-in aggregations to the vectorized hook."""

from __future__ import annotations

import sys
import types

import pytest

from strom import StreamExecutionEnvironment
from strom.client.api.state import AggregateFunction
from strom.client.api.time import Duration, Time
from strom.client.api.window_functions import ProcessWindowFunction
from strom.client.api.windowing import (
    CountEvictor,
    CountTrigger,
    EventTimeSessionWindows,
    GlobalWindows,
    PurgingTrigger,
    TumblingEventTimeWindows,
)
from strom.common.errors import JobGraphError
from strom.taskmanager.operators.base import Operator
from strom.taskmanager.operators.window import WindowOperator
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.time import MAX_WATERMARK
from tests.unit.taskmanager.operators.test_window_operator import FakeWindowTask


@pytest.fixture
def env():
    return StreamExecutionEnvironment.get_execution_environment()


def keyed(env):
    return env.from_collection([("a", 1)]).key_by(lambda r: r[0])


class Average(AggregateFunction):
    def create_accumulator(self):
        return (0, 0)

    def add(self, value, accumulator):
        return accumulator[0] + value[1], accumulator[1] + 1

    def get_result(self, accumulator):
        return accumulator[0] / accumulator[1]


class MergingAverage(Average):
    def merge(self, acc_a, acc_b):
        return acc_a[0] + acc_b[0], acc_a[1] + acc_b[1]


def operator_of(stream) -> Operator:
    return stream._node.operator


def run(op: WindowOperator, *items) -> list:
    task = FakeWindowTask(op)
    task.elements(*items)
    task.watermark(MAX_WATERMARK)
    return task.take()


def test_count_windows_are_global_windows_with_flinks_triggers(env):
    tumbling = keyed(env).count_window(5)
    assert isinstance(tumbling._assigner, GlobalWindows) and tumbling._evictor is None
    assert isinstance(tumbling._trigger, PurgingTrigger) and tumbling._trigger.nested.count == 5
    sliding = keyed(env).count_window(5, 2)
    assert isinstance(sliding._evictor, CountEvictor) and sliding._evictor.max_count == 5
    assert isinstance(sliding._trigger, CountTrigger) and sliding._trigger.count == 2
    with pytest.raises(ValueError, match="size must be a positive"):
        keyed(env).count_window(0)


def test_session_windows_refuse_a_trigger_that_cannot_merge(env):
    class NoMerge(CountTrigger):
        def can_merge(self):
            return False

    with pytest.raises(JobGraphError, match=r"window\(EventTimeSessionWindows\(gap=10\)\)\.trigger.*merging"):
        keyed(env).window(EventTimeSessionWindows.with_gap(10)).trigger(NoMerge(3))


def test_aggregate_refuses_what_is_not_an_aggregate_function(env):
    windowed = keyed(env).window(TumblingEventTimeWindows.of(10))
    with pytest.raises(TypeError, match="expects an AggregateFunction.*use reduce"):
        windowed.aggregate(lambda a, b: a)
    with pytest.raises(TypeError, match="combine them into one AggregateFunction"):
        windowed.aggregate(Average(), MergingAverage())


def test_session_aggregate_needs_merge(env):
    with pytest.raises(JobGraphError, match=r"implement Average\.merge"):
        keyed(env).window(EventTimeSessionWindows.with_gap(10)).aggregate(Average())
    keyed(env).window(EventTimeSessionWindows.with_gap(10)).aggregate(MergingAverage())


def test_configuration_reaches_the_operator(env):
    late = OutputTag("late")
    out = (keyed(env).window(TumblingEventTimeWindows.of(Time.seconds(10)))
           .allowed_lateness(Duration.of_seconds(2)).side_output_late_data(late)
           .evictor(CountEvictor.of(3)).reduce(lambda a, b: a))
    op = operator_of(out)
    assert isinstance(op, WindowOperator)
    assert op.lateness.allowed_lateness == 2000 and op.late_tag == "late" and op.evictor.max_count == 3
    assert out.get_name().startswith("Window(TumblingEventTimeWindows(size=10000), EventTimeTrigger(), "
                                      "CountEvictor(3), reduce")
    assert out.get_side_output(late)._side_output == "late"
    with pytest.raises(ValueError, match="allowed_lateness must not be negative"):
        keyed(env).window(TumblingEventTimeWindows.of(10)).allowed_lateness(-1)


def test_aggregate_with_a_window_function_passed_positionally(env):
    class Tag(ProcessWindowFunction):
        def process(self, key, context, elements):
            yield key, context.window().start, list(elements)

    out = keyed(env).window(TumblingEventTimeWindows.of(10)).aggregate(MergingAverage(), Tag())
    assert run(operator_of(out), ("a", ("a", 2), 1), ("a", ("a", 4), 3)) == [(("a", 0, [3.0]), 9)]


def test_sum_min_max_keep_the_first_element_with_the_field_aggregated(env):
    rows = [("a", ("a", 5, "first"), 1), ("a", ("a", 2, "second"), 2), ("a", ("a", 9, "third"), 3)]
    windowed = keyed(env).window(TumblingEventTimeWindows.of(10))
    assert run(operator_of(windowed.sum(1)), *rows) == [(("a", 16, "first"), 9)]
    assert run(operator_of(windowed.min(1)), *rows) == [(("a", 2, "first"), 9)]
    assert run(operator_of(windowed.max("f1")), *rows) == [(("a", 9, "first"), 9)]


def test_window_all_runs_at_parallelism_one(env):
    env.set_parallelism(4)
    out = env.from_sequence(1, 10).window_all(TumblingEventTimeWindows.of(10)).apply(lambda w, xs: [len(xs)])
    out.print()
    with pytest.raises(JobGraphError, match="parallelism 1"):
        out.set_parallelism(2)
    vertices = {v.name: v.parallelism for v in env.get_job_graph("all").vertices}
    assert [p for name, p in vertices.items() if name.startswith("Window All(")] == [1]


def test_window_join_is_tag_union_key_and_window(env):
    a = env.from_collection([(1, "x")])
    b = env.from_collection([(1, "y")])
    out = a.join(b).where(lambda r: r[0]).equal_to(lambda r: r[0]) \
        .window(TumblingEventTimeWindows.of(10)).apply(lambda left, right: (left[1], right[1]))
    names = [n.name for n in env._graph.nodes.values()]
    assert names[-4:] == ["Tag Left", "Tag Right", "Union", out.get_name()]
    assert out.get_name().startswith("Window Join(")
    op = operator_of(out)
    rows = run(op, (1, (0, (1, "x")), 1), (1, (1, (1, "y")), 2), (1, (0, (1, "z")), 3))
    assert sorted(rows) == [(("x", "y"), 9), (("z", "y"), 9)]


def test_co_group_gets_both_sides_even_when_one_is_empty(env):
    a = env.from_collection([(1, "x")])
    out = a.co_group(env.from_collection([(2, "y")])).where(0).equal_to(0) \
        .window(TumblingEventTimeWindows.of(10)).apply(lambda ls, rs: [(len(ls), len(rs))])
    rows = run(operator_of(out), (1, (0, (1, "x")), 1), (2, (1, (2, "y")), 2))
    assert sorted(rows) == [((0, 1), 9), ((1, 0), 9)]


# ---- the vectorized fast-path hook (client/api/aggregations.py, built elsewhere) -----------------


class FakeBuiltin(AggregateFunction):
    def __init__(self, name):
        self.name = name

    def create_accumulator(self):
        return 0

    def add(self, value, accumulator):
        return accumulator + (1 if self.name == "count" else value[1])

    def get_result(self, accumulator):
        return accumulator

    def merge(self, acc_a, acc_b):
        return acc_a + acc_b

    def __repr__(self):
        return f"{self.name}()"


class FakeVectorizedOperator(Operator):
    name = "Fake Vectorized Window"


@pytest.fixture
def fake_aggregations(monkeypatch):
    """A stand-in ``strom.client.api.aggregations`` whose fast path applies when ``applies`` says so."""
    module = types.ModuleType("strom.client.api.aggregations")
    module.BuiltinAggregation = FakeBuiltin
    module.count = lambda: FakeBuiltin("count")
    module.calls = []
    module.applies = True

    def vectorized_window_operator(windowed, aggregations):
        module.calls.append({
            "assigner": windowed._assigner, "trigger": windowed._trigger, "evictor": windowed._evictor,
            "lateness": windowed._allowed_lateness_ms, "late_tag": windowed._late_tag,
            "key": windowed._keyed._key, "aggregations": [repr(a) for a in aggregations]})
        return FakeVectorizedOperator() if module.applies else None

    module.vectorized_window_operator = vectorized_window_operator
    monkeypatch.setitem(sys.modules, "strom.client.api.aggregations", module)
    return module


def test_builtin_aggregations_go_to_the_fast_path_when_it_applies(env, fake_aggregations):
    late = OutputTag("late")
    key = lambda r: r[0]  # noqa: E731
    windowed = env.from_collection([("a", 1)]).key_by(key).window(TumblingEventTimeWindows.of(10)) \
        .allowed_lateness(5).side_output_late_data(late)
    out = windowed.aggregate(FakeBuiltin("sum"), FakeBuiltin("count"))
    assert isinstance(operator_of(out), FakeVectorizedOperator)
    assert out._node.stateful and out.get_name().startswith("Window(")
    assert fake_aggregations.calls == [{
        "assigner": windowed._assigner, "trigger": None, "evictor": None, "lateness": 5, "late_tag": late,
        "key": key, "aggregations": ["sum()", "count()"]}]
    assert out.get_side_output(late)._node is out._node
    count = keyed(env).window(TumblingEventTimeWindows.of(10)).count()
    assert isinstance(operator_of(count), FakeVectorizedOperator)
    assert fake_aggregations.calls[-1]["aggregations"] == ["count()"]


def test_builtin_aggregations_per_record_when_the_fast_path_does_not_apply(env, fake_aggregations):
    fake_aggregations.applies = False
    windowed = keyed(env).window(TumblingEventTimeWindows.of(10))
    rows = [("a", ("a", 5), 1), ("a", ("a", 2), 2), ("b", ("b", 1), 12)]
    both = windowed.aggregate(FakeBuiltin("sum"), FakeBuiltin("count"))
    assert isinstance(operator_of(both), WindowOperator)
    assert run(operator_of(both), *rows) == [(("a", 0, 10, 7, 2), 9), (("b", 10, 20, 1, 1), 19)]
    counted = keyed(env).window(TumblingEventTimeWindows.of(10)).count()
    assert run(operator_of(counted), *rows) == [(("a", 0, 10, 2), 9), (("b", 10, 20, 1), 19)]
    user = keyed(env).window(TumblingEventTimeWindows.of(10)).aggregate(MergingAverage())
    assert run(operator_of(user), *rows) == [(3.5, 9), (1.0, 19)]   # one user function: its result


def test_count_without_the_aggregations_module(env, monkeypatch):
    monkeypatch.setitem(sys.modules, "strom.client.api.aggregations", None)  # import fails
    counted = keyed(env).window(TumblingEventTimeWindows.of(10)).count()
    assert run(operator_of(counted), ("a", ("a", 5), 1), ("a", ("a", 2), 2)) == [(("a", 0, 10, 2), 9)]


def test_a_function_class_instead_of_an_instance_is_refused(env):
    class Tag(ProcessWindowFunction):
        def process(self, key, context, elements):
            yield key

    with pytest.raises(TypeError, match=r"got the class Tag: write Tag\(\)"):
        keyed(env).window(TumblingEventTimeWindows.of(10)).process(Tag)


def test_field_aggregation_by_column_name_of_an_arrow_source(env):
    import numpy as np
    import pyarrow as pa

    from strom.taskmanager.runtime.batch import Batch

    op = operator_of(keyed(env).window(TumblingEventTimeWindows.of(10)).sum("price"))
    task = FakeWindowTask(op)
    columns = {"auction": [7, 7, 8], "price": [10, 5, 1], "bidder": ["x", "y", "z"], "__key__": [7, 7, 8]}
    op.process(Batch.of_arrow(pa.RecordBatch.from_pydict(columns), np.array([1, 2, 3], dtype=np.int64)))
    task.watermark(MAX_WATERMARK)
    assert task.take() == [((7, 15, "x"), 9), ((8, 1, "z"), 9)]
