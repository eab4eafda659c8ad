"""The ResourceManager: TaskManager registration, heartbeats, slot allocation.

- ``register_task_executor`` checks the protocol version and records the
  TaskManager; a re-registration keeps only the allocations its slot report
  still lists (the others' owners hear that those slots are lost).
- TaskManagers call ``heartbeat`` every ``heartbeat.interval``; a timer
  drops every TaskManager silent for ``heartbeat.timeout``, and the jobs that
  had slots there get ``notify_slots_lost`` with a ``TaskManagerLostError``.
- A call to a TaskManager that cannot connect (gRPC UNAVAILABLE: the process
  is dead) drops it the same way at once (``task_manager_call_failed``;
  RequestSlot and FreeSlot here, SubmitTask and CancelTask from the
  JobMasters), rather than after ``heartbeat.timeout``.
- ``allocate_slots(job_id, n, ...)`` waits (up to ``slot.request.timeout``)
  until ``n`` slots are free, picks them with ``slot_matching``, and asks each
  TaskManager for its slot (``RequestSlot``), which answers with the slot
  worker's data address. Slots whose TaskManager turned out lost meanwhile are
  matched again on the remaining TaskManagers, within the same timeout
  (``lost_task_managers``). All or nothing: any other failed request releases
  the rest.

State owner: the JobManager's event loop. Nothing here blocks; every wait has
a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from strom.common.config import HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT, SLOT_REQUEST_TIMEOUT, Configuration
from strom.common.errors import NotEnoughSlotsError, ProtocolVersionError, StromError, TaskManagerLostError
from strom.common.gateway.resource_manager import Registration, SlotStatus
from strom.common.ids import new_allocation_id
from strom.common.version import PROTOCOL_VERSION
from strom.jobmanager.resourcemanager.lost_task_managers import (
    SlotRequestStep,
    after_failed_requests,
    error_to_report,
    is_connection_loss,
)
from strom.jobmanager.resourcemanager.registry import (
    SlotAllocation,
    TaskExecutorRegistration,
    TaskExecutorRegistry,
    TaskManagerInfo,
)
from strom.jobmanager.resourcemanager.slot_matching import (
    EVENLY_SPREAD_OUT_SLOTS_KEY,
    MatchingStrategy,
    match_slots,
)
from strom.jobmanager.task_executors import TaskExecutorGateways

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlotAssignment:
    """A slot granted to a job: where it is and where its worker serves data."""

    allocation_id: str
    resource_id: str
    tm_address: str
    slot_index: int
    data_address: str


@dataclass(frozen=True)
class TaskExecutorRegistrationRequest:
    resource_id: str
    rpc_address: str
    num_slots: int
    protocol_version: int
    slot_report: tuple[SlotStatus, ...] = ()
    hostname: str = ""
    memory_bytes: int = 0
    cpu_cores: int = 0


class SlotOwner(Protocol):
    """A job's JobMaster, told when slots it holds disappear."""

    def notify_slots_lost(self, allocation_ids: set[str], error: TaskManagerLostError) -> None: ...


@dataclass
class _PendingRequest:
    job_id: str
    n: int
    future: asyncio.Future[list[tuple[str, int, str]]]  # (resource id, slot index, allocation id)


def format_duration_ms(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:g} s"
    return f"{ms:g} ms"


class ResourceManager:
    """TaskManager registry, heartbeat monitor and slot allocator. Owned by the JobManager's loop."""

    def __init__(self, config: Configuration, task_executors: TaskExecutorGateways,
                 session: Callable[[], str], *, monotonic: Callable[[], float] = time.monotonic,
                 wall_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self._task_executors = task_executors
        self._session = session
        self._monotonic = monotonic
        self._wall_ms = wall_ms
        self.heartbeat_interval_ms = config.get_duration_ms(HEARTBEAT_INTERVAL)
        self.heartbeat_timeout_ms = config.get_duration_ms(HEARTBEAT_TIMEOUT)
        self.slot_request_timeout_ms = config.get_duration_ms(SLOT_REQUEST_TIMEOUT)
        self._strategy = MatchingStrategy.from_flag(config.get(EVENLY_SPREAD_OUT_SLOTS_KEY))
        self._registry = TaskExecutorRegistry()
        self._owners: dict[str, SlotOwner] = {}
        self._pending: list[_PendingRequest] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._monitor: asyncio.Task[None] | None = None

    # ---- lifecycle ----------------------------------------------------------

    def start(self) -> None:
        period_s = min(max(min(self.heartbeat_interval_ms, self.heartbeat_timeout_ms) / 2000, 0.01), 1.0)
        self._monitor = asyncio.get_running_loop().create_task(self._monitor_heartbeats(period_s),
                                                               name="heartbeat-monitor")

    async def stop(self) -> None:
        tasks = [t for t in [self._monitor, *self._background] if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._monitor = None
        self.clear("ResourceManager stopped")

    def clear(self, cause: str) -> None:
        """Forget every TaskManager and fail pending requests (leadership lost or shutdown)."""
        for request in self._pending:
            if not request.future.done():
                request.future.set_exception(StromError(f"slot request of job {request.job_id} aborted: {cause}"))
        self._pending.clear()
        for registration in self._registry.all():
            self._registry.remove(registration.resource_id)

    # ---- registration and heartbeats ----------------------------------------

    @staticmethod
    def check_protocol_version(request: TaskExecutorRegistrationRequest) -> None:
        if request.protocol_version != PROTOCOL_VERSION:
            raise ProtocolVersionError(
                f"TaskManager {request.resource_id} at {request.rpc_address} speaks protocol version "
                f"{request.protocol_version}, but this JobManager speaks protocol version {PROTOCOL_VERSION}: "
                "run the same Strom version on every process")

    def register_task_executor(self, request: TaskExecutorRegistrationRequest) -> Registration:
        self.check_protocol_version(request)
        if request.num_slots < 0:
            raise StromError(f"TaskManager {request.resource_id} offers {request.num_slots} slots")
        reported = {s.allocation_id: s.slot_index for s in request.slot_report if s.allocation_id}
        kept: dict[int, SlotAllocation] = {}
        previous = self._registry.remove(request.resource_id)
        if previous is not None:
            kept = {i: a for i, a in previous.allocations.items() if reported.get(a.allocation_id) == i}
            lost = {i: a for i, a in previous.allocations.items() if i not in kept}
            self._notify_lost(previous, lost, f"{previous.describe()} registered again without the slots "
                                              "it had: their workers are gone")
        now = self._wall_ms()
        registration = TaskExecutorRegistration(
            request.resource_id, request.rpc_address, request.num_slots, uuid.uuid4().hex,
            self._registry.next_order(), request.hostname, request.memory_bytes, request.cpu_cores,
            registered_at_ms=now, last_heartbeat_ms=now, last_heartbeat_mono=self._monotonic(),
            allocations=kept)
        self._registry.add(registration)
        log.info("Registered TaskManager %s at %s with %d slots (%d TaskManagers, %d slots in total)",
                 request.resource_id, request.rpc_address, request.num_slots, len(self._registry),
                 self._registry.total_slots())
        self._free_unknown(registration, request.slot_report)
        self._try_fulfil_pending()
        return Registration(registration.registration_id, self.heartbeat_interval_ms, self.heartbeat_timeout_ms)

    def heartbeat(self, resource_id: str, slot_report: Iterable[SlotStatus] = ()) -> bool:
        """Record a heartbeat; False when the TaskManager is unknown (it must register again)."""
        registration = self._registry.get(resource_id)
        if registration is None:
            log.debug("heartbeat from unknown TaskManager %s: asking it to register", resource_id)
            return False
        registration.last_heartbeat_mono = self._monotonic()
        registration.last_heartbeat_ms = self._wall_ms()
        self._free_unknown(registration, slot_report)
        return True

    def check_heartbeats(self) -> list[str]:
        """Drop every TaskManager whose heartbeat is overdue; returns their resource ids."""
        timeout_s = self.heartbeat_timeout_ms / 1000
        lost = self._registry.overdue(self._monotonic(), timeout_s)
        for registration in lost:
            silent_ms = (self._monotonic() - registration.last_heartbeat_mono) * 1000
            self.task_manager_lost(registration.resource_id,
                                   f"heartbeat timeout (no heartbeat for {format_duration_ms(round(silent_ms))}, "
                                   f"heartbeat.timeout is {format_duration_ms(self.heartbeat_timeout_ms)})")
        return [r.resource_id for r in lost]

    def task_manager_call_failed(self, resource_id: str, rpc_address: str, call: str,
                                 error: BaseException) -> bool:
        """A ``call`` (RPC name) to the TaskManager failed with ``error``. When it could not connect at all,
        the TaskManager is lost now, not after ``heartbeat.timeout``; returns True when it was dropped."""
        registration = self._registry.get(resource_id)
        if registration is None or registration.rpc_address != rpc_address or not is_connection_loss(error):
            return False   # gone already, registered again elsewhere, or the call reached it
        self.task_manager_lost(resource_id, f"{call} could not connect to it ({error}); not waiting for the "
                                            f"heartbeat timeout ({format_duration_ms(self.heartbeat_timeout_ms)})")
        return True

    def task_manager_lost(self, resource_id: str, cause: str) -> None:
        registration = self._registry.remove(resource_id)
        if registration is None:
            return
        log.warning("%s lost: %s", registration.describe(), cause)
        self._notify_lost(registration, dict(registration.allocations), f"{registration.describe()} lost: {cause}")
        self._task_executors.forget(registration.rpc_address)

    async def _monitor_heartbeats(self, period_s: float) -> None:
        while True:
            await asyncio.sleep(period_s)
            try:
                self.check_heartbeats()
            except Exception:
                log.exception("heartbeat check failed")

    # ---- jobs ---------------------------------------------------------------

    def connect_job(self, job_id: str, owner: SlotOwner) -> None:
        self._owners[job_id] = owner

    def disconnect_job(self, job_id: str) -> None:
        self._owners.pop(job_id, None)

    async def allocate_slots(self, job_id: str, n: int, job_master_address: str,
                             timeout_ms: int | None = None) -> list[SlotAssignment]:
        """``n`` slots for ``job_id`` (result[i] is slot i), waiting up to ``timeout_ms`` for them.

        A slot whose TaskManager is lost while it is requested is replaced by another free slot (waited
        for within the same timeout); any other failed request fails the whole allocation.
        """
        if n <= 0:
            return []
        timeout_ms = self.slot_request_timeout_ms if timeout_ms is None else timeout_ms
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_ms / 1000
        granted: list[SlotAssignment] = []
        held: list[str] = []   # every allocation id reserved by this call: given back if it fails
        try:
            while True:
                try:
                    reserved = await self._reserve(job_id, n - len(granted), deadline - loop.time())
                except TimeoutError:
                    raise NotEnoughSlotsError(
                        f"job needs {n} slots but only {self._registry.free_slots() + len(granted)} are "
                        f"available ({len(self._registry)} TaskManagers registered) after waiting "
                        f"{format_duration_ms(timeout_ms)}") from None
                held += [aid for _, _, aid in reserved]
                calls = [self._request_slot(job_id, rid, index, aid, job_master_address)
                         for rid, index, aid in reserved]
                results = await asyncio.gather(*calls, return_exceptions=True)
                granted += [r for r in results if isinstance(r, SlotAssignment)]
                failures = [r for r in results if isinstance(r, BaseException)]
                if not failures:
                    return granted
                if after_failed_requests(failures, deadline - loop.time()) is SlotRequestStep.FAIL:
                    raise error_to_report(failures)
                log.info("%d of the %d slots requested for job %s were on lost TaskManagers: matching them "
                         "again on the %d remaining TaskManagers", len(failures), len(reserved), job_id,
                         len(self._registry))
        except asyncio.CancelledError:
            self._spawn(self.release_slots(job_id, held, "slot request cancelled"))
            raise
        except Exception:
            await self.release_slots(job_id, held, "slot request of the job failed")
            raise

    async def release_slots(self, job_id: str, allocation_ids: Iterable[str], cause: str) -> None:
        """Free the job's slots on their TaskManagers, then offer them to waiting requests."""
        await asyncio.gather(*(self._free_slot(job_id, a, cause) for a in set(allocation_ids)))
        self._try_fulfil_pending()

    def job_allocations(self, job_id: str) -> list[str]:
        return [a.allocation_id for r in self._registry.all() for a in r.allocations.values()
                if a.job_id == job_id]

    # ---- views --------------------------------------------------------------

    @property
    def num_task_managers(self) -> int:
        return len(self._registry)

    def total_slots(self) -> int:
        return self._registry.total_slots()

    def free_slots(self) -> int:
        return self._registry.free_slots()

    def task_managers(self) -> list[TaskManagerInfo]:
        return self._registry.infos()

    # ---- internals ----------------------------------------------------------

    def _try_fulfil_pending(self) -> None:
        for request in list(self._pending):
            if request.future.done():
                self._pending.remove(request)
                continue
            refs = match_slots(self._registry.matching_view(), request.n, self._strategy)
            if refs is None:
                continue
            reserved = []
            for ref in refs:
                allocation = SlotAllocation(new_allocation_id(), request.job_id)
                registration = self._registry.get(ref.resource_id)
                assert registration is not None
                registration.allocations[ref.slot_index] = allocation
                reserved.append((ref.resource_id, ref.slot_index, allocation.allocation_id))
            self._pending.remove(request)
            request.future.set_result(reserved)

    async def _reserve(self, job_id: str, n: int, timeout_s: float) -> list[tuple[str, int, str]]:
        """Take ``n`` free slots for ``job_id`` (waiting up to ``timeout_s``): (resource id, index, allocation id)."""
        request = _PendingRequest(job_id, n, asyncio.get_running_loop().create_future())
        self._pending.append(request)
        self._try_fulfil_pending()
        try:
            return await asyncio.wait_for(asyncio.shield(request.future), max(timeout_s, 0))
        except (TimeoutError, asyncio.CancelledError):
            self._abandon(request)
            raise
        finally:
            if request in self._pending:
                self._pending.remove(request)

    def _abandon(self, request: _PendingRequest) -> None:
        """A waiting request gave up: undo its reservation if it had one."""
        if request.future.done() and not request.future.cancelled() and request.future.exception() is None:
            for resource_id, index, allocation_id in request.future.result():
                self._drop_allocation(resource_id, index, allocation_id)
            self._try_fulfil_pending()
        else:
            request.future.cancel()

    async def _request_slot(self, job_id: str, resource_id: str, index: int, allocation_id: str,
                            job_master_address: str) -> SlotAssignment:
        registration = self._registry.get(resource_id)
        if registration is None:
            raise TaskManagerLostError(f"TaskManager {resource_id} disappeared before its slot {index} was requested")
        address = registration.rpc_address
        gateway = self._task_executors(address)
        try:
            data_address = await gateway.request_slot_async(index, allocation_id, job_id, job_master_address,
                                                            self._session())
        except StromError as e:
            self.task_manager_call_failed(resource_id, address, "RequestSlot", e)
            if self._allocation(resource_id, index, allocation_id) is None:
                raise TaskManagerLostError(f"TaskManager {resource_id} at {address} was lost while its slot "
                                           f"{index} was being requested: {e}") from None
            raise type(e)(f"TaskManager {resource_id} at {address} could not provide slot {index}: {e}") from None
        allocation = self._allocation(resource_id, index, allocation_id)
        if allocation is None:
            raise TaskManagerLostError(f"TaskManager {resource_id} at {address} was lost while its slot {index} "
                                       "was being requested")
        allocation.data_address = data_address
        allocation.pending = False
        log.info("Allocated slot %d of TaskManager %s (allocation %s, data %s) to job %s", index, resource_id,
                 allocation_id, data_address, job_id)
        return SlotAssignment(allocation_id, resource_id, address, index, data_address)

    async def _free_slot(self, job_id: str, allocation_id: str, cause: str) -> None:
        found = self._registry.find_allocation(allocation_id)
        if found is None:
            return
        registration, index = found
        owner = registration.allocations[index].job_id
        if owner != job_id:
            log.warning("job %s cannot free allocation %s: it belongs to job %s", job_id, allocation_id, owner)
            return
        try:
            await self._task_executors(registration.rpc_address).free_slot_async(allocation_id, cause,
                                                                                  self._session())
        except (StromError, OSError) as e:
            log.warning("could not free slot %d of %s (allocation %s): %s", index, registration.describe(),
                        allocation_id, e)
            self._drop_allocation(registration.resource_id, index, allocation_id)
            self.task_manager_call_failed(registration.resource_id, registration.rpc_address, "FreeSlot", e)
            return
        self._drop_allocation(registration.resource_id, index, allocation_id)

    def _allocation(self, resource_id: str, index: int, allocation_id: str) -> SlotAllocation | None:
        """The allocation ``allocation_id`` in slot ``index`` of the TaskManager, if it still exists."""
        registration = self._registry.get(resource_id)
        allocation = registration.allocations.get(index) if registration else None
        return allocation if allocation is not None and allocation.allocation_id == allocation_id else None

    def _drop_allocation(self, resource_id: str, index: int, allocation_id: str) -> None:
        registration = self._registry.get(resource_id)
        if registration is not None:
            allocation = registration.allocations.get(index)
            if allocation is not None and allocation.allocation_id == allocation_id:
                del registration.allocations[index]

    def _notify_lost(self, registration: TaskExecutorRegistration, lost: dict[int, SlotAllocation],
                     message: str) -> None:
        by_job: dict[str, set[str]] = {}
        for allocation in lost.values():
            by_job.setdefault(allocation.job_id, set()).add(allocation.allocation_id)
        for job_id, allocation_ids in by_job.items():
            owner = self._owners.get(job_id)
            if owner is not None:
                owner.notify_slots_lost(allocation_ids, TaskManagerLostError(message))

    def _free_unknown(self, registration: TaskExecutorRegistration, slot_report: Iterable[SlotStatus]) -> None:
        """Slots the TaskManager holds for allocations nobody here knows: free them (like Flink)."""
        known = self._registry.known_allocation_ids()
        for status in slot_report:
            if status.allocation_id and status.allocation_id not in known:
                log.info("%s holds unknown allocation %s in slot %d: freeing it", registration.describe(),
                         status.allocation_id, status.slot_index)
                gateway = self._task_executors(registration.rpc_address)
                self._spawn(self._quietly(gateway.free_slot_async(status.allocation_id, "unknown allocation",
                                                                  self._session())))

    async def _quietly(self, call: Coroutine[Any, Any, None]) -> None:
        try:
            await call
        except Exception as e:
            log.debug("background call failed: %s", e)

    def _spawn(self, call: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(call)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
