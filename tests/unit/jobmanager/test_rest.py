"""The REST API: Flink's JSON shapes, routing errors, and robustness against garbage (in-process, port 0)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from strom.common.config import Configuration
from strom.common.errors import JobNotFoundError
from strom.common.jobgraph import JobGraph
from strom.common.rpc import common_pb2, dispatcher_pb2
from strom.common.version import STROM_VERSION
from strom.jobmanager.resourcemanager.registry import SlotInfo, TaskManagerInfo
from strom.jobmanager.rest import RestApi, RestServer
from strom.jobmanager.rest.http import parse_request_line
from tests.unit.jobmanager.fakes import make_job_graph, run

pytestmark = pytest.mark.timeout(30)

JOB_ID = "a" * 32


def details(state: str = "RUNNING") -> common_pb2.JobDetails:
    return common_pb2.JobDetails(
        job_id=JOB_ID, name="test job", state=state, start_time=1000, end_time=-1, last_modification=1500,
        vertices=[common_pb2.VertexDetails(id="src", name="Source", parallelism=2, state="RUNNING", start_time=1100,
                                           end_time=-1, task_counts={"RUNNING": 1, "FINISHED": 1}),
                  common_pb2.VertexDetails(id="snk", name="Sink", parallelism=2, state="DEPLOYING",
                                           start_time=1200, end_time=-1, task_counts={"DEPLOYING": 2})],
        root_exception="Traceback...\nValueError: boom",
        exceptions=[common_pb2.ExceptionEntry(exception_name="KeyError", stacktrace="old", timestamp=1300,
                                              task_name="Sink (1/2)", location="127.0.0.1:4000"),
                    common_pb2.ExceptionEntry(exception_name="ValueError", stacktrace="Traceback...\nValueError: boom",
                                              timestamp=1400, task_name="Sink (2/2)", location="127.0.0.1:4001")],
        timestamps={"INITIALIZING": 1000, "CREATED": 1001, "RUNNING": 1002})


class FakeDispatcher:
    def __init__(self) -> None:
        self.cancelled: list[str] = []

    def overview(self) -> dispatcher_pb2.ClusterOverview:
        return dispatcher_pb2.ClusterOverview(taskmanagers=2, slots_total=4, slots_available=1, jobs_running=1,
                                              jobs_finished=3, jobs_cancelled=1, jobs_failed=2)

    def list_jobs(self) -> list[common_pb2.JobDetails]:
        return [details()]

    def _check(self, job_id: str) -> None:
        if job_id != JOB_ID:
            raise JobNotFoundError(f"job {job_id} not found")

    def get_job(self, job_id: str) -> common_pb2.JobDetails:
        self._check(job_id)
        return details()

    def job_graph(self, job_id: str) -> JobGraph:
        self._check(job_id)
        return make_job_graph(JOB_ID)

    def cancel_job(self, job_id: str) -> None:
        self._check(job_id)
        self.cancelled.append(job_id)


class FakeResourceManager:
    def task_managers(self) -> list[TaskManagerInfo]:
        return [TaskManagerInfo("tm-1", "127.0.0.1:5000", "host", 2, 1, 1234, 8, 1 << 30,
                                (SlotInfo(0, "alloc", JOB_ID, "127.0.0.1:6000"),))]


Client = Callable[[bytes], Awaitable[tuple[int, dict[str, str], Any]]]


def with_server(test: Callable[[Client, FakeDispatcher], Awaitable[None]]) -> None:
    async def scenario() -> None:
        dispatcher = FakeDispatcher()
        api = RestApi(dispatcher, FakeResourceManager(), Configuration({"security.ssl.key-password": "hunter2"}),
                      now_ms=lambda: 2000)
        server = RestServer("127.0.0.1", 0, api.router.handle)
        port = await server.start()

        async def client(raw: bytes) -> tuple[int, dict[str, str], Any]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            await writer.drain()
            data = await reader.read()  # the server closes (Connection: close or a bad request)
            writer.close()
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:])
            return int(lines[0].split(" ")[1]), headers, json.loads(body) if body else None

        try:
            await test(client, dispatcher)
        finally:
            await server.stop()

    run(scenario())


def get(path: str, method: str = "GET") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()


def test_overview_and_dashboard_config() -> None:
    async def test(client: Client, _: FakeDispatcher) -> None:
        status, headers, body = await client(get("/overview"))
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert body == {"taskmanagers": 2, "slots-total": 4, "slots-available": 1, "jobs-running": 1,
                        "jobs-finished": 3, "jobs-cancelled": 1, "jobs-failed": 2, "flink-version": STROM_VERSION,
                        "flink-commit": "", "strom-version": STROM_VERSION}
        status, _, body = await client(get("/v1/config"))
        assert status == 200
        assert {"refresh-interval", "timezone-name", "timezone-offset", "flink-version", "flink-revision",
                "features"} <= set(body)
        status, _, body = await client(get("/jobmanager/config"))
        entries = {e["key"]: e["value"] for e in body}
        assert entries["rest.port"] == "8081" and entries["security.ssl.key-password"] == "******"

    with_server(test)


def test_jobs_listing_and_overview() -> None:
    async def test(client: Client, _: FakeDispatcher) -> None:
        assert (await client(get("/jobs")))[2] == {"jobs": [{"id": JOB_ID, "status": "RUNNING"}]}
        [job] = (await client(get("/jobs/overview")))[2]["jobs"]
        assert job["jid"] == JOB_ID and job["state"] == "RUNNING" and job["duration"] == 1000
        assert job["tasks"]["total"] == 4 and job["tasks"]["running"] == 1 and job["tasks"]["deploying"] == 2
        assert job["last-modification"] == 1500 and job["end-time"] == -1

    with_server(test)


def test_job_details_shape() -> None:
    async def test(client: Client, _: FakeDispatcher) -> None:
        status, _, job = await client(get(f"/jobs/{JOB_ID}"))
        assert status == 200
        assert {"jid", "name", "isStoppable", "state", "start-time", "end-time", "duration", "now", "timestamps",
                "vertices", "status-counts", "plan"} <= set(job)
        assert (job["duration"], job["now"], job["timestamps"]["RUNNING"]) == (1000, 2000, 1002)
        src = job["vertices"][0]
        assert {k: src[k] for k in ("id", "name", "parallelism", "status", "start-time", "end-time", "duration")} == {
            "id": "src", "name": "Source", "parallelism": 2, "status": "RUNNING", "start-time": 1100,
            "end-time": -1, "duration": 900}
        assert src["tasks"]["RUNNING"] == 1 and src["tasks"]["CANCELED"] == 0 and src["maxParallelism"] == 128
        assert job["status-counts"]["RUNNING"] == 1 and job["status-counts"]["DEPLOYING"] == 1
        sink_node = job["plan"]["nodes"][1]
        assert sink_node["inputs"] == [{"num": 0, "id": "src", "ship_strategy": "HASH",
                                        "exchange": "pipelined_bounded"}]

    with_server(test)


def test_job_exceptions_newest_first() -> None:
    async def test(client: Client, _: FakeDispatcher) -> None:
        status, _, body = await client(get(f"/jobs/{JOB_ID}/exceptions"))
        assert status == 200
        assert body["root-exception"] == "Traceback...\nValueError: boom" and body["timestamp"] == 1400
        entries = body["exceptionHistory"]["entries"]
        assert [e["exceptionName"] for e in entries] == ["ValueError", "KeyError"]
        assert {k: entries[0][k] for k in ("stacktrace", "timestamp", "taskName", "location")} == {
            "stacktrace": "Traceback...\nValueError: boom", "timestamp": 1400, "taskName": "Sink (2/2)",
            "location": "127.0.0.1:4001"}
        assert body["all-exceptions"][0]["task"] == "Sink (2/2)" and body["truncated"] is False
        status, _, body = await client(get(f"/jobs/{JOB_ID}/exceptions?maxExceptions=1"))
        assert len(body["exceptionHistory"]["entries"]) == 1 and body["exceptionHistory"]["truncated"] is True
        assert (await client(get(f"/jobs/{JOB_ID}/exceptions?maxExceptions=lots")))[0] == 400

    with_server(test)


def test_taskmanagers() -> None:
    async def test(client: Client, _: FakeDispatcher) -> None:
        [tm] = (await client(get("/taskmanagers")))[2]["taskmanagers"]
        assert {k: tm[k] for k in ("id", "path", "dataPort", "timeSinceLastHeartbeat", "slotsNumber", "freeSlots")} \
            == {"id": "tm-1", "path": "grpc://127.0.0.1:5000", "dataPort": -1, "timeSinceLastHeartbeat": 1234,
                "slotsNumber": 2, "freeSlots": 1}
        assert tm["hardware"]["cpuCores"] == 8 and tm["hardware"]["physicalMemory"] == 1 << 30
        assert (await client(get("/taskmanagers/tm-1")))[2]["id"] == "tm-1"
        assert (await client(get("/taskmanagers/nope")))[0] == 404

    with_server(test)


def test_cancel_with_patch() -> None:
    async def test(client: Client, dispatcher: FakeDispatcher) -> None:
        assert (await client(get(f"/jobs/{JOB_ID}?mode=cancel", "PATCH")))[:3:2] == (202, {})
        assert (await client(get(f"/jobs/{JOB_ID}", "PATCH")))[0] == 202
        assert dispatcher.cancelled == [JOB_ID, JOB_ID]
        status, _, body = await client(get(f"/jobs/{JOB_ID}?mode=stop", "PATCH"))
        assert status == 400 and "mode=cancel" in body["errors"][0]

    with_server(test)


def test_errors_use_flinks_shape_and_statuses() -> None:
    async def test(client: Client, _: FakeDispatcher) -> None:
        status, _, body = await client(get("/jobs/" + "b" * 32))
        assert status == 404 and body["errors"][0].startswith("job " + "b" * 32)
        assert (await client(get("/jobs/" + "b" * 32 + "/exceptions")))[0] == 404
        assert (await client(get("/nothing/here")))[0] == 404
        status, headers, body = await client(get("/overview", "DELETE"))
        assert status == 405 and headers["Allow"] == "GET" and "errors" in body
        assert (await client(get("/jobs/%ZZ")))[0] in (400, 404)

    with_server(test)


@pytest.mark.parametrize("garbage", [
    b"\x00\xff\xfe garbage\r\n\r\n", b"GET\r\n\r\n", b"GET /overview HTTP/9.9\r\n\r\n",
    b"GET overview HTTP/1.1\r\n\r\n", b"GET /overview HTTP/1.1\r\nno colon here\r\n\r\n",
    b"POST /jobs HTTP/1.1\r\nContent-Length: -5\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
    b"POST /jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
])
def test_garbage_gets_an_error_and_the_server_keeps_serving(garbage: bytes) -> None:
    async def test(client: Client, _: FakeDispatcher) -> None:
        status, _, body = await client(garbage)
        assert 400 <= status < 600 and status != 500 and body["errors"]
        assert (await client(get("/overview")))[0] == 200

    with_server(test)


def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async def scenario() -> None:
        api = RestApi(FakeDispatcher(), FakeResourceManager(), Configuration())
        server = RestServer("127.0.0.1", 0, api.router.handle)
        port = await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /jobs HTTP/1.1\r\n\r\nGET /overview HTTP/1.1\r\nConnection: close\r\n\r\n")
            data = await reader.read()
            writer.close()
        finally:
            await server.stop()
        responses = data.split(b"HTTP/1.1 ")[1:]
        assert [r[:3] for r in responses] == [b"200", b"200"]
        assert b"Connection: keep-alive" in responses[0] and b"Connection: close" in responses[1]

    run(scenario())


def test_request_line_parsing() -> None:
    assert parse_request_line(b"GET /jobs/x?mode=cancel&a= HTTP/1.1\r\n") == (
        "GET", "/jobs/x", {"mode": ["cancel"], "a": [""]}, "HTTP/1.1")
