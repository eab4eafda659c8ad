"""DispatcherService: decode, check the fencing token, delegate to the Dispatcher, encode."""

from __future__ import annotations

from collections.abc import Callable

import grpc.aio

from strom.common.jobgraph import JobGraph
from strom.common.rpc import common_pb2, dispatcher_pb2, dispatcher_pb2_grpc
from strom.common.version import PROTOCOL_VERSION
from strom.jobmanager.dispatcher import Dispatcher
from strom.jobmanager.leadership import Leadership
from strom.jobmanager.rpc.errors import rpc_method


class DispatcherServicer(dispatcher_pb2_grpc.DispatcherServiceServicer):
    def __init__(self, dispatcher: Dispatcher, leadership: Leadership,
                 addresses: Callable[[], tuple[str, str]]) -> None:
        self._dispatcher = dispatcher
        self._leadership = leadership
        self._addresses = addresses  # (rpc address, rest address) as published

    @rpc_method
    async def SubmitJob(self, request: dispatcher_pb2.SubmitJobRequest,
                        context: grpc.aio.ServicerContext) -> dispatcher_pb2.SubmitJobResponse:
        self._leadership.check_fencing(request.fencing.leader_session_id)
        job_id = await self._dispatcher.submit_job(JobGraph.from_proto(request.job_graph))
        return dispatcher_pb2.SubmitJobResponse(job_id=job_id)

    @rpc_method
    async def ListJobs(self, request: common_pb2.Fencing,
                       context: grpc.aio.ServicerContext) -> dispatcher_pb2.ListJobsResponse:
        self._leadership.check_fencing(request.leader_session_id)
        return dispatcher_pb2.ListJobsResponse(jobs=self._dispatcher.list_jobs())

    @rpc_method
    async def GetJob(self, request: dispatcher_pb2.JobIdRequest,
                     context: grpc.aio.ServicerContext) -> common_pb2.JobDetails:
        self._leadership.check_fencing(request.fencing.leader_session_id)
        return self._dispatcher.get_job(request.job_id)

    @rpc_method
    async def CancelJob(self, request: dispatcher_pb2.JobIdRequest,
                        context: grpc.aio.ServicerContext) -> common_pb2.Empty:
        self._leadership.check_fencing(request.fencing.leader_session_id)
        self._dispatcher.cancel_job(request.job_id)
        return common_pb2.Empty()

    @rpc_method
    async def GetOverview(self, request: common_pb2.Fencing,
                          context: grpc.aio.ServicerContext) -> dispatcher_pb2.ClusterOverview:
        self._leadership.check_fencing(request.leader_session_id)
        return self._dispatcher.overview()

    @rpc_method
    async def GetLeaderInfo(self, request: common_pb2.Empty,
                            context: grpc.aio.ServicerContext) -> dispatcher_pb2.LeaderInfoResponse:
        rpc_address, rest_address = self._addresses()
        return dispatcher_pb2.LeaderInfoResponse(
            leader_session_id=self._leadership.session_id or "", rpc_address=rpc_address,
            rest_address=rest_address, protocol_version=PROTOCOL_VERSION)
