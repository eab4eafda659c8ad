"""The data plane: result partitions, input gates, partitioners and the Flight data server.

See docs/architecture.md ("Data plane"). The task runtime and the worker process use
``NetworkEnvironment`` and the types it returns; the rest is internal.
"""

from strom.taskmanager.network.cancel import CancelToken
from strom.taskmanager.network.environment import NetworkEnvironment
from strom.taskmanager.network.errors import (
    ChannelError,
    NetworkError,
    PartitionNotFoundError,
    PartitionReleasedError,
    TaskCancelledError,
)
from strom.taskmanager.network.events import (
    CheckpointBarrier,
    EndOfPartition,
    Event,
    SchemaChange,
    Watermark,
    decode_event,
    encode_event,
)
from strom.taskmanager.network.input_gate import Channel, ChannelDescriptorLike, InputGate, UnionInputGate
from strom.taskmanager.network.partition import ResultPartition
from strom.taskmanager.network.partitioner import (
    BroadcastPartitioner,
    ForwardPartitioner,
    HashPartitioner,
    Partitioner,
    RebalancePartitioner,
    create_partitioner,
)
from strom.taskmanager.network.record_writer import RecordWriter
from strom.taskmanager.network.settings import NetworkSettings

__all__ = [
    "BroadcastPartitioner",
    "CancelToken",
    "Channel",
    "ChannelDescriptorLike",
    "ChannelError",
    "CheckpointBarrier",
    "EndOfPartition",
    "Event",
    "ForwardPartitioner",
    "HashPartitioner",
    "InputGate",
    "NetworkEnvironment",
    "NetworkError",
    "NetworkSettings",
    "Partitioner",
    "PartitionNotFoundError",
    "PartitionReleasedError",
    "RebalancePartitioner",
    "RecordWriter",
    "ResultPartition",
    "SchemaChange",
    "TaskCancelledError",
    "UnionInputGate",
    "Watermark",
    "create_partitioner",
    "decode_event",
    "encode_event",
]
