"""Windows on a cluster: one job, one pipeline per case, each writing CSV into its own directory
under ``--output`` (read by tests/integration/test_windows.py).

Two event-time inputs carry the same records (``records()``, key/value/event time, out of
order by up to 1.5 s, with a few very late ones):

- ``clean``: no watermarks until the input ends, so no element is late and every case's
  result is fixed by the data alone; per-key arrival order is the list order (parallelism 1
  up to the keyed exchange), which count windows and evictors depend on.
- ``punctuated``: a test operator turns marker records into watermarks at fixed positions
  of the stream, so which elements are late (or late but allowed) is deterministic too.

Window results are stamped downstream with the timestamp they carry (``window.max_timestamp()``).
A processing-time case (``proc``) reads a rate-limited generator: only what does not depend
on timing is checked.

    strom run -p 4 tests/integration/jobs/window_jobs.py --output /tmp/windows
"""

from __future__ import annotations

import argparse
import os
import random

from strom import StreamExecutionEnvironment
from strom.client.api.aggregations import count as count_of
from strom.client.api.aggregations import sum as sum_of
from strom.client.api.connectors import DataGeneratorSource, FileSink
from strom.client.api.state import AggregateFunction
from strom.client.api.time import Time, WatermarkStrategy
from strom.client.api.window_functions import ProcessAllWindowFunction, ProcessWindowFunction
from strom.client.api.windowing import (
    CountEvictor,
    CountTrigger,
    EventTimeSessionWindows,
    PurgingTrigger,
    SlidingEventTimeWindows,
    TimeEvictor,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
)
from strom.taskmanager.operators.base import Operator
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag

KEYS = [f"k{i}" for i in range(5)]
MARK = "#watermark"
SIZE, SLIDE, GAP = 10_000, 5_000, 3_000
LATENESS = 4_000
LATE = OutputTag("late")
PROC_COUNT, PROC_WINDOW = 300, 250


def records() -> list[tuple[str, int, int]]:
    """(key, value, event_ms): value is the record's unique id; every 37th record is very late."""
    rng = random.Random(5)
    out = []
    for i in range(1_200):
        base = i * 50 + (i // 150) * 5_000   # a pause every 150 records: sessions end
        ts = base - rng.randint(5_000, 15_000) if i % 37 == 36 else base - rng.randint(0, 1_500)
        out.append((rng.choice(KEYS), i, ts))
    return out


def punctuated_records() -> list[tuple[str, int, int]]:
    """The records with a watermark marker after every 20th: the max timestamp so far - 2 s."""
    out: list[tuple[str, int, int]] = []
    highest = watermark = -(1 << 62)
    for n, record in enumerate(records(), 1):
        out.append(record)
        highest = max(highest, record[2])
        if n % 20 == 0 and highest - 2_000 > watermark:
            watermark = highest - 2_000
            out.append((MARK, -1, watermark))
    return out


class TestingPunctuatedWatermarks(Operator):
    """Marker records become watermarks at their place in the stream (and are dropped)."""

    name = "Punctuated Watermarks"

    def process(self, batch, input_index=0):
        records, stamps = batch.records, batch.timestamps
        start = 0
        for i, record in enumerate(records):
            if record[0] == MARK:
                if i > start:
                    self.output.emit(Batch.of_records(records[start:i], stamps[start:i]))
                self.emit_watermark(record[2])
                start = i + 1
        if start < len(records):
            self.output.emit(Batch.of_records(records[start:], stamps[start:]))


class TestingAppendTimestamp(Operator):
    """``record -> (*record, timestamp)``: makes the event time a window result carries visible."""

    name = "Append Timestamp"

    def process(self, batch, input_index=0):
        stamps = batch.timestamps.tolist()
        self.output.emit(Batch.of_records([(*r, t) for r, t in zip(batch.records, stamps, strict=True)]))


def stamped(stream):
    return stream._then(TestingAppendTimestamp(), "Append Timestamp")


def joined(values) -> str:
    return "[" + " ".join(str(v) for v in values) + "]"


class Summary(ProcessWindowFunction):
    """(key, start, end, count, sum of values) per firing."""

    def process(self, key, context, elements):
        values = [e[1] for e in elements]
        w = context.window()
        yield key, w.start, w.end, len(values), sum(values)


class Last(ProcessWindowFunction):
    def process(self, key, context, elements):
        yield key, context.window().start, joined(e[1] for e in elements)


class CountSum(AggregateFunction):
    def create_accumulator(self):
        return [0, 0]

    def add(self, value, accumulator):
        return [accumulator[0] + 1, accumulator[1] + value[1]]

    def get_result(self, accumulator):
        return tuple(accumulator)

    def merge(self, acc_a, acc_b):
        return [acc_a[0] + acc_b[0], acc_a[1] + acc_b[1]]


class WithWindow(ProcessWindowFunction):
    def process(self, key, context, elements):
        ((n, total),) = elements
        yield key, context.window().start, context.window().end, n, total


class AllSummary(ProcessAllWindowFunction):
    def process(self, context, elements):
        ((n, total),) = elements
        yield context.window().start, n, total


def event_time_cases(env, out):
    def sink(stream, case):
        stream.sink_to(FileSink.csv(os.path.join(out, case)))

    by_field = WatermarkStrategy.no_watermarks().with_timestamp_assigner(lambda r, _: r[2])
    clean = env.from_collection(records()).assign_timestamps_and_watermarks(by_field).set_parallelism(1)
    keyed = clean.key_by(lambda r: r[0])
    tumbling = TumblingEventTimeWindows.of(Time.milliseconds(SIZE))
    sessions = EventTimeSessionWindows.with_gap(GAP)

    sink(stamped(keyed.window(tumbling).reduce(lambda a, b: (a[0], a[1] + b[1], max(a[2], b[2])))), "tumbling")
    sink(keyed.window(SlidingEventTimeWindows.of(SIZE, SLIDE)).process(Summary()), "sliding")
    sink(keyed.window(sessions).process(Summary()), "sessions")
    sink(keyed.window(sessions).aggregate(CountSum(), WithWindow()), "sessions_aggregate")
    sink(keyed.window(sessions).aggregate(count_of(), sum_of(1)), "sessions_builtin")
    sink(keyed.count_window(5).apply(lambda k, w, xs: [(k, joined(x[1] for x in xs))]), "count")
    sink(keyed.count_window(4, 3).apply(lambda k, w, xs: [(k, joined(x[1] for x in xs))]), "count_sliding")
    sink(keyed.window(tumbling).trigger(PurgingTrigger.of(CountTrigger.of(3))).process(Last()), "purging")
    sink(keyed.window(tumbling).evictor(CountEvictor.of(2)).process(Last()), "count_evictor")
    sink(stamped(keyed.window(tumbling).evictor(TimeEvictor.of(2_000))
                 .reduce(lambda a, b: (a[0], a[1] + b[1], a[2]))), "time_evictor")
    sink(stamped(keyed.window(tumbling).max(1)), "max_field")
    sink(clean.window_all(tumbling).aggregate(CountSum(), AllSummary()), "window_all")

    left = clean.filter(lambda r: r[1] % 3 == 0)
    right = clean.filter(lambda r: r[1] % 3 == 1).map(lambda r: (r[0], r[1], r[2], "right"))
    sink(stamped(left.join(right).where(lambda r: r[0]).equal_to(lambda r: r[0]).window(tumbling)
                 .apply(lambda a, b: (a[0], a[1], b[1]))), "join")
    sink(stamped(left.co_group(right).where(lambda r: r[0]).equal_to(lambda r: r[0]).window(tumbling)
                 .apply(lambda ls, rs: [((ls or rs)[0][0], len(ls), len(rs), sum(x[1] for x in ls),
                                         sum(x[1] for x in rs))])), "cogroup")

    with_markers = WatermarkStrategy.no_watermarks().with_timestamp_assigner(lambda r, _: r[2])
    punctuated = (env.from_collection(punctuated_records()).assign_timestamps_and_watermarks(with_markers)
                  .set_parallelism(1))
    punctuated = punctuated._then(TestingPunctuatedWatermarks(), "Punctuated Watermarks").set_parallelism(1)
    lateness = (punctuated.key_by(lambda r: r[0]).window(tumbling).allowed_lateness(Time.milliseconds(LATENESS))
                .side_output_late_data(LATE).process(Summary()))
    sink(lateness, "lateness")
    sink(stamped(lateness.get_side_output(LATE)), "lateness_late")
    on_time = punctuated.key_by(lambda r: r[0]).window(tumbling).side_output_late_data(LATE).process(Summary())
    sink(on_time, "no_lateness")
    sink(on_time.get_side_output(LATE), "no_lateness_late")


def processing_time_case(env, out):
    source = DataGeneratorSource(lambda i: (KEYS[i % 3], i), count=PROC_COUNT, records_per_second=150)
    (env.from_source(source)
        .key_by(lambda r: r[0])
        .window(TumblingProcessingTimeWindows.of(PROC_WINDOW))
        .apply(lambda k, w, xs: [(k, w.start, w.end, joined(sorted(x[1] for x in xs)))])
        .sink_to(FileSink.csv(os.path.join(out, "proc"))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", required=True)
    parser.add_argument("--case", choices=["all", "missing-timestamps"], default="all")
    args = parser.parse_args()
    env = StreamExecutionEnvironment.get_execution_environment()
    if args.case == "missing-timestamps":
        (env.from_collection(records()).key_by(lambda r: r[0])
            .window(TumblingEventTimeWindows.of(SIZE)).reduce(lambda a, b: a).name("bids per 10 s")
            .sink_to(FileSink.csv(args.output)))
        env.execute("window without timestamps")
        return
    event_time_cases(env, args.output)
    processing_time_case(env, args.output)
    env.execute("windows")


if __name__ == "__main__":
    main()
