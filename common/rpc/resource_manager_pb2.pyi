from strom.common.rpc import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RegisterTaskExecutorRequest(_message.Message):
    __slots__ = ("fencing", "resource_id", "rpc_address", "protocol_version", "num_slots", "slot_report", "hostname", "memory_bytes", "cpu_cores")
    FENCING_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    RPC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    NUM_SLOTS_FIELD_NUMBER: _ClassVar[int]
    SLOT_REPORT_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    MEMORY_BYTES_FIELD_NUMBER: _ClassVar[int]
    CPU_CORES_FIELD_NUMBER: _ClassVar[int]
    fencing: _common_pb2.Fencing
    resource_id: str
    rpc_address: str
    protocol_version: int
    num_slots: int
    slot_report: _common_pb2.SlotReport
    hostname: str
    memory_bytes: int
    cpu_cores: int
    def __init__(self, fencing: _Optional[_Union[_common_pb2.Fencing, _Mapping]] = ..., resource_id: _Optional[str] = ..., rpc_address: _Optional[str] = ..., protocol_version: _Optional[int] = ..., num_slots: _Optional[int] = ..., slot_report: _Optional[_Union[_common_pb2.SlotReport, _Mapping]] = ..., hostname: _Optional[str] = ..., memory_bytes: _Optional[int] = ..., cpu_cores: _Optional[int] = ...) -> None: ...

class RegisterTaskExecutorResponse(_message.Message):
    __slots__ = ("registration_id", "heartbeat_interval_ms", "heartbeat_timeout_ms")
    REGISTRATION_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    registration_id: str
    heartbeat_interval_ms: int
    heartbeat_timeout_ms: int
    def __init__(self, registration_id: _Optional[str] = ..., heartbeat_interval_ms: _Optional[int] = ..., heartbeat_timeout_ms: _Optional[int] = ...) -> None: ...

class TaskExecutorHeartbeat(_message.Message):
    __slots__ = ("fencing", "resource_id", "slot_report")
    FENCING_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    SLOT_REPORT_FIELD_NUMBER: _ClassVar[int]
    fencing: _common_pb2.Fencing
    resource_id: str
    slot_report: _common_pb2.SlotReport
    def __init__(self, fencing: _Optional[_Union[_common_pb2.Fencing, _Mapping]] = ..., resource_id: _Optional[str] = ..., slot_report: _Optional[_Union[_common_pb2.SlotReport, _Mapping]] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("registered",)
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    registered: bool
    def __init__(self, registered: _Optional[bool] = ...) -> None: ...
