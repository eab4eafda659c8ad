from strom.common.rpc import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskExecutionStateUpdate(_message.Message):
    __slots__ = ("fencing", "job_id", "execution_id", "state", "error", "error_name", "resource_id")
    FENCING_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ERROR_NAME_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    fencing: _common_pb2.Fencing
    job_id: str
    execution_id: str
    state: str
    error: str
    error_name: str
    resource_id: str
    def __init__(self, fencing: _Optional[_Union[_common_pb2.Fencing, _Mapping]] = ..., job_id: _Optional[str] = ..., execution_id: _Optional[str] = ..., state: _Optional[str] = ..., error: _Optional[str] = ..., error_name: _Optional[str] = ..., resource_id: _Optional[str] = ...) -> None: ...
