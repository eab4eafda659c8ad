"""run_jobmanager in-process on port 0, spoken to over real gRPC and HTTP by fake TaskManagers and clients."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc.aio
import pytest

from strom.common.config import Configuration
from strom.common.errors import (
    FencingTokenError,
    JobNotFoundError,
    JobSubmissionError,
    ProtocolVersionError,
    StromError,
)
from strom.common.gateway import DispatcherGateway, JobMasterGateway, ResourceManagerGateway, SlotStatus
from strom.common.gateway.base import fencing
from strom.common.ids import ExecutionAttemptId
from strom.common.jobgraph import JobGraph
from strom.common.rpc import common_pb2, dispatcher_pb2_grpc, task_executor_pb2, task_executor_pb2_grpc
from strom.common.version import PROTOCOL_VERSION
from strom.jobmanager.entrypoint import run_jobmanager
from tests.unit.jobmanager.fakes import make_job_graph, run, until

pytestmark = pytest.mark.timeout(60)


class FakeTaskExecutorService(task_executor_pb2_grpc.TaskExecutorServiceServicer):
    """A TaskManager's RPC surface: grants slots, and 'runs' each task by reporting RUNNING then FINISHED."""

    def __init__(self, resource_id: str, job_master: Callable[[], JobMasterGateway]) -> None:
        self.resource_id = resource_id
        self._job_master = job_master
        self.tasks: list[common_pb2.TaskDeploymentDescriptor] = []
        self.freed: list[str] = []
        self._reports: set[asyncio.Task[None]] = set()

    async def RequestSlot(self, request: task_executor_pb2.RequestSlotRequest,
                          context: grpc.aio.ServicerContext) -> task_executor_pb2.RequestSlotResponse:
        return task_executor_pb2.RequestSlotResponse(data_address=f"127.0.0.1:{7000 + request.slot_index}")

    async def SubmitTask(self, request: task_executor_pb2.SubmitTaskRequest,
                         context: grpc.aio.ServicerContext) -> common_pb2.Empty:
        self.tasks.append(request.tdd)
        task = asyncio.get_running_loop().create_task(self._run(request.tdd))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)
        return common_pb2.Empty()

    async def _run(self, tdd: common_pb2.TaskDeploymentDescriptor) -> None:
        eid = str(ExecutionAttemptId(tdd.job_id, tdd.vertex_id, tdd.subtask_index, tdd.attempt))
        for state in ("RUNNING", "FINISHED"):
            await self._job_master().update_task_execution_state_async(tdd.job_id, eid, state,
                                                                       resource_id=self.resource_id)

    async def CancelTask(self, request: task_executor_pb2.CancelTaskRequest,
                         context: grpc.aio.ServicerContext) -> common_pb2.Empty:
        return common_pb2.Empty()

    async def FreeSlot(self, request: task_executor_pb2.FreeSlotRequest,
                       context: grpc.aio.ServicerContext) -> common_pb2.Empty:
        self.freed.append(request.allocation_id)
        return common_pb2.Empty()


def jobmanager_scenario(tmp_path: Path, body: Callable[[dict[str, object]], Awaitable[None]],
                        **config: str) -> None:
    ports_file = tmp_path / "jm-ports.json"

    async def scenario() -> None:
        stop = asyncio.Event()
        conf = Configuration({"jobmanager.rpc.port": "0", "rest.port": "0", "jobmanager.ports-file": str(ports_file),
                              "heartbeat.interval": "100 ms", "heartbeat.timeout": "2 s",
                              "slot.request.timeout": "5 s", **config})
        jobmanager = asyncio.ensure_future(run_jobmanager(conf, stop))
        try:
            await until(lambda: ports_file.exists() or jobmanager.done(), timeout_s=10)
            ports = json.loads(ports_file.read_text())
            assert ports["pid"] == os.getpid()
            await body(ports)
        finally:
            stop.set()
            await jobmanager
        assert not ports_file.exists()

    run(scenario(), timeout_s=40)


async def http_get(port: int, path: str) -> tuple[int, object]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_taskmanager_registers_and_heartbeats_over_grpc(tmp_path: Path) -> None:
    async def body(ports: dict[str, object]) -> None:
        address = f"127.0.0.1:{ports['rpc_port']}"
        rm = ResourceManagerGateway(address)
        dispatcher = DispatcherGateway(address)
        try:
            registration = await rm.register_task_executor_async(
                "tm-1", "127.0.0.1:1", 2, [SlotStatus(0), SlotStatus(1)], "host", 1 << 30, 2)
            assert (registration.heartbeat_interval_ms, registration.heartbeat_timeout_ms) == (100, 500)
            assert await rm.heartbeat_async("tm-1", [SlotStatus(0), SlotStatus(1)])
            assert not await rm.heartbeat_async("tm-unknown")
            with pytest.raises(ProtocolVersionError, match="protocol version") as info:
                await rm.register_task_executor_async("tm-2", "127.0.0.1:2", 1, protocol_version=PROTOCOL_VERSION + 1)
            assert str(PROTOCOL_VERSION + 1) in str(info.value) and str(PROTOCOL_VERSION) in str(info.value)
            stale = ResourceManagerGateway(address, session_id="f" * 32)
            with pytest.raises(FencingTokenError, match="leader session"):
                await stale.heartbeat_async("tm-1")
            await stale.close_async()
            overview = await dispatcher.overview_async()
            assert (overview.taskmanagers, overview.slots_total, overview.slots_available) == (1, 2, 2)
            status, tms = await http_get(int(ports["rest_port"]), "/taskmanagers")  # type: ignore[arg-type]
            assert status == 200 and tms["taskmanagers"][0]["id"] == "tm-1"  # type: ignore[index]
            # silence: the ResourceManager drops the TaskManager after heartbeat.timeout
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while (await dispatcher.overview_async()).taskmanagers:
                assert loop.time() < deadline, "TaskManager not dropped after heartbeat timeout"
                await asyncio.sleep(0.1)
            assert not await rm.heartbeat_async("tm-1")
        finally:
            await rm.close_async()
            await dispatcher.close_async()

    jobmanager_scenario(tmp_path, body, **{"heartbeat.timeout": "500 ms"})


def test_job_runs_to_finished_over_grpc(tmp_path: Path) -> None:
    async def body(ports: dict[str, object]) -> None:
        address = f"127.0.0.1:{ports['rpc_port']}"
        service = FakeTaskExecutorService("tm-1", lambda: job_master)
        job_master = JobMasterGateway(address)
        server = grpc.aio.server()
        task_executor_pb2_grpc.add_TaskExecutorServiceServicer_to_server(service, server)
        tm_port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        dispatcher = DispatcherGateway(address)
        rm = ResourceManagerGateway(address)
        try:
            await rm.register_task_executor_async("tm-1", f"127.0.0.1:{tm_port}", 2)
            job_id = await dispatcher.submit_job_async(make_job_graph("f" * 32))
            assert job_id == "f" * 32
            details = await dispatcher.get_job_async(job_id)
            for _ in range(200):
                details = await dispatcher.get_job_async(job_id)
                if details.state == "FINISHED":
                    break
                await asyncio.sleep(0.02)
            assert details.state == "FINISHED", details
            assert sorted((t.vertex_id, t.subtask_index) for t in service.tasks) == [
                ("snk", 0), ("snk", 1), ("src", 0), ("src", 1)]
            await until(lambda: len(service.freed) == 2)
            assert [j.job_id for j in await dispatcher.list_jobs_async()] == [job_id]
            assert (await dispatcher.overview_async()).jobs_finished == 1
            status, job = await http_get(int(ports["rest_port"]), f"/jobs/{job_id}")  # type: ignore[arg-type]
            assert status == 200 and job["state"] == "FINISHED"  # type: ignore[index]
            with pytest.raises(JobSubmissionError, match="already submitted"):
                await dispatcher.submit_job_async(make_job_graph("f" * 32))
            with pytest.raises(JobNotFoundError):
                await dispatcher.get_job_async("0" * 32)
            with pytest.raises(JobNotFoundError):
                await dispatcher.cancel_job_async("0" * 32)
            with pytest.raises(JobSubmissionError, match="no operators"):
                await dispatcher.submit_job_async(JobGraph("e" * 32, "empty"))
            info = await dispatcher.leader_info_async()
            assert (info.rpc_address, info.protocol_version) == (address, PROTOCOL_VERSION)
        finally:
            for gateway in (dispatcher, rm, job_master):
                await gateway.close_async()
            await server.stop(None)

    jobmanager_scenario(tmp_path, body)


def test_updates_with_a_stale_session_or_for_unknown_jobs_are_rejected(tmp_path: Path) -> None:
    async def body(ports: dict[str, object]) -> None:
        address = f"127.0.0.1:{ports['rpc_port']}"
        stale = JobMasterGateway(address, session_id="1" * 32)
        current = JobMasterGateway(address)
        try:
            with pytest.raises(FencingTokenError, match="leader session"):
                await stale.update_task_execution_state_async("j", "j:v:0:0", "RUNNING")
            with pytest.raises(JobNotFoundError):
                await current.update_task_execution_state_async("j", "j:v:0:0", "RUNNING")
            with pytest.raises(StromError, match="malformed execution id"):
                await current.update_task_execution_state_async("j", "garbage", "RUNNING")
            channel = grpc.aio.insecure_channel(address)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await dispatcher_pb2_grpc.DispatcherServiceStub(channel).ListJobs(fencing(""))
            assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "leader session" in (info.value.details() or "")
            await channel.close()
        finally:
            await stale.close_async()
            await current.close_async()

    jobmanager_scenario(tmp_path, body)


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        conf = Configuration({"jobmanager.rpc.port": str(port), "rest.port": "0"})
        with pytest.raises(StromError) as info:
            run(run_jobmanager(conf, asyncio.Event()))
        assert str(info.value) == f"JobManager cannot bind 127.0.0.1:{port}: address already in use"
        conf = Configuration({"jobmanager.rpc.port": "0", "rest.port": str(port)})
        with pytest.raises(StromError, match=f"cannot bind REST 127.0.0.1:{port}: address already in use"):
            run(run_jobmanager(conf, asyncio.Event()))
