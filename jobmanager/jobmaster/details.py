"""An ExecutionGraph as a JobDetails status view (the wire form shown by `strom list` and REST). Pure."""

from __future__ import annotations

from strom.common.rpc import common_pb2
from strom.common.states import ExecutionState, JobStatus
from strom.jobmanager.jobmaster.execution_graph import ExceptionEntry, ExecutionGraph, ExecutionJobVertex

_TERMINAL = (ExecutionState.FINISHED, ExecutionState.CANCELED, ExecutionState.FAILED)


def vertex_details(vertex: ExecutionJobVertex) -> common_pb2.VertexDetails:
    executions = [s.current_execution for s in vertex.subtasks]
    starts = [e.state_timestamps[ExecutionState.DEPLOYING] for e in executions
              if ExecutionState.DEPLOYING in e.state_timestamps]
    ends = [max(e.state_timestamps.get(s, -1) for s in _TERMINAL) for e in executions]
    all_done = all(e.state.is_terminal for e in executions)
    return common_pb2.VertexDetails(
        id=vertex.id, name=vertex.name, parallelism=vertex.parallelism, state=vertex.aggregate_state().value,
        start_time=min(starts) if starts else -1,
        end_time=max(ends) if all_done and ends else -1,
        task_counts={state.value: count for state, count in vertex.state_counts().items()})


def exception_proto(entry: ExceptionEntry) -> common_pb2.ExceptionEntry:
    return common_pb2.ExceptionEntry(exception_name=entry.exception_name, stacktrace=entry.stacktrace,
                                     timestamp=entry.timestamp, task_name=entry.task_name, location=entry.location)


def job_details(graph: ExecutionGraph) -> common_pb2.JobDetails:
    root = graph.root_exception
    return common_pb2.JobDetails(
        job_id=graph.job_id, name=graph.name, state=graph.status.value, start_time=graph.start_time,
        end_time=graph.end_time, last_modification=graph.last_modification,
        vertices=[vertex_details(v) for v in graph.vertices],
        root_exception=root.stacktrace if root is not None else "",
        exceptions=[exception_proto(e) for e in graph.exception_history],
        timestamps={status.value: graph.status_timestamps.get(status, 0) for status in JobStatus},
        restarts=graph.restarts)
