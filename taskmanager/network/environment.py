"""The data plane of one slot worker process: its partition registry and Flight data server,
and the factory for the result partitions, input gates and record writers of its tasks.

    env = NetworkEnvironment("127.0.0.1", {"taskmanager.network.batch-rows": "8192"})
    env.address                                   # "127.0.0.1:41234", advertised as data_address
    partition = env.create_result_partition(str(partition_id), num_subpartitions=4)
    writer = env.create_record_writer(partition, create_partitioner("hash", 128))
    gate = env.create_input_gate(tdd_input.channels, input_index=0)
    ...
    env.close()

Ownership: the worker process creates one at start and closes it at exit; tasks create
partitions and gates through it. On normal task end call ``RecordWriter.finish()`` (the
partition stays until its consumers took everything, then leaves the registry by itself)
and ``gate.close()``; on failure or cancellation also ``partition.release(cause)`` (or cancel
the ``CancelToken`` passed at creation, which releases and wakes the task).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping, Sequence

from strom.common.config import Configuration
from strom.taskmanager.network.cancel import CancelToken
from strom.taskmanager.network.flight_server import DataServer
from strom.taskmanager.network.input_gate import ChannelDescriptorLike, InputGate
from strom.taskmanager.network.partition import ResultPartition
from strom.taskmanager.network.partitioner import Partitioner
from strom.taskmanager.network.record_writer import RecordWriter
from strom.taskmanager.network.registry import PartitionRegistry
from strom.taskmanager.network.settings import NetworkSettings

log = logging.getLogger(__name__)


class NetworkEnvironment:
    """One per slot worker process. Thread-safe; the Flight server runs on gRPC's threads."""

    def __init__(self, host: str, config: Mapping[str, str] | Configuration | None = None) -> None:
        self.settings = NetworkSettings.from_config(config)
        self.host = host
        self.registry = PartitionRegistry()
        self._server = DataServer(host, self.registry, self.settings.partition_request_timeout_s)
        self.address: str = self._server.address
        self.registry.name = f"worker {self.address}"
        self._gates: weakref.WeakSet[InputGate] = weakref.WeakSet()
        self._closed = False
        log.info("data server listening on %s", self.address)

    def __enter__(self) -> NetworkEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_result_partition(self, partition_id: str, num_subpartitions: int, *,
                                cancel_token: CancelToken | None = None) -> ResultPartition:
        """A new partition, registered so that consumers can request its subpartitions."""
        partition = ResultPartition(str(partition_id), num_subpartitions, self.settings.channel_buffer_bytes,
                                    cancel_token=cancel_token)
        self.registry.register(partition)
        return partition

    def create_input_gate(self, channels: Sequence[ChannelDescriptorLike], *, input_index: int = 0,
                          cancel_token: CancelToken | None = None) -> InputGate:
        """A gate over ``channels`` (objects with partition_id, subpartition, data_address, such as
        ``common_pb2.ChannelDescriptor``); remote channels start reading at once."""
        if self._closed:
            raise RuntimeError(f"network environment {self.address} is closed")
        s = self.settings
        gate = InputGate(channels, self.address, self.registry, s.channel_buffer_bytes,
                         input_index=input_index, connect_timeout_s=s.connect_timeout_s,
                         partition_request_timeout_s=s.partition_request_timeout_s,
                         flight_window_bytes=s.flight_window_bytes, cancel_token=cancel_token)
        self._gates.add(gate)
        return gate

    def create_record_writer(self, partition: ResultPartition, partitioner: Partitioner) -> RecordWriter:
        """A writer with the configured batch size and buffer timeout."""
        return RecordWriter(partition, partitioner, batch_rows=self.settings.batch_rows,
                            buffer_timeout_ms=self.settings.buffer_timeout_ms)

    def close(self, timeout: float = 5.0) -> None:
        """Close all gates, release all partitions, stop the data server. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for gate in list(self._gates):
            gate.close()
        self.registry.close()
        self._server.close(timeout)
