"""The TaskExecutor: slots, their worker processes and the tasks running in them.

Everything here is owned by the TaskManager's single asyncio loop: the gRPC
servicer awaits these methods on it, the worker pool delivers worker events
and exits on it, the JobManager connection calls ``release_all`` on it.

Lifecycle of a slot (Flink's TaskExecutor, one process per slot):

- ``request_slot``: the slot table records the allocation and a worker process
  is forked for it; the answer is the worker's data (Flight) address. Asking
  again for the same allocation returns the same address (or forks a new
  worker if the old one died).
- ``submit_task`` forwards a deployment to the allocation's worker;
  ``cancel_task`` asks the worker to cancel one task.
- Task state changes from the worker go to the JobMaster named in the
  RequestSlot, with its leader session id.
- ``free_slot`` stops the worker (its tasks are canceled) and frees the slot.
- A worker that dies unexpectedly fails all its tasks (reported FAILED with
  the exit code or signal); the slot stays allocated until the JobMaster
  requests it again or frees it.
- ``release_all`` (the JobManager was lost): every worker is stopped and every
  slot freed, without reports (nobody listens).

Fencing: every RPC carries the caller's leader session id. RequestSlot,
SubmitTask, CancelTask and FreeSlot are refused (``FencingTokenError``, sent
as FAILED_PRECONDITION naming the "leader session") unless it is the session
of the leader this TaskManager follows (``set_leader_session``), so a deposed
JobManager cannot drive tasks here once the TaskManager has moved on.
- ``close`` (the TaskManager stops): running tasks are reported FAILED to
  their JobMasters (there is no disconnect RPC; this spares them the
  heartbeat timeout), then every worker is stopped.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from strom.common.errors import FencingTokenError, StromError
from strom.common.rpc import common_pb2
from strom.common.states import ExecutionState
from strom.taskmanager.executor.slot_table import SlotStatus, SlotTable
from strom.taskmanager.executor.task_reporter import JobMasterTarget, TaskStateReporter, TaskStateUpdate
from strom.taskmanager.worker.pool import WorkerGoneError, WorkerHandle, WorkerPool
from strom.taskmanager.worker.process import execution_id_of
from strom.taskmanager.worker.protocol import CancelTask, DeployTask, TaskStateChanged, WorkerEvent

log = logging.getLogger(__name__)

WORKER_DIED_ERROR_NAME = "WorkerProcessDied"


class UnknownAllocationError(StromError):
    """A call names an allocation this TaskManager does not hold (or whose worker is gone)."""


@dataclass
class _Allocation:
    allocation_id: str
    job_id: str
    slot_index: int
    target: JobMasterTarget
    worker: WorkerHandle | None = None
    starting: asyncio.Task[WorkerHandle] | None = None
    tasks: dict[str, str] = field(default_factory=dict)   # execution id -> last known state
    reporting: bool = True    # False once released because the JobManager is gone


class TaskExecutor:
    """Slots, workers and tasks of one TaskManager. Owned by its asyncio loop."""

    def __init__(self, resource_id: str, num_slots: int, pool: WorkerPool, reporter: TaskStateReporter) -> None:
        self.resource_id = resource_id
        self.slots = SlotTable(num_slots)
        self._pool = pool
        self._reporter = reporter
        self._allocations: dict[str, _Allocation] = {}
        self._by_worker: dict[int, _Allocation] = {}   # id(worker) -> allocation, until the worker exited
        self._leader_session: str | None = None
        self._closed = False

    # ---- called by the JobManager connection ------------------------------

    def set_leader_session(self, session_id: str | None) -> None:
        """The leader session this TaskManager follows: RequestSlots must carry it."""
        self._leader_session = session_id

    def slot_report(self) -> list[SlotStatus]:
        return self.slots.report()

    async def release_all(self, cause: str) -> None:
        """The JobManager is gone: stop every worker and free every slot, reporting nothing."""
        await self._release(list(self._allocations.values()), cause, report=False)

    # ---- TaskExecutorService ----------------------------------------------

    async def request_slot(self, slot_index: int, allocation_id: str, job_id: str, job_master_address: str,
                           session_id: str) -> str:
        self._check_open()
        self._check_leader(session_id, f"slot request for allocation {allocation_id}")
        newly = self.slots.allocate(slot_index, allocation_id, job_id)
        alloc = self._allocations.get(allocation_id)
        if newly or alloc is None:
            alloc = _Allocation(allocation_id, job_id, slot_index, JobMasterTarget(job_master_address, session_id))
            self._allocations[allocation_id] = alloc
            log.info("Allocated slot %d for job %s (allocation %s, JobMaster at %s)", slot_index, job_id,
                     allocation_id, job_master_address)
        elif alloc.target.address != job_master_address:
            log.info("Slot %d of allocation %s: JobMaster moved to %s", slot_index, allocation_id,
                     job_master_address)
            alloc.target = JobMasterTarget(job_master_address, session_id)
        worker = await self._ensure_worker(alloc)
        return worker.data_address

    async def submit_task(self, tdd: common_pb2.TaskDeploymentDescriptor, session_id: str) -> None:
        self._check_open()
        what = f"{tdd.vertex_name} ({tdd.subtask_index + 1}/{tdd.parallelism})"
        self._check_leader(session_id, f"deployment of {what}")
        alloc = self._allocations.get(tdd.allocation_id)
        if alloc is None:
            raise UnknownAllocationError(
                f"cannot deploy {what} of job {tdd.job_id}: TaskManager {self.resource_id} holds no slot for "
                f"allocation {tdd.allocation_id!r} (never requested, or freed); request the slot first")
        self._check_session(alloc, session_id, f"deployment of {what}")
        if tdd.job_id != alloc.job_id:
            raise UnknownAllocationError(
                f"cannot deploy {what} of job {tdd.job_id} into allocation {alloc.allocation_id}, which belongs "
                f"to job {alloc.job_id}")
        if alloc.starting is not None:
            await asyncio.shield(alloc.starting)
        worker = alloc.worker
        if worker is None or not worker.alive:
            raise UnknownAllocationError(
                f"cannot deploy {what}: the worker process of slot {alloc.slot_index} (allocation "
                f"{alloc.allocation_id}) is gone; request the slot again to start a new one")
        execution_id = execution_id_of(tdd)
        alloc.tasks[execution_id] = ExecutionState.DEPLOYING.value
        log.info("Deploying %s of job %s (%s) into slot %d", what, tdd.job_id, execution_id, alloc.slot_index)
        try:
            await self._pool.send(worker, DeployTask(tdd.SerializeToString()))
        except WorkerGoneError as e:
            alloc.tasks.pop(execution_id, None)
            raise UnknownAllocationError(f"cannot deploy {what}: {e}") from None

    async def cancel_task(self, execution_id: str, session_id: str) -> None:
        self._check_open()
        self._check_leader(session_id, f"cancel of task {execution_id}")
        alloc = next((a for a in self._allocations.values() if execution_id in a.tasks), None)
        if alloc is None:
            log.info("Cancel of task %s: not running here (already ended?)", execution_id)
            return
        self._check_session(alloc, session_id, f"cancel of task {execution_id}")
        log.info("Canceling task %s in slot %d", execution_id, alloc.slot_index)
        if alloc.worker is not None and alloc.worker.alive:
            try:
                await self._pool.send(alloc.worker, CancelTask(execution_id))
            except WorkerGoneError:
                pass  # its exit fails the task

    async def free_slot(self, allocation_id: str, cause: str, session_id: str) -> None:
        self._check_leader(session_id, f"free of allocation {allocation_id}")
        alloc = self._allocations.get(allocation_id)
        if alloc is None:
            log.info("Free of allocation %s: not held here (already freed)", allocation_id)
            return
        self._check_session(alloc, session_id, f"free of slot {alloc.slot_index}")
        cause = cause or "freed by the JobManager"
        self._forget(alloc, cause)
        await self._stop_worker(alloc)
        # Tasks the worker did not end before it stopped: the JobMaster learns they are gone.
        for execution_id, state in alloc.tasks.items():
            self._report(alloc, execution_id, ExecutionState.FAILED.value,
                         f"slot {alloc.slot_index} was freed while task {execution_id} was {state}: {cause}",
                         "SlotFreed")
        alloc.tasks.clear()

    # ---- worker pool callbacks (on the loop) ------------------------------

    def on_worker_event(self, worker: WorkerHandle, event: WorkerEvent) -> None:
        alloc = self._by_worker.get(id(worker))
        if not isinstance(event, TaskStateChanged):
            log.warning("Unexpected event from slot worker pid %d: %r", worker.pid, event)
            return
        if alloc is None or event.execution_id not in alloc.tasks or not alloc.reporting:
            log.debug("Dropping state %s of task %s: its slot was released", event.state, event.execution_id)
            return
        alloc.tasks[event.execution_id] = event.state
        if event.state in (ExecutionState.FINISHED, ExecutionState.CANCELED, ExecutionState.FAILED):
            del alloc.tasks[event.execution_id]
        log.info("Task %s switched to %s%s", event.execution_id, event.state,
                 f" ({event.error_name})" if event.error_name else "")
        self._report(alloc, event.execution_id, event.state, event.error, event.error_name)

    def on_worker_exit(self, worker: WorkerHandle) -> None:
        alloc = self._by_worker.pop(id(worker), None)
        if worker.stopping or alloc is None:
            log.info("Slot worker pid %d exited with %s", worker.pid, worker.describe_exit())
            return
        if alloc.worker is worker:
            alloc.worker = None
        message = (f"the worker process (pid {worker.pid}) of slot {alloc.slot_index} on TaskManager "
                   f"{self.resource_id} died with {worker.describe_exit()}")
        log.error("%s; failing its %d task(s)", message[0].upper() + message[1:], len(alloc.tasks))
        for execution_id in list(alloc.tasks):
            self._report(alloc, execution_id, ExecutionState.FAILED.value,
                         f"{message} while running task {execution_id}", WORKER_DIED_ERROR_NAME)
        alloc.tasks.clear()

    # ---- shutdown ---------------------------------------------------------

    async def close(self) -> None:
        """The TaskManager is stopping: fail the running tasks at their JobMasters, stop every worker."""
        if self._closed:
            return
        self._closed = True
        allocations = list(self._allocations.values())
        for alloc in allocations:
            for execution_id, state in alloc.tasks.items():
                self._report(alloc, execution_id, ExecutionState.FAILED.value,
                             f"TaskManager {self.resource_id} is shutting down (task {execution_id} was {state})",
                             "TaskManagerShutdown")
            alloc.tasks.clear()
        await self._release(allocations, "the TaskManager is shutting down", report=True)
        for alloc in allocations:
            if alloc.starting is not None and not alloc.starting.done():
                alloc.starting.cancel()

    # ---- internals --------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StromError(f"TaskManager {self.resource_id} is shutting down")

    def _check_leader(self, session_id: str, what: str) -> None:
        """Fencing: only the leader this TaskManager follows may command it (a deposed one is refused)."""
        if self._leader_session is None:
            raise FencingTokenError(
                f"TaskManager {self.resource_id} follows no leader yet; refusing the {what} under leader "
                f"session {session_id or '<none>'}")
        if session_id != self._leader_session:
            raise FencingTokenError(
                f"{what} carries leader session {session_id or '<none>'}, but TaskManager {self.resource_id} "
                f"follows leader session {self._leader_session}")

    def _check_session(self, alloc: _Allocation, session_id: str, what: str) -> None:
        if session_id != alloc.target.session_id:
            raise FencingTokenError(
                f"{what} carries leader session {session_id}, but slot {alloc.slot_index} was allocated under "
                f"leader session {alloc.target.session_id}")

    async def _ensure_worker(self, alloc: _Allocation) -> WorkerHandle:
        if alloc.worker is not None and alloc.worker.alive:
            return alloc.worker
        if alloc.starting is None:
            alloc.starting = asyncio.get_running_loop().create_task(self._start_worker(alloc))
        return await asyncio.shield(alloc.starting)

    async def _start_worker(self, alloc: _Allocation) -> WorkerHandle:
        try:
            worker = await self._pool.start_worker(alloc.allocation_id)
        except BaseException:
            if self._allocations.get(alloc.allocation_id) is alloc:
                self._forget(alloc, "its worker process failed to start")
            raise
        finally:
            alloc.starting = None
        if self._allocations.get(alloc.allocation_id) is not alloc:
            # Freed (or the JobManager was lost) while the worker was starting.
            await self._pool.stop_worker(worker)
            raise UnknownAllocationError(
                f"allocation {alloc.allocation_id} was released while its worker process was starting")
        alloc.worker = worker
        self._by_worker[id(worker)] = alloc
        return worker

    async def _stop_worker(self, alloc: _Allocation) -> None:
        if alloc.starting is not None:
            try:
                await asyncio.shield(alloc.starting)
            except BaseException:  # noqa: BLE001 - start failures are reported to the requester
                pass
        worker, alloc.worker = alloc.worker, None
        if worker is not None:
            await self._pool.stop_worker(worker)

    async def _release(self, allocations: list[_Allocation], cause: str, report: bool) -> None:
        if not allocations:
            return
        log.warning("Releasing all %d slots: %s", len(allocations), cause)
        for alloc in allocations:
            self._forget(alloc, cause)
            if not report:
                alloc.reporting = False
                self._reporter.drop_job(alloc.job_id)
        await asyncio.gather(*(self._stop_worker(a) for a in allocations))

    def _forget(self, alloc: _Allocation, cause: str) -> None:
        self._allocations.pop(alloc.allocation_id, None)
        self.slots.free(alloc.allocation_id, cause)

    def _report(self, alloc: _Allocation, execution_id: str, state: str, error: str = "",
                error_name: str = "") -> None:
        if not alloc.reporting:
            return
        self._reporter.report(alloc.target, TaskStateUpdate(alloc.job_id, execution_id, state, error, error_name))
