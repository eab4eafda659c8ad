"""Thin gRPC servicers: decode the request, check the fencing token, delegate, encode the answer."""

from strom.jobmanager.rpc.dispatcher_service import DispatcherServicer
from strom.jobmanager.rpc.job_master_service import JobMasterServicer
from strom.jobmanager.rpc.resource_manager_service import ResourceManagerServicer

__all__ = ["DispatcherServicer", "JobMasterServicer", "ResourceManagerServicer"]
