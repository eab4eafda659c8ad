"""The REST API's JSON, in Flink's shapes and field names.

    GET   /overview  /config  /jobmanager/config  /taskmanagers  /taskmanagers/:tmid
    GET   /jobs  /jobs/overview  /jobs/:jobid  /jobs/:jobid/exceptions
    PATCH /jobs/:jobid?mode=cancel   -> 202 {}

Handlers read the JobManager's state through two small views (the
Dispatcher and the ResourceManager satisfy them; tests pass fakes) and run
on the JobManager's loop.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any, Protocol

from strom.common.config import Configuration
from strom.common.jobgraph import JobGraph
from strom.common.rpc import common_pb2, dispatcher_pb2
from strom.common.states import ExecutionState
from strom.common.version import STROM_VERSION
from strom.jobmanager.resourcemanager.registry import TaskManagerInfo
from strom.jobmanager.rest.http import HttpError, HttpRequest, HttpResponse
from strom.jobmanager.rest.router import Router

REFRESH_INTERVAL_MS = 3000
DEFAULT_MAX_EXCEPTIONS = 20
_SECRET_MARKERS = ("password", "secret", "token", "key-store", "keystore")


class JobsView(Protocol):
    def overview(self) -> dispatcher_pb2.ClusterOverview: ...

    def list_jobs(self) -> list[common_pb2.JobDetails]: ...

    def get_job(self, job_id: str) -> common_pb2.JobDetails: ...

    def job_graph(self, job_id: str) -> JobGraph: ...

    def cancel_job(self, job_id: str) -> None: ...


class TaskManagersView(Protocol):
    def task_managers(self) -> list[TaskManagerInfo]: ...


def _duration(start: int, end: int, now: int) -> int:
    if start <= 0:
        return -1
    return (end if end >= 0 else now) - start


def _task_totals(details: common_pb2.JobDetails) -> dict[str, int]:
    counts = {state.value.lower(): 0 for state in ExecutionState}
    for vertex in details.vertices:
        for state, n in vertex.task_counts.items():
            counts[state.lower()] = counts.get(state.lower(), 0) + n
    return {"total": sum(counts.values()), **counts, "reconciling": 0}


def _plan(graph: JobGraph) -> dict[str, Any]:
    nodes = []
    for vertex in graph.vertices:
        inputs = [{"num": n, "id": edge.source_id, "ship_strategy": edge.partitioner.value.upper(),
                   "exchange": "pipelined_bounded"} for n, (_, edge) in enumerate(graph.inputs_of(vertex.id))]
        node: dict[str, Any] = {"id": vertex.id, "parallelism": vertex.parallelism, "operator": "",
                                "operator_strategy": "", "description": vertex.name, "optimizer_properties": {}}
        if inputs:
            node["inputs"] = inputs
        nodes.append(node)
    return {"jid": graph.job_id, "name": graph.name, "type": "STREAMING", "nodes": nodes}


class RestApi:
    """Builds the router over the two views; ``now_ms`` is the wall clock."""

    def __init__(self, jobs: JobsView, task_managers: TaskManagersView, config: Configuration,
                 now_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self._jobs = jobs
        self._task_managers = task_managers
        self._config = config
        self._now = now_ms
        self.router = Router()
        for method, template, handler in [
            ("GET", "/overview", self.overview), ("GET", "/config", self.dashboard_config),
            ("GET", "/jobmanager/config", self.jobmanager_config), ("GET", "/taskmanagers", self.taskmanagers),
            ("GET", "/taskmanagers/:tmid", self.taskmanager), ("GET", "/jobs", self.jobs),
            ("GET", "/jobs/overview", self.jobs_overview), ("GET", "/jobs/:jobid", self.job),
            ("PATCH", "/jobs/:jobid", self.cancel), ("GET", "/jobs/:jobid/exceptions", self.exceptions),
        ]:
            self.router.add(method, template, handler)

    # ---- cluster ------------------------------------------------------------

    def overview(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        o = self._jobs.overview()
        return HttpResponse.json(200, {
            "taskmanagers": o.taskmanagers, "slots-total": o.slots_total, "slots-available": o.slots_available,
            "jobs-running": o.jobs_running, "jobs-finished": o.jobs_finished, "jobs-cancelled": o.jobs_cancelled,
            "jobs-failed": o.jobs_failed, "flink-version": STROM_VERSION, "flink-commit": "",
            "strom-version": STROM_VERSION})

    def dashboard_config(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        local = datetime.datetime.now().astimezone()
        offset = local.utcoffset() or datetime.timedelta(0)
        return HttpResponse.json(200, {
            "refresh-interval": REFRESH_INTERVAL_MS, "timezone-name": local.tzname() or "UTC",
            "timezone-offset": int(offset.total_seconds() * 1000), "flink-version": STROM_VERSION,
            "flink-revision": f"strom {STROM_VERSION}",
            "features": {"web-submit": False, "web-cancel": True, "web-rescale": False, "web-history": False}})

    def jobmanager_config(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        entries = []
        for key, value in self._config.effective().items():
            hidden = any(marker in key.lower() for marker in _SECRET_MARKERS)
            entries.append({"key": key, "value": "******" if hidden else value})
        return HttpResponse.json(200, entries)

    def _taskmanager_json(self, tm: TaskManagerInfo) -> dict[str, Any]:
        return {
            "id": tm.resource_id, "path": f"grpc://{tm.rpc_address}", "dataPort": -1, "jmxPort": -1,
            "timeSinceLastHeartbeat": tm.last_heartbeat_ms, "slotsNumber": tm.num_slots,
            "freeSlots": tm.free_slots,
            "hardware": {"cpuCores": tm.cpu_cores, "physicalMemory": tm.memory_bytes, "freeMemory": -1,
                         "managedMemory": 0},
            "slots": [{"index": s.slot_index, "allocationId": s.allocation_id, "jobId": s.job_id,
                       "dataAddress": s.data_address} for s in tm.slots]}

    def taskmanagers(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return HttpResponse.json(200, {"taskmanagers": [self._taskmanager_json(tm)
                                                        for tm in self._task_managers.task_managers()]})

    def taskmanager(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        for tm in self._task_managers.task_managers():
            if tm.resource_id == params["tmid"]:
                return HttpResponse.json(200, self._taskmanager_json(tm))
        raise HttpError(404, f"TaskManager {params['tmid']} not found")

    # ---- jobs ---------------------------------------------------------------

    def jobs(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        return HttpResponse.json(200, {"jobs": [{"id": d.job_id, "status": d.state}
                                                for d in self._jobs.list_jobs()]})

    def jobs_overview(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        now = self._now()
        return HttpResponse.json(200, {"jobs": [{
            "jid": d.job_id, "name": d.name, "state": d.state, "start-time": d.start_time,
            "end-time": d.end_time, "duration": _duration(d.start_time, d.end_time, now),
            "last-modification": d.last_modification, "tasks": _task_totals(d)} for d in self._jobs.list_jobs()]})

    def job(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        details = self._jobs.get_job(params["jobid"])
        graph = self._jobs.job_graph(params["jobid"])
        now = self._now()
        max_parallelism = {v.id: v.max_parallelism for v in graph.vertices}
        vertices = [{
            "id": v.id, "name": v.name, "maxParallelism": max_parallelism.get(v.id, -1),
            "parallelism": v.parallelism, "status": v.state, "start-time": v.start_time, "end-time": v.end_time,
            "duration": _duration(v.start_time, v.end_time, now),
            "tasks": {state.value: v.task_counts.get(state.value, 0) for state in ExecutionState},
        } for v in details.vertices]
        status_counts = {state.value: 0 for state in ExecutionState}
        for v in details.vertices:
            status_counts[v.state] = status_counts.get(v.state, 0) + 1
        return HttpResponse.json(200, {
            "jid": details.job_id, "name": details.name, "isStoppable": False, "state": details.state,
            "job-type": "STREAMING", "start-time": details.start_time, "end-time": details.end_time,
            "duration": _duration(details.start_time, details.end_time, now), "maxParallelism": -1, "now": now,
            "timestamps": dict(details.timestamps), "vertices": vertices, "status-counts": status_counts,
            "plan": _plan(graph)})

    def exceptions(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        details = self._jobs.get_job(params["jobid"])
        limit = DEFAULT_MAX_EXCEPTIONS
        if "maxExceptions" in request.query:
            text = request.query["maxExceptions"][-1]
            if not text.isdigit():
                raise HttpError(400, f"maxExceptions must be a non-negative integer, got {text!r}")
            limit = int(text)
        newest_first = list(reversed(details.exceptions))
        shown = newest_first[:limit]
        root = newest_first[0] if newest_first else None
        return HttpResponse.json(200, {
            "root-exception": root.stacktrace if root else None,
            "timestamp": root.timestamp if root else None,
            "all-exceptions": [{"exception": e.stacktrace, "task": e.task_name, "location": e.location,
                                "timestamp": e.timestamp, "taskManagerId": e.location} for e in shown],
            "truncated": len(newest_first) > limit,
            "exceptionHistory": {"entries": [{
                "exceptionName": e.exception_name, "stacktrace": e.stacktrace, "timestamp": e.timestamp,
                "taskName": e.task_name or None, "location": e.location or None, "endpoint": e.location or None,
                "taskManagerId": e.location or None, "failureLabels": {}, "concurrentExceptions": [],
            } for e in shown], "truncated": len(newest_first) > limit}})

    def cancel(self, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
        modes = request.query.get("mode", ["cancel"])
        if modes[-1] != "cancel":
            raise HttpError(400, f"unsupported mode {modes[-1]!r}: only mode=cancel is supported")
        self._jobs.cancel_job(params["jobid"])
        return HttpResponse.json(202, {})
