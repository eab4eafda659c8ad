"""Test doubles and helpers for the JobManager's unit tests.

``FakeTaskExecutor`` stands in for one TaskManager's gateway: it grants slots
with a made-up data address, records submitted descriptors, cancellations and
freed slots, and can be told to fail any call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from strom.common.errors import ClusterUnreachableError, StromError
from strom.common.jobgraph import JobEdge, JobGraph, JobVertex, PartitionerKind
from strom.common.rpc import common_pb2
from strom.jobmanager.task_executors import TaskExecutorGateways

T = TypeVar("T")


class FakeTaskExecutor:
    def __init__(self, address: str, cluster: FakeCluster | None = None) -> None:
        self.address = address
        self.cluster = cluster
        self.slots: dict[str, int] = {}                  # allocation id -> slot index
        self.submitted: list[common_pb2.TaskDeploymentDescriptor] = []
        self.cancelled: list[str] = []
        self.freed: list[str] = []
        self.fail: dict[str, StromError] = {}            # method name -> error to raise
        self.on_cancel: Callable[[str], None] | None = None

    def _maybe_fail(self, method: str) -> None:
        if method in self.fail:
            raise self.fail[method]

    async def request_slot_async(self, slot_index: int, allocation_id: str, job_id: str, job_master_address: str,
                                 session_id: str) -> str:
        self._maybe_fail("request_slot")
        self.slots[allocation_id] = slot_index
        return f"{self.address}/data{slot_index}"

    async def submit_task_async(self, tdd: common_pb2.TaskDeploymentDescriptor, session_id: str) -> None:
        self._maybe_fail("submit_task")
        self.submitted.append(tdd)

    async def cancel_task_async(self, execution_id: str, session_id: str) -> None:
        self._maybe_fail("cancel_task")
        self.cancelled.append(execution_id)
        on_cancel = self.on_cancel or (self.cluster.on_cancel if self.cluster else None)
        if on_cancel is not None:
            on_cancel(execution_id)

    async def free_slot_async(self, allocation_id: str, cause: str, session_id: str) -> None:
        self._maybe_fail("free_slot")
        self.freed.append(allocation_id)
        self.slots.pop(allocation_id, None)


class FakeCluster:
    """Fake TaskManagers by address, behind a real TaskExecutorGateways cache."""

    def __init__(self) -> None:
        self.executors: dict[str, FakeTaskExecutor] = {}
        self.on_cancel: Callable[[str], None] | None = None   # for every executor without its own
        self.gateways = TaskExecutorGateways(self._get)

    def _get(self, address: str) -> FakeTaskExecutor:
        if address not in self.executors:
            self.executors[address] = FakeTaskExecutor(address, self)
        return self.executors[address]

    def __getitem__(self, address: str) -> FakeTaskExecutor:
        return self._get(address)

    def unreachable(self, address: str) -> None:
        error = ClusterUnreachableError(f"TaskManager at {address} unreachable")
        self[address].fail = {m: error for m in ("request_slot", "submit_task", "cancel_task", "free_slot")}

    def all_submitted(self) -> list[common_pb2.TaskDeploymentDescriptor]:
        return [tdd for executor in self.executors.values() for tdd in executor.submitted]


def make_job_graph(job_id: str = "job1", source_parallelism: int = 2, sink_parallelism: int = 2,
                   partitioner: PartitionerKind = PartitionerKind.HASH,
                   config: dict[str, str] | None = None) -> JobGraph:
    """source -> (partitioner) -> sink."""
    return JobGraph(job_id, "test job", [
        JobVertex("src", "Source", source_parallelism, 128, b"source-ops", is_source=True),
        JobVertex("snk", "Sink", sink_parallelism, 128, b"sink-ops"),
    ], [JobEdge("src", "snk", partitioner)], dict(config or {}))


def run(coro: Coroutine[Any, Any, T], timeout_s: float = 20.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout_s)

    return asyncio.run(bounded())


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``predicate`` on the loop until true; fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)
