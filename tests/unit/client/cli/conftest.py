"""Fixtures for CLI and executor unit tests: no sockets, no processes.

``fake_dispatcher`` replaces the Dispatcher gateway factory and the TCP probe
of ``strom.client.execution.connection`` with ``FakeDispatcher``, an
in-memory JobManager whose jobs walk through scripted states.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from strom.client.execution import connection
from strom.client.execution.context import set_current_target
from strom.common.errors import ClusterUnreachableError, FencingTokenError, JobNotFoundError
from strom.common.jobgraph import JobGraph, JobVertex
from strom.common.rpc import common_pb2, dispatcher_pb2

START_MS = 1_700_000_000_000


@dataclass
class FakeJob:
    details: common_pb2.JobDetails
    states: list[str]                  # states the job walks through, one per get_job call
    graph: JobGraph | None = None


@dataclass
class FakeDispatcher:
    """An in-memory Dispatcher. ``outcome`` scripts what submitted jobs do."""

    address: str = "127.0.0.1:6123"
    outcome: list[str] = field(default_factory=lambda: ["RUNNING", "FINISHED"])
    failure_trace: str = ""
    jobs: dict[str, FakeJob] = field(default_factory=dict)
    unreachable: bool = False
    unreachable_after_calls: int | None = None
    fencing_errors: int = 0
    calls: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    connects: int = 0

    def add_job(self, job_id: str, name: str, state: str, start: int = START_MS, end: int = 0,
                root_exception: str = "", vertices: list[tuple[str, int, str]] | None = None) -> None:
        details = common_pb2.JobDetails(job_id=job_id, name=name, state=state, start_time=start, end_time=end,
                                        root_exception=root_exception)
        for i, (vname, par, vstate) in enumerate(vertices or []):
            details.vertices.add(id=f"v{i}", name=vname, parallelism=par, state=vstate,
                                 task_counts={vstate: par})
        if root_exception:
            details.exceptions.add(exception_name="ValueError", stacktrace=root_exception, timestamp=start,
                                   task_name="Map (1/1)", location="127.0.0.1:40000")
        self.jobs[job_id] = FakeJob(details, [])

    # ---- what the gateway delegates to ----------------------------------------

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if self.unreachable or (self.unreachable_after_calls is not None
                                and len(self.calls) > self.unreachable_after_calls):
            raise ClusterUnreachableError(f"no JobManager answers at {self.address}: connection refused")
        if self.fencing_errors > 0 and name != "leader_info":
            self.fencing_errors -= 1
            raise FencingTokenError("stale leader session")

    def submit_job(self, job_graph: JobGraph) -> str:
        self._enter("submit_job")
        details = common_pb2.JobDetails(job_id=job_graph.job_id, name=job_graph.name, state="CREATED",
                                        start_time=START_MS)
        self.jobs[job_graph.job_id] = FakeJob(details, list(self.outcome), job_graph)
        return job_graph.job_id

    def get_job(self, job_id: str) -> common_pb2.JobDetails:
        self._enter("get_job")
        job = self.jobs.get(job_id)
        if job is None:
            raise JobNotFoundError(f"job {job_id} not found")
        if job.states:
            state = job.states.pop(0)
            job.details.state = state
            if state in {"FINISHED", "FAILED", "CANCELED"}:
                job.details.end_time = START_MS + 1500
            if state == "FAILED" and self.failure_trace:
                job.details.root_exception = self.failure_trace
                job.details.exceptions.add(exception_name="ZeroDivisionError", stacktrace=self.failure_trace,
                                           task_name="Map (1/1)", location="127.0.0.1:40000")
        out = common_pb2.JobDetails()
        out.CopyFrom(job.details)
        return out

    def list_jobs(self) -> list[common_pb2.JobDetails]:
        self._enter("list_jobs")
        return [j.details for j in self.jobs.values()]

    def cancel_job(self, job_id: str) -> None:
        self._enter("cancel_job")
        if job_id not in self.jobs:
            raise JobNotFoundError(f"job {job_id} not found")
        self.cancelled.append(job_id)
        self.jobs[job_id].details.state = "CANCELED"

    def overview(self) -> dispatcher_pb2.ClusterOverview:
        self._enter("overview")
        return dispatcher_pb2.ClusterOverview(taskmanagers=1, slots_total=4, slots_available=4)


class FakeDispatcherGateway:
    """Stands in for ``DispatcherGateway(address, session_id)``; delegates to a FakeDispatcher."""

    def __init__(self, fake: FakeDispatcher, address: str, session_id: str | None) -> None:
        self.fake, self.address, self.session_id = fake, address, session_id
        self.closed = False

    def leader_info(self):  # noqa: ANN201
        self.fake._enter("leader_info")
        from strom.common.gateway.dispatcher import LeaderInfo

        return LeaderInfo("", self.address, "", 1)

    def __getattr__(self, name: str):  # noqa: ANN204
        if name in {"submit_job", "get_job", "list_jobs", "cancel_job", "overview"}:
            return getattr(self.fake, name)
        raise AttributeError(name)

    def close(self) -> None:
        self.closed = True


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[None]:  # noqa: ANN001
    """No developer config leaks in; no target leaks out."""
    monkeypatch.delenv("STROM_PROPERTIES", raising=False)
    monkeypatch.setenv("STROM_CONF_DIR", str(tmp_path / "no-conf"))
    previous = set_current_target(None)
    cwd = os.getcwd()
    yield
    os.chdir(cwd)
    set_current_target(previous)


@pytest.fixture
def fake_dispatcher(monkeypatch: pytest.MonkeyPatch) -> FakeDispatcher:
    fake = FakeDispatcher()

    def probe(address: str, timeout_s: float) -> None:
        fake.connects += 1
        if fake.unreachable:
            raise ClusterUnreachableError(
                f"Could not reach the JobManager at {address}: connection refused. {connection.START_HINT}")

    monkeypatch.setattr(connection, "probe_address", probe)
    monkeypatch.setattr(connection, "create_gateway",
                        lambda address, session_id, retry_deadline_s: FakeDispatcherGateway(fake, address, session_id))
    return fake


@pytest.fixture
def make_graph():  # noqa: ANN201
    """``make_graph(name, parallelism, job_id)``: a one-vertex JobGraph (no user code)."""

    def make(name: str = "job", parallelism: int = 1, job_id: str = "a" * 32) -> JobGraph:
        return JobGraph(job_id=job_id, name=name,
                        vertices=[JobVertex("src", "Source: Collection", parallelism, 128, b"", is_source=True)])

    return make
