"""Client-side gateway to the JobManager's ``DispatcherService``.

Used by the client (``strom run``, ``strom list``, ``strom cancel``) and by
tests. Every fenced call carries the leader session id; built without one, the
gateway asks the JobManager for it first (see ``gateway.base``).

    gateway = DispatcherGateway("127.0.0.1:6123")
    job_id = gateway.submit_job(job_graph)
    print(gateway.get_job(job_id).state)
    gateway.close()
"""

from __future__ import annotations

from dataclasses import dataclass

from strom.common.gateway.base import FencedGatewayBase
from strom.common.jobgraph import JobGraph
from strom.common.rpc import common_pb2, dispatcher_pb2, dispatcher_pb2_grpc


@dataclass(frozen=True)
class LeaderInfo:
    """Who leads the cluster, as the JobManager at the gateway's address sees it."""

    session_id: str        # empty: that JobManager is not the leader
    rpc_address: str
    rest_address: str
    protocol_version: int


class DispatcherGateway(FencedGatewayBase):
    """Submit, list, inspect and cancel jobs on the JobManager at ``address`` (host:port)."""

    stub_class = dispatcher_pb2_grpc.DispatcherServiceStub

    # ---- blocking ---------------------------------------------------------

    def submit_job(self, job_graph: JobGraph) -> str:
        """Submit a job; returns its job id. Raises JobSubmissionError/JobGraphError when refused."""
        response = self._fenced("SubmitJob", lambda f: dispatcher_pb2.SubmitJobRequest(
            fencing=f, job_graph=job_graph.to_proto()))
        return str(response.job_id)

    def list_jobs(self) -> list[common_pb2.JobDetails]:
        return list(self._fenced("ListJobs", lambda f: f).jobs)

    def get_job(self, job_id: str) -> common_pb2.JobDetails:
        """Details of one job. Raises JobNotFoundError for an unknown id."""
        details: common_pb2.JobDetails = self._fenced("GetJob", lambda f: _job_id_request(f, job_id))
        return details

    def cancel_job(self, job_id: str) -> None:
        self._fenced("CancelJob", lambda f: _job_id_request(f, job_id))

    def overview(self) -> dispatcher_pb2.ClusterOverview:
        overview: dispatcher_pb2.ClusterOverview = self._fenced("GetOverview", lambda f: f)
        return overview

    def leader_info(self) -> LeaderInfo:
        """Unfenced: who leads, and under which session id."""
        return _leader_info(self._call("GetLeaderInfo", common_pb2.Empty()))

    # ---- asyncio ----------------------------------------------------------

    async def submit_job_async(self, job_graph: JobGraph) -> str:
        response = await self._fenced_async("SubmitJob", lambda f: dispatcher_pb2.SubmitJobRequest(
            fencing=f, job_graph=job_graph.to_proto()))
        return str(response.job_id)

    async def list_jobs_async(self) -> list[common_pb2.JobDetails]:
        return list((await self._fenced_async("ListJobs", lambda f: f)).jobs)

    async def get_job_async(self, job_id: str) -> common_pb2.JobDetails:
        details: common_pb2.JobDetails = await self._fenced_async(
            "GetJob", lambda f: _job_id_request(f, job_id))
        return details

    async def cancel_job_async(self, job_id: str) -> None:
        await self._fenced_async("CancelJob", lambda f: _job_id_request(f, job_id))

    async def overview_async(self) -> dispatcher_pb2.ClusterOverview:
        overview: dispatcher_pb2.ClusterOverview = await self._fenced_async("GetOverview", lambda f: f)
        return overview

    async def leader_info_async(self) -> LeaderInfo:
        return _leader_info(await self._call_async("GetLeaderInfo", common_pb2.Empty()))


def _job_id_request(f: common_pb2.Fencing, job_id: str) -> dispatcher_pb2.JobIdRequest:
    return dispatcher_pb2.JobIdRequest(fencing=f, job_id=job_id)


def _leader_info(response: dispatcher_pb2.LeaderInfoResponse) -> LeaderInfo:
    return LeaderInfo(response.leader_session_id, response.rpc_address, response.rest_address,
                      response.protocol_version)
