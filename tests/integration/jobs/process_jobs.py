"""Process functions on a cluster: one job with several pipelines, each writing CSV into its
own directory under ``--output`` (read by tests/integration/test_process_functions.py).

- ``timers``: event-time timers per key (duplicates, deletes, timers set inside on_timer),
  each output stamped with its record timestamp by a non-keyed ProcessFunction downstream.
- ``pt``: processing-time timers (registered already due, so each fires right after its
  batch); every element's id comes out exactly once through on_timer.
- ``state``, ``five``, ``seven``: all five kinds of keyed state (the value state with TTL),
  side outputs from ``yield tag, value`` and from ``ctx.output``.

    strom run -p 4 tests/integration/jobs/process_jobs.py --output /tmp/process
"""

from __future__ import annotations

import argparse
import os
import random

from strom import StreamExecutionEnvironment
from strom.client.api.connectors import FileSink
from strom.client.api.functions import KeyedProcessFunction, OutputTag, ProcessFunction
from strom.client.api.state import (
    AggregateFunction,
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)
from strom.client.api.time import Duration, Time, WatermarkStrategy

KEYS = [f"k{i}" for i in range(13)]
FIVE = OutputTag("multiples-of-five")
SEVEN = OutputTag("multiples-of-seven")


def timed_events() -> list[tuple[str, int, int]]:
    """(key, event_ms, id): event time never decreases, so nothing is late."""
    rng = random.Random(7)
    events, ts = [], 0
    for i in range(1_500):
        ts += rng.randint(0, 4)
        events.append((rng.choice(KEYS), ts, i))
    return events


def keyed_values() -> list[tuple[str, int]]:
    rng = random.Random(11)
    return [(rng.choice(KEYS[:7]), rng.randint(0, 99)) for _ in range(1_200)]


class TimerOrder(KeyedProcessFunction):
    """Every element sets ts+10 (twice: one timer) and ts+1001, deleted again by even ids;
    a timer at a multiple of 3 sets one more, 7 ms later, from on_timer."""

    def process_element(self, value, ctx):
        key, ts, ident = value
        service = ctx.timer_service()
        service.register_event_time_timer(ts + 10)
        service.register_event_time_timer(ts + 10)
        service.register_event_time_timer(ts + 1001)
        if ident % 2 == 0:
            service.delete_event_time_timer(ts + 1001)
        yield key, "element", ts, ident, "-"

    def on_timer(self, timestamp, ctx):
        if timestamp % 3 == 0:
            ctx.timer_service().register_event_time_timer(timestamp + 7)
        yield ctx.get_current_key(), "timer", timestamp, ctx.timestamp(), ctx.time_domain().name


class DrainOnProcessingTime(KeyedProcessFunction):
    def open(self, runtime_context):
        self.pending = runtime_context.get_list_state(ListStateDescriptor("pending"))

    def process_element(self, value, ctx):
        self.pending.add(value[2])
        service = ctx.timer_service()
        service.register_processing_time_timer(service.current_processing_time() - 1)

    def on_timer(self, timestamp, ctx):
        same = 1 if ctx.timestamp() == timestamp else 0
        for ident in self.pending.get():
            yield ctx.get_current_key(), "pt", ident, same, ctx.time_domain().name
        self.pending.clear()


class StampWithRecordTime(ProcessFunction):
    """Appends the record's timestamp (-1: none), as the operator before it emitted it."""

    def process_element(self, value, ctx):
        ts = ctx.timestamp()
        yield (*value, -1 if ts is None else ts)


class Average(AggregateFunction):
    def create_accumulator(self):
        return 0, 0

    def add(self, value, accumulator):
        return accumulator[0] + value, accumulator[1] + 1

    def get_result(self, accumulator):
        return f"{accumulator[0]}/{accumulator[1]}"

    def merge(self, acc_a, acc_b):
        return acc_a[0] + acc_b[0], acc_a[1] + acc_b[1]


class AllStates(KeyedProcessFunction):
    def open(self, runtime_context):
        count = ValueStateDescriptor("count")
        count.enable_time_to_live(StateTtlConfig.new_builder(Time.hours(1)).build())
        self.count = runtime_context.get_state(count)
        self.values = runtime_context.get_list_state(ListStateDescriptor("values"))
        self.by_rest = runtime_context.get_map_state(MapStateDescriptor("by-rest-of-3"))
        self.total = runtime_context.get_reducing_state(ReducingStateDescriptor("total", lambda a, b: a + b))
        self.average = runtime_context.get_aggregating_state(AggregatingStateDescriptor("average", Average()))

    def process_element(self, value, ctx):
        key, v = value
        self.count.update((self.count.value() or 0) + 1)
        self.values.add(v)
        self.by_rest.put(v % 3, (self.by_rest.get(v % 3) or 0) + 1)
        self.total.add(v)
        self.average.add(v)
        values = list(self.values.get())
        if v % 5 == 0:
            yield FIVE, (key, v)
        if v % 7 == 0:
            ctx.output(SEVEN, (key, v, self.count.value()))
        yield (key, v, self.count.value(), len(values), sum(values), self.by_rest.get(v % 3), self.total.get(),
               self.average.get())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    def sink(name: str) -> FileSink:
        return FileSink.csv(os.path.join(args.output, name))

    env = StreamExecutionEnvironment.get_execution_environment()
    timed = (env.from_collection(timed_events())
             .assign_timestamps_and_watermarks(
                 WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(0))
                 .with_timestamp_assigner(lambda event, _: event[1]))
             .set_parallelism(1))
    (timed.key_by(lambda e: e[0]).process(TimerOrder()).uid("timer-order")
        .process(StampWithRecordTime())
        .sink_to(sink("timers")))
    (timed.key_by(lambda e: e[0]).process(DrainOnProcessingTime()).uid("drain")
        .process(StampWithRecordTime())
        .sink_to(sink("pt")))

    states = env.from_collection(keyed_values()).key_by(lambda kv: kv[0]).process(AllStates()).uid("all-states")
    states.sink_to(sink("state"))
    states.get_side_output(FIVE).sink_to(sink("five"))
    states.get_side_output(SEVEN).sink_to(sink("seven"))
    env.execute("process functions")


if __name__ == "__main__":
    main()
