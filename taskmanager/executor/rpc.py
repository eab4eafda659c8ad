"""Thin gRPC servicer of ``TaskExecutorService``: decode, delegate to the TaskExecutor, encode.

Runs on the TaskManager's asyncio loop (a ``grpc.aio`` server), so the
TaskExecutor's state is only touched from that loop. Errors become gRPC
statuses: slot conflicts and unknown allocations -> FAILED_PRECONDITION (with
a message that says what happened), stale leader sessions ->
FAILED_PRECONDITION naming the sessions, anything else per
``errors.status_of``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import TypeVar

import grpc
import grpc.aio

from strom.common.errors import StromError, status_of
from strom.common.rpc import common_pb2, task_executor_pb2, task_executor_pb2_grpc
from strom.taskmanager.executor.slot_table import SlotAllocationError
from strom.taskmanager.executor.task_executor import TaskExecutor, UnknownAllocationError

log = logging.getLogger(__name__)

T = TypeVar("T")


def _status_code(error: StromError) -> grpc.StatusCode:
    if isinstance(error, SlotAllocationError | UnknownAllocationError):
        return grpc.StatusCode.FAILED_PRECONDITION
    return grpc.StatusCode[status_of(error)[0]]


async def _delegate(call: Awaitable[T], context: grpc.aio.ServicerContext, what: str) -> T:
    try:
        return await call
    except StromError as e:
        log.info("%s refused: %s", what, e)
        await context.abort(_status_code(e), str(e))
    except Exception as e:
        log.exception("%s failed", what)
        await context.abort(grpc.StatusCode.INTERNAL, f"{what} failed on the TaskManager: {type(e).__name__}: {e}")
    raise AssertionError("unreachable: context.abort raises")


class TaskExecutorServicer(task_executor_pb2_grpc.TaskExecutorServiceServicer):
    def __init__(self, executor: TaskExecutor) -> None:
        self._executor = executor

    async def RequestSlot(self, request: task_executor_pb2.RequestSlotRequest,
                          context: grpc.aio.ServicerContext) -> task_executor_pb2.RequestSlotResponse:
        data_address = await _delegate(self._executor.request_slot(
            request.slot_index, request.allocation_id, request.job_id, request.job_master_address,
            request.fencing.leader_session_id), context, f"RequestSlot of slot {request.slot_index}")
        return task_executor_pb2.RequestSlotResponse(data_address=data_address)

    async def SubmitTask(self, request: task_executor_pb2.SubmitTaskRequest,
                         context: grpc.aio.ServicerContext) -> common_pb2.Empty:
        await _delegate(self._executor.submit_task(request.tdd, request.fencing.leader_session_id), context,
                        f"SubmitTask of {request.tdd.vertex_name} ({request.tdd.subtask_index})")
        return common_pb2.Empty()

    async def CancelTask(self, request: task_executor_pb2.CancelTaskRequest,
                         context: grpc.aio.ServicerContext) -> common_pb2.Empty:
        await _delegate(self._executor.cancel_task(request.execution_id, request.fencing.leader_session_id),
                        context, f"CancelTask of {request.execution_id}")
        return common_pb2.Empty()

    async def FreeSlot(self, request: task_executor_pb2.FreeSlotRequest,
                       context: grpc.aio.ServicerContext) -> common_pb2.Empty:
        await _delegate(self._executor.free_slot(request.allocation_id, request.cause,
                                                 request.fencing.leader_session_id),
                        context, f"FreeSlot of allocation {request.allocation_id}")
        return common_pb2.Empty()
