"""The ResourceManager: registration, heartbeats, slot allocation and release (in-process, fake TaskManagers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from strom.common.config import Configuration
from strom.common.errors import NotEnoughSlotsError, ProtocolVersionError, TaskManagerLostError
from strom.common.gateway.resource_manager import SlotStatus
from strom.common.version import PROTOCOL_VERSION
from strom.jobmanager.resourcemanager import ResourceManager, TaskExecutorRegistrationRequest
from tests.unit.jobmanager.fakes import FakeCluster, run, until

pytestmark = pytest.mark.timeout(30)


class FakeOwner:
    def __init__(self) -> None:
        self.lost: list[tuple[set[str], TaskManagerLostError]] = []

    def notify_slots_lost(self, allocation_ids: set[str], error: TaskManagerLostError) -> None:
        self.lost.append((allocation_ids, error))


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def make_rm(cluster: FakeCluster, clock: Callable[[], float] | None = None, **config: str) -> ResourceManager:
    conf = Configuration({"heartbeat.interval": "100 ms", "heartbeat.timeout": "1 s", **config})
    return ResourceManager(conf, cluster.gateways, lambda: "session", monotonic=clock or Clock())


def request(resource_id: str, slots: int, version: int = PROTOCOL_VERSION,
            report: tuple[SlotStatus, ...] = ()) -> TaskExecutorRegistrationRequest:
    return TaskExecutorRegistrationRequest(resource_id, f"{resource_id}:1", slots, version, report, "host", 1 << 30, 4)


def test_registration_answers_with_the_heartbeat_settings() -> None:
    rm = make_rm(FakeCluster())
    registration = rm.register_task_executor(request("tm-1", 3))
    assert (registration.heartbeat_interval_ms, registration.heartbeat_timeout_ms) == (100, 1000)
    assert (rm.num_task_managers, rm.total_slots(), rm.free_slots()) == (1, 3, 3)
    [info] = rm.task_managers()
    assert (info.resource_id, info.rpc_address, info.cpu_cores, info.memory_bytes) == ("tm-1", "tm-1:1", 4, 1 << 30)


def test_protocol_version_mismatch_is_rejected_naming_both_versions() -> None:
    rm = make_rm(FakeCluster())
    with pytest.raises(ProtocolVersionError) as info:
        rm.register_task_executor(request("tm-1", 1, version=PROTOCOL_VERSION + 41))
    assert f"protocol version {PROTOCOL_VERSION + 41}" in str(info.value)
    assert f"protocol version {PROTOCOL_VERSION}:" in str(info.value)
    assert rm.num_task_managers == 0


def test_heartbeats_keep_a_taskmanager_and_silence_loses_it() -> None:
    clock = Clock()
    rm = make_rm(FakeCluster(), clock)
    rm.register_task_executor(request("tm-1", 1))
    rm.register_task_executor(request("tm-2", 1))
    assert not rm.heartbeat("tm-unknown")
    clock.now = 0.9
    assert rm.heartbeat("tm-1")
    clock.now = 1.5
    assert rm.check_heartbeats() == ["tm-2"]
    assert not rm.heartbeat("tm-2")  # must register again
    assert rm.num_task_managers == 1


def test_heartbeat_monitor_runs_on_a_timer() -> None:
    async def scenario() -> None:
        rm = make_rm(FakeCluster(), time.monotonic, **{"heartbeat.interval": "10 ms", "heartbeat.timeout": "50 ms"})
        rm.start()
        try:
            rm.register_task_executor(request("tm-1", 1))
            await until(lambda: rm.num_task_managers == 0, timeout_s=2)
        finally:
            await rm.stop()

    run(scenario())


def test_allocation_picks_free_slots_and_asks_the_taskmanagers() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster)
        rm.register_task_executor(request("tm-1", 2))
        rm.register_task_executor(request("tm-2", 2))
        slots = await rm.allocate_slots("job", 3, "jm:1")
        assert [(s.resource_id, s.slot_index, s.tm_address, s.data_address) for s in slots] == [
            ("tm-1", 0, "tm-1:1", "tm-1:1/data0"), ("tm-1", 1, "tm-1:1", "tm-1:1/data1"),
            ("tm-2", 0, "tm-2:1", "tm-2:1/data0")]
        assert cluster["tm-1:1"].slots == {slots[0].allocation_id: 0, slots[1].allocation_id: 1}
        assert rm.free_slots() == 1 and sorted(rm.job_allocations("job")) == sorted(s.allocation_id for s in slots)
        await rm.release_slots("job", [s.allocation_id for s in slots], "done")
        assert rm.free_slots() == 4 and len(cluster["tm-1:1"].freed) == 2

    run(scenario())


def test_spread_out_strategy_from_config() -> None:
    async def scenario() -> None:
        rm = make_rm(FakeCluster(), None, **{"cluster.evenly-spread-out-slots": "true"})
        rm.register_task_executor(request("tm-1", 2))
        rm.register_task_executor(request("tm-2", 2))
        slots = await rm.allocate_slots("job", 2, "jm:1")
        assert [s.resource_id for s in slots] == ["tm-1", "tm-2"]

    run(scenario())


def test_pending_request_waits_for_a_taskmanager_then_times_out_clearly() -> None:
    async def scenario() -> None:
        rm = make_rm(FakeCluster())
        rm.register_task_executor(request("tm-1", 1))
        waiting = asyncio.ensure_future(rm.allocate_slots("job-a", 2, "jm:1", timeout_ms=5000))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        rm.register_task_executor(request("tm-2", 1))
        assert len(await waiting) == 2
        with pytest.raises(NotEnoughSlotsError) as info:
            await rm.allocate_slots("job-b", 4, "jm:1", timeout_ms=50)
        assert str(info.value) == ("job needs 4 slots but only 0 are available (2 TaskManagers registered) "
                                   "after waiting 50 ms")

    run(scenario())


def test_released_slots_go_to_the_waiting_request() -> None:
    async def scenario() -> None:
        rm = make_rm(FakeCluster())
        rm.register_task_executor(request("tm-1", 2))
        first = await rm.allocate_slots("job-a", 2, "jm:1")
        waiting = asyncio.ensure_future(rm.allocate_slots("job-b", 1, "jm:1", timeout_ms=5000))
        await asyncio.sleep(0.01)
        await rm.release_slots("job-a", [first[1].allocation_id], "done")
        [slot] = await waiting
        assert slot.slot_index == 1

    run(scenario())


def test_lost_taskmanager_notifies_the_jobs_with_slots_there() -> None:
    async def scenario() -> None:
        clock = Clock()
        rm = make_rm(FakeCluster(), clock)
        owner, other = FakeOwner(), FakeOwner()
        rm.connect_job("job", owner)
        rm.connect_job("other", other)
        rm.register_task_executor(request("tm-1", 2))
        slots = await rm.allocate_slots("job", 2, "jm:1")
        clock.now = 5
        rm.check_heartbeats()
        [(ids, error)] = owner.lost
        assert ids == {s.allocation_id for s in slots}
        assert "TaskManager tm-1 at tm-1:1 lost: heartbeat timeout (no heartbeat for 5 s" in str(error)
        assert other.lost == []

    run(scenario())


def test_reregistration_keeps_reported_allocations_and_reports_the_rest_lost() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster)
        owner = FakeOwner()
        rm.connect_job("job", owner)
        rm.register_task_executor(request("tm-1", 2))
        kept, gone = await rm.allocate_slots("job", 2, "jm:1")
        report = (SlotStatus(0, kept.allocation_id, "job"), SlotStatus(1, "stray", "old-job"))
        rm.register_task_executor(request("tm-1", 2, report=report))
        assert owner.lost[0][0] == {gone.allocation_id}
        assert rm.job_allocations("job") == [kept.allocation_id]
        await until(lambda: cluster["tm-1:1"].freed == ["stray"])  # unknown allocation freed on the TM

    run(scenario())


def test_cancelled_allocation_takes_nothing() -> None:
    async def scenario() -> None:
        rm = make_rm(FakeCluster())
        waiting = asyncio.ensure_future(rm.allocate_slots("job", 1, "jm:1", timeout_ms=5000))
        await asyncio.sleep(0.01)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        rm.register_task_executor(request("tm-1", 1))
        assert rm.free_slots() == 1

    run(scenario())
