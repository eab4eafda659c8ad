"""JobMasterService: decode a task state update, check the fencing token, route it to the job's JobMaster."""

from __future__ import annotations

import grpc.aio

from strom.common.ids import ExecutionAttemptId
from strom.common.rpc import common_pb2, job_master_pb2, job_master_pb2_grpc
from strom.common.states import ExecutionState
from strom.jobmanager.dispatcher import Dispatcher
from strom.jobmanager.jobmaster import TaskExecutionState
from strom.jobmanager.leadership import Leadership
from strom.jobmanager.rpc.errors import InvalidArgument, rpc_method


def decode_update(request: job_master_pb2.TaskExecutionStateUpdate) -> TaskExecutionState:
    try:
        execution_id = ExecutionAttemptId.parse(request.execution_id)
    except ValueError:
        raise InvalidArgument(f"malformed execution id {request.execution_id!r} "
                              "(expected job:vertex:subtask:attempt)") from None
    try:
        state = ExecutionState(request.state)
    except ValueError:
        raise InvalidArgument(f"unknown execution state {request.state!r}") from None
    return TaskExecutionState(execution_id, state, request.error, request.error_name, request.resource_id)


class JobMasterServicer(job_master_pb2_grpc.JobMasterServiceServicer):
    def __init__(self, dispatcher: Dispatcher, leadership: Leadership) -> None:
        self._dispatcher = dispatcher
        self._leadership = leadership

    @rpc_method
    async def UpdateTaskExecutionState(self, request: job_master_pb2.TaskExecutionStateUpdate,
                                       context: grpc.aio.ServicerContext) -> common_pb2.Empty:
        self._leadership.check_fencing(request.fencing.leader_session_id)
        update = decode_update(request)
        job_id = request.job_id or update.execution_id.job
        self._dispatcher.job_master(job_id).update_task_execution_state(update)
        return common_pb2.Empty()
