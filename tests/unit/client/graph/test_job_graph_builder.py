import pytest

from strom.client.api.connectors import FileSink
from strom.client.api.environment import RuntimeExecutionMode, StreamExecutionEnvironment
from strom.common.errors import JobGraphError
from strom.common.jobgraph import PartitionerKind


def _env(p=2):
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(p)
    return env


def test_forward_edges_of_equal_parallelism_are_chained(tmp_path):
    env = _env()
    (env.from_sequence(1, 10).map(lambda x: x).filter(lambda x: x > 1)
     .key_by(lambda x: x % 3).sum(0).map(str).sink_to(FileSink.text(str(tmp_path))))
    jg = env.get_job_graph("j")
    assert [v.name for v in jg.vertices] == [
        "Source: Sequence Source (1..10) -> Map -> Filter", "Keyed Aggregation -> Map -> File Sink"]
    assert [e.partitioner for e in jg.edges] == [PartitionerKind.HASH]


def test_parallelism_change_inserts_rebalance_and_collection_source_runs_once():
    env = _env(3)
    env.from_collection([1, 2]).map(lambda x: x).print()
    jg = env.get_job_graph("j")
    assert [v.parallelism for v in jg.vertices] == [1, 3]
    assert jg.edges[0].partitioner is PartitionerKind.REBALANCE


def test_union_is_a_new_vertex_with_two_inputs():
    env = _env()
    a = env.from_sequence(1, 5)
    b = env.from_sequence(6, 9)
    a.union(b).print()
    jg = env.get_job_graph("j")
    assert len(jg.vertices) == 3
    assert len(jg.inputs_of(jg.vertices[-1].id)) == 2


def test_errors_name_the_step():
    env = _env()
    env.from_sequence(1, 5).map(lambda x: x)
    with pytest.raises(JobGraphError, match="no sink"):
        env.get_job_graph("j")
    env = _env()
    env.from_sequence(1, 5).map(lambda x: x).set_parallelism(3).forward().print()
    with pytest.raises(JobGraphError, match="forward\\(\\).*Map.*step 2"):
        env.get_job_graph("j")


def test_unpicklable_function_is_reported_with_its_step():
    import threading

    lock = threading.Lock()
    env = _env()
    env.from_sequence(1, 5).map(lambda x: (x, lock)).print()
    with pytest.raises(JobGraphError, match="'Map' \\(step 2\\): cannot serialize"):
        env.get_job_graph("j")


def test_stateful_operators_need_uids_when_asked():
    env = _env()
    env.configure({"pipeline.auto-generate-uids": "false"})
    env.from_sequence(1, 5).key_by(lambda x: x).sum(0).print()
    with pytest.raises(JobGraphError, match="Keyed Aggregation.*no uid"):
        env.get_job_graph("j")


def test_automatic_mode_is_batch_for_bounded_sources():
    env = _env()
    env.set_runtime_mode(RuntimeExecutionMode.AUTOMATIC)
    env.from_sequence(1, 5).print()
    assert env.get_job_graph("j").config["execution.runtime-mode"] == "BATCH"


def test_side_outputs_are_wired_per_tag_chained_and_over_exchanges():
    import cloudpickle

    from strom.client.api.time import WatermarkStrategy
    from strom.taskmanager.runtime.output_tag import OutputTag

    env = _env()
    late = OutputTag("late")
    main = (env.from_sequence(1, 10)
            .assign_timestamps_and_watermarks(WatermarkStrategy.for_monotonous_timestamps()
                                              .with_timestamp_assigner(lambda v, ts: v))
            .map(lambda v: v))
    main.get_side_output(late).map(str).print()                    # chained: same parallelism, forward
    main.get_side_output(late).key_by(lambda v: v).reduce(max).print()   # over a hash exchange
    main.print()
    jg = env.get_job_graph("j")
    head = cloudpickle.loads(jg.vertices[0].operators)
    mapper = head.nodes[2]
    assert mapper.side_successors.keys() == {"late"} and mapper.side_exits.keys() == {"late"}
    assert len(mapper.successors) == 1                               # the main output's print
    assert head.exits[mapper.side_exits["late"][0]].partitioner == "hash"


def test_window_on_a_non_keyed_stream_is_refused_with_the_fix():
    env = _env()
    with pytest.raises(TypeError, match="key_by"):
        env.from_sequence(1, 5).window(object())


@pytest.mark.parametrize("kind", ["window", "vectorized", "process", "connect", "interval_join", "window_join"])
def test_every_stateful_step_needs_a_uid_when_the_job_asks_for_stable_ids(kind):
    from strom import (
        KeyedCoProcessFunction,
        ProcessJoinFunction,
        Time,
        TumblingEventTimeWindows,
        WatermarkStrategy,
    )
    from strom.client.api.aggregations import count

    class Both(KeyedCoProcessFunction):
        def process_element1(self, value, ctx):
            yield value

        def process_element2(self, value, ctx):
            yield value

    class Pairs(ProcessJoinFunction):
        def process_element(self, left, right, ctx):
            yield left, right

    env = _env()
    env.configure({"pipeline.auto-generate-uids": "false"})
    stream = env.from_collection([(1, 2)]).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(lambda v, ts: v[1]))
    keyed = stream.key_by(lambda v: v[0])
    windows = TumblingEventTimeWindows.of(Time.seconds(1))
    build = {
        "window": lambda: keyed.window(windows).reduce(lambda a, b: a),
        "vectorized": lambda: keyed.window(windows).aggregate(count()),
        "process": lambda: keyed.process(lambda v, ctx: [v]),
        "connect": lambda: keyed.connect(keyed).process(Both()),
        "interval_join": lambda: keyed.interval_join(keyed).between(-1, 1).process(Pairs()),
        "window_join": lambda: stream.join(stream).where(lambda v: v[0]).equal_to(lambda v: v[0])
        .window(windows).apply(lambda a, b: (a, b)),
    }
    step = build[kind]()
    step.print()
    with pytest.raises(JobGraphError, match="has no uid"):
        env.get_job_graph("j")
    step.uid(f"{kind}-1")
    env.get_job_graph("j")
