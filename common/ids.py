"""Small typed identifiers. Text forms are stable and travel on the wire."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import NewType

JobId = NewType("JobId", str)
JobVertexId = NewType("JobVertexId", str)
ResourceId = NewType("ResourceId", str)
AllocationId = NewType("AllocationId", str)
LeaderSessionId = NewType("LeaderSessionId", str)

NO_LEADER_SESSION = LeaderSessionId("00000000000000000000000000000000")


def new_job_id() -> JobId:
    return JobId(uuid.uuid4().hex)


def new_allocation_id() -> AllocationId:
    return AllocationId(uuid.uuid4().hex)


def new_resource_id(hostname: str) -> ResourceId:
    return ResourceId(f"{hostname}-{uuid.uuid4().hex[:6]}")


@dataclass(frozen=True, order=True)
class ExecutionAttemptId:
    """One attempt to run subtask ``subtask`` of vertex ``vertex`` of job ``job``."""

    job: str
    vertex: str
    subtask: int
    attempt: int

    def __str__(self) -> str:
        return f"{self.job}:{self.vertex}:{self.subtask}:{self.attempt}"

    @classmethod
    def parse(cls, text: str) -> ExecutionAttemptId:
        job, vertex, subtask, attempt = text.split(":")
        return cls(job, vertex, int(subtask), int(attempt))


@dataclass(frozen=True, order=True)
class ResultPartitionId:
    """The output of one producer attempt on one job edge."""

    producer: ExecutionAttemptId
    edge: int

    def __str__(self) -> str:
        return f"{self.producer}#{self.edge}"

    @classmethod
    def parse(cls, text: str) -> ResultPartitionId:
        producer, edge = text.rsplit("#", 1)
        return cls(ExecutionAttemptId.parse(producer), int(edge))
