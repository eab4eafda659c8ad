"""Leadership: fencing before grant, suspension on revoke, recovery of stored jobs on the next grant."""

from __future__ import annotations

import pytest

from strom.common.config import Configuration
from strom.common.errors import FencingTokenError
from strom.common.gateway import DispatcherGateway
from strom.common.ha.embedded import EmbeddedHaServices
from strom.jobmanager.entrypoint import JobManager
from tests.unit.jobmanager.fakes import make_job_graph, run, until

pytestmark = pytest.mark.timeout(30)


def test_revoke_suspends_jobs_and_a_new_grant_recovers_them() -> None:
    async def scenario() -> None:
        ha = EmbeddedHaServices()
        config = Configuration({"jobmanager.rpc.port": "0", "rest.port": "0", "slot.request.timeout": "20 s"})
        async with JobManager(config, ha_services=ha) as jm:
            anonymous = DispatcherGateway(jm.rpc_address, retry_deadline_s=0)
            with pytest.raises(FencingTokenError, match="no leader session"):
                await anonymous.list_jobs_async()
            session = ha.grant(0)
            await until(lambda: jm.leadership.session_id == session)
            client = DispatcherGateway(jm.rpc_address, session_id=session)
            job_id = await client.submit_job_async(make_job_graph("c" * 32))
            job_master = jm.dispatcher.job_master(job_id)
            await until(lambda: job_master.graph.status.value == "RUNNING")  # waiting for slots

            ha.revoke()
            assert (await job_master.termination).value == "SUSPENDED"
            await until(lambda: jm.leadership.session_id is None)
            with pytest.raises(FencingTokenError, match="leader session"):
                await client.get_job_async(job_id)

            new_session = ha.grant(0)
            assert new_session != session
            await until(lambda: jm.leadership.session_id == new_session)
            with pytest.raises(FencingTokenError, match="stale leader session"):
                await client.get_job_async(job_id)
            fresh = DispatcherGateway(jm.rpc_address)  # resolves the session itself
            await until(lambda: job_id in {j.job_id for j in jm.dispatcher.list_jobs()})
            assert (await fresh.get_job_async(job_id)).state in ("CREATED", "RUNNING")
            for gateway in (anonymous, client, fresh):
                await gateway.close_async()

    run(scenario())
