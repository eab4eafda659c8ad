"""Timestamps and watermarks inside a chain: batches carry event time through per-record and
Arrow operators and over the exchange format; watermarks and idleness reach every output."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from strom.taskmanager.network.events import WatermarkStatusEvent, decode_event, encode_event
from strom.taskmanager.operators.base import Discard, FanOut, Operator, OperatorContext, OperatorInput
from strom.taskmanager.operators.stateless import (
    FilterOperator,
    FlatMapOperator,
    MapBatchesOperator,
    MapOperator,
)
from strom.taskmanager.operators.timestamps import TimestampsAndWatermarksOperator
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag, split_side_outputs
from strom.taskmanager.runtime.records import TS_COLUMN, arrow_to_records, records_to_arrow, with_timestamps
from strom.taskmanager.runtime.task import ExchangeOutput
from strom.taskmanager.time.clock import ManualClock
from strom.taskmanager.time.errors import TimestampAssignmentError
from strom.taskmanager.time.processing_time import ProcessingTimeService
from strom.taskmanager.time.strategy import WatermarkSpec
from strom.taskmanager.time.watermarks import MAX_WATERMARK


class Collect:
    """An Output that remembers everything, in order."""

    def __init__(self) -> None:
        self.items: list[tuple] = []

    def emit(self, batch: Batch) -> None:
        ts = batch.timestamps
        self.items += [("rec", r, None if ts is None else int(t))
                       for r, t in zip(batch.records, ts if ts is not None else [None] * len(batch), strict=True)]

    def emit_watermark(self, watermark: int) -> None:
        self.items.append(("wm", watermark))

    def emit_watermark_status(self, idle: bool) -> None:
        self.items.append(("idle", idle))


def context(config: dict[str, str] | None = None, pts: ProcessingTimeService | None = None) -> OperatorContext:
    return OperatorContext(job_id="j", job_name="job", vertex_name="v", operator_name="op", subtask_index=0,
                           parallelism=1, max_parallelism=128, attempt=0, config=config or {},
                           processing_time_service=pts)


def wired(op: Operator, ctx: OperatorContext | None = None) -> Collect:
    out = Collect()
    op.output = out
    op.open(ctx or context())
    return out


def test_watermark_status_event_round_trip():
    for idle in (True, False):
        assert decode_event(encode_event(WatermarkStatusEvent(idle))) == WatermarkStatusEvent(idle)


def test_timestamp_column_rides_along_but_is_never_part_of_the_records():
    arrow = with_timestamps(records_to_arrow([("a", 1), ("b", 2)]), np.array([10, 20]))
    batch = Batch.of_arrow(arrow)
    assert batch.records == [("a", 1), ("b", 2)]
    assert batch.timestamps.tolist() == [10, 20]
    assert TS_COLUMN not in batch.arrow.schema.names
    assert arrow_to_records(arrow) == [("a", 1), ("b", 2)]
    assert Batch.of_records(["x"]).timestamps is None


def test_exchange_output_sends_timestamps_and_broadcasts_watermarks():
    class Writer:
        def __init__(self) -> None:
            self.sent: list = []

        def emit(self, arrow: pa.RecordBatch) -> None:
            self.sent.append(arrow)

        def broadcast_event(self, event) -> None:
            self.sent.append(event)

    writer = Writer()
    out = ExchangeOutput(writer, None)
    out.emit(Batch.of_records(["a", "b"], np.array([5, 6])))
    out.emit_watermark(4)
    out.emit_watermark_status(True)
    received = Batch.of_arrow(writer.sent[0])
    assert received.records == ["a", "b"] and received.timestamps.tolist() == [5, 6]
    assert [type(e).__name__ for e in writer.sent[1:]] == ["Watermark", "WatermarkStatusEvent"]


def test_per_record_operators_keep_each_records_timestamp():
    ts = np.array([100, 200, 300])
    m = MapOperator(lambda v: v * 2)
    assert (wired_out := wired(m)) is not None
    m.process(Batch.of_records([1, 2, 3], ts))
    assert wired_out.items == [("rec", 2, 100), ("rec", 4, 200), ("rec", 6, 300)]

    f = FilterOperator(lambda v: v != 2)
    out = wired(f)
    f.process(Batch.of_records([1, 2, 3], ts))
    assert out.items == [("rec", 1, 100), ("rec", 3, 300)]

    fm = FlatMapOperator(lambda v: [v] * v if v != 2 else None)
    out = wired(fm)
    fm.process(Batch.of_records([1, 2, 3], ts))
    assert out.items == [("rec", 1, 100), ("rec", 3, 300), ("rec", 3, 300), ("rec", 3, 300)]


def test_map_batches_keeps_timestamps_when_rows_match_or_the_function_sets_them():
    ts = np.array([1, 2, 3])
    batch = Batch.of_records([10, 20, 30], ts)
    same = MapBatchesOperator(lambda b: b)
    out = wired(same)
    same.process(batch)
    assert [i[2] for i in out.items] == [1, 2, 3]

    fewer = MapBatchesOperator(lambda b: b.slice(0, 1))               # __ts__ comes along
    out = wired(fewer)
    fewer.process(batch)
    assert out.items == [("rec", 10, 1)]

    fresh = MapBatchesOperator(lambda b: pa.RecordBatch.from_pydict({"f0": [99]}))
    out = wired(fresh)
    fresh.process(batch)
    assert out.items == [("rec", 99, None)]

    explicit = MapBatchesOperator(lambda b: with_timestamps(b.slice(1), np.array([7, 8])))
    out = wired(explicit)
    explicit.process(batch)
    assert out.items == [("rec", 20, 7), ("rec", 30, 8)]


def test_default_operators_forward_watermarks_to_main_and_side_outputs():
    main, side = Collect(), Collect()
    op = MapOperator(lambda v: v)
    op.output = main
    op.side_outputs = {"late": side}
    op.open(context())
    op.process_watermark(42)
    op.process_watermark_status(True)
    assert main.items == side.items == [("wm", 42), ("idle", True)]
    op.side_output("late", Batch.of_records(["x"]))
    op.side_output("nobody", Batch.of_records(["y"]))   # no consumer: dropped
    assert side.items[-1] == ("rec", "x", None)


def test_chained_outputs_forward_watermarks():
    a, b = Collect(), Collect()
    nxt = MapOperator(lambda v: v)
    nxt.output = b
    nxt.open(context())
    fan = FanOut([a, OperatorInput(nxt), Discard()])
    fan.emit_watermark(7)
    fan.emit_watermark_status(False)
    assert a.items == b.items == [("wm", 7), ("idle", False)]


def test_split_side_outputs():
    tag = OutputTag("late")
    assert split_side_outputs([1, (tag, 2), (3, 4), (OutputTag("late"), 5)]) == ([1, (3, 4)], {"late": [2, 5]})
    with pytest.raises(ValueError):
        OutputTag("")


def make_assigner(spec: WatermarkSpec, interval_ms: int = 200) -> tuple[TimestampsAndWatermarksOperator, Collect,
                                                                      ManualClock, ProcessingTimeService]:
    clock = ManualClock(1_000)
    pts = ProcessingTimeService(clock)
    op = TimestampsAndWatermarksOperator(spec, "bids")
    out = wired(op, context({"pipeline.auto-watermark-interval": f"{interval_ms} ms"}, pts))
    return op, out, clock, pts


def test_assigner_stamps_records_and_emits_periodic_watermarks():
    op, out, clock, pts = make_assigner(WatermarkSpec(500, timestamp_assigner=lambda v, ts: v))
    op.process(Batch.of_records([3_000, 1_000, 2_000]))
    assert out.items == [("rec", 3_000, 3_000), ("rec", 1_000, 1_000), ("rec", 2_000, 2_000)]
    clock.advance(199)
    pts.run_due()
    assert out.items[-1][0] == "rec"          # not yet: the interval is 200 ms
    clock.advance(1)
    pts.run_due()
    assert out.items[-1] == ("wm", 3_000 - 500 - 1)
    clock.advance(200)
    pts.run_due()                              # no new maximum: no repeated watermark
    assert [i for i in out.items if i[0] == "wm"] == [("wm", 2_499)]
    op.process_watermark(MAX_WATERMARK)        # the end of input upstream ends event time here too
    assert out.items[-1] == ("wm", MAX_WATERMARK)


def test_assigner_reads_a_timestamp_column_and_names_the_step_on_bad_values():
    op, out, _, _ = make_assigner(WatermarkSpec(0, timestamp_column="event_ms"))
    arrow = pa.RecordBatch.from_pydict({"auction": [1, 2], "event_ms": [10, 20]})
    op.process(Batch.of_arrow(arrow))
    assert out.items == [("rec", (1, 10), 10), ("rec", (2, 20), 20)]

    bad, _, _, _ = make_assigner(WatermarkSpec(0, timestamp_assigner=lambda v, ts: "noon"))
    with pytest.raises(TimestampAssignmentError, match="bids"):
        bad.process(Batch.of_records(["x"]))


def test_assigner_goes_idle_without_records_and_active_again_with_them():
    op, out, clock, pts = make_assigner(WatermarkSpec(0, idle_timeout_ms=300, timestamp_assigner=lambda v, ts: v),
                                        interval_ms=100)
    op.process(Batch.of_records([5]))
    for _ in range(6):
        clock.advance(100)
        pts.run_due()
    assert ("idle", True) in out.items
    op.process(Batch.of_records([10]))
    clock.advance(100)
    pts.run_due()
    assert out.items[-1] == ("wm", 9) and ("idle", False) in out.items


def test_map_batches_result_with_its_own_timestamp_column_sets_them():
    op = MapBatchesOperator(lambda b: with_timestamps(b, np.array([70, 80])))
    out = wired(op)
    op.process(Batch.of_records([1, 2], np.array([1, 2])))
    assert out.items == [("rec", 1, 70), ("rec", 2, 80)]


def test_running_aggregates_keep_the_timestamp_of_the_record_that_updated_them():
    from strom.taskmanager.operators.keyed import AggregationOperator, ReduceOperator

    for op in (ReduceOperator(lambda a, b: (a[0], a[1] + b[1])), AggregationOperator("sum", 1)):
        out = wired(op)
        op.process(Batch(records=[("a", 1), ("a", 2)], keys=["a", "a"], timestamps=np.array([5, 9])))
        assert out.items == [("rec", ("a", 1), 5), ("rec", ("a", 3), 9)]


def test_map_batches_sees_timestamps_so_sorting_and_filtering_keep_them_with_their_rows():
    import pyarrow.compute as pc

    batch = Batch.of_records([("c", 3), ("a", 1), ("b", 2)], np.array([300, 100, 200]))
    op = MapBatchesOperator(lambda b: b.sort_by("f1").filter(pc.not_equal(b.sort_by("f1")["f0"], "b")))
    out = wired(op)
    op.process(batch)
    assert out.items == [("rec", ("a", 1), 100), ("rec", ("c", 3), 300)]


def test_flat_map_calls_the_function_once_per_record_even_when_it_returns_none():
    calls = []

    def fn(v):
        calls.append(v)
        return None if v == 2 else [v, v]

    op = FlatMapOperator(fn)
    out = wired(op)
    op.process(Batch.of_records([1, 2, 3]))
    assert calls == [1, 2, 3]
    assert [i[1] for i in out.items] == [1, 1, 3, 3]


def test_a_user_timestamp_column_in_microseconds_is_read_as_milliseconds():
    arrow = pa.RecordBatch.from_pydict({"v": [1], TS_COLUMN: pa.array([1_000_000], pa.timestamp("us"))})
    assert Batch.of_arrow(arrow).timestamps.tolist() == [1_000]


def test_key_by_a_column_name_on_tuple_records_explains_the_fix():
    from strom.taskmanager.runtime.chain import KeyExtractor

    with pytest.raises(ValueError, match=r"key_by\('auction'\).*\(94, 5\).*key_by\(0\)"):
        KeyExtractor("auction").to_arrow(Batch.of_records([(94, 5)]))
    assert KeyExtractor("auction").to_arrow(Batch.of_records([{"auction": 1}])).column("__key__").to_pylist() == [1]
