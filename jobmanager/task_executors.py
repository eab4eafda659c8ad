"""How the JobManager reaches TaskManagers: one cached gateway per address.

The ResourceManager (request_slot, free_slot) and the JobMasters
(submit_task, cancel_task) speak to TaskManagers through the
``TaskExecutorClient`` protocol: the async half of
``common.gateway.TaskExecutorGateway``. Tests pass fakes with the same methods.

State owner: the JobManager's event loop (the aio channels belong to it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

from strom.common.rpc import common_pb2


class TaskExecutorClient(Protocol):
    async def request_slot_async(self, slot_index: int, allocation_id: str, job_id: str,
                                 job_master_address: str, session_id: str) -> str: ...

    async def submit_task_async(self, tdd: common_pb2.TaskDeploymentDescriptor, session_id: str) -> None: ...

    async def cancel_task_async(self, execution_id: str, session_id: str) -> None: ...

    async def free_slot_async(self, allocation_id: str, cause: str, session_id: str) -> None: ...


class TaskExecutorConnector(Protocol):
    def __call__(self, address: str) -> TaskExecutorClient: ...


class TaskExecutorGateways:
    """Cache of gateways by TaskManager RPC address; ``close()`` closes them all."""

    def __init__(self, factory: Callable[[str], TaskExecutorClient] | None = None) -> None:
        self._factory = factory or _real_gateway
        self._gateways: dict[str, TaskExecutorClient] = {}

    def __call__(self, address: str) -> TaskExecutorClient:
        gateway = self._gateways.get(address)
        if gateway is None:
            gateway = self._gateways[address] = self._factory(address)
        return gateway

    def forget(self, address: str) -> None:
        """Drop (and close) the gateway of a TaskManager that is gone."""
        gateway = self._gateways.pop(address, None)
        if gateway is not None:
            _close_soon(gateway)

    async def close(self) -> None:
        gateways, self._gateways = list(self._gateways.values()), {}
        for gateway in gateways:
            close_async = getattr(gateway, "close_async", None)
            if close_async is not None:
                await close_async()


def _real_gateway(address: str) -> TaskExecutorClient:
    from strom.common.gateway.task_executor import TaskExecutorGateway

    return TaskExecutorGateway(address)


def _close_soon(gateway: TaskExecutorClient) -> None:
    close_async = getattr(gateway, "close_async", None)
    if close_async is not None:
        asyncio.get_running_loop().create_task(close_async())
