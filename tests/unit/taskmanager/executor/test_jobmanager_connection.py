"""Registration and heartbeats of the TaskManager (``JobManagerConnection``) against a FakeResourceManagerGateway."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from strom.common.errors import ClusterUnreachableError, ProtocolVersionError
from strom.common.gateway.resource_manager import Registration, SlotStatus
from strom.common.ha import LeaderInformation
from strom.common.ids import LeaderSessionId
from strom.taskmanager.executor.jobmanager_connection import (
    ConnectionSettings,
    JobManagerConnection,
    RegistrationTimeoutError,
)

pytestmark = pytest.mark.timeout(20)

LEADER = LeaderInformation(LeaderSessionId("s1"), "127.0.0.1:6123", "")


def run_async(fn: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    def test() -> None:
        asyncio.run(fn())

    test.__doc__ = fn.__doc__
    return test


class FakeResourceManagerGateway:
    """One JobManager as the TaskManager sees it: ``up`` decides whether it answers."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.up = True
        self.reject_protocol = False
        self.known = False
        self.registrations = 0
        self.heartbeats = 0
        self.slot_reports: list[list[SlotStatus]] = []

    async def register_task_executor_async(self, resource_id: str, rpc_address: str, num_slots: int,
                                           slot_report: Any, **kwargs: Any) -> Registration:
        await asyncio.sleep(0)
        if not self.up:
            raise ClusterUnreachableError(f"no JobManager answers at {self.address}")
        if self.reject_protocol:
            raise ProtocolVersionError(f"protocol version {kwargs['protocol_version']} is not 7")
        self.registrations += 1
        self.known = True
        self.slot_reports.append(list(slot_report))
        return Registration(f"r{self.registrations}", 0, 0)

    async def heartbeat_async(self, resource_id: str, slot_report: Any) -> bool:
        await asyncio.sleep(0)
        if not self.up:
            raise ClusterUnreachableError(f"no JobManager answers at {self.address}")
        self.heartbeats += 1
        return self.known

    async def close_async(self) -> None:
        pass


class Fixture:
    def __init__(self, registration_timeout_ms: int = 5000) -> None:
        self.gateways: dict[str, FakeResourceManagerGateway] = {}
        self.lost: list[str] = []
        self.sessions: list[str | None] = []
        self.connection = JobManagerConnection(
            "tm-1", "127.0.0.1:5000",
            ConnectionSettings(num_slots=2, heartbeat_interval_ms=20, heartbeat_timeout_ms=300,
                               registration_timeout_ms=registration_timeout_ms),
            slot_report=lambda: [SlotStatus(0), SlotStatus(1, "a1", "j1")],
            on_leader=self.sessions.append, on_lost=self._on_lost, gateway_factory=self.gateway)
        self.task: asyncio.Task[None] | None = None

    def gateway(self, leader: LeaderInformation) -> FakeResourceManagerGateway:
        return self.gateways.setdefault(leader.rpc_address, FakeResourceManagerGateway(leader.rpc_address))

    def rm(self, address: str = LEADER.rpc_address) -> FakeResourceManagerGateway:
        return self.gateways.setdefault(address, FakeResourceManagerGateway(address))

    async def _on_lost(self, cause: str) -> None:
        self.lost.append(cause)

    def start(self, leader: LeaderInformation | None = LEADER) -> None:
        self.connection.bind(asyncio.get_running_loop())
        self.task = asyncio.get_running_loop().create_task(self.connection.run())
        if leader is not None:
            self.connection.notify_leader_address(leader)

    async def until(self, predicate: Callable[[], object], timeout_s: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not predicate():
            if self.task is not None and self.task.done():
                self.task.result()
            assert loop.time() < deadline, "condition not reached in time"
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@run_async
async def test_registers_with_slot_report_then_heartbeats() -> None:
    f = Fixture()
    f.start()
    await f.until(lambda: f.rm().heartbeats >= 3)
    assert f.connection.registered and f.rm().registrations == 1
    assert f.rm().slot_reports[0] == [SlotStatus(0), SlotStatus(1, "a1", "j1")]
    assert f.sessions == ["s1"]
    await f.stop()


@run_async
async def test_retries_while_the_jobmanager_is_unreachable() -> None:
    f = Fixture()
    f.rm().up = False
    f.start()
    await asyncio.sleep(0.3)
    assert not f.connection.registered
    f.rm().up = True
    await f.until(lambda: f.connection.registered)
    await f.stop()


def test_logs_that_the_jobmanager_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        f = Fixture()
        f.rm().up = False
        f.start()
        await asyncio.sleep(0.2)
        await f.stop()

    with caplog.at_level(logging.WARNING):
        asyncio.run(body())
    assert "JobManager at 127.0.0.1:6123 unreachable, retrying" in caplog.text


@run_async
async def test_protocol_version_rejection_is_fatal() -> None:
    f = Fixture()
    f.rm().reject_protocol = True
    f.start()
    with pytest.raises(ProtocolVersionError, match=r"rejected this TaskManager \(protocol version 1\)"):
        await asyncio.wait_for(f.task, 5)  # type: ignore[arg-type]


@run_async
async def test_registration_timeout_is_fatal() -> None:
    f = Fixture(registration_timeout_ms=300)
    f.rm().up = False
    f.start()
    with pytest.raises(RegistrationTimeoutError, match="gave up after 0.3 s"):
        await asyncio.wait_for(f.task, 5)  # type: ignore[arg-type]


@run_async
async def test_no_leader_within_registration_timeout_is_fatal() -> None:
    f = Fixture(registration_timeout_ms=200)
    f.start(leader=None)
    with pytest.raises(RegistrationTimeoutError, match="no JobManager leader"):
        await asyncio.wait_for(f.task, 5)  # type: ignore[arg-type]


@run_async
async def test_forgotten_by_the_resource_manager_registers_again_keeping_slots() -> None:
    f = Fixture()
    f.start()
    await f.until(lambda: f.connection.registered)
    f.rm().known = False
    await f.until(lambda: f.rm().registrations == 2)
    assert f.lost == []
    assert f.connection.registrations == 2
    await f.stop()


@run_async
async def test_heartbeat_timeout_releases_slots_and_registers_again_when_back() -> None:
    f = Fixture()
    f.start()
    await f.until(lambda: f.connection.registered)
    f.rm().up = False
    await f.until(lambda: f.lost)
    assert "answered no heartbeat for 0.3 s" in f.lost[0]
    assert not f.connection.registered
    f.rm().up = True
    await f.until(lambda: f.rm().registrations == 2)
    assert len(f.lost) == 1
    await f.stop()


@run_async
async def test_new_leader_releases_slots_and_registers_with_it() -> None:
    f = Fixture()
    f.start()
    await f.until(lambda: f.connection.registered)
    new = LeaderInformation(LeaderSessionId("s2"), "127.0.0.1:7000", "")
    f.connection.notify_leader_address(new)
    await f.until(lambda: f.rm(new.rpc_address).registrations == 1)
    assert f.sessions == ["s1", "s2"]
    assert len(f.lost) == 1 and "leader changed" in f.lost[0]
    # the same leader announced again changes nothing
    f.connection.notify_leader_address(new)
    await asyncio.sleep(0.1)
    assert f.rm(new.rpc_address).registrations == 1 and len(f.lost) == 1
    await f.stop()
