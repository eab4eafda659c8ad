"""Two-input operators driven directly: co-map/flat-map/process, the broadcast state pattern, interval join.

Each test feeds batches (with keys and timestamps, as a keyed exchange delivers them) and watermarks into
one operator and compares what it emits with a plain-Python reference.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from strom.client.api.co_functions import (
    BroadcastProcessFunction,
    CoFlatMapFunction,
    CoMapFunction,
    CoProcessFunction,
    KeyedBroadcastProcessFunction,
    KeyedCoProcessFunction,
    ProcessJoinFunction,
)
from strom.client.api.functions import TimeDomain
from strom.client.api.state import ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor
from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.broadcast import BroadcastProcessOperator, KeyedBroadcastProcessOperator
from strom.taskmanager.operators.co_process import (
    CoFlatMapOperator,
    CoMapOperator,
    CoProcessOperator,
    KeyedCoProcessOperator,
)
from strom.taskmanager.operators.interval_join import IntervalJoinOperator
from strom.taskmanager.operators.process import ProcessFunctionError
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.state import StateAccessError
from strom.taskmanager.time.clock import ManualClock
from strom.taskmanager.time.errors import MissingTimestampError
from strom.taskmanager.time.processing_time import ProcessingTimeService
from strom.taskmanager.time.watermarks import MAX_WATERMARK, MIN_WATERMARK

LATE = OutputTag("late")


class Collect:
    """An operator output: batches and watermarks, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def emit(self, batch: Batch) -> None:
        ts = batch.timestamps
        stamps = ts.tolist() if ts is not None else [None] * len(batch)
        self.events.append(("batch", list(zip(batch.records, stamps, strict=True))))

    def emit_watermark(self, watermark: int) -> None:
        self.events.append(("wm", watermark))

    def emit_watermark_status(self, idle: bool) -> None:
        self.events.append(("idle", idle))

    @property
    def rows(self) -> list[tuple[object, int | None]]:
        """(record, timestamp) of every emitted record."""
        return [row for kind, rows in self.events if kind == "batch" for row in rows]  # type: ignore[union-attr]

    @property
    def records(self) -> list[object]:
        return [r for r, _ in self.rows]


def start(op, *, side_tags=(), clock=None, subtask=0, parallelism=1):
    op.output = Collect()
    op.side_outputs = {tag.tag_id: Collect() for tag in side_tags}
    pts = ProcessingTimeService(clock or ManualClock(0))
    op.open(OperatorContext("job", "job", "vertex", op.name, subtask, parallelism, 128, 0, {},
                            processing_time_service=pts))
    return op


def batch(records, keys=None, timestamps=None):
    ts = None if timestamps is None else np.array(timestamps, dtype=np.int64)
    return Batch(records=list(records), keys=None if keys is None else list(keys), timestamps=ts)


def keyed(records, key=lambda r: r[0], timestamps=None):
    return batch(records, [key(r) for r in records], timestamps)


# ---- co-map, co-flat-map ------------------------------------------------------------------------------


class Tag(CoMapFunction):
    def map1(self, value):
        return "a", value

    def map2(self, value):
        return "b", value * 10


def test_co_map_calls_map1_and_map2_by_input_and_keeps_timestamps():
    op = start(CoMapOperator(Tag()))
    op.process(batch([1, 2], timestamps=[100, 200]), 0)
    op.process(batch([3]), 1)
    assert op.output.rows == [(("a", 1), 100), (("a", 2), 200), (("b", 30), None)]


class RunningTotal(CoMapFunction):
    """Keyed state shared by both inputs: a running total per key."""

    def open(self, runtime_context):
        self.total = runtime_context.get_state(ValueStateDescriptor("total"))

    def add(self, value):
        self.total.update((self.total.value() or 0) + value[1])
        return value[0], self.total.value()

    def map1(self, value):
        return self.add(value)

    def map2(self, value):
        return self.add((value[0], -value[1]))


def test_keyed_co_map_shares_state_per_key_between_inputs():
    op = start(CoMapOperator(RunningTotal(), keyed=True))
    op.process(keyed([("x", 5), ("y", 1)]), 0)
    op.process(keyed([("x", 2)]), 1)
    op.process(keyed([("x", 10), ("y", 1)]), 0)
    assert op.output.records == [("x", 5), ("y", 1), ("x", 3), ("x", 13), ("y", 2)]


def test_co_map_without_keys_has_no_keyed_state():
    op = CoMapOperator(RunningTotal())
    with pytest.raises(StateAccessError, match="Co-Map 'RunningTotal'.*key_by"):
        start(op)


class Split(CoFlatMapFunction):
    def flat_map1(self, value):
        yield from value.split()

    def flat_map2(self, value):
        return None if value < 0 else [value] * value


def test_co_flat_map_repeats_timestamps_and_accepts_none():
    op = start(CoFlatMapOperator(Split()))
    op.process(batch(["a b", "", "c"], timestamps=[1, 2, 3]), 0)
    op.process(batch([2, -1, 1], timestamps=[7, 8, 9]), 1)
    assert op.output.rows == [("a", 1), ("b", 1), ("c", 3), (2, 7), (2, 7), (1, 9)]


def test_co_map_needs_both_methods():
    class OnlyOne:
        def map1(self, value):
            return value

    with pytest.raises(TypeError, match="map2"):
        start(CoMapOperator(OnlyOne()))


# ---- co-process (not keyed) -----------------------------------------------------------------------------


class Router(CoProcessFunction):
    def process_element1(self, value, ctx):
        if value < 0:
            ctx.output(LATE, value)
            return
        yield "one", value, ctx.timestamp(), ctx.timer_service().current_watermark()

    def process_element2(self, value, ctx):
        yield LATE, ("two", value)
        yield "two", value, ctx.timestamp()


def test_co_process_outputs_side_outputs_and_timestamps():
    op = start(CoProcessOperator(Router()), side_tags=[LATE])
    op.process(batch([1, -1], timestamps=[10, 11]), 0)
    op.process_watermark(50)
    op.process(batch([2]), 1)
    assert op.output.rows == [(("one", 1, 10, MIN_WATERMARK), 10), (("two", 2, None), None)]
    assert op.side_outputs["late"].rows == [(-1, 11), (("two", 2), None)]
    assert ("wm", 50) in op.output.events and ("wm", 50) in op.side_outputs["late"].events


def test_co_process_without_keys_refuses_timers():
    class Timers(CoProcessFunction):
        def process_element1(self, value, ctx):
            ctx.timer_service().register_event_time_timer(5)

        def process_element2(self, value, ctx):
            pass

    op = start(CoProcessOperator(Timers()))
    with pytest.raises(ProcessFunctionError, match="only supported on keyed streams"):
        op.process(batch([1]), 0)


def test_co_process_returning_a_non_iterable_says_what_it_returned():
    class Bad(CoProcessFunction):
        def process_element1(self, value, ctx):
            return 42

        def process_element2(self, value, ctx):
            return "oops"

    op = start(CoProcessOperator(Bad()))
    with pytest.raises(TypeError, match="process_element1 returned int"):
        op.process(batch([1]), 0)
    with pytest.raises(TypeError, match="process_element2 returned str"):
        op.process(batch([1]), 1)


# ---- keyed co-process: shared state, timers ---------------------------------------------------------------


class Expire(KeyedCoProcessFunction):
    """Input 1 opens a session per key until an event-time deadline; input 2 counts hits while open.
    At the deadline the timer emits the count; a processing-time timer reports too."""

    def open(self, runtime_context):
        self.hits = runtime_context.get_state(ValueStateDescriptor("hits"))
        self.deadline = runtime_context.get_state(ValueStateDescriptor("deadline"))

    def process_element1(self, value, ctx):
        key, deadline = value
        assert ctx.get_current_key() == key
        self.deadline.update(deadline)
        self.hits.update(0)
        ctx.timer_service().register_event_time_timer(deadline)
        ctx.timer_service().register_event_time_timer(deadline)        # deduplicated
        ctx.timer_service().register_processing_time_timer(1_000)
        return []

    def process_element2(self, value, ctx):
        if self.deadline.value() is not None:
            self.hits.update(self.hits.value() + 1)

    def on_timer(self, timestamp, ctx):
        if ctx.time_domain() == TimeDomain.PROCESSING_TIME:
            yield "pt", ctx.get_current_key(), timestamp
            return
        if timestamp == 35:
            yield "chained", ctx.get_current_key()
            return
        yield "closed", ctx.get_current_key(), self.hits.value(), ctx.timestamp()
        self.deadline.clear()
        if timestamp == 30:
            ctx.timer_service().register_event_time_timer(35)          # already due: fires in this pass


def test_keyed_co_process_shares_state_and_fires_event_timers_in_order_before_the_watermark():
    clock = ManualClock(0)
    op = start(KeyedCoProcessOperator(Expire()), clock=clock)
    op.process(keyed([("a", 30), ("b", 20)], timestamps=[1, 2]), 0)
    op.process(keyed([("a", 0), ("a", 0), ("b", 0), ("c", 0)], timestamps=[3, 4, 5, 6]), 1)
    op.process_watermark(25)
    op.process(keyed([("a", 0)], timestamps=[26]), 1)
    op.process_watermark(40)
    events = op.output.events
    assert events == [
        ("batch", [(("closed", "b", 1, 20), 20)]),
        ("wm", 25),
        ("batch", [(("closed", "a", 3, 30), 30), (("chained", "a"), 35)]),
        ("wm", 40),
    ]
    clock.set(1_001)
    op.ctx.processing_time_service.run_due()
    pt = [r for r in op.output.rows if r[0][0] == "pt"]
    assert sorted(pt) == [(("pt", "a", 1_000), None), (("pt", "b", 1_000), None)]


def test_keyed_co_process_with_a_plain_co_process_function_gets_state_and_timers():
    class Count(CoProcessFunction):
        def open(self, runtime_context):
            self.n = runtime_context.get_state(ValueStateDescriptor("n"))

        def process_element1(self, value, ctx):
            self.n.update((self.n.value() or 0) + 1)
            ctx.timer_service().register_event_time_timer(100)

        def process_element2(self, value, ctx):
            yield value[0], self.n.value()

        def on_timer(self, timestamp, ctx):
            yield "timer", self.n.value()

    op = start(KeyedCoProcessOperator(Count()))
    op.process(keyed([("k", 1), ("k", 2), ("j", 1)]), 0)
    op.process(keyed([("k",), ("j",), ("z",)]), 1)
    op.process_watermark(MAX_WATERMARK)
    assert op.output.records == [("k", 2), ("j", 1), ("z", None), ("timer", 2), ("timer", 1)]


# ---- broadcast state pattern --------------------------------------------------------------------------------

RULES = MapStateDescriptor("rules")
BUFFER = ListStateDescriptor("buffer")


class Matcher(KeyedBroadcastProcessFunction):
    """Rules are (name, divisor); elements (key, n). Emits (name, key, n) for every rule dividing n,
    once, whichever of rule and element arrived first."""

    def open(self, runtime_context):
        self.buffer = runtime_context.get_list_state(BUFFER)

    def process_element(self, value, ctx):
        self.buffer.add(value)
        for name, divisor in ctx.get_broadcast_state(RULES).items():
            if value[1] % divisor == 0:
                yield name, value[0], value[1]

    def process_broadcast_element(self, rule, ctx):
        name, divisor = rule
        ctx.get_broadcast_state(RULES).put(name, divisor)
        matches = []

        def match(key, state):
            matches.extend((name, key, n) for k, n in state.get() if n % divisor == 0)

        ctx.apply_to_keyed_state(BUFFER, match)
        yield from matches


def test_keyed_broadcast_matches_every_rule_with_every_element_once_in_any_arrival_order():
    rng = random.Random(3)
    elements = [(f"k{i % 7}", i) for i in range(60)]
    rules = [("even", 2), ("three", 3), ("five", 5), ("seven", 7)]
    expected = sorted((name, k, n) for name, d in rules for k, n in elements if n % d == 0)
    for _ in range(20):
        op = start(KeyedBroadcastProcessOperator(Matcher(), [RULES]))
        items = [("e", e) for e in elements] + [("r", r) for r in rules]
        rng.shuffle(items)
        for kind, group in itertools.groupby(items, key=lambda it: it[0]):
            values = [v for _, v in group]
            if kind == "e":
                op.process(keyed(values), 0)
            else:
                op.process(batch(values), 1)
        assert sorted(op.output.records) == expected


def test_broadcast_state_is_read_only_on_the_element_side():
    class Writer(KeyedBroadcastProcessFunction):
        def process_element(self, value, ctx):
            ctx.get_broadcast_state(RULES).put("x", 1)

        def process_broadcast_element(self, value, ctx):
            pass

    op = start(KeyedBroadcastProcessOperator(Writer(), [RULES]))
    with pytest.raises(StateAccessError, match="read-only.*process_broadcast_element"):
        op.process(keyed([("k", 1)]), 0)


def test_unknown_broadcast_state_and_keyed_state_on_the_broadcast_side_are_refused():
    class Unknown(KeyedBroadcastProcessFunction):
        def open(self, runtime_context):
            self.buffer = runtime_context.get_list_state(BUFFER)

        def process_element(self, value, ctx):
            ctx.get_broadcast_state(MapStateDescriptor("other"))

        def process_broadcast_element(self, value, ctx):
            self.buffer.add(value)

    op = start(KeyedBroadcastProcessOperator(Unknown(), [RULES]))
    with pytest.raises(StateAccessError, match="no broadcast state 'other' .*declared: 'rules'"):
        op.process(keyed([("k", 1)]), 0)
    with pytest.raises(StateAccessError, match="no current key.*apply_to_keyed_state"):
        op.process(batch(["rule"]), 1)


def test_keyed_broadcast_timers_see_the_broadcast_state():
    class Remind(KeyedBroadcastProcessFunction):
        def process_element(self, value, ctx):
            ctx.timer_service().register_event_time_timer(value[1])

        def process_broadcast_element(self, value, ctx):
            ctx.get_broadcast_state(RULES).put("greeting", value)

        def on_timer(self, timestamp, ctx):
            assert ctx.time_domain() == TimeDomain.EVENT_TIME
            yield ctx.get_broadcast_state(RULES).get("greeting"), ctx.get_current_key(), timestamp

    op = start(KeyedBroadcastProcessOperator(Remind(), [RULES]))
    op.process(keyed([("a", 20), ("b", 10)]), 0)
    op.process(batch(["hi"]), 1)
    op.process_watermark(30)
    assert op.output.rows == [(("hi", "b", 10), 10), (("hi", "a", 20), 20)]


class Blocklist(BroadcastProcessFunction):
    def process_element(self, value, ctx):
        if not ctx.get_broadcast_state(RULES).contains(value):
            yield value, ctx.timestamp()

    def process_broadcast_element(self, value, ctx):
        ctx.get_broadcast_state(RULES).put(value, True)
        yield "blocked", value


def test_non_keyed_broadcast_process_function():
    op = start(BroadcastProcessOperator(Blocklist(), [RULES]))
    op.process(batch(["spam"], timestamps=[1]), 1)
    op.process(batch(["ham", "spam", "eggs"], timestamps=[5, 6, 7]), 0)
    assert op.output.rows == [(("blocked", "spam"), 1), (("ham", 5), 5), (("eggs", 7), 7)]


def test_non_keyed_broadcast_has_no_keyed_state():
    class Apply(BroadcastProcessFunction):
        def process_element(self, value, ctx):
            pass

        def process_broadcast_element(self, value, ctx):
            ctx.apply_to_keyed_state(BUFFER, lambda k, s: None)

    op = start(BroadcastProcessOperator(Apply(), [RULES]))
    with pytest.raises(StateAccessError, match="KeyedBroadcastProcessFunction"):
        op.process(batch([1]), 1)


def test_broadcast_takes_map_state_descriptors_only():
    with pytest.raises(TypeError, match="MapStateDescriptor"):
        BroadcastProcessOperator(Blocklist(), [ValueStateDescriptor("v")])


# ---- interval join -----------------------------------------------------------------------------------------


class Pair(ProcessJoinFunction):
    def process_element(self, left, right, ctx):
        assert ctx.get_timestamp() == max(ctx.get_left_timestamp(), ctx.get_right_timestamp())
        yield left, right, ctx.get_left_timestamp(), ctx.get_right_timestamp()


def reference_join(lefts, rights, lower, upper):
    """(left, right, left_ts, right_ts) of every pair with equal keys and r.ts in [l.ts + lower, l.ts + upper]."""
    return sorted((lv, rv, lt, rt) for lv, lt in lefts for rv, rt in rights
                  if lv[0] == rv[0] and lt + lower <= rt <= lt + upper)


@pytest.mark.parametrize("lower,upper", [(-20, 10), (0, 0), (4, 30), (-30, -6), (-10, 10)])
def test_interval_join_matches_a_brute_force_reference_with_out_of_order_and_late_data(lower, upper):
    """Random arrival order and watermarks. Timestamps and bounds are even, watermarks odd: an element
    is late exactly when its timestamp is below the watermark at arrival, and every pair of elements
    that are not late joins (the reference), whatever was cleaned up in between."""
    rng = random.Random(lower * 1000 + upper)
    for _ in range(15):
        op = start(IntervalJoinOperator(Pair(), lower, upper, left_late_tag=LATE, right_late_tag=OutputTag("rl")),
                   side_tags=[LATE, OutputTag("rl")])
        arrivals = [(side, (f"k{rng.randrange(3)}", i), 2 * rng.randrange(60))
                    for i, side in enumerate(rng.choices((0, 1), k=80))]
        watermark = MIN_WATERMARK
        on_time: tuple[list, list] = ([], [])
        late: tuple[list, list] = ([], [])
        pos = 0
        while pos < len(arrivals):
            n = rng.randint(1, 6)
            chunk = arrivals[pos:pos + n]
            pos += n
            for side in (0, 1):
                part = [(v, t) for s, v, t in chunk if s == side]
                if part:
                    for v, t in part:
                        (late if t < watermark else on_time)[side].append((v, t))
                    op.process(keyed([v for v, _ in part], timestamps=[t for _, t in part]), side)
            if rng.random() < 0.4:
                watermark = max(watermark, 2 * rng.randrange(50) + 1)
                op.process_watermark(watermark)
        op.process_watermark(MAX_WATERMARK)
        rows = op.output.rows
        assert sorted(r for r, _ in rows) == reference_join(on_time[0], on_time[1], lower, upper)
        assert all(ts == max(r[2], r[3]) for r, ts in rows)
        assert sorted(op.side_outputs["late"].rows) == sorted(late[0])
        assert sorted(op.side_outputs["rl"].rows) == sorted(late[1])
        assert op.backend.num_entries() == 0     # every bucket was cleaned up
        assert op.timers.num_event_time_timers() == 0


def test_interval_join_exclusive_bounds():
    lefts = [(("k", "l"), 100)]
    rights = [(("k", f"r{t}"), t) for t in (89, 90, 91, 100, 109, 110, 111)]

    def run(**bounds):
        op = start(IntervalJoinOperator(Pair(), -10, 10, **bounds))
        op.process(keyed([v for v, _ in rights], timestamps=[t for _, t in rights]), 1)
        op.process(keyed([v for v, _ in lefts], timestamps=[t for _, t in lefts]), 0)
        op.process_watermark(MAX_WATERMARK)
        return sorted(r[3] for r in op.output.records)

    assert run() == [90, 91, 100, 109, 110]
    assert run(lower_bound_inclusive=False) == [91, 100, 109, 110]
    assert run(upper_bound_inclusive=False) == [90, 91, 100, 109]
    assert run(lower_bound_inclusive=False, upper_bound_inclusive=False) == [91, 100, 109]


def test_interval_join_drops_late_elements_and_cleans_up_at_the_watermark():
    op = start(IntervalJoinOperator(Pair(), -5, 5))
    op.process(keyed([("k", "r1")], timestamps=[100]), 1)
    op.process_watermark(104)                  # right@100 may still join lefts up to 105
    assert op.backend.num_entries() == 1
    op.process(keyed([("k", "l1"), ("k", "late")], timestamps=[105, 50]), 0)
    op.process_watermark(106)                  # right@100 cleaned (no left >= 106 can reach it)
    op.process(keyed([("k", "l2")], timestamps=[106]), 0)
    op.process_watermark(MAX_WATERMARK)
    assert op.output.rows == [((("k", "l1"), ("k", "r1"), 105, 100), 105)]
    assert op.backend.num_entries() == 0


def test_interval_join_needs_timestamps_and_a_non_empty_interval():
    op = start(IntervalJoinOperator(Pair(), 0, 10))
    with pytest.raises(MissingTimestampError, match="right input have no timestamp.*assign_timestamps"):
        op.process(keyed([("k", 1)]), 1)
    with pytest.raises(ValueError, match="empty"):
        IntervalJoinOperator(Pair(), 5, 5, lower_bound_inclusive=False)


# ---- the client API: graph shape and mistakes it refuses ------------------------------------------------------


def _env():
    from strom import StreamExecutionEnvironment

    return StreamExecutionEnvironment.get_execution_environment()


def _inputs(stream):
    edges = stream._env._graph.inputs_of(stream._node.id)
    return sorted((e.input_index, e.partitioner) for e in edges)


def test_connect_builds_one_two_input_node_keyed_or_broadcast():
    env = _env()
    a, b = env.from_collection([("a", 1)]), env.from_collection([("a", 2)])
    assert _inputs(a.connect(b).map(Tag())) == [(0, None), (1, None)]
    keyed_node = a.connect(b).key_by(lambda r: r[0], lambda r: r[0]).process(Expire())
    assert _inputs(keyed_node) == [(0, "hash"), (1, "hash")]
    assert isinstance(keyed_node._node.operator, KeyedCoProcessOperator) and keyed_node._node.stateful
    broadcast = a.key_by(lambda r: r[0]).connect(b.broadcast(RULES)).process(Matcher())
    assert _inputs(broadcast) == [(0, "hash"), (1, "broadcast")]
    assert isinstance(broadcast._node.operator, KeyedBroadcastProcessOperator)
    joined = a.key_by(lambda r: r[0]).interval_join(b.key_by(lambda r: r[0])).between(-5, 5).process(Pair())
    assert _inputs(joined) == [(0, "hash"), (1, "hash")]


def test_the_client_api_refuses_mismatched_functions_and_streams():
    from strom.client.api.time import Duration

    env = _env()
    a, b = env.from_collection([("a", 1)]), env.from_collection([("a", 2)])
    with pytest.raises(TypeError, match="DataStream or a BroadcastStream"):
        a.connect([1, 2])
    with pytest.raises(TypeError, match="CoMapFunction.*map1, map2"):
        a.connect(b).map(lambda v: v)
    with pytest.raises(TypeError, match="KeyedCoProcessFunction needs keyed connected streams"):
        a.connect(b).process(Expire())
    with pytest.raises(TypeError, match="MapStateDescriptors"):
        b.broadcast(ValueStateDescriptor("v"))
    with pytest.raises(TypeError, match="use a KeyedBroadcastProcessFunction"):
        a.key_by(lambda r: r[0]).connect(b.broadcast(RULES)).process(Blocklist())
    with pytest.raises(TypeError, match="needs a keyed stream"):
        a.connect(b.broadcast(RULES)).process(Matcher())
    with pytest.raises(TypeError, match="KeyedStream on both sides"):
        a.key_by(lambda r: r[0]).interval_join(b)
    join = a.key_by(lambda r: r[0]).interval_join(b.key_by(lambda r: r[0]))
    with pytest.raises(ValueError, match="lower bound must not be above"):
        join.between(Duration.of_millis(10), 5)
    with pytest.raises(ValueError, match="event time"):
        join.in_processing_time()
    with pytest.raises(ValueError, match="empty interval"):
        join.between(5, 5).lower_bound_exclusive().process(Pair())
    with pytest.raises(TypeError, match="ProcessJoinFunction"):
        join.between(0, 5).process(lambda left, right: None)
