"""The JobMaster's lifecycle against a real ResourceManager and fake TaskManagers (in-process, no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from strom.common.config import Configuration
from strom.common.gateway.resource_manager import SlotStatus
from strom.common.ids import ExecutionAttemptId
from strom.common.jobgraph import JobGraph
from strom.common.states import ExecutionState, JobStatus
from strom.jobmanager.jobmaster import JobMaster, TaskExecutionState
from strom.jobmanager.resourcemanager import ResourceManager, TaskExecutorRegistrationRequest
from tests.unit.jobmanager.fakes import FakeCluster, make_job_graph, run, until

pytestmark = pytest.mark.timeout(30)

TRACEBACK = 'Traceback (most recent call last):\n  File "job.py", line 3\nZeroDivisionError: division by zero\n'


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, **config: str) -> None:
        self.cluster = FakeCluster()
        self.clock = Clock()
        self.config = Configuration({"heartbeat.timeout": "1 s", "slot.request.timeout": "2 s",
                                     "jobmanager.execution.cancel-timeout": "2 s", **config})
        self.rm = ResourceManager(self.config, self.cluster.gateways, lambda: "session", monotonic=self.clock)

    def add_task_manager(self, resource_id: str, slots: int) -> str:
        address = f"{resource_id}:1"
        self.rm.register_task_executor(TaskExecutorRegistrationRequest(
            resource_id, address, slots, 1, tuple(SlotStatus(i) for i in range(slots))))
        return address

    def start(self, job_graph: JobGraph | None = None, confirm_cancel: bool = True) -> JobMaster:
        jm = JobMaster(job_graph or make_job_graph(), self.config, self.rm, self.cluster.gateways,
                       lambda: "session", "jm:6123")
        if confirm_cancel:
            self.cluster.on_cancel = lambda eid: report(jm, eid, ExecutionState.CANCELED)
        jm.start()
        return jm


def report(jm: JobMaster, execution_id: Any, state: ExecutionState, error: str = "", name: str = "") -> bool:
    eid = execution_id if isinstance(execution_id, ExecutionAttemptId) else ExecutionAttemptId.parse(execution_id)
    return jm.update_task_execution_state(TaskExecutionState(eid, state, error, name, "tm"))


def current_ids(jm: JobMaster) -> list[ExecutionAttemptId]:
    return [e.attempt_id for e in jm.graph.executions()]


async def deployed(jm: JobMaster, h: Harness, attempt: int = 0) -> None:
    await until(lambda: all(e.state is ExecutionState.DEPLOYING and e.attempt == attempt
                            for e in jm.graph.executions()))
    await until(lambda: len([t for t in h.cluster.all_submitted() if t.attempt == attempt]) ==
                len(list(jm.graph.executions())))


def test_job_runs_to_finished_and_releases_its_slots() -> None:
    async def scenario() -> None:
        h = Harness()
        a, b = h.add_task_manager("tm-a", 1), h.add_task_manager("tm-b", 1)
        jm = h.start()
        await deployed(jm, h)
        assert jm.graph.status is JobStatus.RUNNING
        # slot sharing: subtask i of every vertex in slot i (tm-a holds slot 0, tm-b slot 1)
        by_tm = {addr: sorted((t.vertex_id, t.subtask_index) for t in h.cluster[addr].submitted) for addr in (a, b)}
        assert by_tm == {a: [("snk", 0), ("src", 0)], b: [("snk", 1), ("src", 1)]}
        assert h.cluster[a].submitted[0].inputs == [] or h.cluster[a].submitted[0].vertex_id == "snk"
        assert h.rm.free_slots() == 0
        for eid in current_ids(jm):
            assert report(jm, eid, ExecutionState.RUNNING)
        for eid in current_ids(jm):
            report(jm, eid, ExecutionState.FINISHED)
        assert await jm.termination is JobStatus.FINISHED
        assert h.rm.free_slots() == 2
        assert len(h.cluster[a].freed) == 1 and len(h.cluster[b].freed) == 1
        details = jm.details()
        assert details.state == "FINISHED" and details.end_time >= details.start_time
        assert [v.state for v in details.vertices] == ["FINISHED", "FINISHED"]

    run(scenario())


def test_failed_task_restarts_the_job_with_new_attempts() -> None:
    async def scenario() -> None:
        h = Harness(**{"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "1",
                       "restart-strategy.fixed-delay.delay": "10 ms"})
        h.add_task_manager("tm-a", 2)
        jm = h.start()
        await deployed(jm, h)
        first = current_ids(jm)
        for eid in first:
            report(jm, eid, ExecutionState.RUNNING)
        report(jm, first[3], ExecutionState.FAILED, TRACEBACK, "ZeroDivisionError")
        await deployed(jm, h, attempt=1)
        assert jm.graph.status is JobStatus.RUNNING and jm.graph.restarts == 1
        assert sorted(h.cluster["tm-a:1"].cancelled) == sorted(str(e) for e in first[:3])
        assert len(h.cluster["tm-a:1"].freed) == 2  # every slot freed, fresh ones requested
        assert not report(jm, first[0], ExecutionState.FINISHED)  # stale attempt: ignored
        for eid in current_ids(jm):
            report(jm, eid, ExecutionState.FINISHED)
        assert await jm.termination is JobStatus.FINISHED
        assert [e.exception_name for e in jm.graph.exception_history] == ["ZeroDivisionError"]
        assert JobStatus.RESTARTING.value in jm.details().timestamps

    run(scenario())


def test_failed_task_without_restart_fails_the_job_with_its_traceback() -> None:
    async def scenario() -> None:
        h = Harness()
        h.add_task_manager("tm-a", 2)
        jm = h.start()
        await deployed(jm, h)
        sink_1 = jm.graph.job_vertex("snk").subtasks[1].current_execution.attempt_id
        report(jm, sink_1, ExecutionState.FAILED, TRACEBACK, "ZeroDivisionError")
        assert await jm.termination is JobStatus.FAILED
        root = jm.graph.root_exception
        assert root is not None
        assert (root.exception_name, root.stacktrace, root.task_name, root.location) == (
            "ZeroDivisionError", TRACEBACK, "Sink (2/2)", "tm-a:1")
        details = jm.details()
        assert details.root_exception == TRACEBACK and details.exceptions[0].task_name == "Sink (2/2)"
        assert all(e.state.is_terminal for e in jm.graph.executions())
        assert h.rm.free_slots() == 2

    run(scenario())


def test_cancel_cancels_every_task() -> None:
    async def scenario() -> None:
        h = Harness()
        h.add_task_manager("tm-a", 2)
        jm = h.start()
        await deployed(jm, h)
        jm.cancel()
        assert await jm.termination is JobStatus.CANCELED
        assert len(h.cluster["tm-a:1"].cancelled) == 4
        assert {e.state for e in jm.graph.executions()} == {ExecutionState.CANCELED}
        assert JobStatus.CANCELLING.value in {s.value for s in jm.graph.status_timestamps}
        assert h.rm.free_slots() == 2

    run(scenario())


def test_tasks_that_never_confirm_the_cancel_count_as_gone_after_the_timeout() -> None:
    async def scenario() -> None:
        h = Harness(**{"jobmanager.execution.cancel-timeout": "50 ms"})
        h.add_task_manager("tm-a", 2)
        jm = h.start(confirm_cancel=False)
        await deployed(jm, h)
        jm.cancel()
        assert await jm.termination is JobStatus.CANCELED

    run(scenario())


def test_unreachable_taskmanager_on_cancel_counts_as_gone() -> None:
    async def scenario() -> None:
        h = Harness(**{"jobmanager.execution.cancel-timeout": "20 s"})
        h.add_task_manager("tm-a", 2)
        jm = h.start(confirm_cancel=False)
        await deployed(jm, h)
        h.cluster.unreachable("tm-a:1")
        jm.cancel()
        assert await jm.termination is JobStatus.CANCELED

    run(scenario(), timeout_s=5)


def test_lost_taskmanager_fails_its_tasks_and_the_job() -> None:
    async def scenario() -> None:
        h = Harness()
        h.add_task_manager("tm-a", 1)
        h.add_task_manager("tm-b", 1)
        jm = h.start()
        await deployed(jm, h)
        h.clock.now += 0.6
        h.rm.heartbeat("tm-a")
        h.clock.now += 0.6
        assert h.rm.check_heartbeats() == ["tm-b"]
        assert await jm.termination is JobStatus.FAILED
        root = jm.graph.root_exception
        assert root is not None and root.exception_name == "TaskManagerLostError"
        assert "TaskManager tm-b at tm-b:1 lost: heartbeat timeout" in root.stacktrace
        assert root.location == "tm-b:1"
        lost = [e for e in jm.graph.executions() if e.attempt_id.subtask == 1]
        assert {e.state for e in lost} == {ExecutionState.FAILED}
        assert h.rm.free_slots() == 1 and h.rm.num_task_managers == 1

    run(scenario())


def test_not_enough_slots_fails_the_job_with_a_clear_message() -> None:
    async def scenario() -> None:
        h = Harness(**{"slot.request.timeout": "100 ms",
                       "restart-strategy.type": "fixed-delay"})  # not enough slots is not restarted
        h.add_task_manager("tm-a", 1)
        jm = h.start()
        assert await jm.termination is JobStatus.FAILED
        assert jm.graph.root_exception is not None
        assert jm.graph.root_exception.stacktrace == (
            "job needs 2 slots but only 1 are available (1 TaskManagers registered) after waiting 100 ms")
        assert h.rm.free_slots() == 1

    run(scenario())


def test_job_waits_for_slots_of_a_taskmanager_that_registers_later() -> None:
    async def scenario() -> None:
        h = Harness()
        jm = h.start()
        await until(lambda: all(e.state is ExecutionState.SCHEDULED for e in jm.graph.executions()))
        h.add_task_manager("tm-late", 2)
        await deployed(jm, h)
        jm.cancel()
        assert await jm.termination is JobStatus.CANCELED

    run(scenario())


def test_cancel_while_waiting_for_slots() -> None:
    async def scenario() -> None:
        h = Harness()
        jm = h.start()
        await until(lambda: jm.graph.status is JobStatus.RUNNING)
        jm.cancel()
        assert await jm.termination is JobStatus.CANCELED
        h.add_task_manager("tm-a", 2)
        assert h.rm.free_slots() == 2  # the abandoned request took nothing

    run(scenario())


def test_deployment_failure_is_a_task_failure() -> None:
    async def scenario() -> None:
        from strom.common.errors import StromError

        h = Harness()
        h.add_task_manager("tm-a", 2)
        h.cluster["tm-a:1"].fail["submit_task"] = StromError("worker of slot 0 died")
        jm = h.start()
        assert await jm.termination is JobStatus.FAILED
        assert jm.graph.root_exception is not None
        assert "deploying Source (1/2) failed: worker of slot 0 died" in jm.graph.root_exception.stacktrace

    run(scenario())


def test_slot_request_failure_gives_back_the_other_slots() -> None:
    async def scenario() -> None:
        from strom.common.errors import ClusterUnreachableError

        h = Harness()
        h.add_task_manager("tm-a", 1)
        h.add_task_manager("tm-b", 1)
        h.cluster["tm-b:1"].fail["request_slot"] = ClusterUnreachableError("gone")
        jm = h.start()
        assert await jm.termination is JobStatus.FAILED
        assert "TaskManager tm-b at tm-b:1 could not provide slot 0" in jm.graph.root_exception.stacktrace
        assert h.rm.free_slots() == 2 and len(h.cluster["tm-a:1"].freed) == 1

    run(scenario())


def test_suspend_stops_the_job_without_a_final_state() -> None:
    async def scenario() -> None:
        h = Harness()
        h.add_task_manager("tm-a", 2)
        jm = h.start(confirm_cancel=False)
        await deployed(jm, h)
        await jm.suspend("leadership lost")
        assert await jm.termination is JobStatus.SUSPENDED
        assert {e.state for e in jm.graph.executions()} == {ExecutionState.CANCELED}
        assert h.rm.free_slots() == 2

    run(scenario())
