"""A TaskManager that refuses connections (its process is dead) is dropped on the first failed call, not after
``heartbeat.timeout``, and slot requests move to the remaining TaskManagers (in-process, fake TaskManagers)."""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio
import pytest

from strom.common.config import Configuration
from strom.common.errors import (
    ClusterUnreachableError,
    NotEnoughSlotsError,
    StromError,
    TaskManagerLostError,
)
from strom.common.gateway.resource_manager import SlotStatus
from strom.common.ids import ExecutionAttemptId
from strom.common.states import ExecutionState, JobStatus
from strom.common.version import PROTOCOL_VERSION
from strom.jobmanager.jobmaster import JobMaster, TaskExecutionState
from strom.jobmanager.resourcemanager import ResourceManager, TaskExecutorRegistrationRequest
from tests.unit.jobmanager.fakes import FakeCluster, make_job_graph, run, until

pytestmark = pytest.mark.timeout(30)

CALLS = ("request_slot", "submit_task", "cancel_task", "free_slot")


def grpc_failure(address: str, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> StromError:
    """What the TaskExecutorGateway raises when nothing listens at ``address`` (UNAVAILABLE) or a call times out."""
    try:
        try:
            raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(),
                                       details="failed to connect to all addresses; Connection refused")
        except grpc.RpcError:
            raise ClusterUnreachableError(f"no TaskManager answers at {address} (retried for 2 s)") from None
    except StromError as e:
        return e


def kill(cluster: FakeCluster, address: str) -> None:
    """Every call to the TaskManager at ``address`` is refused from now on."""
    cluster[address].fail = {call: grpc_failure(address) for call in CALLS}


class FakeOwner:
    def __init__(self) -> None:
        self.lost: list[tuple[set[str], TaskManagerLostError]] = []

    def notify_slots_lost(self, allocation_ids: set[str], error: TaskManagerLostError) -> None:
        self.lost.append((allocation_ids, error))


def make_rm(cluster: FakeCluster, **config: str) -> ResourceManager:
    # A heartbeat timeout far beyond every test's own timeout: only a failed call can drop a TaskManager.
    conf = Configuration({"heartbeat.interval": "1 s", "heartbeat.timeout": "10 min", **config})
    return ResourceManager(conf, cluster.gateways, lambda: "session")


def register(rm: ResourceManager, resource_id: str, slots: int, address: str | None = None) -> str:
    address = address or f"{resource_id}:1"
    rm.register_task_executor(TaskExecutorRegistrationRequest(
        resource_id, address, slots, PROTOCOL_VERSION, tuple(SlotStatus(i) for i in range(slots))))
    return address


def registered(rm: ResourceManager) -> list[str]:
    return [tm.resource_id for tm in rm.task_managers()]


# ---- ResourceManager ---------------------------------------------------------------------------


def test_refused_slot_request_drops_the_taskmanager_and_takes_slots_elsewhere() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster)
        owner = FakeOwner()
        rm.connect_job("other", owner)
        dead = register(rm, "tm-dead", 2)
        register(rm, "tm-live", 2)
        [held] = await rm.allocate_slots("other", 1, "jm:1")       # tm-dead slot 0 (registered first)
        kill(cluster, dead)
        slots = await rm.allocate_slots("job", 1, "jm:1", timeout_ms=5000)  # matched to tm-dead slot 1 first
        assert [(s.resource_id, s.slot_index) for s in slots] == [("tm-live", 0)]
        assert registered(rm) == ["tm-live"] and rm.free_slots() == 1
        [(ids, error)] = owner.lost                                  # the other job hears at once
        assert ids == {held.allocation_id}
        assert str(error).startswith(f"TaskManager tm-dead at {dead} lost: RequestSlot could not connect to it "
                                     f"(no TaskManager answers at {dead}")
        assert "not waiting for the heartbeat timeout (600 s)" in str(error)

    run(scenario())


def test_slots_granted_on_live_taskmanagers_are_kept_and_only_the_lost_ones_matched_again() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster, **{"cluster.evenly-spread-out-slots": "true"})
        dead = register(rm, "tm-dead", 2)
        live = register(rm, "tm-live", 2)
        kill(cluster, dead)
        slots = await rm.allocate_slots("job", 2, "jm:1", timeout_ms=5000)   # spread: one on each at first
        assert sorted((s.resource_id, s.slot_index) for s in slots) == [("tm-live", 0), ("tm-live", 1)]
        assert cluster[live].freed == []                            # the first slot was not given back
        assert sorted(cluster[live].slots.values()) == [0, 1]
        assert sorted(rm.job_allocations("job")) == sorted(s.allocation_id for s in slots)

    run(scenario())


def test_the_retry_waits_for_a_new_taskmanager_within_the_slot_request_timeout() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster)
        kill(cluster, register(rm, "tm-dead", 2))
        waiting = asyncio.ensure_future(rm.allocate_slots("job", 2, "jm:1", timeout_ms=5000))
        await until(lambda: rm.num_task_managers == 0)
        assert not waiting.done()
        register(rm, "tm-new", 2)
        assert [s.resource_id for s in await waiting] == ["tm-new", "tm-new"]

    run(scenario())


def test_when_the_timeout_runs_out_the_request_fails_and_gives_its_slots_back() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster, **{"cluster.evenly-spread-out-slots": "true"})
        kill(cluster, register(rm, "tm-dead", 1))
        live = register(rm, "tm-live", 1)
        with pytest.raises(NotEnoughSlotsError) as info:
            await rm.allocate_slots("job", 2, "jm:1", timeout_ms=200)
        assert str(info.value) == ("job needs 2 slots but only 1 are available (1 TaskManagers registered) "
                                   "after waiting 200 ms")
        assert len(cluster[live].freed) == 1 and rm.free_slots() == 1 and rm.job_allocations("job") == []

    run(scenario())


def test_a_slot_request_that_timed_out_on_a_live_taskmanager_fails_as_before() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster)
        slow = register(rm, "tm-slow", 1)
        register(rm, "tm-other", 1)
        cluster[slow].fail["request_slot"] = grpc_failure(slow, grpc.StatusCode.DEADLINE_EXCEEDED)
        with pytest.raises(ClusterUnreachableError, match=f"TaskManager tm-slow at {slow} could not provide slot 0"):
            await rm.allocate_slots("job", 2, "jm:1", timeout_ms=5000)
        assert registered(rm) == ["tm-slow", "tm-other"] and rm.free_slots() == 2

    run(scenario())


def test_refused_free_slot_drops_the_taskmanager() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster)
        owner = FakeOwner()
        rm.connect_job("other", owner)
        dead = register(rm, "tm-dead", 2)
        mine = await rm.allocate_slots("job", 1, "jm:1")
        theirs = await rm.allocate_slots("other", 1, "jm:1")
        kill(cluster, dead)
        await rm.release_slots("job", [s.allocation_id for s in mine], "job finished")
        assert rm.num_task_managers == 0
        assert [ids for ids, _ in owner.lost] == [{theirs[0].allocation_id}]

    run(scenario())


def test_a_failed_call_to_an_old_address_does_not_drop_the_reregistered_taskmanager() -> None:
    rm = make_rm(FakeCluster())
    register(rm, "tm-1", 1, "host:1")
    register(rm, "tm-1", 1, "host:2")        # restarted on another port
    assert not rm.task_manager_call_failed("tm-1", "host:1", "SubmitTask", grpc_failure("host:1"))
    assert not rm.task_manager_call_failed("tm-1", "host:2", "SubmitTask", StromError("slot 0 is not allocated"))
    assert not rm.task_manager_call_failed("tm-unknown", "host:3", "SubmitTask", grpc_failure("host:3"))
    assert registered(rm) == ["tm-1"]
    assert rm.task_manager_call_failed("tm-1", "host:2", "SubmitTask", grpc_failure("host:2"))
    assert registered(rm) == []


# ---- JobMaster ---------------------------------------------------------------------------------


RESTARTS = {"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "2",
            "restart-strategy.fixed-delay.delay": "10 ms"}


def start_job(cluster: FakeCluster, rm: ResourceManager, config: dict[str, str]) -> JobMaster:
    conf = Configuration({"slot.request.timeout": "5 s", "jobmanager.execution.cancel-timeout": "5 s", **config})
    jm = JobMaster(make_job_graph(config=config), conf, rm, cluster.gateways, lambda: "session", "jm:6123")
    cluster.on_cancel = lambda eid: report(jm, ExecutionAttemptId.parse(eid), ExecutionState.CANCELED)
    jm.start()
    return jm


def report(jm: JobMaster, eid: ExecutionAttemptId, state: ExecutionState) -> bool:
    return jm.update_task_execution_state(TaskExecutionState(eid, state, "", "", "tm"))


def attempts(jm: JobMaster, attempt: int) -> list[ExecutionAttemptId]:
    return [e.attempt_id for e in jm.graph.executions() if e.attempt == attempt]


async def finish(jm: JobMaster) -> JobStatus:
    for eid in attempts(jm, jm.graph.restarts):
        report(jm, eid, ExecutionState.FINISHED)
    return await jm.termination


def test_killed_taskmanager_mid_job_the_restart_runs_on_the_survivor() -> None:
    """The bug: the restart matched the dead TaskManager's slots, each RequestSlot failed and burnt a restart."""
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster, **{"cluster.evenly-spread-out-slots": "true"})
        dead, live = register(rm, "tm-dead", 2), register(rm, "tm-live", 2)
        jm = start_job(cluster, rm, RESTARTS)
        await until(lambda: len(cluster.all_submitted()) == 4)
        assert {len(cluster[dead].submitted), len(cluster[live].submitted)} == {2}
        kill(cluster, dead)
        # the survivor's consumer lost its producer on the dead TaskManager
        [consumer] = [e.attempt_id for e in jm.graph.executions()
                      if e.slot is not None and e.slot.tm_address == live and e.attempt_id.vertex == "snk"]
        jm.update_task_execution_state(TaskExecutionState(consumer, ExecutionState.FAILED, "lost the producer",
                                                          "ChannelError", "tm-live"))
        await until(lambda: len(attempts(jm, 1)) == 4 and all(e.state is ExecutionState.DEPLOYING
                                                              for e in jm.graph.executions() if e.attempt == 1))
        assert {t.attempt for t in cluster[live].submitted} == {0, 1} and len(cluster[live].submitted) == 6
        assert registered(rm) == ["tm-live"]
        assert await finish(jm) is JobStatus.FINISHED
        assert jm.graph.restarts == 1

    run(scenario())


def test_refused_submit_task_drops_the_taskmanager_and_the_restart_avoids_it() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster)
        dead, live = register(rm, "tm-dead", 2), register(rm, "tm-live", 2)
        cluster[dead].fail["submit_task"] = grpc_failure(dead)     # died right after granting its slots
        jm = start_job(cluster, rm, RESTARTS)
        await until(lambda: len([t for t in cluster[live].submitted if t.attempt == 1]) == 4)
        assert registered(rm) == ["tm-live"]
        assert await finish(jm) is JobStatus.FINISHED
        [failure] = jm.graph.exception_history
        assert failure.exception_name == "ClusterUnreachableError" and "deploying" in failure.stacktrace

    run(scenario())


def test_refused_slot_request_does_not_cost_a_restart() -> None:
    async def scenario() -> None:
        cluster = FakeCluster()
        rm = make_rm(cluster, **{"cluster.evenly-spread-out-slots": "true"})
        dead, live = register(rm, "tm-dead", 2), register(rm, "tm-live", 2)
        kill(cluster, dead)
        jm = start_job(cluster, rm, {})          # no restarts at all
        await until(lambda: len(cluster[live].submitted) == 4)
        assert cluster[dead].submitted == [] and registered(rm) == ["tm-live"]
        assert await finish(jm) is JobStatus.FINISHED
        assert jm.graph.exception_history == [] and jm.graph.restarts == 0

    run(scenario())
