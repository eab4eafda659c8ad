"""ProcessOperator and KeyedProcessOperator driven directly: timers in order and deduplicated,
state following the key, timestamps of outputs, side outputs, processing time on a manual clock,
TTL, and the errors a user sees."""

from __future__ import annotations

import numpy as np
import pytest

from strom.client.api.functions import (
    KeyedProcessFunction,
    OutputTag,
    ProcessFunction,
    ProcessFunctionError,
    TimeDomain,
    implements_on_timer,
)
from strom.client.api.state import (
    AggregateFunction,
    AggregatingStateDescriptor,
    ListStateDescriptor,
    MapStateDescriptor,
    ReducingStateDescriptor,
    StateTtlConfig,
    ValueStateDescriptor,
)
from strom.client.api.time import Time
from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.process import KeyedProcessOperator, ProcessOperator
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.state import HashMapKeyedStateBackend, StateAccessError
from strom.taskmanager.time import MAX_WATERMARK, ManualClock, ProcessingTimeService


class TestingOperatorContext(OperatorContext):
    """An operator context whose keyed state (TTL) reads the same manual clock as its timers."""

    __test__ = False

    def create_keyed_state_backend(self) -> HashMapKeyedStateBackend:
        clock = self._pts().clock
        return HashMapKeyedStateBackend.from_context(self, clock=clock.now_ms)


class Recorder:
    """An operator output that keeps batches and watermarks in the order they were emitted."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def emit(self, batch: Batch) -> None:
        ts = batch.timestamps
        self.events.append(("batch", list(batch.records), None if ts is None else ts.tolist()))

    def emit_watermark(self, watermark: int) -> None:
        self.events.append(("watermark", watermark))

    def emit_watermark_status(self, idle: bool) -> None:
        self.events.append(("idle", idle))

    @property
    def records(self) -> list:
        return [r for e in self.events if e[0] == "batch" for r in e[1]]

    @property
    def batches(self) -> list[tuple]:
        return [e for e in self.events if e[0] == "batch"]


def start(op, clock: ManualClock | None = None, side_tags: tuple[str, ...] = ()):
    clock = clock or ManualClock(1_000)
    op.output = Recorder()
    op.side_outputs = {tag: Recorder() for tag in side_tags}
    ctx = TestingOperatorContext("job", "job", "vertex", op.name, 0, 1, 128, 0, {},
                                 processing_time_service=ProcessingTimeService(clock))
    op.open(ctx)
    return op, clock, ctx.processing_time_service


def keyed(records, ts=None, key=lambda r: r[0]):
    return Batch(records=list(records), keys=[key(r) for r in records],
                 timestamps=None if ts is None else np.array(ts, dtype=np.int64))


# ---- event-time timers -------------------------------------------------------------------------


class TimerOrder(KeyedProcessFunction):
    """Registers ts+10 twice (one timer) and ts+1001; on_timer at a multiple of 3 adds timestamp+7."""

    def process_element(self, value, ctx):
        t = ctx.timestamp()
        service = ctx.timer_service()
        service.register_event_time_timer(t + 10)
        service.register_event_time_timer(t + 10)
        service.register_event_time_timer(t + 1001)
        if value[1] % 2 == 0:
            service.delete_event_time_timer(t + 1001)
        yield ("element", ctx.get_current_key(), t)

    def on_timer(self, timestamp, ctx):
        assert ctx.time_domain() is TimeDomain.EVENT_TIME
        assert ctx.timestamp() == timestamp
        if timestamp % 3 == 0:
            ctx.timer_service().register_event_time_timer(timestamp + 7)
        yield ("timer", ctx.get_current_key(), timestamp, ctx.timer_service().current_watermark())


def test_event_time_timers_fire_in_order_deduplicated_before_the_watermark_is_forwarded():
    op, _, _ = start(KeyedProcessOperator(TimerOrder()))
    op.process(keyed([("a", 1), ("b", 2), ("a", 3)], ts=[100, 100, 110]))
    op.process_watermark(105)                 # nothing due
    op.process_watermark(120)                 # a@110 and b@110 (registered in that order: a first)
    op.process_watermark(MAX_WATERMARK)
    events = op.output.events
    assert events[0] == ("batch", [("element", "a", 100), ("element", "b", 100), ("element", "a", 110)],
                         [100, 100, 110])
    assert events[1] == ("watermark", 105)
    # due at 120: a@110 and b@110 (equal timestamps: registration order), then a@120, which
    # registers a@127 (120 is a multiple of 3), not due yet
    assert events[2] == ("batch", [("timer", "a", 110, 120), ("timer", "b", 110, 120), ("timer", "a", 120, 120)],
                         [110, 110, 120])
    assert events[3] == ("watermark", 120)
    # the rest in timestamp order: a@127, a@1101 (element 1 is odd: its +1001 timer stays; element 2
    # deleted b@1101), a@1108 (registered while a@1101 fired, due in the same pass), a@1111
    assert events[4] == ("batch", [("timer", "a", 127, MAX_WATERMARK), ("timer", "a", 1101, MAX_WATERMARK),
                                   ("timer", "a", 1108, MAX_WATERMARK), ("timer", "a", 1111, MAX_WATERMARK)],
                         [127, 1101, 1108, 1111])
    assert events[5] == ("watermark", MAX_WATERMARK)
    assert len(events) == 6
    assert op._timers.num_event_time_timers() == 0


class CountAndClear(KeyedProcessFunction):
    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))

    def process_element(self, value, ctx):
        self.count.update((self.count.value() or 0) + 1)
        ctx.timer_service().register_event_time_timer(1_000)

    def on_timer(self, timestamp, ctx):
        yield ctx.get_current_key(), self.count.value()
        self.count.clear()


def test_state_follows_the_key_of_each_element_and_timer():
    op, _, _ = start(KeyedProcessOperator(CountAndClear()))
    op.process(keyed([("a",), ("a",), ("b",), ("a",), ("c",), ("c",)], ts=[1, 2, 3, 4, 5, 6]))
    op.process(keyed([("b",)], ts=[7]))
    op.process_watermark(1_000)
    assert op.output.batches == [("batch", [("a", 3), ("b", 2), ("c", 2)], [1_000, 1_000, 1_000])]
    op.process(keyed([("a",)], ts=[1_001]))      # a timer in the past fires at the next watermark
    op.process_watermark(1_001)
    assert op.output.batches[-1] == ("batch", [("a", 1)], [1_000])


def test_the_current_key_is_set_only_when_it_changes():
    op, _, _ = start(KeyedProcessOperator(CountAndClear()))
    calls = []
    backend_set = op.backend.set_current_key
    op.backend.set_current_key = lambda key, key_group=None: (calls.append(key), backend_set(key))
    op.process(keyed([("a",), ("a",), ("a",), ("b",), ("b",), ("a",)]))
    assert calls == ["a", "b", "a"]


# ---- processing-time timers ---------------------------------------------------------------------


class Sessions(KeyedProcessFunction):
    def open(self, runtime_context):
        self.seen = runtime_context.get_list_state(ListStateDescriptor("seen"))

    def process_element(self, value, ctx):
        self.seen.add(value[1])
        now = ctx.timer_service().current_processing_time()
        ctx.timer_service().register_processing_time_timer(now + 100)

    def on_timer(self, timestamp, ctx):
        yield (ctx.get_current_key(), timestamp, ctx.timestamp(), ctx.time_domain().name, list(self.seen.get()))
        self.seen.clear()


def test_processing_time_timers_fire_once_the_clock_is_past_them_in_one_batch_without_timestamps():
    op, clock, pts = start(KeyedProcessOperator(Sessions()))
    op.process(keyed([("a", 1), ("b", 2), ("a", 3)], ts=[10, 20, 30]))   # all at 1_000 -> timers at 1_100
    clock.set(1_050)
    op.process(keyed([("c", 4)], ts=[40]))                                 # timer at 1_150
    clock.set(1_100)
    assert pts.run_due() == 0                                              # not past 1_100 yet
    clock.set(1_101)
    pts.run_due()
    assert op.output.batches[-1] == ("batch", [("a", 1_100, 1_100, "PROCESSING_TIME", [1, 3]),
                                               ("b", 1_100, 1_100, "PROCESSING_TIME", [2])], None)
    clock.set(2_000)
    pts.run_due()
    assert op.output.batches[-1] == ("batch", [("c", 1_150, 1_150, "PROCESSING_TIME", [4])], None)
    assert len(op.output.batches) == 2
    assert op._timers.num_processing_time_timers() == 0


class DeleteProcessingTimer(KeyedProcessFunction):
    def process_element(self, value, ctx):
        service = ctx.timer_service()
        if value[1] == "set":
            service.register_processing_time_timer(1_200)
        else:
            service.delete_processing_time_timer(1_200)

    def on_timer(self, timestamp, ctx):
        yield ctx.get_current_key(), timestamp


def test_deleted_processing_time_timers_do_not_fire():
    op, clock, pts = start(KeyedProcessOperator(DeleteProcessingTimer()))
    op.process(keyed([("a", "set"), ("b", "set"), ("a", "delete")]))
    clock.set(5_000)
    pts.run_due()
    assert op.output.records == [("b", 1_200)]


# ---- state --------------------------------------------------------------------------------------


class Average(AggregateFunction):
    def create_accumulator(self):
        return (0, 0)

    def add(self, value, accumulator):
        return accumulator[0] + value, accumulator[1] + 1

    def get_result(self, accumulator):
        return f"{accumulator[0]}/{accumulator[1]}"

    def merge(self, acc_a, acc_b):
        return acc_a[0] + acc_b[0], acc_a[1] + acc_b[1]


class AllStates(KeyedProcessFunction):
    def open(self, runtime_context):
        self.count = runtime_context.get_state(ValueStateDescriptor("count"))
        self.values = runtime_context.get_list_state(ListStateDescriptor("values"))
        self.by_rest = runtime_context.get_map_state(MapStateDescriptor("by-rest"))
        self.total = runtime_context.get_reducing_state(ReducingStateDescriptor("total", lambda a, b: a + b))
        self.average = runtime_context.get_aggregating_state(AggregatingStateDescriptor("avg", Average()))

    def process_element(self, value, ctx):
        _, v = value
        self.count.update((self.count.value() or 0) + 1)
        self.values.add(v)
        self.by_rest.put(v % 3, (self.by_rest.get(v % 3) or 0) + 1)
        self.total.add(v)
        self.average.add(v)
        yield (ctx.get_current_key(), self.count.value(), list(self.values.get()), dict(self.by_rest.items()),
               self.total.get(), self.average.get())


def test_all_five_kinds_of_keyed_state():
    op, _, _ = start(KeyedProcessOperator(AllStates()))
    op.process(keyed([("a", 1), ("b", 5), ("a", 4)]))
    op.process(keyed([("a", 3)]))
    assert op.output.records == [
        ("a", 1, [1], {1: 1}, 1, "1/1"),
        ("b", 1, [5], {2: 1}, 5, "5/1"),
        ("a", 2, [1, 4], {1: 2}, 5, "5/2"),
        ("a", 3, [1, 4, 3], {1: 2, 0: 1}, 8, "8/3"),
    ]


class TtlCount(KeyedProcessFunction):
    def open(self, runtime_context):
        descriptor = ValueStateDescriptor("count")
        descriptor.enable_time_to_live(StateTtlConfig.new_builder(Time.milliseconds(100)).build())
        self.count = runtime_context.get_state(descriptor)

    def process_element(self, value, ctx):
        self.count.update((self.count.value() or 0) + 1)
        yield ctx.get_current_key(), self.count.value()


def test_state_with_ttl_expires_on_the_processing_time_clock():
    op, clock, _ = start(KeyedProcessOperator(TtlCount()))
    op.process(keyed([("a",), ("a",)]))
    clock.advance(60)
    op.process(keyed([("a",), ("b",)]))          # a written at 1_060: lives until 1_160
    clock.advance(99)
    op.process(keyed([("b",)]))                 # b (1_060) still alive at 1_159
    clock.advance(1)
    op.process(keyed([("a",), ("b",)]))         # a expired at 1_160, b was refreshed at 1_159
    assert op.output.records == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("a", 1), ("b", 3)]


# ---- side outputs and timestamps ---------------------------------------------------------------


class Split(ProcessFunction):
    def __init__(self):
        self.small = OutputTag("small")
        self.odd = OutputTag("odd")

    def process_element(self, value, ctx):
        if value < 10:
            yield self.small, value
        if value % 2:
            ctx.output(self.odd, (value, ctx.timestamp()))
        yield value * 10


def test_side_outputs_from_yield_and_ctx_output_keep_element_timestamps():
    op, _, _ = start(ProcessOperator(Split()), side_tags=("small", "odd"))
    op.process(Batch.of_records([3, 12, 15, 4], np.array([30, 120, 150, 40], dtype=np.int64)))
    assert op.output.batches == [("batch", [30, 120, 150, 40], [30, 120, 150, 40])]
    assert op.side_outputs["small"].batches == [("batch", [3, 4], [30, 40])]
    assert op.side_outputs["odd"].batches == [("batch", [(3, 30), (15, 150)], [30, 150])]


def test_side_outputs_nobody_reads_are_dropped_and_never_reach_the_main_output():
    op, _, _ = start(ProcessOperator(Split()))
    op.process(Batch.of_records([3, 5]))
    assert op.output.batches == [("batch", [30, 50], None)]


def test_non_keyed_process_sees_timestamps_and_the_watermark():
    seen = []

    def stamp(value, ctx):
        seen.append((value, ctx.timestamp(), ctx.timer_service().current_watermark()))
        return [value]

    op, _, _ = start(ProcessOperator(stamp))
    op.process(Batch.of_records(["x"], np.array([7], dtype=np.int64)))
    op.process_watermark(50)
    op.process(Batch.of_records(["y"]))
    assert seen[0][:2] == ("x", 7) and seen[0][2] < 0
    assert seen[1] == ("y", None, 50)
    assert op.output.events[1] == ("watermark", 50)


def test_the_contexts_are_the_pyflink_interfaces():
    kinds = []

    class Check(KeyedProcessFunction):
        def process_element(self, value, ctx):
            kinds.append(isinstance(ctx, KeyedProcessFunction.Context))
            kinds.append(isinstance(ctx, ProcessFunction.Context))
            ctx.timer_service().register_event_time_timer(5)

        def on_timer(self, timestamp, ctx):
            kinds.append(isinstance(ctx, KeyedProcessFunction.OnTimerContext))
            return None

    op, _, _ = start(KeyedProcessOperator(Check()))
    op.process(keyed([("a",)]))
    op.process_watermark(5)
    assert kinds == [True, True, True]


# ---- errors -------------------------------------------------------------------------------------


def test_timers_on_a_non_keyed_stream_fail_with_flinks_message_and_the_step():
    class Timed(ProcessFunction):
        def process_element(self, value, ctx):
            ctx.timer_service().register_event_time_timer(10)
            yield value

    op, _, _ = start(ProcessOperator(Timed()))
    with pytest.raises(ProcessFunctionError, match=r"Process \(.*Timed\).*Setting timers is only supported on "
                                                    r"keyed streams.*key_by"):
        op.process(Batch.of_records([1]))


def test_a_non_iterable_result_says_what_was_returned():
    op, _, _ = start(ProcessOperator(lambda value, ctx: value + 1))
    with pytest.raises(TypeError, match=r"process_element returned 2 of type int; it must yield its outputs or "
                                        r"return an iterable"):
        op.process(Batch.of_records([1]))
    op, _, _ = start(ProcessOperator(lambda value, ctx: str(value)))
    with pytest.raises(TypeError, match=r"returned '1' of type str.*yield value"):
        op.process(Batch.of_records([1], np.array([5], dtype=np.int64)))


def test_a_type_error_inside_a_generator_is_the_users_own():
    def broken(value, ctx):
        yield value + "x"

    op, _, _ = start(ProcessOperator(broken))
    with pytest.raises(TypeError, match="unsupported operand"):
        op.process(Batch.of_records([1]))


class NoOnTimer(KeyedProcessFunction):
    def process_element(self, value, ctx):
        ctx.timer_service().register_event_time_timer(10)
        yield value


def test_registering_a_timer_without_on_timer_fails_at_registration():
    assert not implements_on_timer(NoOnTimer())
    assert implements_on_timer(TimerOrder())
    op, _, _ = start(KeyedProcessOperator(NoOnTimer(), has_on_timer=implements_on_timer(NoOnTimer())))
    with pytest.raises(ProcessFunctionError, match=r"register_event_time_timer was called, but .*NoOnTimer has no "
                                                   r"on_timer\(timestamp, ctx\)"):
        op.process(keyed([("a",)]))


def test_keyed_state_on_a_non_keyed_stream_names_the_step():
    class Stateful(ProcessFunction):
        def open(self, runtime_context):
            runtime_context.get_state(ValueStateDescriptor("count"))

        def process_element(self, value, ctx):
            yield value

    with pytest.raises(StateAccessError, match=r"^Process \(.*Stateful\): get_state\('count'\) needs keyed state") as err:
        start(ProcessOperator(Stateful()))
    assert str(err.value).count("Stateful") == 1


def test_a_timer_time_must_be_whole_milliseconds():
    class BadTime(KeyedProcessFunction):
        def process_element(self, value, ctx):
            ctx.timer_service().register_event_time_timer(value[1])

        def on_timer(self, timestamp, ctx):
            yield timestamp

    op, _, _ = start(KeyedProcessOperator(BadTime()))
    op.process(keyed([("a", 10.0), ("b", np.int64(12))]))          # integral values are fine
    op.process_watermark(20)
    assert op.output.records == [10, 12]
    with pytest.raises(TypeError, match=r"register_event_time_timer expects whole milliseconds, got 1.5"):
        op.process(keyed([("a", 1.5)]))
    with pytest.raises(TypeError, match=r"expects int milliseconds, got None"):
        op.process(keyed([("a", None)]))


def test_keyed_state_outside_an_element_or_timer_names_the_operator():
    class ReadsInOpen(KeyedProcessFunction):
        def open(self, runtime_context):
            runtime_context.get_state(ValueStateDescriptor("count")).value()

        def process_element(self, value, ctx):
            yield value

    with pytest.raises(StateAccessError, match=r"KeyedProcess \(.*ReadsInOpen\): state 'count' accessed outside "
                                               r"a keyed context"):
        start(KeyedProcessOperator(ReadsInOpen()))


# ---- the client API -------------------------------------------------------------------------------


def test_process_on_streams_builds_the_right_operators_and_checks_its_function():
    from strom import StreamExecutionEnvironment
    from strom.common.errors import JobGraphError

    env = StreamExecutionEnvironment.get_execution_environment()
    env.configure({"pipeline.auto-generate-uids": "false"})
    numbers = env.from_collection([1, 2, 3])
    with pytest.raises(TypeError, match=r"KeyedProcessFunction, which needs a keyed stream: call key_by"):
        numbers.process(TimerOrder())
    with pytest.raises(TypeError, match=r"expects an instance, got the class Split: write Split\(\)"):
        numbers.process(Split)
    with pytest.raises(TypeError, match=r"expects a ProcessFunction"):
        numbers.process(42)
    numbers.process(lambda value, ctx: [value]).key_by(lambda v: v % 2).process(CountAndClear()).print()
    with pytest.raises(JobGraphError, match=r"stateful operator .*KeyedProcess.* has no uid"):
        env.get_job_graph()
