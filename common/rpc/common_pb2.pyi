from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Fencing(_message.Message):
    __slots__ = ("leader_session_id",)
    LEADER_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    leader_session_id: str
    def __init__(self, leader_session_id: _Optional[str] = ...) -> None: ...

class Empty(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SlotStatus(_message.Message):
    __slots__ = ("slot_index", "allocation_id", "job_id")
    SLOT_INDEX_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    slot_index: int
    allocation_id: str
    job_id: str
    def __init__(self, slot_index: _Optional[int] = ..., allocation_id: _Optional[str] = ..., job_id: _Optional[str] = ...) -> None: ...

class SlotReport(_message.Message):
    __slots__ = ("slots",)
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    slots: _containers.RepeatedCompositeFieldContainer[SlotStatus]
    def __init__(self, slots: _Optional[_Iterable[_Union[SlotStatus, _Mapping]]] = ...) -> None: ...

class JobVertex(_message.Message):
    __slots__ = ("id", "name", "parallelism", "max_parallelism", "operators", "is_source", "slot_sharing_group")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    MAX_PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    IS_SOURCE_FIELD_NUMBER: _ClassVar[int]
    SLOT_SHARING_GROUP_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    parallelism: int
    max_parallelism: int
    operators: bytes
    is_source: bool
    slot_sharing_group: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., parallelism: _Optional[int] = ..., max_parallelism: _Optional[int] = ..., operators: _Optional[bytes] = ..., is_source: _Optional[bool] = ..., slot_sharing_group: _Optional[str] = ...) -> None: ...

class JobEdge(_message.Message):
    __slots__ = ("source_id", "target_id", "partitioner", "input_index")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_ID_FIELD_NUMBER: _ClassVar[int]
    PARTITIONER_FIELD_NUMBER: _ClassVar[int]
    INPUT_INDEX_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    target_id: str
    partitioner: str
    input_index: int
    def __init__(self, source_id: _Optional[str] = ..., target_id: _Optional[str] = ..., partitioner: _Optional[str] = ..., input_index: _Optional[int] = ...) -> None: ...

class JobGraph(_message.Message):
    __slots__ = ("job_id", "name", "vertices", "edges", "config")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERTICES_FIELD_NUMBER: _ClassVar[int]
    EDGES_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    vertices: _containers.RepeatedCompositeFieldContainer[JobVertex]
    edges: _containers.RepeatedCompositeFieldContainer[JobEdge]
    config: _containers.ScalarMap[str, str]
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., vertices: _Optional[_Iterable[_Union[JobVertex, _Mapping]]] = ..., edges: _Optional[_Iterable[_Union[JobEdge, _Mapping]]] = ..., config: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ChannelDescriptor(_message.Message):
    __slots__ = ("partition_id", "subpartition", "data_address")
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    SUBPARTITION_FIELD_NUMBER: _ClassVar[int]
    DATA_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    partition_id: str
    subpartition: int
    data_address: str
    def __init__(self, partition_id: _Optional[str] = ..., subpartition: _Optional[int] = ..., data_address: _Optional[str] = ...) -> None: ...

class InputGateDescriptor(_message.Message):
    __slots__ = ("input_index", "partitioner", "channels")
    INPUT_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARTITIONER_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    input_index: int
    partitioner: str
    channels: _containers.RepeatedCompositeFieldContainer[ChannelDescriptor]
    def __init__(self, input_index: _Optional[int] = ..., partitioner: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[ChannelDescriptor, _Mapping]]] = ...) -> None: ...

class ResultPartitionDescriptor(_message.Message):
    __slots__ = ("partition_id", "num_subpartitions", "partitioner")
    PARTITION_ID_FIELD_NUMBER: _ClassVar[int]
    NUM_SUBPARTITIONS_FIELD_NUMBER: _ClassVar[int]
    PARTITIONER_FIELD_NUMBER: _ClassVar[int]
    partition_id: str
    num_subpartitions: int
    partitioner: str
    def __init__(self, partition_id: _Optional[str] = ..., num_subpartitions: _Optional[int] = ..., partitioner: _Optional[str] = ...) -> None: ...

class TaskDeploymentDescriptor(_message.Message):
    __slots__ = ("job_id", "job_name", "vertex_id", "vertex_name", "subtask_index", "parallelism", "attempt", "max_parallelism", "allocation_id", "operators", "inputs", "outputs", "config")
    class ConfigEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    JOB_NAME_FIELD_NUMBER: _ClassVar[int]
    VERTEX_ID_FIELD_NUMBER: _ClassVar[int]
    VERTEX_NAME_FIELD_NUMBER: _ClassVar[int]
    SUBTASK_INDEX_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    MAX_PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    ALLOCATION_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATORS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    job_name: str
    vertex_id: str
    vertex_name: str
    subtask_index: int
    parallelism: int
    attempt: int
    max_parallelism: int
    allocation_id: str
    operators: bytes
    inputs: _containers.RepeatedCompositeFieldContainer[InputGateDescriptor]
    outputs: _containers.RepeatedCompositeFieldContainer[ResultPartitionDescriptor]
    config: _containers.ScalarMap[str, str]
    def __init__(self, job_id: _Optional[str] = ..., job_name: _Optional[str] = ..., vertex_id: _Optional[str] = ..., vertex_name: _Optional[str] = ..., subtask_index: _Optional[int] = ..., parallelism: _Optional[int] = ..., attempt: _Optional[int] = ..., max_parallelism: _Optional[int] = ..., allocation_id: _Optional[str] = ..., operators: _Optional[bytes] = ..., inputs: _Optional[_Iterable[_Union[InputGateDescriptor, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[ResultPartitionDescriptor, _Mapping]]] = ..., config: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ExceptionEntry(_message.Message):
    __slots__ = ("exception_name", "stacktrace", "timestamp", "task_name", "location")
    EXCEPTION_NAME_FIELD_NUMBER: _ClassVar[int]
    STACKTRACE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TASK_NAME_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    exception_name: str
    stacktrace: str
    timestamp: int
    task_name: str
    location: str
    def __init__(self, exception_name: _Optional[str] = ..., stacktrace: _Optional[str] = ..., timestamp: _Optional[int] = ..., task_name: _Optional[str] = ..., location: _Optional[str] = ...) -> None: ...

class VertexDetails(_message.Message):
    __slots__ = ("id", "name", "parallelism", "state", "start_time", "end_time", "task_counts")
    class TaskCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PARALLELISM_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    TASK_COUNTS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    parallelism: int
    state: str
    start_time: int
    end_time: int
    task_counts: _containers.ScalarMap[str, int]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., parallelism: _Optional[int] = ..., state: _Optional[str] = ..., start_time: _Optional[int] = ..., end_time: _Optional[int] = ..., task_counts: _Optional[_Mapping[str, int]] = ...) -> None: ...

class JobDetails(_message.Message):
    __slots__ = ("job_id", "name", "state", "start_time", "end_time", "last_modification", "vertices", "root_exception", "exceptions", "timestamps", "restarts")
    class TimestampsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_MODIFICATION_FIELD_NUMBER: _ClassVar[int]
    VERTICES_FIELD_NUMBER: _ClassVar[int]
    ROOT_EXCEPTION_FIELD_NUMBER: _ClassVar[int]
    EXCEPTIONS_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMPS_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    name: str
    state: str
    start_time: int
    end_time: int
    last_modification: int
    vertices: _containers.RepeatedCompositeFieldContainer[VertexDetails]
    root_exception: str
    exceptions: _containers.RepeatedCompositeFieldContainer[ExceptionEntry]
    timestamps: _containers.ScalarMap[str, int]
    restarts: int
    def __init__(self, job_id: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., start_time: _Optional[int] = ..., end_time: _Optional[int] = ..., last_modification: _Optional[int] = ..., vertices: _Optional[_Iterable[_Union[VertexDetails, _Mapping]]] = ..., root_exception: _Optional[str] = ..., exceptions: _Optional[_Iterable[_Union[ExceptionEntry, _Mapping]]] = ..., timestamps: _Optional[_Mapping[str, int]] = ..., restarts: _Optional[int] = ...) -> None: ...
