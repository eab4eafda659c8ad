import pyarrow as pa
import pytest

from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.records import KEY_COLUMN, arrow_keys, arrow_to_records, records_to_arrow


class Point:
    def __init__(self, x):
        self.x = x

    def __eq__(self, other):
        return isinstance(other, Point) and other.x == self.x


CASES = [
    ["a", "b", None],
    [1, 2, 3],
    [1, 2.5],                      # mixed int/float stays mixed (pickled), not coerced to 1.0
    [("a", 1), ("b", 2)],
    [("a", [1]), ("b", {})],
    [Point(1), Point(2)],
    [(1, "x"), (2, None)],
    [10**30],                      # beyond int64
    [True, False],
    [()],
    [{"a": 1}, {"b": 2}],
    [b"raw", b""],
]


@pytest.mark.parametrize("records", CASES)
def test_round_trip_is_exact_including_types(records):
    back = arrow_to_records(records_to_arrow(records))
    assert back == records
    assert [type(x) for x in back] == [type(x) for x in records]


def test_typed_columns_for_typed_tuples():
    rb = records_to_arrow([("a", 1), ("b", 2)])
    assert rb.schema.field("f0").type == pa.string()
    assert rb.schema.field("f1").type == pa.int64()


def test_keys_travel_as_column_and_are_not_records():
    rb = records_to_arrow([("a", 1), ("b", 2)], keys=["a", "b"])
    assert KEY_COLUMN in rb.schema.names
    assert arrow_keys(rb) == ["a", "b"]
    batch = Batch.of_arrow(rb)
    assert batch.records == [("a", 1), ("b", 2)]
    assert batch.keys == ["a", "b"]
    assert KEY_COLUMN not in batch.arrow.schema.names


def test_native_arrow_batches_become_scalars_or_tuples():
    one = pa.record_batch([pa.array([1, 2])], names=["value"])
    two = pa.record_batch([pa.array([1, 2]), pa.array(["x", "y"])], names=["id", "name"])
    assert arrow_to_records(one) == [1, 2]
    assert arrow_to_records(two) == [(1, "x"), (2, "y")]


def test_field_selector_lambdas_take_the_key_column_without_calls():
    from strom.taskmanager.runtime.chain import KeyExtractor, subscript_constant

    assert subscript_constant(lambda r: r[1]) == 1
    offset = 1
    assert subscript_constant(lambda r: r[offset]) is None        # closure: not a constant
    assert subscript_constant(lambda r: r["name"]) is None
    assert subscript_constant(lambda r: r[0] + 1) is None
    records = [("a", 1), ("b", 2), ("a", 3)]
    for selector in (lambda r: r[0], 0, lambda r: r[0].upper()):
        rb = KeyExtractor(selector).to_arrow(Batch.of_records(records))
        expected = [r[0].upper() if callable(selector) and subscript_constant(selector) is None else r[0]
                    for r in records]
        assert Batch.of_arrow(rb).keys == expected
        assert Batch.of_arrow(rb).records == records
    mixed = [("a", 1), (("t", 1), 2)]                               # a pickled key column falls back to calls
    rb = KeyExtractor(lambda r: r[0]).to_arrow(Batch.of_records(mixed))
    assert Batch.of_arrow(rb).keys == ["a", ("t", 1)]
