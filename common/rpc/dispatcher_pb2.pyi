from strom.common.rpc import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SubmitJobRequest(_message.Message):
    __slots__ = ("fencing", "job_graph")
    FENCING_FIELD_NUMBER: _ClassVar[int]
    JOB_GRAPH_FIELD_NUMBER: _ClassVar[int]
    fencing: _common_pb2.Fencing
    job_graph: _common_pb2.JobGraph
    def __init__(self, fencing: _Optional[_Union[_common_pb2.Fencing, _Mapping]] = ..., job_graph: _Optional[_Union[_common_pb2.JobGraph, _Mapping]] = ...) -> None: ...

class SubmitJobResponse(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class JobIdRequest(_message.Message):
    __slots__ = ("fencing", "job_id")
    FENCING_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    fencing: _common_pb2.Fencing
    job_id: str
    def __init__(self, fencing: _Optional[_Union[_common_pb2.Fencing, _Mapping]] = ..., job_id: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[_common_pb2.JobDetails]
    def __init__(self, jobs: _Optional[_Iterable[_Union[_common_pb2.JobDetails, _Mapping]]] = ...) -> None: ...

class ClusterOverview(_message.Message):
    __slots__ = ("taskmanagers", "slots_total", "slots_available", "jobs_running", "jobs_finished", "jobs_cancelled", "jobs_failed")
    TASKMANAGERS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SLOTS_AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    JOBS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    JOBS_FINISHED_FIELD_NUMBER: _ClassVar[int]
    JOBS_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    JOBS_FAILED_FIELD_NUMBER: _ClassVar[int]
    taskmanagers: int
    slots_total: int
    slots_available: int
    jobs_running: int
    jobs_finished: int
    jobs_cancelled: int
    jobs_failed: int
    def __init__(self, taskmanagers: _Optional[int] = ..., slots_total: _Optional[int] = ..., slots_available: _Optional[int] = ..., jobs_running: _Optional[int] = ..., jobs_finished: _Optional[int] = ..., jobs_cancelled: _Optional[int] = ..., jobs_failed: _Optional[int] = ...) -> None: ...

class LeaderInfoResponse(_message.Message):
    __slots__ = ("leader_session_id", "rpc_address", "rest_address", "protocol_version")
    LEADER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    RPC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REST_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    leader_session_id: str
    rpc_address: str
    rest_address: str
    protocol_version: int
    def __init__(self, leader_session_id: _Optional[str] = ..., rpc_address: _Optional[str] = ..., rest_address: _Optional[str] = ..., protocol_version: _Optional[int] = ...) -> None: ...
