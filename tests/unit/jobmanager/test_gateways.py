"""Gateways: unreachable JobManager -> ClusterUnreachableError after the retry deadline; blocking calls work."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from strom.common.config import Configuration
from strom.common.errors import ClusterUnreachableError, JobNotFoundError
from strom.common.gateway import DispatcherGateway, ResourceManagerGateway, SlotStatus
from strom.common.gateway.resource_manager import slot_report_proto
from strom.jobmanager.entrypoint import run_jobmanager
from tests.unit.jobmanager.fakes import run

pytestmark = pytest.mark.timeout(30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_jobmanager_is_retried_until_the_deadline() -> None:
    address = f"127.0.0.1:{free_port()}"
    gateway = DispatcherGateway(address, session_id="0" * 32, retry_deadline_s=0.3)
    started = time.monotonic()
    with pytest.raises(ClusterUnreachableError, match=f"no JobManager answers at {address}"):
        gateway.list_jobs()
    assert 0.2 < time.monotonic() - started < 5
    gateway.close()

    async def call() -> None:
        async_gateway = DispatcherGateway(address, retry_deadline_s=0.2)
        try:
            await async_gateway.overview_async()
        finally:
            await async_gateway.close_async()

    with pytest.raises(ClusterUnreachableError):
        run(call())


@pytest.fixture
def jobmanager_address() -> Iterator[str]:
    """A JobManager on its own loop in a thread, so blocking gateway calls can be made from the test."""
    ready: list[str] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        port = free_port()
        config = Configuration({"jobmanager.rpc.port": str(port), "rest.port": "0"})
        ready.append(f"127.0.0.1:{port}")
        await run_jobmanager(config, stop)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not ready and time.monotonic() < deadline:
        time.sleep(0.01)
    yield ready[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=15)
    assert not thread.is_alive()
    loop.close()


def test_blocking_calls_against_a_real_jobmanager(jobmanager_address: str) -> None:
    with ResourceManagerGateway(jobmanager_address) as rm:  # retries UNAVAILABLE while the server starts
        rm.register_task_executor("tm-1", "127.0.0.1:1", 1, [SlotStatus(0)])
        assert rm.heartbeat("tm-1", [SlotStatus(0)])
    with DispatcherGateway(jobmanager_address) as dispatcher:
        assert dispatcher.overview().slots_total == 1
        assert dispatcher.list_jobs() == []
        assert dispatcher.leader_info().rpc_address == jobmanager_address
        with pytest.raises(JobNotFoundError):
            dispatcher.get_job("nope")


def test_slot_report_accepts_dataclasses_or_protos() -> None:
    proto = slot_report_proto([SlotStatus(0), SlotStatus(1, "a", "j")])
    assert [(s.slot_index, s.allocation_id, s.job_id) for s in proto.slots] == [(0, "", ""), (1, "a", "j")]
    assert slot_report_proto(proto) is proto
