"""The vectorized window aggregation, driven with batches and watermarks, against a plain-Python
reference of Flink's WindowOperator (per element: assign windows, drop late windows, re-fire
late-but-allowed ones, side-output skipped late elements; per watermark: fire due windows in
order of window then key)."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from strom.client.api import aggregations as agg
from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.window_vectorized import VectorizedWindowAggregateOperator, WindowAggregation
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.records import KEY_COLUMN, records_to_arrow
from strom.taskmanager.time.clock import ManualClock
from strom.taskmanager.time.errors import MissingTimestampError
from strom.taskmanager.time.processing_time import ProcessingTimeService
from strom.taskmanager.time.watermarks import MAX_WATERMARK
from strom.taskmanager.windowing.assigners import (
    EventTimeSessionWindows,
    SlidingEventTimeWindows,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
)
from strom.taskmanager.windowing.triggers import CountTrigger

LATE = "late"


# ---- harness -------------------------------------------------------------------------------------


class Collect:
    """An Output remembering emitted batches (rows with timestamps) and watermarks, in order."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.items: list[tuple] = []

    def emit(self, batch: Batch) -> None:
        self.batches.append(batch)
        self.items += [("row", r, int(t)) for r, t in zip(batch.records, batch.timestamps, strict=True)]

    def emit_watermark(self, watermark: int) -> None:
        self.items.append(("wm", watermark))

    def emit_watermark_status(self, idle: bool) -> None:
        pass

    def rows(self) -> list[tuple]:
        return [(r, t) for kind, *rest in self.items if kind == "row" for r, t in [rest]]


def context(pts: ProcessingTimeService | None = None) -> OperatorContext:
    return OperatorContext(job_id="j", job_name="job", vertex_name="v", operator_name="Window", subtask_index=0,
                           parallelism=1, max_parallelism=128, attempt=0, processing_time_service=pts)


def operator(assigner, aggregations, lateness=0, late_tag=True, pts=None, key_name="key"):
    op = VectorizedWindowAggregateOperator(assigner, aggregations, key_name=key_name, allowed_lateness=lateness,
                                           late_tag_id=LATE if late_tag else None, name="Window(test)")
    out, late = Collect(), Collect()
    op.output = out
    op.side_outputs = {LATE: late}
    op.open(context(pts))
    return op, out, late


def arrow_batch(records: list[tuple], ts: list[int], key_pos: int = 0) -> Batch:
    rb = records_to_arrow(records, [r[key_pos] for r in records])
    return Batch.of_arrow(rb, timestamps=np.array(ts, dtype=np.int64))


AGGS = [WindowAggregation("count", None, "count"), WindowAggregation("sum", 1, "sum_1"),
        WindowAggregation("min", 1, "min_1"), WindowAggregation("max", 1, "max_1"),
        WindowAggregation("mean", 1, "mean_1")]


def results(values: list[Any], aggregations=AGGS) -> tuple:
    present = [v for v in values if v is not None]
    out: list[Any] = []
    for a in aggregations:
        if a.kind == "count":
            out.append(len(values))
        elif not present:
            out.append(None)
        else:
            out.append({"sum": sum, "min": min, "max": max}[a.kind](present) if a.kind != "mean"
                       else sum(present) / len(present))
    return tuple(out)


def windows_of(ts: int, size: int, slide: int) -> list[int]:
    """Window starts of a timestamp, latest first (Flink's SlidingEventTimeWindows order)."""
    last = ts - ts % slide
    return [s for s in range(last, ts - size, -slide)]


def reference(events: list[tuple], size: int, slide: int, lateness: int, aggregations=AGGS):
    """``events``: ("rec", key, ts, value) and ("wm", w). Returns (emitted rows with timestamps, late records)."""
    wm = -(1 << 63)
    contents: dict[tuple, list] = {}
    rows: list[tuple] = []
    late: list[tuple] = []
    for e in events:
        if e[0] == "rec":
            _, key, ts, value = e
            taken = False
            for start in windows_of(ts, size, slide):
                max_ts = start + size - 1
                if max_ts + lateness <= wm:
                    continue
                taken = True
                contents.setdefault((key, start), []).append(value)
                if max_ts <= wm:
                    rows.append(((key, start, start + size, *results(contents[(key, start)], aggregations)), max_ts))
            if not taken and ts + lateness <= wm:
                late.append(((key, value), ts))
        elif e[1] > wm:
            old, wm = wm, e[1]
            due = sorted((start, key) for key, start in contents if old < start + size - 1 <= wm)
            for start, key in due:
                rows.append(((key, start, start + size, *results(contents[(key, start)], aggregations)),
                             start + size - 1))
            for key, start in list(contents):
                if start + size - 1 + lateness <= wm:
                    del contents[(key, start)]
    return rows, late


def drive(op, events: list[tuple], rng: random.Random, make_batch=arrow_batch) -> None:
    """Feed records in batches of random size (a watermark ends a batch)."""
    pending: list[tuple] = []

    def flush() -> None:
        while pending:
            n = rng.randint(1, 40)
            chunk, pending[:] = pending[:n], pending[n:]
            op.process(make_batch([(k, v) for _, k, _, v in chunk], [t for _, _, t, _ in chunk]))

    for e in events:
        if e[0] == "rec":
            pending.append(e)
        else:
            flush()
            op.process_watermark(e[1])
    flush()


def random_events(rng: random.Random, n: int, keys: list[Any], disorder: int, wm_lag: int,
                  none_share: float = 0.0) -> list[tuple]:
    """Records with event time advancing ~37 ms each, up to ``disorder`` ms out of order, and a
    watermark every ~25 records at max_ts - wm_lag - 1 (so some records are late)."""
    events: list[tuple] = []
    max_ts = 0
    for i in range(n):
        ts = i * 37 - rng.randrange(disorder)
        value = None if rng.random() < none_share else rng.randint(-50, 1000)
        events.append(("rec", rng.choice(keys), ts, value))
        max_ts = max(max_ts, ts)
        if rng.random() < 0.04:
            events.append(("wm", max_ts - wm_lag - 1))
    events.append(("wm", MAX_WATERMARK))
    return events


# ---- the vectorized path against the reference ------------------------------------------------------


@pytest.mark.parametrize("size,slide,lateness", [
    (1_000, 1_000, 0),          # tumbling
    (1_000, 1_000, 700),        # tumbling, late-but-allowed elements re-fire
    (1_000, 500, 0),            # sliding
    (1_000, 300, 400),          # sliding, size not a multiple of slide, lateness
    (500, 800, 0),              # sliding with gaps (slide > size): some rows are in no window
])
@pytest.mark.parametrize("seed", [1, 2])
def test_out_of_order_multiple_keys_against_reference(size, slide, lateness, seed):
    rng = random.Random(seed * 1000 + size + slide + lateness)
    events = random_events(rng, 1500, [f"k{i}" for i in range(7)], disorder=2_500, wm_lag=300)
    assigner = (TumblingEventTimeWindows.of(size) if size == slide else SlidingEventTimeWindows.of(size, slide))
    op, out, late = operator(assigner, AGGS, lateness=lateness)
    drive(op, events, rng)
    expected_rows, expected_late = reference(events, size, slide, lateness)
    assert out.rows() == expected_rows
    assert late.rows() == expected_late
    assert expected_late, "the events should include late records"
    if lateness:
        assert len(expected_rows) > len({r[:3] for r, _ in expected_rows}), "some windows should re-fire"
    # every watermark is forwarded, after the windows it fired
    assert [i[1] for i in out.items if i[0] == "wm"] == [e[1] for e in events if e[0] == "wm"]
    final = out.items.index(("wm", MAX_WATERMARK))
    assert final == len(out.items) - 1 and out.items[final - 1][0] == "row"


def test_late_but_allowed_elements_refire_their_window_once_each():
    op, out, late = operator(TumblingEventTimeWindows.of(1_000), AGGS, lateness=2_000)
    op.process(arrow_batch([("a", 5), ("a", 7), ("b", 1)], [100, 900, 950]))
    op.process_watermark(1_500)
    assert out.rows() == [(("a", 0, 1000, 2, 12, 5, 7, 6.0), 999), (("b", 0, 1000, 1, 1, 1, 1, 1.0), 999)]
    op.process(arrow_batch([("a", 1), ("c", 4), ("a", 10)], [10, 20, 30]))   # late, within lateness
    assert out.rows()[2:] == [(("a", 0, 1000, 3, 13, 1, 7, 13 / 3), 999),
                              (("c", 0, 1000, 1, 4, 4, 4, 4.0), 999),
                              (("a", 0, 1000, 4, 23, 1, 10, 23 / 4), 999)]
    op.process_watermark(2_999)  # cleanup time of [0, 1000): 999 + 2000
    op.process(arrow_batch([("a", 100)], [40]))
    assert len(out.rows()) == 5
    assert late.rows() == [(("a", 100), 40)]


def test_named_arrow_columns_and_output_schema():
    schema = pa.schema([("auction", pa.int64()), ("price", pa.int64()), (KEY_COLUMN, pa.int64())])
    rb = pa.record_batch([pa.array([1, 2, 1, 1]), pa.array([10, 20, 30, 5]), pa.array([1, 2, 1, 1])], schema=schema)
    aggs = [agg.count().to_runtime(), agg.max("price").to_runtime(), agg.mean("price").alias("avg").to_runtime()]
    op, out, _ = operator(TumblingEventTimeWindows.of(10_000), aggs, key_name="auction")
    op.process(Batch.of_arrow(rb, timestamps=np.array([1, 2, 10_001, 3])))
    op.process_watermark(MAX_WATERMARK)
    assert len(out.batches) == 1, "one batch per firing"
    arrow = out.batches[0].arrow
    assert arrow.schema.names == ["auction", "window_start", "window_end", "count", "max_price", "avg"]
    assert [arrow.schema.field(i).type for i in range(6)] == [pa.int64()] * 5 + [pa.float64()]
    assert out.rows() == [((1, 0, 10_000, 2, 10, 7.5), 9_999), ((2, 0, 10_000, 1, 20, 20.0), 9_999),
                          ((1, 10_000, 20_000, 1, 30, 30.0), 19_999)]


def test_nulls_are_skipped_and_an_all_null_window_gives_none():
    rng = random.Random(5)
    events = random_events(rng, 800, ["x", "y", "z"], disorder=300, wm_lag=100, none_share=0.3)
    events.insert(0, ("rec", "only-none", 5, None))
    op, out, _ = operator(TumblingEventTimeWindows.of(1_000), AGGS)
    drive(op, events, rng)
    expected, _ = reference(events, 1_000, 1_000, 0)
    assert out.rows() == expected
    assert (("only-none", 0, 1000, 1, None, None, None, None), 999) in expected


def test_float_values_and_compaction_of_a_large_window():
    op, out, _ = operator(TumblingEventTimeWindows.of(1_000_000), [WindowAggregation("count", None, "n"),
                                                                   WindowAggregation("max", 1, "top"),
                                                                   WindowAggregation("min", 1, "low")])
    rng = np.random.default_rng(3)
    expected: dict[int, list[float]] = {}
    for _ in range(30):   # 30 x 5000 rows of 20,000 keys: partial tables are merged on the way
        keys = rng.integers(0, 20_000, 5_000).tolist()
        values = rng.random(5_000).tolist()
        for k, v in zip(keys, values, strict=True):
            expected.setdefault(k, []).append(v)
        op.process(arrow_batch(list(zip(keys, values, strict=True)), [7] * 5_000))
    op.process_watermark(MAX_WATERMARK)
    assert [r for r, _ in out.rows()] == [(k, 0, 1_000_000, len(v), max(v), min(v)) for k, v in sorted(expected.items())]


# ---- the per-record fallback gives the same rows ---------------------------------------------------


def records_batch(records: list[tuple], ts: list[int]) -> Batch:
    return Batch(records=records, keys=[r[0] for r in records], timestamps=np.array(ts, dtype=np.int64))


def test_pickled_keys_run_per_record_with_the_same_rows():
    rng = random.Random(8)
    events = random_events(rng, 1200, [("a", 1), ("a", 2), ("b", 1)], disorder=600, wm_lag=200, none_share=0.1)
    op, out, late = operator(SlidingEventTimeWindows.of(1_000, 500), AGGS, lateness=300)
    drive(op, events, rng)
    expected_rows, expected_late = reference(events, 1_000, 500, 300)
    assert not op._vectorized
    assert out.rows() == expected_rows
    assert late.rows() == expected_late


def test_switching_to_per_record_mid_stream_carries_partial_state_over():
    rng = random.Random(9)
    events = random_events(rng, 1500, ["a", "b", "c", "d"], disorder=600, wm_lag=200)
    switch_at = 700
    seen = 0

    def make_batch(records, ts):
        nonlocal seen
        seen += len(records)
        # after ``switch_at`` records, values arrive as Python objects (no Arrow): per record from then on
        return arrow_batch(records, ts) if seen < switch_at else records_batch(records, ts)

    op, out, late = operator(TumblingEventTimeWindows.of(1_000), AGGS, lateness=500)
    drive(op, events, rng, make_batch)
    expected_rows, expected_late = reference(events, 1_000, 1_000, 500)
    assert not op._vectorized
    assert out.rows() == expected_rows
    assert late.rows() == expected_late


def test_pickled_value_column_falls_back():
    op, out, _ = operator(TumblingEventTimeWindows.of(1_000), [WindowAggregation("max", 1, "m"),
                                                               WindowAggregation("count", None, "count")])
    op.process(arrow_batch([("a", 3), ("a", 2.5), ("b", "x"), ("b", "y")], [1, 2, 3, 4]))  # mixed: pickled
    op.process_watermark(MAX_WATERMARK)
    assert out.rows() == [(("a", 0, 1000, 3, 2), 999), (("b", 0, 1000, "y", 2), 999)]


# ---- time and errors ------------------------------------------------------------------------------------


def test_processing_time_windows_fire_on_processing_time():
    clock = ManualClock(1_000)
    pts = ProcessingTimeService(clock)
    op, out, _ = operator(TumblingProcessingTimeWindows.of(1_000), AGGS, pts=pts)
    op.process(arrow_batch([("a", 1), ("b", 2)], [0, 0]))
    clock.set(1_500)
    op.process(arrow_batch([("a", 3)], [0]))
    op.process_watermark(MAX_WATERMARK)   # event time does not fire processing-time windows
    assert out.rows() == []
    clock.set(2_000)
    pts.run_due()
    assert [r for r, _ in out.rows()] == [("a", 1000, 2000, 2, 4, 1, 3, 2.0), ("b", 1000, 2000, 1, 2, 2, 2, 2.0)]
    op.process(arrow_batch([("a", 9)], [0]))
    op.close()   # the input ended: a window not yet due is dropped, as in Flink
    clock.set(10_000)
    pts.run_due()
    assert len(out.rows()) == 2


def test_missing_timestamps_name_the_step():
    op, _, _ = operator(TumblingEventTimeWindows.of(1_000), AGGS)
    with pytest.raises(MissingTimestampError, match=r"Window\(test\).*assign_timestamps_and_watermarks"):
        op.process(Batch.of_arrow(records_to_arrow([("a", 1)], ["a"])))


def test_duplicate_output_names_ask_for_an_alias():
    with pytest.raises(ValueError, match="alias"):
        VectorizedWindowAggregateOperator(TumblingEventTimeWindows.of(1_000),
                                          [agg.max("price").to_runtime(), agg.max("price").to_runtime()])


# ---- the client API: built-ins, AggregateFunction behaviour, the hook -------------------------------------


def test_builtins_as_aggregate_functions_match_the_operator():
    rng = random.Random(4)
    records = [(rng.choice("abc"), rng.choice([None, *range(-5, 50)])) for _ in range(500)]
    builtins = [agg.count(), agg.sum(1), agg.min(1), agg.max(1), agg.mean(1)]
    combined = agg.BuiltinAggregations(builtins)
    per_key: dict[str, list] = {}
    for r in records:   # accumulate in two halves and merge them: what session windows do
        per_key.setdefault(r[0], [combined.create_accumulator(), combined.create_accumulator()])
        half = per_key[r[0]]
        i = rng.randrange(2)
        half[i] = combined.add(r, half[i])
    by_function = sorted((k, 0, 1000, *combined.get_result(combined.merge(*acc))) for k, acc in per_key.items())
    op, out, _ = operator(TumblingEventTimeWindows.of(1_000), [b.to_runtime() for b in builtins])
    op.process(arrow_batch(records, [1] * len(records)))
    op.process_watermark(MAX_WATERMARK)
    assert [r for r, _ in out.rows()] == by_function


def test_builtin_names_fields_and_errors():
    assert [a.name for a in (agg.count(), agg.sum("price"), agg.max(2), agg.mean("p").alias("avg"))] == [
        "count", "sum_price", "max_2", "avg"]
    assert agg.max("price").add({"price": 4}, agg.max("price").add({"price": 9}, None)) == 9
    assert agg.sum("f1").add((1, 2), None) == 2
    assert repr(agg.max("price").alias("top")) == "max('price').alias('top')"
    with pytest.raises(TypeError, match="count\\(\\) takes no field"):
        agg._Count("x")
    with pytest.raises(TypeError, match="column name or a tuple position"):
        agg.sum(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cannot read field 'price' of a tuple"):
        agg.max("price").add((1, 2), None)
    bound = agg.max("price")
    bound.bind_columns(["auction", "price"])   # tuple records of an Arrow source with these columns
    assert bound.add((1, 7), bound.add((2, 3), None)) == 7


def windowed(assigner, trigger=None, evictor=None, key="auction", lateness=0, late_tag=None):
    return SimpleNamespace(_assigner=assigner, _trigger=trigger, _evictor=evictor, _allowed_lateness_ms=lateness,
                           _late_tag=late_tag, _keyed=SimpleNamespace(_key=key))


def test_the_hook_picks_the_fast_path_only_where_it_applies():
    from strom.client.api.state import AggregateFunction

    class UserAgg(AggregateFunction):
        def create_accumulator(self):
            return 0

        def add(self, value, acc):
            return acc + 1

        def get_result(self, acc):
            return acc

    tumbling = TumblingEventTimeWindows.of(10_000)
    op = agg.vectorized_window_operator(windowed(tumbling, lateness=5, late_tag=SimpleNamespace(tag_id="t")),
                                        [agg.count(), agg.max("price")])
    assert isinstance(op, VectorizedWindowAggregateOperator)
    assert (op.key_name, op.allowed_lateness, op.late_tag_id) == ("auction", 5, "t")
    assert agg.vectorized_window_operator(windowed(tumbling, key=lambda r: r[0]), [agg.count()]).key_name == "key"
    assert agg.vectorized_window_operator(windowed(SlidingEventTimeWindows.of(10, 5)), [agg.count()]) is not None
    assert agg.vectorized_window_operator(windowed(TumblingProcessingTimeWindows.of(10)), [agg.count()]) is not None
    assert agg.vectorized_window_operator(windowed(EventTimeSessionWindows.with_gap(10)), [agg.count()]) is None
    assert agg.vectorized_window_operator(windowed(tumbling, trigger=CountTrigger.of(3)), [agg.count()]) is None
    assert agg.vectorized_window_operator(windowed(tumbling, evictor=object()), [agg.count()]) is None
    assert agg.vectorized_window_operator(windowed(tumbling), [agg.count(), UserAgg()]) is None
    assert agg.vectorized_window_operator(windowed(tumbling), []) is None
