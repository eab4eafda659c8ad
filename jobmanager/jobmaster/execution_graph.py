"""The ExecutionGraph: the parallel, scheduled form of a JobGraph.

    ExecutionGraph (job status, exception history)
    └── ExecutionJobVertex   one per JobVertex, in topological order
        └── ExecutionVertex  one per subtask
            └── Execution    the current attempt (ExecutionAttemptId, state, slot)

Every lifecycle has one ``transition_to`` that checks the move against
``common.states``, stamps the time and logs ``X switched from A to B``.
A restart replaces every vertex's Execution with a new attempt.

State owner: the JobMaster, on the JobManager's event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from strom.common.ids import ExecutionAttemptId
from strom.common.jobgraph import JobGraph, JobVertex
from strom.common.states import ExecutionState, JobStatus, check_execution_transition, check_job_transition
from strom.jobmanager.resourcemanager.resource_manager import SlotAssignment

log = logging.getLogger(__name__)

Clock = Callable[[], int]  # wall clock in milliseconds


def wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class ExceptionEntry:
    """One failure in the job's exception history (Flink's ExceptionHistoryEntry)."""

    exception_name: str
    stacktrace: str
    timestamp: int
    task_name: str = ""
    location: str = ""


class Execution:
    """One attempt to run one subtask."""

    def __init__(self, vertex: ExecutionVertex, attempt: int, clock: Clock) -> None:
        self.vertex = vertex
        self.attempt_id = ExecutionAttemptId(vertex.job_vertex.job_id, vertex.job_vertex.id,
                                             vertex.subtask_index, attempt)
        self.state = ExecutionState.CREATED
        self.state_timestamps: dict[ExecutionState, int] = {ExecutionState.CREATED: clock()}
        self.slot: SlotAssignment | None = None
        self.failure: ExceptionEntry | None = None
        self._clock = clock

    @property
    def attempt(self) -> int:
        return self.attempt_id.attempt

    @property
    def task_name(self) -> str:
        return self.vertex.task_name

    def transition_to(self, target: ExecutionState, cause: str = "") -> None:
        check_execution_transition(self.state, target)
        previous, self.state = self.state, target
        self.state_timestamps[target] = self._clock()
        location = f" on {self.slot.resource_id}" if self.slot is not None else ""
        suffix = f" ({cause})" if cause else ""
        level = logging.WARNING if target is ExecutionState.FAILED else logging.INFO
        log.log(level, "%s (%s)%s switched from %s to %s%s", self.task_name, self.attempt_id, location,
                previous, target, suffix)

    def __repr__(self) -> str:
        return f"Execution({self.attempt_id}, {self.state})"


class ExecutionVertex:
    """Subtask ``subtask_index`` of one job vertex; runs in slot ``subtask_index`` (slot sharing)."""

    def __init__(self, job_vertex: ExecutionJobVertex, subtask_index: int, clock: Clock) -> None:
        self.job_vertex = job_vertex
        self.subtask_index = subtask_index
        self._clock = clock
        self.current_execution = Execution(self, 0, clock)

    @property
    def task_name(self) -> str:
        return f"{self.job_vertex.name} ({self.subtask_index + 1}/{self.job_vertex.parallelism})"

    def new_attempt(self) -> Execution:
        """Replace the (terminal) current execution with the next attempt."""
        self.current_execution = Execution(self, self.current_execution.attempt + 1, self._clock)
        return self.current_execution


class ExecutionJobVertex:
    """All subtasks of one JobVertex."""

    def __init__(self, job_id: str, job_vertex: JobVertex, clock: Clock) -> None:
        self.job_id = job_id
        self.job_vertex = job_vertex
        self.subtasks = [ExecutionVertex(self, i, clock) for i in range(job_vertex.parallelism)]

    @property
    def id(self) -> str:
        return self.job_vertex.id

    @property
    def name(self) -> str:
        return self.job_vertex.name

    @property
    def parallelism(self) -> int:
        return self.job_vertex.parallelism

    def state_counts(self) -> dict[ExecutionState, int]:
        counts = {state: 0 for state in ExecutionState}
        for subtask in self.subtasks:
            counts[subtask.current_execution.state] += 1
        return counts

    def aggregate_state(self) -> ExecutionState:
        """One state for the vertex, as Flink's ExecutionJobVertex aggregates it."""
        counts = self.state_counts()
        for state in (ExecutionState.FAILED, ExecutionState.CANCELING, ExecutionState.CANCELED,
                      ExecutionState.INITIALIZING, ExecutionState.RUNNING, ExecutionState.DEPLOYING,
                      ExecutionState.SCHEDULED):
            if counts[state] > 0:
                return state
        if counts[ExecutionState.FINISHED] > 0:
            return ExecutionState.FINISHED if counts[ExecutionState.FINISHED] == self.parallelism \
                else ExecutionState.RUNNING
        return ExecutionState.CREATED


class ExecutionGraph:
    """A job's vertices, executions, status and exception history."""

    def __init__(self, job_graph: JobGraph, clock: Clock = wall_ms) -> None:
        self.job_graph = job_graph
        self.job_id = job_graph.job_id
        self.name = job_graph.name
        self._clock = clock
        self.vertices = [ExecutionJobVertex(job_graph.job_id, v, clock) for v in job_graph.topological_order()]
        self._by_id = {v.id: v for v in self.vertices}
        self.status = JobStatus.INITIALIZING
        self.status_timestamps: dict[JobStatus, int] = {JobStatus.INITIALIZING: clock()}
        self.exception_history: list[ExceptionEntry] = []
        self.restarts = 0

    # ---- structure ----------------------------------------------------------

    def job_vertex(self, vertex_id: str) -> ExecutionJobVertex:
        return self._by_id[vertex_id]

    @property
    def num_slots_needed(self) -> int:
        """Slot sharing: one slot per parallel slice, i.e. the highest vertex parallelism."""
        return max((v.parallelism for v in self.vertices), default=0)

    def executions(self) -> Iterator[Execution]:
        for vertex in self.vertices:
            for subtask in vertex.subtasks:
                yield subtask.current_execution

    def execution(self, attempt_id: ExecutionAttemptId) -> Execution | None:
        """The current execution with this id; None for unknown ids and stale attempts."""
        vertex = self._by_id.get(attempt_id.vertex)
        if vertex is None or attempt_id.job != self.job_id or not 0 <= attempt_id.subtask < vertex.parallelism:
            return None
        execution = vertex.subtasks[attempt_id.subtask].current_execution
        return execution if execution.attempt_id == attempt_id else None

    def all_in(self, *states: ExecutionState) -> bool:
        return all(e.state in states for e in self.executions())

    def all_terminal(self) -> bool:
        return all(e.state.is_terminal for e in self.executions())

    # ---- lifecycle ----------------------------------------------------------

    def transition_to(self, target: JobStatus, cause: str = "") -> None:
        check_job_transition(self.status, target)
        previous, self.status = self.status, target
        self.status_timestamps[target] = self._clock()
        suffix = f" ({cause})" if cause else ""
        level = logging.WARNING if target in (JobStatus.FAILING, JobStatus.FAILED) else logging.INFO
        log.log(level, "Job %s (%s) switched from %s to %s%s", self.name, self.job_id, previous, target, suffix)

    def new_attempts(self) -> None:
        """Restart: every subtask gets a fresh attempt (all previous ones must be terminal)."""
        for vertex in self.vertices:
            for subtask in vertex.subtasks:
                subtask.new_attempt()
        self.restarts += 1

    def record_failure(self, entry: ExceptionEntry) -> None:
        self.exception_history.append(entry)

    @property
    def root_exception(self) -> ExceptionEntry | None:
        return self.exception_history[-1] if self.exception_history else None

    @property
    def start_time(self) -> int:
        return self.status_timestamps[JobStatus.INITIALIZING]

    @property
    def end_time(self) -> int:
        return self.status_timestamps.get(self.status, -1) if self.status.is_terminal else -1

    @property
    def last_modification(self) -> int:
        stamps = list(self.status_timestamps.values())
        stamps += [t for e in self.executions() for t in e.state_timestamps.values()]
        return max(stamps)

    def now(self) -> int:
        return self._clock()
