from strom.common.rpc import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RequestSlotRequest(_message.Message):
    __slots__ = ("fencing", "slot_index", "allocation_id", "job_id", "job_master_address")
    FENCING_FIELD_NUMBER: _ClassVar[int]
    SLOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_MASTER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    fencing: _common_pb2.Fencing
    slot_index: int
    allocation_id: str
    job_id: str
    job_master_address: str
    def __init__(self, fencing: _Optional[_Union[_common_pb2.Fencing, _Mapping]] = ..., slot_index: _Optional[int] = ..., allocation_id: _Optional[str] = ..., job_id: _Optional[str] = ..., job_master_address: _Optional[str] = ...) -> None: ...

class RequestSlotResponse(_message.Message):
    __slots__ = ("data_address",)
    DATA_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    data_address: str
    def __init__(self, data_address: _Optional[str] = ...) -> None: ...

class SubmitTaskRequest(_message.Message):
    __slots__ = ("fencing", "tdd")
    FENCING_FIELD_NUMBER: _ClassVar[int]
    TDD_FIELD_NUMBER: _ClassVar[int]
    fencing: _common_pb2.Fencing
    tdd: _common_pb2.TaskDeploymentDescriptor
    def __init__(self, fencing: _Optional[_Union[_common_pb2.Fencing, _Mapping]] = ..., tdd: _Optional[_Union[_common_pb2.TaskDeploymentDescriptor, _Mapping]] = ...) -> None: ...

class CancelTaskRequest(_message.Message):
    __slots__ = ("fencing", "execution_id")
    FENCING_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_ID_FIELD_NUMBER: _ClassVar[int]
    fencing: _common_pb2.Fencing
    execution_id: str
    def __init__(self, fencing: _Optional[_Union[_common_pb2.Fencing, _Mapping]] = ..., execution_id: _Optional[str] = ...) -> None: ...

class FreeSlotRequest(_message.Message):
    __slots__ = ("fencing", "allocation_id", "cause")
    FENCING_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    fencing: _common_pb2.Fencing
    allocation_id: str
    cause: str
    def __init__(self, fencing: _Optional[_Union[_common_pb2.Fencing, _Mapping]] = ..., allocation_id: _Optional[str] = ..., cause: _Optional[str] = ...) -> None: ...
