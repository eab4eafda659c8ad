"""Jobs that observe the runtime's event time: timestamps, watermarks, idleness, side outputs.

    strom run -p P event_time_jobs.py MODE OUTPUT_DIR

A probe operator after a keyed exchange writes what it sees as CSV rows:
``rec,<subtask>,<value>,<timestamp>`` per record and ``wm,<subtask>,<watermark>`` per
watermark, in arrival order, one part file per subtask.
"""

import sys

from strom import StreamExecutionEnvironment
from strom.client.api.connectors import DataGeneratorSource, FileSink
from strom.client.api.time import Duration, WatermarkStrategy
from strom.taskmanager.operators.base import Operator
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag

ODD = OutputTag("odd")


class Probe(Operator):
    """Records and watermarks, in the order the operator sees them."""

    name = "Probe"

    def process(self, batch, input_index=0):
        i = self.ctx.subtask_index
        ts = batch.timestamps
        rows = [("rec", i, r, -1 if ts is None else int(t)) for r, t in zip(batch.records, ts if ts is not None
                                                                          else [None] * len(batch), strict=True)]
        self.output.emit(Batch.of_records(rows))

    def process_watermark(self, watermark):
        self.output.emit(Batch.of_records([("wm", self.ctx.subtask_index, watermark, 0)]))
        self.emit_watermark(watermark)


class SplitOdd(Operator):
    """Even values to the main output, odd ones to the side output 'odd' (timestamps kept)."""

    name = "Split"

    def process(self, batch, input_index=0):
        ts = batch.timestamps
        records = batch.records
        even = [j for j, v in enumerate(records) if v % 2 == 0]
        odd = [j for j, v in enumerate(records) if v % 2]
        self.output.emit(Batch.of_records([records[j] for j in even], ts[even]))
        self.side_output(ODD.tag_id, Batch.of_records([records[j] for j in odd], ts[odd]))


def main(mode: str, out: str) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(500))
    if mode == "basic":
        # out-of-order values; event time = value * 10
        values = [(i * 7919) % 1000 for i in range(1000)]
        stream = env.from_collection(values).assign_timestamps_and_watermarks(
            strategy.with_timestamp_assigner(lambda v, ts: v * 10))
        probed = stream.key_by(lambda v: v % 13)._then(Probe(), "Probe")
    elif mode == "periodic":
        # in-order event time over ~1.5 s of wall time: periodic watermarks in between
        env.get_config().set_auto_watermark_interval(50)
        source = DataGeneratorSource(lambda i: i, count=3000, records_per_second=2000)
        stream = env.from_source(source, source_name="gen").assign_timestamps_and_watermarks(
            strategy.with_timestamp_assigner(lambda v, ts: v))
        probed = stream.key_by(lambda v: v % 7)._then(Probe(), "Probe")
    elif mode == "idle":
        # the source's second subtask has only odd values, all filtered out: its watermark
        # generator goes idle, so the downstream watermark advances with the first subtask's
        env.get_config().set_auto_watermark_interval(50)
        source = DataGeneratorSource(lambda i: i, count=3000, records_per_second=2000)
        stream = (env.from_source(source, source_name="gen").set_parallelism(2)
                  .filter(lambda v: v % 2 == 0)
                  .assign_timestamps_and_watermarks(
                      strategy.with_idleness(Duration.of_millis(200)).with_timestamp_assigner(lambda v, ts: v)))
        probed = stream.key_by(lambda v: v % 7)._then(Probe(), "Probe")
    elif mode == "side":
        values = list(range(200))
        stream = env.from_collection(values).assign_timestamps_and_watermarks(
            strategy.with_timestamp_assigner(lambda v, ts: v * 10))
        split = stream._then(SplitOdd(), "Split")
        split.get_side_output(ODD).map(lambda v: -v).key_by(lambda v: v % 5)._then(Probe(), "Probe odd") \
            .sink_to(FileSink.csv(out + "/odd"))
        probed = split.key_by(lambda v: v % 5)._then(Probe(), "Probe")
    elif mode == "bad_timestamp":
        stream = env.from_collection(["12:00", "12:01"]).assign_timestamps_and_watermarks(
            strategy.with_timestamp_assigner(lambda v, ts: v)).name("bid time")
        probed = stream.key_by(lambda v: v)._then(Probe(), "Probe")
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    probed.sink_to(FileSink.csv(out + "/main"))
    env.execute(f"event time {mode}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
