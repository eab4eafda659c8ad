"""Window aggregations over bids (auction,bidder,price,event_ms), fast path next to per-record paths.

One job, five pipelines, each writing CSV rows ``key,window_start,window_end,results...`` to
``--output/<name>``:

- ``w2_vectorized``: W2 with built-ins on named Arrow columns (the vectorized operator);
- ``w2_builtins_per_record``: the same built-ins, forced onto the per-record window operator by
  an explicit ``EventTimeTrigger`` (the default trigger, so the same rows);
- ``w2_user_function``: a user AggregateFunction plus a ProcessWindowFunction (per record);
- ``sliding_vectorized`` / ``sliding_per_record``: 10 s windows every 5 s of tuple records,
  count, sum, min, max and mean of the price.

    strom run -p 4 vectorized_jobs.py --input bids.csv --output out/
"""

import argparse
import os

import pyarrow as pa

from strom import StreamExecutionEnvironment
from strom.client.api.aggregations import count, max, mean, min, sum
from strom.client.api.connectors import FileSink
from strom.client.api.state import AggregateFunction
from strom.client.api.time import Duration, Time, WatermarkStrategy
from strom.client.api.window_functions import ProcessWindowFunction
from strom.client.api.windowing import EventTimeTrigger, SlidingEventTimeWindows, TumblingEventTimeWindows

BIDS = pa.schema([("auction", pa.int64()), ("bidder", pa.int64()), ("price", pa.int64()), ("event_ms", pa.int64())])


class CountMaxPrice(AggregateFunction):
    def create_accumulator(self):
        return 0, 0

    def add(self, value, accumulator):
        return accumulator[0] + 1, value[2] if value[2] > accumulator[1] else accumulator[1]

    def get_result(self, accumulator):
        return accumulator

    def merge(self, acc_a, acc_b):
        return acc_a[0] + acc_b[0], acc_a[1] if acc_a[1] > acc_b[1] else acc_b[1]


class WithKeyAndWindow(ProcessWindowFunction):
    def process(self, key, context, elements):
        window = context.window()
        for n, top in elements:
            yield key, window.start, window.end, n, top


def parse_bid(line: str) -> tuple[int, int, int, int]:
    a, b, p, t = line.split(",")
    return int(a), int(b), int(p), int(t)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    out = args.output

    env = StreamExecutionEnvironment.get_execution_environment()
    delay = Duration.of_millis(500)
    ten_seconds = TumblingEventTimeWindows.of(Time.seconds(10))

    columns = (env.read_csv(args.input, schema=BIDS, column_names=BIDS.names)
               .assign_timestamps_and_watermarks(WatermarkStrategy.for_bounded_out_of_orderness(delay)
                                                 .with_timestamp_column("event_ms")))
    (columns.key_by("auction").window(ten_seconds)
        .aggregate(count(), max("price"))
        .sink_to(FileSink.csv(os.path.join(out, "w2_vectorized"))))

    tuples = (env.read_text_file(args.input)
              .map(parse_bid)
              .assign_timestamps_and_watermarks(WatermarkStrategy.for_bounded_out_of_orderness(delay)
                                                .with_timestamp_assigner(lambda bid, _ts: bid[3])))
    (tuples.key_by(lambda bid: bid[0]).window(ten_seconds).trigger(EventTimeTrigger.create())
        .aggregate(count(), max(2))
        .sink_to(FileSink.csv(os.path.join(out, "w2_builtins_per_record"))))
    (tuples.key_by(lambda bid: bid[0]).window(ten_seconds)
        .aggregate(CountMaxPrice(), window_function=WithKeyAndWindow())
        .sink_to(FileSink.csv(os.path.join(out, "w2_user_function"))))

    sliding = SlidingEventTimeWindows.of(Time.seconds(10), Time.seconds(5))
    five = [count(), sum(2), min(2), max(2), mean(2)]
    (tuples.key_by(lambda bid: bid[0]).window(sliding)
        .aggregate(*five)
        .sink_to(FileSink.csv(os.path.join(out, "sliding_vectorized"))))
    (tuples.key_by(lambda bid: bid[0]).window(sliding).trigger(EventTimeTrigger.create())
        .aggregate(*five)
        .sink_to(FileSink.csv(os.path.join(out, "sliding_per_record"))))

    env.execute("vectorized window aggregations")


if __name__ == "__main__":
    main()
