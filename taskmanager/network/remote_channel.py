"""The consumer side of one remote channel (Flink's RemoteInputChannel): a thread that
opens Flight DoGet streams for one subpartition and hands every batch and event to its
input gate.

Flow control: ``push`` blocks while the gate's buffer for this channel is full; the
thread then stops reading its stream, the HTTP/2 stream window (``flight_window_bytes``,
with gRPC's automatic window growth switched off so it stays bounded) fills, and the
producer's generator is no longer pulled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeAlias

import pyarrow as pa
import pyarrow.flight as flight

from strom.taskmanager.network.errors import ChannelError
from strom.taskmanager.network.events import EndOfPartition, Event, SchemaChange, decode_event
from strom.taskmanager.network.ticket import PartitionRequest, encode_ticket

log = logging.getLogger(__name__)

# push(item, nbytes) -> False when the gate closed meanwhile
Push: TypeAlias = Callable[[pa.RecordBatch | Event, int], bool]
Fail: TypeAlias = Callable[[BaseException], None]

_BACKOFF_INITIAL_S = 0.02
_BACKOFF_MAX_S = 1.0


def connect_client(address: str, window_bytes: int) -> flight.FlightClient:
    """A Flight client for a producer's ``host:port``; it connects lazily, on the first call."""
    return flight.FlightClient(
        f"grpc://{address}",
        generic_options=[
            # gRPC otherwise grows the window by bandwidth-delay probing up to ~100 MB per stream on
            # loopback, which would buffer that much for a consumer that stopped reading.
            ("grpc.http2.bdp_probe", 0),
            ("grpc.http2.lookahead_bytes", window_bytes),
        ],
    )


class RemoteChannelReader:
    """Reads channel ``index`` of a gate on its own daemon thread until EndOfPartition."""

    def __init__(self, index: int, partition_id: str, subpartition: int, address: str,
                 client: flight.FlightClient, connect_timeout_s: float, push: Push, fail: Fail) -> None:
        self.index = index
        self.address = address
        self._request = PartitionRequest(partition_id, subpartition)
        self._client = client
        self._connect_timeout_s = connect_timeout_s
        self._push = push
        self._fail = fail
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._reader: flight.FlightStreamReader | None = None
        self._thread = threading.Thread(
            target=self._run, daemon=True,
            name=f"strom-channel-{partition_id}/{subpartition}<-{address}")

    def describe(self) -> str:
        return (f"input channel {self.index} (partition {self._request.partition_id}, subpartition "
                f"{self._request.subpartition}) from producer at {self.address}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Cancel the stream in flight; the thread ends soon after."""
        self._stopped.set()
        with self._lock:
            reader = self._reader
        if reader is not None:
            reader.cancel()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        completed = False
        try:
            completed = self._read_until_end()
        except Exception as e:  # every failure must reach the task
            if self._stopped.is_set():
                return
            if isinstance(e, ChannelError):
                self._fail(e)
            else:
                what = flight_message(e) if isinstance(e, flight.FlightError) else f"{type(e).__name__}: {e}"
                error = ChannelError(f"{self.describe()} failed: {what}")
                error.__cause__ = e
                self._fail(error)
        finally:
            with self._lock:
                reader, self._reader = self._reader, None
            if reader is not None and not completed:
                reader.cancel()  # the gate closed mid-stream: let the producer's server know now

    def _read_until_end(self) -> bool:
        """True once EndOfPartition was handed over; False if the gate closed first."""
        ticket = flight.Ticket(encode_ticket(self._request))
        deadline = time.monotonic() + self._connect_timeout_s
        backoff = _BACKOFF_INITIAL_S
        received_any = False
        while not self._stopped.is_set():
            try:
                reader = self._client.do_get(ticket)
                with self._lock:
                    self._reader = reader
                if self._stopped.is_set():
                    return False
                while True:
                    try:
                        chunk = reader.read_chunk()
                    except StopIteration:
                        raise ChannelError(f"{self.describe()}: the stream ended without end-of-partition "
                                           "(producer's data server shut down?)") from None
                    received_any = True
                    metadata = chunk.app_metadata
                    if metadata is None:
                        data = chunk.data
                        if not self._push(data, data.nbytes):
                            return False
                        continue
                    event = decode_event(metadata.to_pybytes())
                    if isinstance(event, SchemaChange):
                        break  # the next batch has another schema: open the next stream
                    if not self._push(event, 0):
                        return False
                    if isinstance(event, EndOfPartition):
                        return True
            except flight.FlightUnavailableError as e:
                # Nothing listens yet (the producer's worker may still be starting): retry until
                # the deadline. Once data flowed, unavailability means the producer went away.
                remaining = deadline - time.monotonic()
                if received_any or remaining <= 0:
                    what = "lost the connection to" if received_any else \
                        f"could not connect within {self._connect_timeout_s:g} s to"
                    raise ChannelError(f"{self.describe()}: {what} the producer at {self.address}: "
                                       f"{flight_message(e)}") from e
                self._stopped.wait(min(backoff, remaining))
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
        return False


def flight_message(error: BaseException) -> str:
    """A Flight error's message without gRPC's repeated debug context."""
    text = str(error).strip()
    for marker in (". Detail:", ". gRPC client debug context:", " gRPC client debug context:"):
        cut = text.find(marker)
        if cut > 0:
            text = text[:cut]
    text = text.removeprefix("Flight returned unavailable error, with message: ")
    return text.splitlines()[0] if text else type(error).__name__
