"""The JobMaster: runs one job's ExecutionGraph.

One driver coroutine per job walks the job's lifecycle:

    CREATED -> RUNNING: request slots (slot sharing: max parallelism), deploy
    every subtask into slot = its subtask index, wait for the attempt's outcome
      all FINISHED       -> FINISHED, release the slots
      cancel()           -> CANCELLING, cancel every task -> CANCELED
      a task FAILED / TaskManager lost / deploy failed
                         -> RESTARTING (restart strategy allows it): cancel
                            the rest, free every slot, wait the delay, new
                            attempts of every vertex, fresh slots -> RUNNING
                         -> FAILING (it does not): cancel the rest -> FAILED
      not enough slots   -> FAILED with the NotEnoughSlotsError message

TaskManagers report task states through ``update_task_execution_state``
(updates of stale attempts are ignored); the ResourceManager reports lost
slots through ``notify_slots_lost``. A SubmitTask or CancelTask call that
cannot connect to its TaskManager is reported to the ResourceManager, which
drops that TaskManager at once instead of after ``heartbeat.timeout``. Every
wait has a deadline: cancelled tasks that never confirm are treated as gone
after the cancel timeout.

State owner: the JobManager's event loop; the driver and every callback run there.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from strom.common.config import SLOT_REQUEST_TIMEOUT, Configuration, parse_duration_ms
from strom.common.errors import NotEnoughSlotsError, StromError, TaskManagerLostError
from strom.common.ids import ExecutionAttemptId
from strom.common.jobgraph import JobGraph
from strom.common.rpc import common_pb2
from strom.common.states import EXECUTION_TRANSITIONS, ExecutionState, JobStatus
from strom.jobmanager.jobmaster.deployment import build_all
from strom.jobmanager.jobmaster.details import job_details
from strom.jobmanager.jobmaster.execution_graph import (
    Clock,
    ExceptionEntry,
    Execution,
    ExecutionGraph,
    wall_ms,
)
from strom.jobmanager.jobmaster.restart_strategy import restart_strategy_from_config
from strom.jobmanager.resourcemanager.resource_manager import SlotAssignment, SlotOwner
from strom.jobmanager.task_executors import TaskExecutorConnector

log = logging.getLogger(__name__)

CANCEL_TIMEOUT_KEY = "jobmanager.execution.cancel-timeout"
DEFAULT_CANCEL_TIMEOUT = "10 s"
SUSPEND_TIMEOUT_S = 2.0


class SlotProvider(Protocol):
    """The part of the ResourceManager a JobMaster uses."""

    async def allocate_slots(self, job_id: str, n: int, job_master_address: str,
                             timeout_ms: int | None = None) -> list[SlotAssignment]: ...

    async def release_slots(self, job_id: str, allocation_ids: Iterable[str], cause: str) -> None: ...

    def connect_job(self, job_id: str, owner: SlotOwner) -> None: ...

    def disconnect_job(self, job_id: str) -> None: ...

    def task_manager_call_failed(self, resource_id: str, rpc_address: str, call: str,
                                 error: BaseException) -> bool: ...


@dataclass(frozen=True)
class TaskExecutionState:
    """A task's state change as a TaskManager reports it."""

    execution_id: ExecutionAttemptId
    state: ExecutionState
    error: str = ""
    error_name: str = ""
    resource_id: str = ""


class _Kind(Enum):
    FINISHED = "finished"
    CANCEL = "cancel"
    FAILED = "failed"


@dataclass(frozen=True)
class _Outcome:
    kind: _Kind
    failure: ExceptionEntry | None = None
    restartable: bool = True


class JobMaster:
    """Schedules, deploys, supervises and restarts one job. Owned by the JobManager's event loop."""

    def __init__(self, job_graph: JobGraph, cluster_config: Configuration, slots: SlotProvider,
                 task_executors: TaskExecutorConnector, session: Callable[[], str], address: str,
                 clock: Clock = wall_ms) -> None:
        self.job_id = job_graph.job_id
        self.graph = ExecutionGraph(job_graph, clock)
        self.config = cluster_config.with_overrides(job_graph.config)
        self.restart_strategy = restart_strategy_from_config(cluster_config, job_graph.config)
        self.cancel_timeout_s = parse_duration_ms(self.config.get(CANCEL_TIMEOUT_KEY) or DEFAULT_CANCEL_TIMEOUT,
                                                  CANCEL_TIMEOUT_KEY) / 1000
        self.slot_request_timeout_ms = self.config.get_duration_ms(SLOT_REQUEST_TIMEOUT)
        self._slot_provider = slots
        self._task_executors = task_executors
        self._session = session
        self._address = address
        self._clock = clock
        self._slots: list[SlotAssignment] = []
        self._last_session: str | None = None   # the session the tasks were deployed under
        self._outcome: asyncio.Future[_Outcome] | None = None
        self._cancel_requested = False
        self._changed = asyncio.Event()
        self._driver: asyncio.Task[None] | None = None
        self.termination: asyncio.Future[JobStatus] = asyncio.get_running_loop().create_future()

    # ---- control ------------------------------------------------------------

    def start(self) -> None:
        self._slot_provider.connect_job(self.job_id, self)
        self._driver = asyncio.get_running_loop().create_task(self._drive(), name=f"job-{self.job_id}")

    def cancel(self) -> None:
        """Ask the job to cancel; returns at once, the driver does the work."""
        if self.graph.status.is_terminal or self._cancel_requested:
            return
        log.info("Cancelling job %s (%s)", self.graph.name, self.job_id)
        self._cancel_requested = True
        self._resolve(_Outcome(_Kind.CANCEL))
        self._changed.set()

    async def suspend(self, cause: str) -> None:
        """Stop supervising the job (leadership lost, shutdown): job SUSPENDED, tasks cancelled best-effort
        under the leader session they were deployed with."""
        if self.graph.status.is_terminal:
            return
        log.warning("Suspending job %s (%s): %s", self.graph.name, self.job_id, cause)
        if self._driver is not None:
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)
        live = [e for e in self.graph.executions() if not e.state.is_terminal]
        deployed = [e for e in live if e.slot is not None and e.state is not ExecutionState.SCHEDULED]
        # Leadership is gone already: cancel under the session the tasks were deployed with. A TaskManager
        # still following that session stops them; one that follows a newer leader refuses (fencing).
        session = self._last_session or ""
        await self._bounded(asyncio.gather(*(self._send_cancel(e, session) for e in deployed),
                                           return_exceptions=True), SUSPEND_TIMEOUT_S)
        for execution in live:
            if not execution.state.is_terminal:
                execution.transition_to(ExecutionState.CANCELED, f"job suspended: {cause}")
        await self._bounded(self._release_slots(f"job suspended: {cause}"), SUSPEND_TIMEOUT_S)
        self.graph.transition_to(JobStatus.SUSPENDED, cause)
        self._terminate()

    def details(self) -> common_pb2.JobDetails:
        return job_details(self.graph)

    # ---- reports from TaskManagers and the ResourceManager --------------------

    def update_task_execution_state(self, update: TaskExecutionState) -> bool:
        """Apply a task's state change; False when ignored (stale attempt, impossible move)."""
        execution = self.graph.execution(update.execution_id)
        if execution is None:
            log.debug("ignoring %s for unknown or stale attempt %s", update.state, update.execution_id)
            return False
        if update.state not in EXECUTION_TRANSITIONS[execution.state]:
            log.debug("ignoring %s for %s in state %s", update.state, update.execution_id, execution.state)
            return False
        if update.state is ExecutionState.FAILED:
            location = execution.slot.tm_address if execution.slot else update.resource_id
            self._fail_execution(execution, ExceptionEntry(
                update.error_name or "TaskFailure",
                self._name_producers(update.error or f"{execution.task_name} failed without reporting an error"),
                self._clock(), execution.task_name, location))
        else:
            execution.transition_to(update.state)
        if update.state is ExecutionState.FINISHED and self.graph.all_in(ExecutionState.FINISHED):
            self._resolve(_Outcome(_Kind.FINISHED))
        self._changed.set()
        return True

    def _name_producers(self, error: str) -> str:
        """A consumer that lost its connection to a producer names only the producer's data address;
        say which TaskManager that slot belongs to, since that TaskManager may be the one lost."""
        notes = [f"The producer at {slot.data_address} ran in slot {slot.slot_index} of TaskManager "
                 f"{slot.resource_id} at {slot.tm_address}; that TaskManager or its slot worker may have been lost."
                 for slot in self._slots if slot.data_address and f"producer at {slot.data_address}" in error]
        return error if not notes else error.rstrip("\n") + "\n\n" + "\n".join(dict.fromkeys(notes))

    def notify_slots_lost(self, allocation_ids: set[str], error: TaskManagerLostError) -> None:
        for execution in list(self.graph.executions()):
            if execution.slot is None or execution.slot.allocation_id not in allocation_ids:
                continue
            if execution.state is ExecutionState.CANCELING:
                execution.transition_to(ExecutionState.CANCELED, str(error))
            elif not execution.state.is_terminal:
                self._fail_execution(execution, ExceptionEntry(
                    type(error).__name__, str(error), self._clock(), execution.task_name,
                    execution.slot.tm_address))
        self._changed.set()

    # ---- the driver -----------------------------------------------------------

    async def _drive(self) -> None:
        try:
            self.graph.transition_to(JobStatus.CREATED)
            self.graph.transition_to(JobStatus.RUNNING)
            while not await self._handle(await self._run_attempt()):
                pass
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("JobMaster of job %s failed", self.job_id)
            await self._fail_internally(e)
        self._terminate()

    async def _handle(self, outcome: _Outcome) -> bool:
        """React to one attempt's outcome; True when the job reached a terminal state."""
        if outcome.kind is _Kind.FINISHED:
            self.graph.transition_to(JobStatus.FINISHED)
            await self._release_slots("job finished")
            return True
        if outcome.kind is _Kind.CANCEL:
            self.graph.transition_to(JobStatus.CANCELLING)
            await self._cancel_all("job cancelled")
            await self._release_slots("job cancelled")
            self.graph.transition_to(JobStatus.CANCELED)
            return True
        delay_ms = self.restart_strategy.on_failure() if outcome.restartable else None
        failure = outcome.failure
        cause = f"{failure.exception_name} in {failure.task_name or 'the job'}" if failure else "failure"
        if delay_ms is None:
            self.graph.transition_to(JobStatus.FAILING, cause)
            await self._cancel_all(f"job failing: {cause}")
            await self._release_slots(f"job failed: {cause}")
            self.graph.transition_to(JobStatus.FAILED, self.restart_strategy.describe() if outcome.restartable
                                     else "not restartable")
            return True
        self.graph.transition_to(JobStatus.RESTARTING, f"{cause}; {self.restart_strategy.describe()}")
        await self._cancel_all(f"job restarting: {cause}")
        await self._release_slots(f"job restarting: {cause}")
        await self._wait_until(lambda: self._cancel_requested, delay_ms / 1000)
        if self._cancel_requested:
            self.graph.transition_to(JobStatus.CANCELED, "cancelled while restarting")
            return True
        self.graph.new_attempts()
        self.graph.transition_to(JobStatus.RUNNING, f"restart {self.graph.restarts}")
        return False

    async def _run_attempt(self) -> _Outcome:
        outcome: asyncio.Future[_Outcome] = asyncio.get_running_loop().create_future()
        self._outcome = outcome
        if self._cancel_requested:
            return _Outcome(_Kind.CANCEL)
        for execution in self.graph.executions():
            execution.transition_to(ExecutionState.SCHEDULED)
        allocation = asyncio.get_running_loop().create_task(self._slot_provider.allocate_slots(
            self.job_id, self.graph.num_slots_needed, self._address, self.slot_request_timeout_ms))
        try:
            waiters: set[asyncio.Future[Any]] = {allocation, outcome}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not allocation.done():
                allocation.cancel()  # the ResourceManager gives back whatever it reserved
            result = (await asyncio.gather(allocation, return_exceptions=True))[0]
            if isinstance(result, list):
                self._slots = result
        if outcome.done():
            return outcome.result()
        if isinstance(result, BaseException):
            entry = ExceptionEntry(type(result).__name__, str(result), self._clock())
            self.graph.record_failure(entry)
            return _Outcome(_Kind.FAILED, entry, restartable=not isinstance(result, NotEnoughSlotsError))
        await self._deploy()
        return await outcome

    async def _deploy(self) -> None:
        descriptors = build_all(self.graph, self._slots)
        for vertex, _ in descriptors:
            execution = vertex.current_execution
            execution.slot = self._slots[vertex.subtask_index]
            execution.transition_to(ExecutionState.DEPLOYING)
        await asyncio.gather(*(self._submit(vertex.current_execution, tdd) for vertex, tdd in descriptors))

    async def _submit(self, execution: Execution, tdd: common_pb2.TaskDeploymentDescriptor) -> None:
        assert execution.slot is not None
        try:
            await self._task_executors(execution.slot.tm_address).submit_task_async(tdd, self._current_session())
        except StromError as e:
            if execution.state is ExecutionState.DEPLOYING:
                self._fail_execution(execution, ExceptionEntry(
                    type(e).__name__, f"deploying {execution.task_name} failed: {e}", self._clock(),
                    execution.task_name, execution.slot.tm_address))
            self._slot_provider.task_manager_call_failed(execution.slot.resource_id, execution.slot.tm_address,
                                                         "SubmitTask", e)

    # ---- failure, cancellation, slots -------------------------------------------

    def _fail_execution(self, execution: Execution, entry: ExceptionEntry) -> None:
        execution.failure = entry
        execution.transition_to(ExecutionState.FAILED, entry.exception_name)
        if self._outcome is not None and not self._outcome.done():
            self.graph.record_failure(entry)
            self._resolve(_Outcome(_Kind.FAILED, entry))

    def _resolve(self, outcome: _Outcome) -> None:
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(outcome)

    async def _cancel_all(self, cause: str) -> None:
        """Cancel every live execution and wait (bounded) until all are terminal."""
        to_cancel = []
        for execution in self.graph.executions():
            if execution.state in (ExecutionState.CREATED, ExecutionState.SCHEDULED):
                execution.transition_to(ExecutionState.CANCELED, cause)
            elif not execution.state.is_terminal:
                if execution.state is not ExecutionState.CANCELING:
                    execution.transition_to(ExecutionState.CANCELING, cause)
                to_cancel.append(execution)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cancel_timeout_s
        await self._bounded(asyncio.gather(*(self._send_cancel(e) for e in to_cancel)), self.cancel_timeout_s)
        if not await self._wait_until(self.graph.all_terminal, max(deadline - loop.time(), 0)):
            for execution in self.graph.executions():
                if execution.state is ExecutionState.CANCELING:
                    execution.transition_to(ExecutionState.CANCELED, f"no confirmation within "
                                            f"{self.cancel_timeout_s:g} s; treating the task as gone")

    def _current_session(self) -> str:
        """The leader session id for an outgoing call (FencingTokenError while not leading); remembered."""
        session = self._session()
        self._last_session = session
        return session

    async def _send_cancel(self, execution: Execution, session: str | None = None) -> None:
        if execution.slot is None:
            return
        try:
            await self._task_executors(execution.slot.tm_address).cancel_task_async(
                str(execution.attempt_id), session if session is not None else self._current_session())
        except StromError as e:
            if execution.state is ExecutionState.CANCELING:
                execution.transition_to(ExecutionState.CANCELED, f"cancel call failed ({e}); treating the task "
                                                                 "as gone")
                self._changed.set()
            self._slot_provider.task_manager_call_failed(execution.slot.resource_id, execution.slot.tm_address,
                                                         "CancelTask", e)

    async def _release_slots(self, cause: str) -> None:
        slots, self._slots = self._slots, []
        if slots:
            await self._slot_provider.release_slots(self.job_id, [s.allocation_id for s in slots], cause)

    async def _wait_until(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True

    async def _fail_internally(self, error: Exception) -> None:
        entry = ExceptionEntry(type(error).__name__, "".join(traceback.format_exception(error)), self._clock())
        self.graph.record_failure(entry)
        try:
            await self._bounded(self._cancel_all("JobMaster error"), self.cancel_timeout_s + 1)
            await self._bounded(self._release_slots("JobMaster error"), SUSPEND_TIMEOUT_S)
        except Exception:
            log.exception("cleanup after JobMaster error of job %s failed", self.job_id)
        if not self.graph.status.is_terminal:
            self.graph.transition_to(JobStatus.FAILED, "JobMaster error")

    @staticmethod
    async def _bounded(call: Awaitable[object], timeout_s: float) -> None:
        try:
            await asyncio.wait_for(call, timeout_s)
        except TimeoutError:
            log.warning("gave up after %g s", timeout_s)

    def _terminate(self) -> None:
        self._slot_provider.disconnect_job(self.job_id)
        if not self.termination.done():
            self.termination.set_result(self.graph.status)
