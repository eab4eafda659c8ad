"""Task state forwarding to JobMasters (``TaskStateReporter``) with a FakeJobMasterGateway."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from strom.common.errors import ClusterUnreachableError, JobNotFoundError
from strom.taskmanager.executor.task_reporter import JobMasterTarget, TaskStateReporter, TaskStateUpdate

pytestmark = pytest.mark.timeout(10)

TARGET = JobMasterTarget("127.0.0.1:6123", "s1")


class FakeJobMasterGateway:
    def __init__(self, target: JobMasterTarget) -> None:
        self.target = target
        self.received: list[tuple[str, str, str]] = []
        self.unreachable_for = 0     # fail this many calls with UNAVAILABLE first
        self.unknown_jobs: set[str] = set()

    async def update_task_execution_state_async(self, job_id: str, execution_id: str, state: str, error: str,
                                                error_name: str, resource_id: str) -> None:
        # a varying delay would reorder concurrent senders
        await asyncio.sleep(0.001 * (hash(state) % 3))
        if self.unreachable_for:
            self.unreachable_for -= 1
            raise ClusterUnreachableError("JobManager at 127.0.0.1:6123 unreachable")
        if job_id in self.unknown_jobs:
            raise JobNotFoundError(f"job {job_id} not found")
        self.received.append((execution_id, state, resource_id))

    async def close_async(self) -> None:
        pass


def setup(retry_for_s: float = 5.0) -> tuple[TaskStateReporter, dict[JobMasterTarget, FakeJobMasterGateway]]:
    gateways: dict[JobMasterTarget, FakeJobMasterGateway] = {TARGET: FakeJobMasterGateway(TARGET)}

    def factory(target: JobMasterTarget) -> Any:
        return gateways.setdefault(target, FakeJobMasterGateway(target))

    return TaskStateReporter("tm-1", factory, retry_for_s=retry_for_s), gateways


def test_updates_of_a_task_arrive_in_order_even_across_retries() -> None:
    async def body() -> None:
        reporter, gateways = setup()
        reporter.report(TARGET, TaskStateUpdate("j1", "j1:v:0:0", "INITIALIZING"))
        gateways[TARGET].unreachable_for = 2
        for state in ("RUNNING", "FINISHED"):
            reporter.report(TARGET, TaskStateUpdate("j1", "j1:v:0:0", state))
        for state in ("INITIALIZING", "RUNNING", "CANCELED"):
            reporter.report(TARGET, TaskStateUpdate("j1", "j1:v:1:0", state))
        await reporter.flush()
        received = gateways[TARGET].received
        for execution_id, expected in (("j1:v:0:0", ["INITIALIZING", "RUNNING", "FINISHED"]),
                                       ("j1:v:1:0", ["INITIALIZING", "RUNNING", "CANCELED"])):
            assert [s for e, s, _ in received if e == execution_id] == expected
        assert {r for _, _, r in received} == {"tm-1"}
        await reporter.close()

    asyncio.run(body())


def test_unreachable_jobmaster_is_given_up_on_and_later_updates_still_flow() -> None:
    async def body() -> None:
        reporter, gateways = setup(retry_for_s=0.3)
        reporter.report(TARGET, TaskStateUpdate("j1", "j1:v:0:0", "RUNNING"))
        await reporter.flush()
        gateways[TARGET].unreachable_for = 1000
        reporter.report(TARGET, TaskStateUpdate("j1", "j1:v:0:0", "FAILED", "boom", "ValueError"))
        await reporter.flush()
        gateways[TARGET].unreachable_for = 0
        reporter.report(TARGET, TaskStateUpdate("j1", "j1:v:1:0", "RUNNING"))
        await reporter.flush()
        assert [(e, s) for e, s, _ in gateways[TARGET].received] == [("j1:v:0:0", "RUNNING"), ("j1:v:1:0", "RUNNING")]
        await reporter.close()

    asyncio.run(body())


def test_update_for_a_job_the_jobmaster_no_longer_knows_is_dropped() -> None:
    async def body() -> None:
        reporter, gateways = setup()
        reporter.report(TARGET, TaskStateUpdate("gone", "gone:v:0:0", "RUNNING"))
        await reporter.flush()
        gateways[TARGET].unknown_jobs.add("gone")
        reporter.report(TARGET, TaskStateUpdate("gone", "gone:v:0:0", "FINISHED"))
        reporter.report(TARGET, TaskStateUpdate("j2", "j2:v:0:0", "RUNNING"))
        await reporter.flush()
        assert [e for e, _, _ in gateways[TARGET].received] == ["gone:v:0:0", "j2:v:0:0"]
        await reporter.close()

    asyncio.run(body())
