"""ResourceManagerService: decode, check version and fencing token, delegate to the ResourceManager."""

from __future__ import annotations

import grpc.aio

from strom.common.gateway.resource_manager import SlotStatus
from strom.common.rpc import common_pb2, resource_manager_pb2, resource_manager_pb2_grpc
from strom.jobmanager.leadership import Leadership
from strom.jobmanager.resourcemanager import ResourceManager, TaskExecutorRegistrationRequest
from strom.jobmanager.rpc.errors import rpc_method


def _slots(report: common_pb2.SlotReport) -> tuple[SlotStatus, ...]:
    return tuple(SlotStatus(s.slot_index, s.allocation_id, s.job_id) for s in report.slots)


class ResourceManagerServicer(resource_manager_pb2_grpc.ResourceManagerServiceServicer):
    def __init__(self, resource_manager: ResourceManager, leadership: Leadership) -> None:
        self._resource_manager = resource_manager
        self._leadership = leadership

    @rpc_method
    async def RegisterTaskExecutor(self, request: resource_manager_pb2.RegisterTaskExecutorRequest,
                                   context: grpc.aio.ServicerContext
                                   ) -> resource_manager_pb2.RegisterTaskExecutorResponse:
        registration_request = TaskExecutorRegistrationRequest(
            request.resource_id, request.rpc_address, request.num_slots, request.protocol_version,
            _slots(request.slot_report), request.hostname, request.memory_bytes, request.cpu_cores)
        # The version first: a TaskManager of another version may not even fence like this one.
        self._resource_manager.check_protocol_version(registration_request)
        self._leadership.check_fencing(request.fencing.leader_session_id)
        registration = self._resource_manager.register_task_executor(registration_request)
        return resource_manager_pb2.RegisterTaskExecutorResponse(
            registration_id=registration.registration_id,
            heartbeat_interval_ms=registration.heartbeat_interval_ms,
            heartbeat_timeout_ms=registration.heartbeat_timeout_ms)

    @rpc_method
    async def Heartbeat(self, request: resource_manager_pb2.TaskExecutorHeartbeat,
                        context: grpc.aio.ServicerContext) -> resource_manager_pb2.HeartbeatResponse:
        self._leadership.check_fencing(request.fencing.leader_session_id)
        registered = self._resource_manager.heartbeat(request.resource_id, _slots(request.slot_report))
        return resource_manager_pb2.HeartbeatResponse(registered=registered)
