"""Client-side gateway to one TaskManager's ``TaskExecutorService``.

Used by the JobManager (ResourceManager for ``request_slot``/``free_slot``,
JobMaster for ``submit_task``/``cancel_task``). Every call carries the
caller's leader session id as fencing token: the TaskManager rejects a
RequestSlot whose session is not the one of the leader it registered with,
and the later calls whose session is not the one of the slot's RequestSlot.
gRPC errors come back as ``StromError`` subclasses; an unreachable
TaskManager raises ``ClusterUnreachableError`` naming its address (retried
only briefly: a dead TaskManager should be noticed fast).

Contract of the calls (all idempotent):

- ``request_slot`` again for an allocation the TaskManager already holds
  returns the data address of the slot's worker; if that worker died, a new
  one is started and its (new) address returned.
- ``submit_task`` for an allocation the TaskManager does not hold (freed, or
  its worker died) fails with a message saying so.
- ``cancel_task`` of an unknown attempt and ``free_slot`` of an unknown
  allocation succeed (nothing to do).

Each call exists blocking (``request_slot``) and ``async``
(``request_slot_async``, on a ``grpc.aio`` channel bound to the loop that
first used it).

    gateway = TaskExecutorGateway("127.0.0.1:40123")
    data_address = gateway.request_slot(0, allocation_id, job_id, "127.0.0.1:6123", session_id)
    gateway.close()
"""

from __future__ import annotations

from typing import Any

from strom.common.gateway.base import GatewayBase, fencing
from strom.common.rpc import common_pb2, task_executor_pb2, task_executor_pb2_grpc

# Forking a slot worker and starting its Flight server takes well under a
# second; the generous deadline covers a loaded machine.
REQUEST_SLOT_TIMEOUT_S = 60.0
TASK_EXECUTOR_RETRY_DEADLINE_S = 2.0


class TaskExecutorGateway(GatewayBase):
    """Talks to the TaskExecutorService at ``address`` (host:port of the TaskManager's RPC server).

    Thread/loop ownership: the blocking channel may be used from any thread;
    the aio channel belongs to the loop that first used it.
    """

    peer_name = "TaskManager"
    stub_class = task_executor_pb2_grpc.TaskExecutorServiceStub

    def __init__(self, address: str, **kwargs: Any) -> None:
        kwargs.setdefault("retry_deadline_s", TASK_EXECUTOR_RETRY_DEADLINE_S)
        super().__init__(address, **kwargs)

    # ---- blocking ---------------------------------------------------------

    def request_slot(self, slot_index: int, allocation_id: str, job_id: str, job_master_address: str,
                     session_id: str) -> str:
        """Ask for slot ``slot_index`` for ``job_id``; returns the slot worker's data (Flight) address."""
        response = self._call("RequestSlot", _request_slot(
            slot_index, allocation_id, job_id, job_master_address, session_id), timeout_s=REQUEST_SLOT_TIMEOUT_S)
        return str(response.data_address)

    def submit_task(self, tdd: common_pb2.TaskDeploymentDescriptor, session_id: str) -> None:
        """Deploy one subtask into the slot of ``tdd.allocation_id``."""
        self._call("SubmitTask", task_executor_pb2.SubmitTaskRequest(fencing=fencing(session_id), tdd=tdd))

    def cancel_task(self, execution_id: str, session_id: str) -> None:
        """Cancel the execution attempt ``execution_id`` (text form of ExecutionAttemptId)."""
        self._call("CancelTask", task_executor_pb2.CancelTaskRequest(
            fencing=fencing(session_id), execution_id=execution_id))

    def free_slot(self, allocation_id: str, cause: str, session_id: str) -> None:
        """Release the slot of ``allocation_id``: its worker's tasks are canceled and the worker stopped."""
        self._call("FreeSlot", task_executor_pb2.FreeSlotRequest(
            fencing=fencing(session_id), allocation_id=allocation_id, cause=cause))

    # ---- asyncio ----------------------------------------------------------

    async def request_slot_async(self, slot_index: int, allocation_id: str, job_id: str,
                                 job_master_address: str, session_id: str) -> str:
        response = await self._call_async("RequestSlot", _request_slot(
            slot_index, allocation_id, job_id, job_master_address, session_id), timeout_s=REQUEST_SLOT_TIMEOUT_S)
        return str(response.data_address)

    async def submit_task_async(self, tdd: common_pb2.TaskDeploymentDescriptor, session_id: str) -> None:
        await self._call_async("SubmitTask", task_executor_pb2.SubmitTaskRequest(
            fencing=fencing(session_id), tdd=tdd))

    async def cancel_task_async(self, execution_id: str, session_id: str) -> None:
        await self._call_async("CancelTask", task_executor_pb2.CancelTaskRequest(
            fencing=fencing(session_id), execution_id=execution_id))

    async def free_slot_async(self, allocation_id: str, cause: str, session_id: str) -> None:
        await self._call_async("FreeSlot", task_executor_pb2.FreeSlotRequest(
            fencing=fencing(session_id), allocation_id=allocation_id, cause=cause))


def _request_slot(slot_index: int, allocation_id: str, job_id: str, job_master_address: str,
                  session_id: str) -> task_executor_pb2.RequestSlotRequest:
    return task_executor_pb2.RequestSlotRequest(
        fencing=fencing(session_id), slot_index=slot_index, allocation_id=allocation_id, job_id=job_id,
        job_master_address=job_master_address)
