"""``FakeResourceManager``: a JobManager stand-in for TaskManager tests.

A ``grpc.aio`` server on 127.0.0.1 serving ``ResourceManagerService`` and
``JobMasterService`` on its own thread and loop, recording what TaskManagers
tell it. Tests drive it from their own thread:

    with FakeResourceManager(heartbeat_interval_ms=200, heartbeat_timeout_ms=2000) as rm:
        ... start a TaskManager against rm.address ...
        reg = rm.wait_for(lambda: rm.registrations, timeout_s=10)[0]
        rm.forget(reg.resource_id)      # next heartbeat answers registered=false
        rm.stop(); rm.start()           # goes away, comes back on the same port
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import grpc.aio

from strom.common.ids import NO_LEADER_SESSION
from strom.common.rpc import (
    common_pb2,
    job_master_pb2,
    job_master_pb2_grpc,
    resource_manager_pb2,
    resource_manager_pb2_grpc,
)

T = TypeVar("T")


@dataclass(frozen=True)
class FakeRegistration:
    resource_id: str
    rpc_address: str
    protocol_version: int
    num_slots: int
    hostname: str
    memory_bytes: int
    cpu_cores: int
    session_id: str
    at: float


@dataclass(frozen=True)
class FakeHeartbeat:
    resource_id: str
    slots: tuple[tuple[int, str, str], ...]    # (slot index, allocation id, job id)
    answered_registered: bool
    at: float


@dataclass(frozen=True)
class FakeTaskUpdate:
    job_id: str
    execution_id: str
    state: str
    error: str
    error_name: str
    resource_id: str
    session_id: str


class _ResourceManager(resource_manager_pb2_grpc.ResourceManagerServiceServicer):
    def __init__(self, fake: FakeResourceManager) -> None:
        self.fake = fake

    async def RegisterTaskExecutor(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        fake = self.fake
        if request.protocol_version != fake.protocol_version:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION,
                                f"TaskManager {request.resource_id} speaks protocol version "
                                f"{request.protocol_version}, this JobManager speaks protocol version "
                                f"{fake.protocol_version}; run the same Strom version on both")
        with fake.lock:
            fake.registrations.append(FakeRegistration(
                request.resource_id, request.rpc_address, request.protocol_version, request.num_slots,
                request.hostname, request.memory_bytes, request.cpu_cores, request.fencing.leader_session_id,
                time.monotonic()))
            fake.known.add(request.resource_id)
        return resource_manager_pb2.RegisterTaskExecutorResponse(
            registration_id=f"reg-{len(fake.registrations)}", heartbeat_interval_ms=fake.heartbeat_interval_ms,
            heartbeat_timeout_ms=fake.heartbeat_timeout_ms)

    async def Heartbeat(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        fake = self.fake
        with fake.lock:
            registered = request.resource_id in fake.known
            fake.heartbeats.append(FakeHeartbeat(
                request.resource_id,
                tuple((s.slot_index, s.allocation_id, s.job_id) for s in request.slot_report.slots),
                registered, time.monotonic()))
        return resource_manager_pb2.HeartbeatResponse(registered=registered)


class _JobMaster(job_master_pb2_grpc.JobMasterServiceServicer):
    def __init__(self, fake: FakeResourceManager) -> None:
        self.fake = fake

    async def UpdateTaskExecutionState(self, request: job_master_pb2.TaskExecutionStateUpdate,
                                       context: grpc.aio.ServicerContext) -> common_pb2.Empty:
        with self.fake.lock:
            self.fake.task_updates.append(FakeTaskUpdate(
                request.job_id, request.execution_id, request.state, request.error, request.error_name,
                request.resource_id, request.fencing.leader_session_id))
        return common_pb2.Empty()


class FakeResourceManager:
    """ResourceManager + JobMaster double. Its server runs on a private thread and loop."""

    def __init__(self, heartbeat_interval_ms: int = 200, heartbeat_timeout_ms: int = 2000,
                 protocol_version: int = 1, session_id: str = NO_LEADER_SESSION) -> None:
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.heartbeat_timeout_ms = heartbeat_timeout_ms
        self.protocol_version = protocol_version
        self.session_id = session_id
        self.lock = threading.RLock()
        self.registrations: list[FakeRegistration] = []
        self.heartbeats: list[FakeHeartbeat] = []
        self.task_updates: list[FakeTaskUpdate] = []
        self.known: set[str] = set()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-rm", daemon=True)
        self._thread.start()
        self._server: grpc.aio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeResourceManager:
        """Serve (again) on ``self.port`` (a free port the first time)."""
        self._run(self._start())
        return self

    def stop(self) -> None:
        """Go away: the server stops answering; what it knew is forgotten."""
        if self._server is not None:
            self._run(self._server.stop(0))
            self._server = None
        with self.lock:
            self.known.clear()

    def forget(self, resource_id: str) -> None:
        """Next heartbeats of ``resource_id`` answer registered=false."""
        with self.lock:
            self.known.discard(resource_id)

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def __enter__(self) -> FakeResourceManager:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def snapshot(self) -> tuple[list[FakeRegistration], list[FakeHeartbeat], list[FakeTaskUpdate]]:
        with self.lock:
            return list(self.registrations), list(self.heartbeats), list(self.task_updates)

    def updates_of(self, execution_id: str) -> list[str]:
        with self.lock:
            return [u.state for u in self.task_updates if u.execution_id == execution_id]

    def wait_for(self, condition: Callable[[], T], timeout_s: float = 15.0, what: str = "condition") -> T:
        """Poll ``condition`` until it returns something truthy; fail after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.lock:
                value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
            time.sleep(0.02)

    async def _start(self) -> None:
        server = grpc.aio.server()
        resource_manager_pb2_grpc.add_ResourceManagerServiceServicer_to_server(_ResourceManager(self), server)
        job_master_pb2_grpc.add_JobMasterServiceServicer_to_server(_JobMaster(self), server)
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        await server.start()
        self._server = server

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)
