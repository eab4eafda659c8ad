from collections import Counter

import pytest

from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.keyed import AggregationOperator, ReduceOperator
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.records import records_to_arrow


class Collect:
    def __init__(self):
        self.records = []

    def emit(self, batch):
        self.records.extend(batch.records)


def _run(op, batches, mode):
    op.output = Collect()
    op.open(OperatorContext("j", "j", "v", "op", 0, 1, 128, 0, {"execution.runtime-mode": mode}))
    for recs in batches:
        op.process(Batch.of_arrow(records_to_arrow(recs, keys=[r[0] for r in recs])))
    op.finish()
    return op.output.records


WORDS = [[("a", 1), ("b", 1), ("a", 1)], [("a", 1)], [("c", 1), ("b", 1)]]


def test_sum_batch_mode_emits_final_counts_once():
    assert sorted(_run(AggregationOperator("sum", 1), WORDS, "BATCH")) == [("a", 3), ("b", 2), ("c", 1)]


def test_sum_streaming_mode_emits_running_counts():
    assert _run(AggregationOperator("sum", 1), WORDS, "STREAMING") == [
        ("a", 1), ("b", 1), ("a", 2), ("a", 3), ("c", 1), ("b", 2)]


@pytest.mark.parametrize("kind,expected", [("min", {"a": 1, "b": 5}), ("max", {"a": 7, "b": 5})])
def test_min_max_keep_first_records_other_fields(kind, expected):
    batches = [[("a", 3, "first"), ("b", 5, "b0")], [("a", 7, "x"), ("a", 1, "y")]]
    out = _run(AggregationOperator(kind, 1), batches, "BATCH")
    assert {r[0]: r[1] for r in out} == expected
    assert {r[0]: r[2] for r in out} == {"a": "first", "b": "b0"}


def test_sum_falls_back_to_per_record_for_pickled_values_and_keeps_partials():
    batches = [[("a", 1), ("b", 2)], [("a", 1.5), ("a", 2)]]  # second batch mixes int/float -> pickled
    out = dict(_run(AggregationOperator("sum", 1), batches, "BATCH"))
    assert out == {"a": 4.5, "b": 2}


def test_reduce_with_a_user_function():
    data = [[("a", "x"), ("b", "y")], [("a", "z")]]
    out = _run(ReduceOperator(lambda acc, r: (acc[0], acc[1] + r[1])), data, "BATCH")
    assert sorted(out) == [("a", "xz"), ("b", "y")]
    streaming = _run(ReduceOperator(lambda acc, r: (acc[0], acc[1] + r[1])), data, "STREAMING")
    assert Counter(streaming) == Counter([("a", "x"), ("b", "y"), ("a", "xz")])


def test_streaming_aggregation_by_column_name_over_arrow_rows():
    import pyarrow as pa

    op = AggregationOperator("max", "price")
    op.output = Collect()
    op.open(OperatorContext("j", "j", "v", "op", 0, 1, 128, 0, {"execution.runtime-mode": "STREAMING"}))
    rows = pa.RecordBatch.from_pydict({"auction": [1, 2, 1], "price": [10, 5, 30], "__key__": [1, 2, 1]})
    op.process(Batch.of_arrow(rows))
    assert op.output.records == [(1, 10), (2, 5), (1, 30)]
    with pytest.raises(KeyError, match="no column 'price'"):
        bad = AggregationOperator("max", "price")
        bad.output = Collect()
        bad.open(OperatorContext("j", "j", "v", "op", 0, 1, 128, 0, {}))
        bad.process(Batch.of_arrow(pa.RecordBatch.from_pydict({"a": [1], "b": [2], "__key__": [1]})))


def test_running_aggregates_keep_their_state_in_the_keyed_backend_by_key_group():
    from strom.taskmanager.state import VOID_NAMESPACE, HashMapKeyedStateBackend, RuntimeStateDescriptor

    op = AggregationOperator("sum", 1)
    _run(op, WORDS, "STREAMING")
    backend = op.state.backend
    restored = HashMapKeyedStateBackend.for_subtask(0, 1, 128)
    restored.restore([backend.snapshot()])
    descriptor = RuntimeStateDescriptor("sum", "value")
    totals = {}
    for key in restored.get_keys("sum", VOID_NAMESPACE):
        restored.set_current_key(key)
        totals[key] = restored.get_state(descriptor).value()
    assert totals == {"a": ("a", 3), "b": ("b", 2), "c": ("c", 1)}
