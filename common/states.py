"""Lifecycles with Flink's state names and their allowed transitions.

Owners call ``check_transition`` from their single ``transition_to`` method;
nothing else assigns a state.
"""

from __future__ import annotations

from enum import StrEnum

from strom.common.errors import IllegalStateTransitionError


class JobStatus(StrEnum):
    INITIALIZING = "INITIALIZING"
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    FAILING = "FAILING"
    RESTARTING = "RESTARTING"
    CANCELLING = "CANCELLING"
    CANCELED = "CANCELED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    SUSPENDED = "SUSPENDED"

    @property
    def is_globally_terminal(self) -> bool:
        return self in {JobStatus.FINISHED, JobStatus.CANCELED, JobStatus.FAILED}

    @property
    def is_terminal(self) -> bool:
        return self.is_globally_terminal or self is JobStatus.SUSPENDED


JOB_TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.INITIALIZING: frozenset({JobStatus.CREATED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.SUSPENDED}),
    JobStatus.CREATED: frozenset({JobStatus.RUNNING, JobStatus.CANCELLING, JobStatus.CANCELED, JobStatus.FAILED,
                                  JobStatus.SUSPENDED}),
    JobStatus.RUNNING: frozenset({JobStatus.FINISHED, JobStatus.FAILING, JobStatus.RESTARTING, JobStatus.CANCELLING,
                                  JobStatus.FAILED, JobStatus.SUSPENDED}),
    JobStatus.FAILING: frozenset({JobStatus.FAILED, JobStatus.RESTARTING, JobStatus.CANCELLING, JobStatus.SUSPENDED}),
    JobStatus.RESTARTING: frozenset({JobStatus.RUNNING, JobStatus.CREATED, JobStatus.CANCELLING, JobStatus.CANCELED,
                                     JobStatus.FAILED, JobStatus.SUSPENDED}),
    JobStatus.CANCELLING: frozenset({JobStatus.CANCELED, JobStatus.FAILED, JobStatus.SUSPENDED}),
    JobStatus.CANCELED: frozenset(),
    JobStatus.FINISHED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.SUSPENDED: frozenset(),
}


class ExecutionState(StrEnum):
    CREATED = "CREATED"
    SCHEDULED = "SCHEDULED"
    DEPLOYING = "DEPLOYING"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        return self in {ExecutionState.FINISHED, ExecutionState.CANCELED, ExecutionState.FAILED}


_ANY_LIVE = {ExecutionState.CANCELING, ExecutionState.CANCELED, ExecutionState.FAILED}
EXECUTION_TRANSITIONS: dict[ExecutionState, frozenset[ExecutionState]] = {
    ExecutionState.CREATED: frozenset({ExecutionState.SCHEDULED, *_ANY_LIVE}),
    ExecutionState.SCHEDULED: frozenset({ExecutionState.DEPLOYING, *_ANY_LIVE}),
    ExecutionState.DEPLOYING: frozenset({ExecutionState.INITIALIZING, ExecutionState.RUNNING,
                                         ExecutionState.FINISHED, *_ANY_LIVE}),
    ExecutionState.INITIALIZING: frozenset({ExecutionState.RUNNING, ExecutionState.FINISHED, *_ANY_LIVE}),
    ExecutionState.RUNNING: frozenset({ExecutionState.FINISHED, *_ANY_LIVE}),
    ExecutionState.CANCELING: frozenset({ExecutionState.CANCELED, ExecutionState.FAILED,
                                         ExecutionState.FINISHED}),
    ExecutionState.FINISHED: frozenset(),
    ExecutionState.CANCELED: frozenset(),
    ExecutionState.FAILED: frozenset(),
}


def check_job_transition(current: JobStatus, target: JobStatus) -> None:
    if target not in JOB_TRANSITIONS[current]:
        raise IllegalStateTransitionError(f"job cannot switch from {current} to {target}")


def check_execution_transition(current: ExecutionState, target: ExecutionState) -> None:
    if target not in EXECUTION_TRANSITIONS[current]:
        raise IllegalStateTransitionError(f"execution cannot switch from {current} to {target}")
