"""The TaskExecutor's decisions with a FakeWorkerPool: no processes, no sockets."""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import Callable, Coroutine
from types import SimpleNamespace
from typing import Any

import pytest

from strom.common.errors import FencingTokenError
from strom.common.rpc import common_pb2
from strom.taskmanager.executor.slot_table import SlotAllocationError, SlotStatus
from strom.taskmanager.executor.task_executor import TaskExecutor, UnknownAllocationError
from strom.taskmanager.executor.task_reporter import JobMasterTarget, TaskStateUpdate
from strom.taskmanager.worker.pool import WorkerHandle, WorkerStartError
from strom.taskmanager.worker.protocol import CancelTask, DeployTask, TaskStateChanged

pytestmark = pytest.mark.timeout(10)

SESSION = "s1"


def run_async(fn: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """Runs an ``async def`` test on a fresh event loop (no pytest-asyncio needed)."""

    def test() -> None:
        asyncio.run(fn())

    test.__doc__ = fn.__doc__
    return test

JM = "127.0.0.1:6123"


class FakeWorkerPool:
    """Records what the TaskExecutor asks of its workers; ``die`` simulates a crash."""

    def __init__(self) -> None:
        self.pids = itertools.count(1000)
        self.started: list[WorkerHandle] = []
        self.stopped: list[WorkerHandle] = []
        self.sent: list[tuple[int, Any]] = []
        self.fail_next_start = False
        self.executor: TaskExecutor | None = None

    async def start_worker(self, name: str) -> WorkerHandle:
        await asyncio.sleep(0.01)
        if self.fail_next_start:
            self.fail_next_start = False
            raise WorkerStartError("slot worker failed to start: port in use")
        pid = next(self.pids)
        handle = WorkerHandle(name, SimpleNamespace(pid=pid), None, asyncio.get_running_loop())  # type: ignore[arg-type]
        handle.data_address = f"127.0.0.1:{pid}"
        self.started.append(handle)
        return handle

    async def send(self, handle: WorkerHandle, command: Any) -> None:
        self.sent.append((handle.pid, command))

    async def stop_worker(self, handle: WorkerHandle) -> None:
        handle.stopping = True
        self.stopped.append(handle)
        self.exit(handle, 0)

    def exit(self, handle: WorkerHandle, exitcode: int) -> None:
        handle.exitcode = exitcode
        handle.exited.set()
        assert self.executor is not None
        self.executor.on_worker_exit(handle)


class FakeReporter:
    def __init__(self) -> None:
        self.reports: list[tuple[JobMasterTarget, TaskStateUpdate]] = []
        self.dropped: list[str] = []

    def report(self, target: JobMasterTarget, update: TaskStateUpdate) -> None:
        self.reports.append((target, update))

    def drop_job(self, job_id: str) -> None:
        self.dropped.append(job_id)

    def states(self, execution_id: str) -> list[str]:
        return [u.state for _, u in self.reports if u.execution_id == execution_id]


def make(num_slots: int = 2) -> tuple[TaskExecutor, FakeWorkerPool, FakeReporter]:
    pool, reporter = FakeWorkerPool(), FakeReporter()
    executor = TaskExecutor("tm-1", num_slots, pool, reporter)  # type: ignore[arg-type]
    pool.executor = executor
    executor.set_leader_session(SESSION)
    return executor, pool, reporter


def tdd(allocation: str = "a0", job: str = "j1", subtask: int = 0, name: str = "map") -> common_pb2.TaskDeploymentDescriptor:
    return common_pb2.TaskDeploymentDescriptor(job_id=job, vertex_id="v", vertex_name=name, subtask_index=subtask,
                                               parallelism=2, attempt=0, allocation_id=allocation)


@run_async
async def test_request_slot_starts_one_worker_and_is_idempotent() -> None:
    executor, pool, _ = make()
    first, again = await asyncio.gather(
        executor.request_slot(0, "a0", "j1", JM, SESSION), executor.request_slot(0, "a0", "j1", JM, SESSION))
    assert first == again == pool.started[0].data_address
    assert await executor.request_slot(0, "a0", "j1", JM, SESSION) == first
    assert len(pool.started) == 1
    assert executor.slot_report() == [SlotStatus(0, "a0", "j1"), SlotStatus(1)]


@run_async
async def test_request_slot_is_fenced_by_the_followed_leader_session() -> None:
    executor, pool, _ = make()
    executor.set_leader_session(None)
    with pytest.raises(FencingTokenError, match="follows no leader"):
        await executor.request_slot(0, "a0", "j1", JM, SESSION)
    executor.set_leader_session(SESSION)
    with pytest.raises(FencingTokenError, match="carries leader session old.*follows leader session s1"):
        await executor.request_slot(0, "a0", "j1", JM, "old")
    assert pool.started == [] and not executor.slot_report()[0].allocation_id


@run_async
async def test_request_for_a_taken_slot_is_refused() -> None:
    executor, pool, _ = make()
    await executor.request_slot(0, "a0", "j1", JM, SESSION)
    with pytest.raises(SlotAllocationError, match="taken by allocation a0"):
        await executor.request_slot(0, "a9", "j2", JM, SESSION)
    assert len(pool.started) == 1


@run_async
async def test_worker_that_cannot_start_frees_the_slot() -> None:
    executor, pool, _ = make()
    pool.fail_next_start = True
    with pytest.raises(WorkerStartError, match="port in use"):
        await executor.request_slot(0, "a0", "j1", JM, SESSION)
    assert not executor.slot_report()[0].allocation_id
    assert await executor.request_slot(0, "a0", "j1", JM, SESSION)


@run_async
async def test_submit_routes_to_the_allocation_worker_and_forwards_states_to_its_jobmaster() -> None:
    executor, pool, reporter = make()
    await executor.request_slot(0, "a0", "j1", JM, SESSION)
    await executor.request_slot(1, "a1", "j1", JM, SESSION)
    await executor.submit_task(tdd("a1", subtask=1), SESSION)
    pid, command = pool.sent[-1]
    assert pid == pool.started[1].pid and isinstance(command, DeployTask)
    assert common_pb2.TaskDeploymentDescriptor.FromString(command.tdd).subtask_index == 1
    worker = pool.started[1]
    for state in ("INITIALIZING", "RUNNING", "FINISHED"):
        executor.on_worker_event(worker, TaskStateChanged("j1:v:1:0", state))
    assert reporter.states("j1:v:1:0") == ["INITIALIZING", "RUNNING", "FINISHED"]
    assert {target for target, _ in reporter.reports} == {JobMasterTarget(JM, SESSION)}
    # finished tasks are forgotten: a cancel is a no-op
    await executor.cancel_task("j1:v:1:0", SESSION)
    assert not any(isinstance(c, CancelTask) for _, c in pool.sent)


@run_async
async def test_submit_to_unknown_or_foreign_allocation_is_refused_with_a_clear_message() -> None:
    executor, pool, _ = make()
    with pytest.raises(UnknownAllocationError, match="holds no slot for allocation 'nope'"):
        await executor.submit_task(tdd("nope"), SESSION)
    await executor.request_slot(0, "a0", "j1", JM, SESSION)
    with pytest.raises(UnknownAllocationError, match="belongs to job j1"):
        await executor.submit_task(tdd("a0", job="j2"), SESSION)
    with pytest.raises(FencingTokenError, match="leader session"):
        await executor.submit_task(tdd("a0"), "stale")
    assert pool.sent == []


@run_async
async def test_cancel_task_goes_to_its_worker() -> None:
    executor, pool, _ = make()
    await executor.request_slot(0, "a0", "j1", JM, SESSION)
    await executor.submit_task(tdd("a0"), SESSION)
    await executor.cancel_task("j1:v:0:0", SESSION)
    assert pool.sent[-1] == (pool.started[0].pid, CancelTask("j1:v:0:0"))
    await executor.cancel_task("unknown:v:0:0", SESSION)   # no error


@run_async
async def test_worker_crash_fails_its_tasks_naming_the_signal_and_slot_can_be_requested_again() -> None:
    executor, pool, reporter = make()
    address = await executor.request_slot(0, "a0", "j1", JM, SESSION)
    await executor.submit_task(tdd("a0", subtask=0, name="a"), SESSION)
    await executor.submit_task(common_pb2.TaskDeploymentDescriptor(
        job_id="j1", vertex_id="w", vertex_name="b", subtask_index=0, parallelism=1, allocation_id="a0"), SESSION)
    worker = pool.started[0]
    executor.on_worker_event(worker, TaskStateChanged("j1:v:0:0", "RUNNING"))
    pool.exit(worker, -signal.SIGKILL)
    failed = [u for _, u in reporter.reports if u.state == "FAILED"]
    assert sorted(u.execution_id for u in failed) == ["j1:v:0:0", "j1:w:0:0"]
    assert all("signal SIGKILL" in u.error and f"pid {worker.pid}" in u.error for u in failed)
    assert all(u.error_name == "WorkerProcessDied" for u in failed)
    # the slot stays allocated, but deploying needs a new worker first
    assert executor.slot_report()[0] == SlotStatus(0, "a0", "j1")
    with pytest.raises(UnknownAllocationError, match="request the slot again"):
        await executor.submit_task(tdd("a0"), SESSION)
    new_address = await executor.request_slot(0, "a0", "j1", JM, SESSION)
    assert new_address != address and len(pool.started) == 2
    await executor.submit_task(tdd("a0"), SESSION)


@run_async
async def test_worker_exit_code_is_named() -> None:
    executor, pool, reporter = make()
    await executor.request_slot(0, "a0", "j1", JM, SESSION)
    await executor.submit_task(tdd("a0"), SESSION)
    pool.exit(pool.started[0], 3)
    assert "exit code 3" in reporter.reports[-1][1].error


@run_async
async def test_free_slot_stops_the_worker_and_fails_tasks_it_did_not_end() -> None:
    executor, pool, reporter = make()
    await executor.request_slot(0, "a0", "j1", JM, SESSION)
    await executor.submit_task(tdd("a0"), SESSION)
    await executor.free_slot("a0", "job finished", SESSION)
    assert pool.stopped == [pool.started[0]]
    assert not executor.slot_report()[0].allocation_id
    assert reporter.states("j1:v:0:0") == ["FAILED"]
    assert "job finished" in reporter.reports[-1][1].error
    await executor.free_slot("a0", "again", SESSION)      # idempotent
    with pytest.raises(UnknownAllocationError):
        await executor.submit_task(tdd("a0"), SESSION)


@run_async
async def test_release_all_stops_everything_without_reporting() -> None:
    executor, pool, reporter = make()
    await executor.request_slot(0, "a0", "j1", JM, SESSION)
    await executor.request_slot(1, "a1", "j2", JM, SESSION)
    await executor.submit_task(tdd("a0"), SESSION)
    await executor.release_all("JobManager lost")
    assert sorted(w.pid for w in pool.stopped) == sorted(w.pid for w in pool.started)
    assert all(not s.allocation_id for s in executor.slot_report())
    assert reporter.reports == []
    assert sorted(reporter.dropped) == ["j1", "j2"]


@run_async
async def test_close_fails_running_tasks_at_their_jobmaster_and_stops_workers() -> None:
    executor, pool, reporter = make()
    await executor.request_slot(0, "a0", "j1", JM, SESSION)
    await executor.submit_task(tdd("a0"), SESSION)
    executor.on_worker_event(pool.started[0], TaskStateChanged("j1:v:0:0", "RUNNING"))
    await executor.close()
    assert reporter.states("j1:v:0:0") == ["RUNNING", "FAILED"]
    assert "tm-1 is shutting down" in reporter.reports[-1][1].error
    assert pool.stopped == pool.started and reporter.dropped == []
    with pytest.raises(Exception, match="shutting down"):
        await executor.request_slot(1, "a1", "j1", JM, SESSION)
