"""Client-side gateway to the JobManager's ``JobMasterService``.

Used by the TaskManager daemon to forward its tasks' state changes. The
JobMaster ignores updates for attempts it no longer runs; an unknown job
raises ``JobNotFoundError`` (the job ended: the TaskManager can drop the task).

    gateway = JobMasterGateway("127.0.0.1:6123", session_id)
    gateway.update_task_execution_state(job_id, execution_id, "RUNNING", resource_id="tm-1")
"""

from __future__ import annotations

from strom.common.gateway.base import FencedGatewayBase
from strom.common.rpc import common_pb2, job_master_pb2, job_master_pb2_grpc


class JobMasterGateway(FencedGatewayBase):
    """Reports task execution states to the JobMasters at ``address`` (the JobManager's RPC address)."""

    stub_class = job_master_pb2_grpc.JobMasterServiceStub

    def update_task_execution_state(self, job_id: str, execution_id: str, state: str, error: str = "",
                                    error_name: str = "", resource_id: str = "") -> None:
        """``state`` is an ExecutionState name; ``error`` the traceback text when FAILED."""
        self._fenced("UpdateTaskExecutionState", lambda f: _update(
            f, job_id, execution_id, state, error, error_name, resource_id))

    async def update_task_execution_state_async(self, job_id: str, execution_id: str, state: str,
                                                error: str = "", error_name: str = "",
                                                resource_id: str = "") -> None:
        await self._fenced_async("UpdateTaskExecutionState", lambda f: _update(
            f, job_id, execution_id, state, error, error_name, resource_id))


def _update(f: common_pb2.Fencing, job_id: str, execution_id: str, state: str, error: str, error_name: str,
            resource_id: str) -> job_master_pb2.TaskExecutionStateUpdate:
    return job_master_pb2.TaskExecutionStateUpdate(
        fencing=f, job_id=job_id, execution_id=execution_id, state=state, error=error, error_name=error_name,
        resource_id=resource_id)
