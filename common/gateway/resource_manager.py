"""Client-side gateway to the JobManager's ``ResourceManagerService``.

Used by the TaskManager daemon: register once, then heartbeat every
``heartbeat_interval_ms`` with a slot report. ``heartbeat`` returning False
means the ResourceManager no longer knows this TaskManager (it timed out, or
a new leader took over): register again.

    gateway = ResourceManagerGateway("127.0.0.1:6123")
    registration = gateway.register_task_executor("tm-1", "127.0.0.1:40123", num_slots=2,
                                                  slot_report=[SlotStatus(0), SlotStatus(1)])
    while gateway.heartbeat("tm-1", [SlotStatus(0), SlotStatus(1)]):
        time.sleep(registration.heartbeat_interval_ms / 1000)

A protocol version mismatch raises ``ProtocolVersionError`` naming both versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from strom.common.gateway.base import FencedGatewayBase
from strom.common.rpc import common_pb2, resource_manager_pb2, resource_manager_pb2_grpc
from strom.common.version import PROTOCOL_VERSION


@dataclass(frozen=True)
class SlotStatus:
    """One slot as its TaskManager sees it; empty allocation_id/job_id: free."""

    slot_index: int
    allocation_id: str = ""
    job_id: str = ""


@dataclass(frozen=True)
class Registration:
    registration_id: str
    heartbeat_interval_ms: int
    heartbeat_timeout_ms: int


SlotReportLike = common_pb2.SlotReport | Iterable[SlotStatus]


def slot_report_proto(report: SlotReportLike) -> common_pb2.SlotReport:
    if isinstance(report, common_pb2.SlotReport):
        return report
    return common_pb2.SlotReport(slots=[
        common_pb2.SlotStatus(slot_index=s.slot_index, allocation_id=s.allocation_id, job_id=s.job_id)
        for s in report])


class ResourceManagerGateway(FencedGatewayBase):
    """Registration and heartbeats of one TaskManager with the ResourceManager at ``address``."""

    stub_class = resource_manager_pb2_grpc.ResourceManagerServiceStub

    # ---- blocking ---------------------------------------------------------

    def register_task_executor(self, resource_id: str, rpc_address: str, num_slots: int,
                               slot_report: SlotReportLike = (), hostname: str = "",
                               memory_bytes: int = 0, cpu_cores: int = 0,
                               protocol_version: int = PROTOCOL_VERSION) -> Registration:
        response = self._fenced("RegisterTaskExecutor", lambda f: _register_request(
            f, resource_id, rpc_address, num_slots, slot_report, hostname, memory_bytes, cpu_cores,
            protocol_version))
        return _registration(response)

    def heartbeat(self, resource_id: str, slot_report: SlotReportLike = ()) -> bool:
        """True while the ResourceManager knows this TaskManager; False: register again."""
        response = self._fenced("Heartbeat", lambda f: resource_manager_pb2.TaskExecutorHeartbeat(
            fencing=f, resource_id=resource_id, slot_report=slot_report_proto(slot_report)))
        return bool(response.registered)

    # ---- asyncio ----------------------------------------------------------

    async def register_task_executor_async(self, resource_id: str, rpc_address: str, num_slots: int,
                                           slot_report: SlotReportLike = (), hostname: str = "",
                                           memory_bytes: int = 0, cpu_cores: int = 0,
                                           protocol_version: int = PROTOCOL_VERSION) -> Registration:
        response = await self._fenced_async("RegisterTaskExecutor", lambda f: _register_request(
            f, resource_id, rpc_address, num_slots, slot_report, hostname, memory_bytes, cpu_cores,
            protocol_version))
        return _registration(response)

    async def heartbeat_async(self, resource_id: str, slot_report: SlotReportLike = ()) -> bool:
        response = await self._fenced_async("Heartbeat", lambda f: resource_manager_pb2.TaskExecutorHeartbeat(
            fencing=f, resource_id=resource_id, slot_report=slot_report_proto(slot_report)))
        return bool(response.registered)


def _register_request(f: common_pb2.Fencing, resource_id: str, rpc_address: str, num_slots: int,
                      slot_report: SlotReportLike, hostname: str, memory_bytes: int, cpu_cores: int,
                      protocol_version: int) -> resource_manager_pb2.RegisterTaskExecutorRequest:
    return resource_manager_pb2.RegisterTaskExecutorRequest(
        fencing=f, resource_id=resource_id, rpc_address=rpc_address, protocol_version=protocol_version,
        num_slots=num_slots, slot_report=slot_report_proto(slot_report), hostname=hostname,
        memory_bytes=memory_bytes, cpu_cores=cpu_cores)


def _registration(response: resource_manager_pb2.RegisterTaskExecutorResponse) -> Registration:
    return Registration(response.registration_id, response.heartbeat_interval_ms, response.heartbeat_timeout_ms)
