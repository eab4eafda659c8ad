"""The JobManager's HA behaviour without ZooKeeper (embedded HA, explicit grant/revoke, in one process):
standby REST redirects, leader info on standbys, recovery that honours the job result store, and the
TaskManager's fencing of every call by the leader session it follows.

These run in seconds; the process-level tests against a real ZooKeeper are in ``test_ha_cluster.py``.
"""

from __future__ import annotations

import pytest

from strom.common.config import Configuration
from strom.common.errors import JobNotFoundError
from strom.common.gateway import DispatcherGateway
from strom.common.ha import JobResultEntry, LeaderInformation
from strom.common.ha.embedded import EmbeddedHaServices
from strom.jobmanager.entrypoint import JobManager
from strom.jobmanager.rest.http import HttpRequest, HttpResponse
from strom.jobmanager.rest.leader import LeaderGate, LeaderStatus
from tests.unit.jobmanager.fakes import make_job_graph, run, until

pytestmark = pytest.mark.timeout(60)


def status(is_leader: bool, leader_rest: str = "") -> LeaderStatus:
    return LeaderStatus(is_leader, "s1" if is_leader else None, "10.0.0.1:6123" if leader_rest else "",
                        leader_rest, "10.0.0.2:6123", "10.0.0.2:8081")


async def answer(request: HttpRequest) -> HttpResponse:
    return HttpResponse.json(200, {"served": request.path})


def test_leader_gate_serves_as_leader_redirects_as_standby_and_answers_503_without_leader() -> None:
    async def scenario() -> None:
        current = status(True)
        gate = LeaderGate(answer, lambda: current)
        assert (await gate.handle(HttpRequest("GET", "/overview", {}))).status == 200

        current = status(False, "10.0.0.1:8081")
        response = await gate.handle(HttpRequest("PATCH", "/v1/jobs/j 1", {"mode": ["cancel"]}))
        assert response.status == 307
        assert response.headers["Location"] == "http://10.0.0.1:8081/v1/jobs/j%201?mode=cancel"

        current = status(False)
        response = await gate.handle(HttpRequest("GET", "/overview", {}))
        assert response.status == 503 and response.headers["Retry-After"] == "1"
        assert b"no leader is known" in response.body

        for path in ("/jobmanager/leader", "/v1/jobmanager/leader/"):
            response = await gate.handle(HttpRequest("GET", path, {}))
            assert response.status == 200 and b'"leader":false' in response.body

    run(scenario())


def test_standby_points_at_the_leader_and_a_new_leader_skips_jobs_that_already_ended() -> None:
    async def scenario() -> None:
        ha1 = EmbeddedHaServices()
        ha2 = ha1.sibling()
        config = Configuration({"jobmanager.rpc.port": "0", "rest.port": "0", "slot.request.timeout": "20 s"})
        async with JobManager(config, ha_services=ha1) as jm1, JobManager(config, ha_services=ha2) as jm2:
            assert jm2.leader_status().leader_rest_address == ""       # nobody leads yet
            session = ha1.grant(0)
            await until(lambda: ha1.leader_information is not None)
            await until(lambda: jm2.leader_addresses() == (jm1.rpc_address, jm1.rest_address))
            gateway = DispatcherGateway(jm2.rpc_address)
            info = await gateway.leader_info_async()
            await gateway.close_async()
            assert (info.session_id, info.rpc_address, info.rest_address) == ("", jm1.rpc_address,
                                                                              jm1.rest_address)
            assert jm1.leader_status().is_leader and jm1.leader_status().session_id == session

            # what an earlier leader left behind: a finished job whose graph was not removed yet (it died in
            # between), a job that ended and was cleaned up, and a job that never ended
            graphs, results = ha1.job_graph_store(), ha1.job_result_store()
            finished, cleaned, pending = "a" * 32, "b" * 32, "c" * 32
            graphs.put(finished, make_job_graph(finished).to_bytes())
            results.put(JobResultEntry(finished, "FINISHED", "done", 1234))
            results.put(JobResultEntry(cleaned, "FAILED", "broken", 1235, "Traceback: boom"))
            graphs.put(pending, make_job_graph(pending).to_bytes())

            ha1.grant(1)                                 # leadership moves to jm2
            await until(lambda: jm2.leadership.is_leader and ha1.leader_information is not None
                        and ha1.leader_information.rpc_address == jm2.rpc_address)
            await until(lambda: graphs.job_ids() == [pending])   # the leftover graph was cleaned up
            jobs = {d.job_id: d.state for d in jm2.dispatcher.list_jobs()}
            assert jobs[finished] == "FINISHED" and jobs[cleaned] == "FAILED"
            assert jobs[pending] in ("CREATED", "RUNNING")
            assert jm2.dispatcher.get_job(cleaned).root_exception == "Traceback: boom"
            with pytest.raises(JobNotFoundError):
                jm2.dispatcher.job_master(finished)
            assert not jm1.leadership.is_leader
            assert jm1.leader_addresses() == (jm2.rpc_address, jm2.rest_address)

    run(scenario())


def test_leader_information_naming_this_standby_itself_counts_as_unknown() -> None:
    async def scenario() -> None:
        ha = EmbeddedHaServices()
        config = Configuration({"jobmanager.rpc.port": "0", "rest.port": "0"})
        async with JobManager(config, ha_services=ha) as jm:
            jm.notify_leader_address(LeaderInformation("old", jm.rpc_address, jm.rest_address))
            await until(lambda: jm.known_leader is not None)
            assert jm.leader_addresses() == ("", "")

    run(scenario())


def test_taskmanager_refuses_every_call_under_a_leader_session_it_does_not_follow() -> None:
    from strom.common.errors import FencingTokenError
    from tests.unit.taskmanager.executor.test_task_executor import JM, SESSION, make, tdd

    async def scenario() -> None:
        executor, pool, _ = make()
        await executor.request_slot(0, "a0", "j1", JM, SESSION)
        await executor.submit_task(tdd("a0"), SESSION)
        sent = len(pool.sent)
        executor.set_leader_session("s2")               # the TaskManager follows a new leader now
        calls = [executor.request_slot(1, "a1", "j1", JM, SESSION), executor.submit_task(tdd("a0"), SESSION),
                 executor.cancel_task("j1:v:0:0", SESSION), executor.free_slot("a0", "bye", SESSION),
                 executor.cancel_task("unknown:v:0:0", SESSION), executor.free_slot("unknown", "bye", SESSION)]
        for call in calls:
            with pytest.raises(FencingTokenError, match=f"carries leader session {SESSION}, but TaskManager "
                                                        "tm-1 follows leader session s2"):
                await call
        assert len(pool.sent) == sent and executor.slot_report()[0].allocation_id == "a0"
        executor.set_leader_session(None)
        with pytest.raises(FencingTokenError, match="follows no leader yet"):
            await executor.cancel_task("j1:v:0:0", SESSION)

    run(scenario())
