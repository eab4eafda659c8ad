"""Jobs over connected streams, broadcast state, interval joins and unions, for tests/integration/test_connected_streams.py.

    strom run -p P connected_jobs.py connect OUTPUT_DIR
    strom run -p P connected_jobs.py join OUTPUT_DIR

Every result is written as ``repr((case, ...))`` lines, all cases of a mode through one union into one text
sink (``OUTPUT_DIR/part-*``). The input data comes from the functions below, which the test calls too
to compute the expected rows with plain Python.

``connect``: co-map, co-flat-map, a keyed co-process function with state shared by both inputs and
event-time timers (its first input is a union of two timestamped streams of different parallelism), the
broadcast state pattern (keyed and non-keyed), a union of three streams of different parallelism.

``join``: interval joins of out-of-order streams with inclusive and exclusive bounds, late elements sent to
side outputs.
"""

from __future__ import annotations

import random
import sys
import time

from strom import StreamExecutionEnvironment
from strom.client.api.co_functions import (
    BroadcastProcessFunction,
    CoFlatMapFunction,
    CoMapFunction,
    KeyedBroadcastProcessFunction,
    KeyedCoProcessFunction,
    ProcessJoinFunction,
)
from strom.client.api.functions import OutputTag
from strom.client.api.state import ListStateDescriptor, MapStateDescriptor
from strom.client.api.time import Duration, Time, WatermarkStrategy
from strom.taskmanager.operators.sources.base import END_OF_INPUT, Source, SourceReader
from strom.taskmanager.runtime.batch import Batch

OUT_OF_ORDERNESS = 40          # ms; data below is out of order by at most this much (except the late ones)
TIMER_STEP = 100
RATE = 1500                    # records/s of each timestamped source
SEQ_A = (0, 1199)              # union: from_sequence at parallelism 3
SEQ_B = (5000, 5599)           # union: from_sequence at parallelism 2
RULES = MapStateDescriptor("rules")
BUFFER = ListStateDescriptor("buffer")
EVENTS = ListStateDescriptor("events")
JOINS = {  # name: (lower, upper, lower exclusive, upper exclusive)
    "incl": (-20, 10, False, False),
    "excl": (-100, 80, True, True),        # wider than the watermark's lag: cleanup timers matter
    "ahead": (4, 120, True, False),
}


# ---- data (shared with the test) -------------------------------------------------------------------------


def numbers() -> list[int]:
    return list(range(300))


def sentences() -> list[str]:
    rng = random.Random(5)
    return [" ".join(rng.choice(["to", "be", "or", "not", "that", "is"]) for _ in range(rng.randint(0, 5)))
            for _ in range(200)]


def out_of_order(n: int, seed: int, step: int) -> list[int]:
    """n even timestamps around ``i * step``, each at most OUT_OF_ORDERNESS behind the largest before it."""
    rng = random.Random(seed)
    return [2 * (i * step // 2 + rng.randint(-8, 8)) for i in range(n)]


def orders(part: int) -> list[tuple[str, str, int]]:
    """(user, order id, ts): two parts, read by two sources of different parallelism and unioned."""
    rng = random.Random(10 + part)
    return [(f"u{rng.randrange(6)}", f"o{part}-{i}", ts) for i, ts in enumerate(out_of_order(250, 20 + part, 8))]


def payments() -> list[tuple[str, int, int]]:
    rng = random.Random(30)
    return [(f"u{rng.randrange(6)}", rng.randint(1, 50), ts) for ts in out_of_order(400, 31, 5)]


def items() -> list[tuple[str, int]]:
    return [(f"k{i % 11}", i) for i in range(400)]


def rules() -> list[tuple[str, int]]:
    return [("even", 2), ("three", 3), ("seven", 7), ("thirteen", 13), ("never", 1000)]


def join_sides() -> tuple[list[tuple[str, str, int]], list[tuple[str, str, int]]]:
    """(key, id, ts) of the left and the right stream: even timestamps, out of order within bounds,
    plus some left and right elements far behind (late candidates, ids starting with 'late')."""
    rng = random.Random(40)
    left = [(f"k{rng.randrange(4)}", f"L{i}", ts) for i, ts in enumerate(out_of_order(300, 41, 2))]
    right = [(f"k{rng.randrange(4)}", f"R{i}", ts) for i, ts in enumerate(out_of_order(300, 42, 2))]
    for side, name in ((left, "lateL"), (right, "lateR")):
        for j, pos in enumerate(range(60, len(side), 60)):
            side.insert(pos, (f"k{j % 4}", f"{name}{j}", side[pos - 1][2] - 300))
    return left, right


# ---- functions --------------------------------------------------------------------------------------------


class Tag(CoMapFunction):
    def map1(self, value):
        return "comap", "n", value * 2

    def map2(self, value):
        return "comap", "s", len(value)


class Words(CoFlatMapFunction):
    def flat_map1(self, value):
        if value % 3 == 0:
            yield "coflat", "n", value
            yield "coflat", "n", -value

    def flat_map2(self, value):
        for word in value.split():
            yield "coflat", "w", word


class Ledger(KeyedCoProcessFunction):
    """Orders (input 1) and payments (input 2) of a user go into one list state; every order asks for a
    timer at the next multiple of TIMER_STEP. At a timer T: the orders and the sum paid up to T, which
    is exact only if nothing at or before T arrives after the watermark passed T."""

    def open(self, runtime_context):
        self.events = runtime_context.get_list_state(EVENTS)

    def process_element1(self, order, ctx):
        self.events.add(("order", ctx.timestamp(), 0))
        ctx.timer_service().register_event_time_timer((order[2] // TIMER_STEP + 1) * TIMER_STEP)

    def process_element2(self, payment, ctx):
        self.events.add(("pay", ctx.timestamp(), payment[1]))

    def on_timer(self, timestamp, ctx):
        seen = [e for e in self.events.get() if e[1] <= timestamp]
        yield ("ledger", ctx.get_current_key(), timestamp, ctx.timestamp(),
               sum(1 for e in seen if e[0] == "order"), sum(e[2] for e in seen))


class Matcher(KeyedBroadcastProcessFunction):
    """(rule, key, n) for every rule dividing n: emitted once, by whichever of the two came second."""

    def open(self, runtime_context):
        self.buffer = runtime_context.get_list_state(BUFFER)

    def process_element(self, item, ctx):
        self.buffer.add(item)
        for name, divisor in ctx.get_broadcast_state(RULES).items():
            if item[1] % divisor == 0:
                yield "match", name, item[0], item[1]

    def process_broadcast_element(self, rule, ctx):
        name, divisor = rule
        ctx.get_broadcast_state(RULES).put(name, divisor)
        found = []
        ctx.apply_to_keyed_state(BUFFER, lambda key, state: found.extend(
            ("match", name, key, n) for _, n in state.get() if n % divisor == 0))
        yield from found


class SeenBy(BroadcastProcessFunction):
    """Every subtask reports every broadcast rule once; elements pass with the number of this subtask."""

    def open(self, runtime_context):
        self.subtask = runtime_context.get_index_of_this_subtask()

    def process_element(self, value, ctx):
        yield "plain", value[0], value[1] * 10

    def process_broadcast_element(self, rule, ctx):
        ctx.get_broadcast_state(RULES).put(rule[0], rule[1])
        yield "seen", self.subtask, rule[0]


class Pair(ProcessJoinFunction):
    def __init__(self, name):
        self.name = name

    def process_element(self, left, right, ctx):
        yield ("join", self.name, left[1], right[1], ctx.get_left_timestamp(), ctx.get_right_timestamp(),
               ctx.get_timestamp())


# ---- jobs ---------------------------------------------------------------------------------------------------


class PacedSource(Source):
    """``rows`` at ``rate`` records/s in total, counted from each reader's first poll (so that deployment
    time does not turn into one burst); reader k of p emits rows k, k + p, ... in order."""

    def __init__(self, rows, rate):
        self.rows = list(rows)
        self.rate = rate
        self.name = "Paced Source"

    def create_reader(self, ctx):
        return PacedReader(self.rows[ctx.subtask_index::ctx.parallelism], self.rate / ctx.parallelism)


class PacedReader(SourceReader):
    def __init__(self, rows, rate):
        self.rows = rows
        self.rate = rate
        self.pos = 0
        self.started = None

    def poll(self):
        if self.pos >= len(self.rows):
            return END_OF_INPUT
        now = time.monotonic()
        if self.started is None:
            self.started = now
        allowed = int((now - self.started) * self.rate) + 1 - self.pos
        if allowed <= 0:
            return None
        chunk = self.rows[self.pos:self.pos + allowed]
        self.pos += len(chunk)
        return Batch.of_records(chunk)

    def wait_hint(self):
        return max(0.001, self.pos / self.rate - (time.monotonic() - self.started))


def timestamped(env, data, ts_field, parallelism=None, rate=RATE):
    """``data`` paced at RATE records/s with event time from ``ts_field``: watermarks (every 20 ms) advance
    while the job runs, so timers fire and buffers are cleaned up before the input ends. Each parallel
    reader emits an in-order subsequence, chained to its watermark generator: out of order by at most
    OUT_OF_ORDERNESS, so no element is late except the designated late ones."""
    strategy = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(OUT_OF_ORDERNESS))
                .with_timestamp_assigner(lambda r, _: r[ts_field]))
    stream = env.from_source(PacedSource(data, rate), source_name="Paced Source")
    if parallelism:
        stream = stream.set_parallelism(parallelism)
    stream = stream.assign_timestamps_and_watermarks(strategy)
    return stream.set_parallelism(parallelism) if parallelism else stream


def connect_job(env):
    outputs = []
    nums, words = env.from_collection(numbers()), env.from_collection(sentences())
    outputs.append(nums.connect(words).map(Tag()))
    outputs.append(nums.connect(words).flat_map(Words()))

    # one order stream covers the event time 6 times faster than the other: the union's watermark must
    # follow the slower one, or the slow stream's orders arrive after their timers fired
    orders_union = (timestamped(env, orders(0), 2, rate=3000)
                    .union(timestamped(env, orders(1), 2, parallelism=2, rate=500)))
    ledger = (orders_union.connect(timestamped(env, payments(), 2))
              .key_by(lambda o: o[0], lambda p: p[0]).process(Ledger()).uid("ledger"))
    outputs.append(ledger)

    rule_stream = env.from_collection(rules())
    item_stream = env.from_collection(items())
    outputs.append(item_stream.key_by(lambda i: i[0]).connect(rule_stream.broadcast(RULES)).process(Matcher()))
    outputs.append(item_stream.rebalance().connect(rule_stream.broadcast(RULES)).process(SeenBy()))

    seq_a = env.from_sequence(*SEQ_A).set_parallelism(3)
    seq_b = env.from_sequence(*SEQ_B).set_parallelism(2)
    outputs.append(seq_a.union(seq_b, nums).map(lambda v: ("union", v)))
    return outputs


def join_job(env):
    left, right = join_sides()
    left_stream = timestamped(env, left, 2).key_by(lambda r: r[0])
    right_stream = timestamped(env, right, 2).key_by(lambda r: r[0])
    outputs = []
    for name, (lower, upper, lower_exclusive, upper_exclusive) in JOINS.items():
        joined = left_stream.interval_join(right_stream)
        if name == "incl":
            joined = joined.between(lower, upper)
        elif name == "excl":
            joined = joined.between(Duration.of_millis(lower), Duration.of_millis(upper))
        else:
            joined = joined.between(Time.milliseconds(lower), Time.milliseconds(upper))
        if lower_exclusive:
            joined = joined.lower_bound_exclusive()
        if upper_exclusive:
            joined = joined.upper_bound_exclusive()
        late_left, late_right = OutputTag(f"{name}-late-left"), OutputTag(f"{name}-late-right")
        result = (joined.side_output_left_late_data(late_left).side_output_right_late_data(late_right)
                  .process(Pair(name)).uid(f"join-{name}"))
        outputs.append(result)
        outputs.append(result.get_side_output(late_left).map(lambda r, n=name: ("late", n, "left", r[1])))
        outputs.append(result.get_side_output(late_right).map(lambda r, n=name: ("late", n, "right", r[1])))
    return outputs


def main(mode: str, out: str) -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    env.get_config().set_auto_watermark_interval(20)
    outputs = {"connect": connect_job, "join": join_job}[mode](env)
    first, *rest = [s.map(repr) for s in outputs]
    first.union(*rest).write_as_text(out)
    env.execute(f"connected streams: {mode}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
