"""ExecutionGraph construction, execution lifecycles and TaskDeploymentDescriptors (pure)."""

from __future__ import annotations

import logging

import pytest

from strom.common.errors import IllegalStateTransitionError
from strom.common.ids import ExecutionAttemptId, ResultPartitionId
from strom.common.jobgraph import JobEdge, JobGraph, JobVertex, PartitionerKind
from strom.common.states import ExecutionState, JobStatus
from strom.jobmanager.jobmaster.deployment import build_all, build_tdd
from strom.jobmanager.jobmaster.details import job_details
from strom.jobmanager.jobmaster.execution_graph import ExecutionGraph
from strom.jobmanager.resourcemanager import SlotAssignment
from tests.unit.jobmanager.fakes import make_job_graph


def slots(n: int) -> list[SlotAssignment]:
    return [SlotAssignment(f"alloc{i}", f"tm{i % 2}", f"tm{i % 2}:1", i // 2, f"127.0.0.1:{7000 + i}")
            for i in range(n)]


def clock() -> int:
    return 1000


def test_one_execution_vertex_per_subtask_in_topological_order() -> None:
    graph = ExecutionGraph(JobGraph("j", "job", [
        JobVertex("snk", "Sink", 1, 128, b""), JobVertex("src", "Source", 3, 128, b"", is_source=True)],
        [JobEdge("src", "snk", PartitionerKind.REBALANCE)]), clock)
    assert [v.id for v in graph.vertices] == ["src", "snk"]
    assert [len(v.subtasks) for v in graph.vertices] == [3, 1]
    assert graph.num_slots_needed == 3
    ids = [e.attempt_id for e in graph.executions()]
    assert ids[0] == ExecutionAttemptId("j", "src", 0, 0)
    assert graph.vertices[0].subtasks[2].task_name == "Source (3/3)"
    assert graph.status is JobStatus.INITIALIZING


def test_execution_lookup_ignores_stale_attempts_and_unknown_ids() -> None:
    graph = ExecutionGraph(make_job_graph(), clock)
    first = graph.vertices[0].subtasks[1].current_execution
    assert graph.execution(first.attempt_id) is first
    for execution in graph.executions():
        execution.transition_to(ExecutionState.CANCELED)
    graph.new_attempts()
    assert graph.execution(first.attempt_id) is None
    assert graph.execution(ExecutionAttemptId("job1", "src", 1, 1)) is graph.vertices[0].subtasks[1].current_execution
    assert graph.execution(ExecutionAttemptId("job1", "nope", 0, 1)) is None
    assert graph.execution(ExecutionAttemptId("job1", "src", 7, 1)) is None
    assert graph.execution(ExecutionAttemptId("other", "src", 0, 1)) is None
    assert graph.restarts == 1


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_transitions_are_checked_stamped_and_logged() -> None:
    logger = logging.getLogger("strom.jobmanager.jobmaster.execution_graph")
    records, level = Records(), logger.level
    logger.addHandler(records)
    logger.setLevel(logging.INFO)
    try:
        graph = ExecutionGraph(make_job_graph(), clock)
        execution = next(graph.executions())
        execution.transition_to(ExecutionState.SCHEDULED)
        assert execution.state_timestamps[ExecutionState.SCHEDULED] == 1000
        assert records.lines[-1] == "Source (1/2) (job1:src:0:0) switched from CREATED to SCHEDULED"
        with pytest.raises(IllegalStateTransitionError):
            execution.transition_to(ExecutionState.FINISHED)
        graph.transition_to(JobStatus.CREATED)
        graph.transition_to(JobStatus.RUNNING, "scheduled")
        assert records.lines[-1] == "Job test job (job1) switched from CREATED to RUNNING (scheduled)"
        with pytest.raises(IllegalStateTransitionError):
            graph.transition_to(JobStatus.CREATED)
    finally:
        logger.removeHandler(records)
        logger.setLevel(level)


def test_tdd_of_an_all_to_all_edge_lists_one_channel_per_producer() -> None:
    graph = ExecutionGraph(make_job_graph(source_parallelism=3, sink_parallelism=2,
                                          config={"pipeline.name": "x"}), clock)
    assigned = slots(3)
    consumer = graph.job_vertex("snk").subtasks[1]
    tdd = build_tdd(graph, consumer, assigned)
    assert (tdd.job_id, tdd.vertex_id, tdd.vertex_name, tdd.subtask_index, tdd.parallelism, tdd.attempt) == \
        ("job1", "snk", "Sink", 1, 2, 0)
    assert tdd.allocation_id == "alloc1" and tdd.operators == b"sink-ops" and tdd.max_parallelism == 128
    assert dict(tdd.config) == {"pipeline.name": "x"}
    assert len(tdd.inputs) == 1 and not tdd.outputs
    gate = tdd.inputs[0]
    assert (gate.input_index, gate.partitioner) == (0, "hash")
    assert [(c.partition_id, c.subpartition, c.data_address) for c in gate.channels] == [
        (str(ResultPartitionId(ExecutionAttemptId("job1", "src", j, 0), 0)), 1, f"127.0.0.1:{7000 + j}")
        for j in range(3)]


def test_tdd_outputs_have_one_subpartition_per_consumer() -> None:
    graph = ExecutionGraph(make_job_graph(source_parallelism=3, sink_parallelism=2), clock)
    tdd = build_tdd(graph, graph.job_vertex("src").subtasks[2], slots(3))
    assert not tdd.inputs
    assert [(o.partition_id, o.num_subpartitions, o.partitioner) for o in tdd.outputs] == [
        ("job1:src:2:0#0", 2, "hash")]


def test_forward_edges_connect_subtask_i_to_subtask_i() -> None:
    graph = ExecutionGraph(make_job_graph(partitioner=PartitionerKind.FORWARD), clock)
    assigned = slots(2)
    producer = build_tdd(graph, graph.job_vertex("src").subtasks[1], assigned)
    consumer = build_tdd(graph, graph.job_vertex("snk").subtasks[1], assigned)
    assert [(o.partition_id, o.num_subpartitions) for o in producer.outputs] == [("job1:src:1:0#0", 1)]
    assert [(c.partition_id, c.subpartition, c.data_address) for c in consumer.inputs[0].channels] == [
        ("job1:src:1:0#0", 0, "127.0.0.1:7001")]


def test_inputs_follow_edge_order_with_their_input_index() -> None:
    graph = ExecutionGraph(JobGraph("j", "join", [
        JobVertex("a", "A", 1, 8, b""), JobVertex("b", "B", 2, 8, b""), JobVertex("c", "C", 2, 8, b"")], [
        JobEdge("b", "c", PartitionerKind.FORWARD, input_index=1),
        JobEdge("a", "c", PartitionerKind.BROADCAST, input_index=0)]), clock)
    tdd = build_tdd(graph, graph.job_vertex("c").subtasks[0], slots(2))
    assert [(g.input_index, g.partitioner, len(g.channels)) for g in tdd.inputs] == [
        (1, "forward", 1), (0, "broadcast", 1)]
    assert tdd.inputs[1].channels[0].partition_id == "j:a:0:0#1"
    assert tdd.inputs[1].channels[0].subpartition == 0


def test_partition_ids_follow_the_current_attempt() -> None:
    graph = ExecutionGraph(make_job_graph(), clock)
    for execution in graph.executions():
        execution.transition_to(ExecutionState.FAILED)
    graph.new_attempts()
    tdd = build_tdd(graph, graph.job_vertex("snk").subtasks[0], slots(2))
    assert tdd.attempt == 1
    assert [c.partition_id for c in tdd.inputs[0].channels] == ["job1:src:0:1#0", "job1:src:1:1#0"]


def test_build_all_covers_every_subtask_and_needs_enough_slots() -> None:
    graph = ExecutionGraph(make_job_graph(source_parallelism=1, sink_parallelism=3), clock)
    assert [(v.job_vertex.id, v.subtask_index) for v, _ in build_all(graph, slots(3))] == [
        ("src", 0), ("snk", 0), ("snk", 1), ("snk", 2)]
    with pytest.raises(ValueError):
        build_all(graph, slots(2))


def test_details_aggregate_vertex_states_and_counts() -> None:
    graph = ExecutionGraph(make_job_graph(), clock)
    src = graph.job_vertex("src")
    for subtask in src.subtasks:
        subtask.current_execution.transition_to(ExecutionState.SCHEDULED)
        subtask.current_execution.transition_to(ExecutionState.DEPLOYING)
    src.subtasks[0].current_execution.transition_to(ExecutionState.FINISHED)
    assert src.aggregate_state() is ExecutionState.DEPLOYING
    src.subtasks[1].current_execution.transition_to(ExecutionState.RUNNING)
    assert src.aggregate_state() is ExecutionState.RUNNING
    src.subtasks[1].current_execution.transition_to(ExecutionState.FINISHED)
    assert src.aggregate_state() is ExecutionState.FINISHED
    details = job_details(graph)
    vertex = details.vertices[0]
    assert (vertex.state, vertex.start_time, vertex.end_time) == ("FINISHED", 1000, 1000)
    assert vertex.task_counts["FINISHED"] == 2 and vertex.task_counts["RUNNING"] == 0
    assert details.vertices[1].state == "CREATED" and details.vertices[1].end_time == -1
    assert details.state == "INITIALIZING" and details.timestamps["INITIALIZING"] == 1000
    assert details.end_time == -1
