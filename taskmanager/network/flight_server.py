"""The worker's data server: serves subpartitions of its result partitions over Flight DoGet.

Transport only: decode the ticket, find the subpartition, stream its queue.

One DoGet streams one subpartition until EndOfPartition. Data batches go out as they
are; events go out as 0-row batches of the stream's schema with the encoded event as
``app_metadata``. A Flight stream has one schema, so when the next batch has another
schema the stream ends with a SchemaChange event and the consumer opens a new DoGet for
the same subpartition. Backpressure: the generator is pulled by gRPC only as fast as the
HTTP/2 stream window lets it send, so a consumer that stops reading stops the pulls, the
subpartition fills, and the producer blocks in ``emit``.

Threads: each stream's generator runs on a gRPC handler thread and is the one reader of
its subpartition; it waits on the queue in short slices to notice a cancelled call or a
closing server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TypeAlias

import pyarrow as pa
import pyarrow.flight as flight

from strom.taskmanager.network.errors import PartitionNotFoundError, PartitionReleasedError
from strom.taskmanager.network.events import (
    EndOfPartition,
    SchemaChange,
    encode_event,
)
from strom.taskmanager.network.partition import SubpartitionView
from strom.taskmanager.network.registry import PartitionRegistry
from strom.taskmanager.network.ticket import PartitionRequest, decode_ticket

log = logging.getLogger(__name__)

_EMPTY_SCHEMA = pa.schema([])
_END_OF_PARTITION = encode_event(EndOfPartition())
_SCHEMA_CHANGE = encode_event(SchemaChange())
_WAIT_SLICE_S = 0.2

StreamItem: TypeAlias = pa.RecordBatch | tuple[pa.RecordBatch, bytes]


def empty_batch(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.array([], type=field.type) for field in schema], schema=schema)


class DataServer(flight.FlightServerBase):  # type: ignore[misc]
    """Flight server of one worker process; ``address`` is the advertised ``host:port``."""

    def __init__(self, host: str, registry: PartitionRegistry, partition_request_timeout_s: float) -> None:
        super().__init__(f"grpc://{host}:0")
        self.address = f"{host}:{self.port}"
        self._registry = registry
        self._request_timeout_s = partition_request_timeout_s
        self._closing = threading.Event()
        self._shutdown_thread: threading.Thread | None = None

    def do_get(self, context: flight.ServerCallContext, ticket: flight.Ticket) -> flight.FlightDataStream:
        try:
            request = decode_ticket(ticket.ticket)
        except ValueError as e:
            raise flight.FlightServerError(f"data server {self.address}: {e}") from None
        view: SubpartitionView | None = None
        schema = _EMPTY_SCHEMA
        try:
            partition = self._registry.lookup(request.partition_id)
            if partition is not None:
                sub = partition.subpartition(request.subpartition)
                view = sub.create_view()
                head = view.peek(0)
                if isinstance(head, pa.RecordBatch):
                    schema = head.schema
                elif sub.last_schema is not None:
                    schema = sub.last_schema
        except (PartitionNotFoundError, PartitionReleasedError, IndexError) as e:
            if view is not None:
                view.release()
            raise flight.FlightServerError(str(e)) from None
        return flight.GeneratorStream(schema, self._stream(context, request, view, schema))

    def _stream(self, context: flight.ServerCallContext, request: PartitionRequest,
                view: SubpartitionView | None, schema: pa.Schema) -> Iterator[StreamItem]:
        def abandoned() -> bool:
            return context.is_cancelled() or self._closing.is_set()

        try:
            if view is None:
                partition = self._registry.get(request.partition_id, self._request_timeout_s,
                                               should_stop=abandoned)
                view = partition.subpartition(request.subpartition).create_view()
            empty = empty_batch(schema)
            while True:
                item = view.peek(_WAIT_SLICE_S)
                if item is None:
                    if abandoned():
                        return
                    continue
                if isinstance(item, pa.RecordBatch):
                    if not item.schema.equals(schema, check_metadata=True):
                        # Detach before the last message: the consumer reconnects right after it.
                        view.release()
                        view = None
                        yield empty, _SCHEMA_CHANGE
                        return
                    view.pop()
                    yield item
                elif isinstance(item, EndOfPartition):
                    view.pop()
                    view.release()
                    view = None
                    yield empty, _END_OF_PARTITION
                    return
                else:
                    view.pop()
                    yield empty, encode_event(item)
        except (PartitionNotFoundError, PartitionReleasedError, IndexError) as e:
            if abandoned():
                return
            raise flight.FlightServerError(str(e)) from None
        finally:
            if view is not None:
                view.release()

    def close(self, timeout: float = 5.0) -> None:
        """Stop serving. Streams end once their partitions are released (release them first);
        a stream stuck on a consumer that neither reads nor disconnects is abandoned after
        ``timeout`` seconds."""
        if self._shutdown_thread is not None:
            return
        self._closing.set()
        self._shutdown_thread = threading.Thread(target=self.shutdown, name="flight-shutdown", daemon=True)
        self._shutdown_thread.start()
        self._shutdown_thread.join(timeout)
        if self._shutdown_thread.is_alive():
            log.warning("data server %s: streams still open %.1f s after shutdown began; giving up waiting",
                        self.address, timeout)
