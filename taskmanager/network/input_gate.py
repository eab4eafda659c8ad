"""Input gates: the consumer side of an exchange (Flink's SingleInputGate / UnionInputGate).

An ``InputGate`` reads the channels of one logical input edge of a task: one channel per
producer subtask, each a subpartition of that producer's result partition. A channel
whose producer lives in this worker process (``data_address == local_address``) is read
straight from the producer's queue, batches by reference; every other channel has a
``RemoteChannelReader`` thread that pulls Flight streams into a per-channel buffer
bounded by ``channel_buffer_bytes``. Per-channel (not shared) budgets mean a task that
stops reading some channels (barrier alignment) never starves the others.

``poll`` hands out one item at a time, round-robin across channels that have data, as
``(channel_index, batch_or_event)``; EndOfPartition is returned too, once per channel, so
callers can keep per-channel state (watermarks, barriers). A ``UnionInputGate`` polls
several gates of one task as one, numbering channels consecutively.

Threads: ``poll`` is called by the task's thread; reader threads and local producers only
append under the gate's lock and signal it.

    gate = env.create_input_gate(tdd_input.channels, input_index=0)
    while not gate.is_finished():
        got = gate.poll(timeout=writer_deadline_or_1s)
        if got is None:
            continue
        channel, item = got
        ...
    gate.close()
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeAlias

import pyarrow as pa
import pyarrow.flight as flight

from strom.taskmanager.network.cancel import CancelToken
from strom.taskmanager.network.errors import (
    ChannelError,
    PartitionNotFoundError,
    PartitionReleasedError,
    TaskCancelledError,
)
from strom.taskmanager.network.events import EndOfPartition, Event
from strom.taskmanager.network.partition import SubpartitionView
from strom.taskmanager.network.registry import PartitionRegistry
from strom.taskmanager.network.remote_channel import RemoteChannelReader, connect_client

GateItem: TypeAlias = pa.RecordBatch | Event

_LOCAL_RESOLVE_SLICE_S = 0.05
_JOIN_TIMEOUT_S = 5.0


class ChannelDescriptorLike(Protocol):
    """What a gate needs to know about a channel; ``common_pb2.ChannelDescriptor`` fits."""

    @property
    def partition_id(self) -> str: ...

    @property
    def subpartition(self) -> int: ...

    @property
    def data_address(self) -> str: ...


@dataclass(frozen=True)
class Channel:
    partition_id: str
    subpartition: int
    data_address: str


class _ChannelState:
    __slots__ = ("index", "descriptor", "is_local", "items", "bytes", "finished", "view",
                 "reader", "space")

    def __init__(self, index: int, descriptor: ChannelDescriptorLike, is_local: bool,
                 lock: threading.Lock) -> None:
        self.index = index
        self.descriptor = descriptor
        self.is_local = is_local
        self.items: deque[tuple[GateItem, int]] = deque()
        self.bytes = 0
        self.finished = False
        self.view: SubpartitionView | None = None
        self.reader: RemoteChannelReader | None = None
        self.space = threading.Condition(lock)


class InputGate:
    """The channels of one logical input of a task (see module docstring)."""

    def __init__(self, channels: Sequence[ChannelDescriptorLike], local_address: str,
                 registry: PartitionRegistry, channel_buffer_bytes: int, *, input_index: int = 0,
                 connect_timeout_s: float = 60.0, partition_request_timeout_s: float = 60.0,
                 flight_window_bytes: int = 4 * 1024 * 1024,
                 cancel_token: CancelToken | None = None) -> None:
        self.input_index = input_index
        self.local_address = local_address
        self._registry = registry
        self._channel_buffer_bytes = channel_buffer_bytes
        self._lock = threading.Lock()
        self._available = threading.Condition(self._lock)
        self._channels = [_ChannelState(i, c, c.data_address == local_address, self._lock)
                          for i, c in enumerate(channels)]
        self._bytes = 0
        self._num_finished = 0
        self._next = 0
        self._failure: BaseException | None = None
        self._cancel_reason: str | None = None
        self._closed = False
        self._listeners: list[Callable[[], None]] = []
        self._unresolved_local = sum(1 for c in self._channels if c.is_local)
        self._local_deadline = time.monotonic() + partition_request_timeout_s
        self._request_timeout_s = partition_request_timeout_s
        self._clients: dict[str, flight.FlightClient] = {}
        self._cancel_token = cancel_token
        for ch in self._channels:
            if ch.is_local:
                continue
            address = ch.descriptor.data_address
            client = self._clients.get(address)
            if client is None:
                client = self._clients[address] = connect_client(address, flight_window_bytes)
            ch.reader = RemoteChannelReader(
                ch.index, ch.descriptor.partition_id, ch.descriptor.subpartition, address, client,
                connect_timeout_s, push=self._pusher(ch), fail=self._failer(ch))
        for ch in self._channels:
            if ch.reader is not None:
                ch.reader.start()
        if cancel_token is not None:
            cancel_token.add_callback(self._on_cancel)

    def __repr__(self) -> str:
        return f"InputGate(input {self.input_index}, {len(self._channels)} channels)"

    @property
    def num_channels(self) -> int:
        return len(self._channels)

    @property
    def channels(self) -> list[ChannelDescriptorLike]:
        return [ch.descriptor for ch in self._channels]

    def channel_input_index(self, channel: int) -> int:
        """The logical input (``input_index``) channel ``channel`` belongs to."""
        return self.input_index

    # ---- task API ---------------------------------------------------------------------

    def poll(self, timeout: float) -> tuple[int, GateItem] | None:
        """The next ``(channel_index, batch_or_event)``, waiting up to ``timeout`` seconds;
        None on timeout or when every channel has ended. Raises the first channel failure
        (ChannelError, PartitionNotFoundError) and TaskCancelledError once cancelled or closed."""
        deadline: float | None = None
        with self._lock:
            while True:
                self._raise_if_failed_locked()
                got = self._next_locked()
                if got is not None:
                    return got
                if self._num_finished == len(self._channels):
                    return None
                now = time.monotonic()
                if deadline is None:
                    deadline = now + timeout
                remaining = deadline - now
                if remaining <= 0:
                    return None
                if self._unresolved_local:
                    remaining = min(remaining, _LOCAL_RESOLVE_SLICE_S)
                self._available.wait(remaining)

    def is_finished(self) -> bool:
        """Every channel delivered EndOfPartition through ``poll``."""
        return self._num_finished == len(self._channels)

    def buffered_bytes(self) -> int:
        """Bytes received from remote channels and not yet polled."""
        return self._bytes

    def close(self) -> None:
        """Stop reader threads, cancel their Flight calls, detach from local queues. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._notify_all_locked()
            views = [ch.view for ch in self._channels if ch.view is not None]
            for ch in self._channels:
                ch.view = None
                ch.items.clear()
                ch.bytes = 0
            self._bytes = 0
        if self._cancel_token is not None:
            self._cancel_token.remove_callback(self._on_cancel)
        for view in views:
            view.release()
        readers = [ch.reader for ch in self._channels if ch.reader is not None]
        for reader in readers:
            reader.stop()
        deadline = time.monotonic() + _JOIN_TIMEOUT_S
        for reader in readers:
            reader.join(max(0.0, deadline - time.monotonic()))
        for client in self._clients.values():
            client.close()
        self._fire_listeners()

    def add_availability_listener(self, listener: Callable[[], None]) -> None:
        """``listener()`` is called (without locks held, from any thread) whenever the gate may
        have turned pollable: new data, a failure, cancellation."""
        self._listeners.append(listener)

    @property
    def needs_periodic_poll(self) -> bool:
        """True while a local channel waits for its producer to register (no signal for that)."""
        return self._unresolved_local > 0

    # ---- internals --------------------------------------------------------------------

    def _raise_if_failed_locked(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._cancel_reason is not None:
            raise TaskCancelledError(f"input {self.input_index}: {self._cancel_reason}")
        if self._closed:
            raise TaskCancelledError(f"input gate {self.input_index} was closed")

    def _next_locked(self) -> tuple[int, GateItem] | None:
        channels = self._channels
        n = len(channels)
        for k in range(n):
            i = (self._next + k) % n
            ch = channels[i]
            if ch.finished:
                continue
            if ch.is_local:
                item = self._poll_local_locked(ch)
                if item is None:
                    continue
            else:
                if not ch.items:
                    continue
                item, nbytes = ch.items.popleft()
                if nbytes:
                    ch.bytes -= nbytes
                    self._bytes -= nbytes
                    ch.space.notify()
            if isinstance(item, EndOfPartition):
                ch.finished = True
                self._num_finished += 1
                if ch.view is not None:
                    ch.view.release()
                    ch.view = None
            self._next = i + 1
            return i, item
        return None

    def _poll_local_locked(self, ch: _ChannelState) -> GateItem | None:
        desc = ch.descriptor
        if ch.view is None:
            try:
                partition = self._registry.lookup(desc.partition_id)
                if partition is None:
                    if time.monotonic() > self._local_deadline:
                        raise PartitionNotFoundError(
                            f"input channel {ch.index}: local result partition {desc.partition_id} was not "
                            f"registered on {self.local_address} within {self._request_timeout_s:g} s")
                    return None
                ch.view = partition.subpartition(desc.subpartition).create_view(self._on_local_available)
            except (PartitionReleasedError, PartitionNotFoundError) as e:
                self._failure = e
                raise
            except IndexError as e:
                self._failure = PartitionNotFoundError(f"input channel {ch.index}: {e}")
                raise self._failure from e
            self._unresolved_local -= 1
        try:
            return ch.view.poll()
        except PartitionReleasedError as e:
            self._failure = ChannelError(f"input channel {ch.index} from the producer in this worker "
                                         f"({self.local_address}) failed: {e}")
            raise self._failure from e

    def _pusher(self, ch: _ChannelState) -> Callable[[GateItem, int], bool]:
        budget = self._channel_buffer_bytes

        def push(item: GateItem, nbytes: int) -> bool:
            with self._lock:
                while ch.bytes and ch.bytes + nbytes > budget and not self._closed:
                    ch.space.wait()
                if self._closed:
                    return False
                ch.items.append((item, nbytes))
                ch.bytes += nbytes
                self._bytes += nbytes
                self._available.notify()
            if self._listeners:
                self._fire_listeners()
            return True

        return push

    def _failer(self, ch: _ChannelState) -> Callable[[BaseException], None]:
        def fail(error: BaseException) -> None:
            with self._lock:
                if self._failure is None:
                    self._failure = error
                self._notify_all_locked()
            self._fire_listeners()

        return fail

    def _on_local_available(self) -> None:
        with self._lock:
            self._available.notify()
        if self._listeners:
            self._fire_listeners()

    def _on_cancel(self, reason: str) -> None:
        with self._lock:
            self._cancel_reason = reason
            self._notify_all_locked()
        self._fire_listeners()

    def _notify_all_locked(self) -> None:
        self._available.notify_all()
        for ch in self._channels:
            ch.space.notify_all()

    def _fire_listeners(self) -> None:
        for listener in self._listeners:
            listener()


class UnionInputGate:
    """Several gates of one task polled as one. Channels are numbered consecutively across the
    gates (gate 0's channels first); ``channel_input_index(c)`` says which logical input a
    channel belongs to, so a two-input operator can route each batch.

        gates = UnionInputGate([env.create_input_gate(a, input_index=0),
                                env.create_input_gate(b, input_index=1)])
        channel, item = gates.poll(1.0) or (None, None)
        side = gates.channel_input_index(channel)
    """

    def __init__(self, gates: Sequence[InputGate]) -> None:
        self.gates = list(gates)
        self._offsets: list[int] = []
        total = 0
        for gate in self.gates:
            self._offsets.append(total)
            total += gate.num_channels
        self._num_channels = total
        self._cond = threading.Condition()
        self._signalled = False
        self._next = 0
        for gate in self.gates:
            gate.add_availability_listener(self._on_available)

    @property
    def num_channels(self) -> int:
        return self._num_channels

    def channel_input_index(self, channel: int) -> int:
        return self.gates[self._gate_of(channel)].input_index

    def gate_channel(self, channel: int) -> tuple[InputGate, int]:
        """The gate a union channel number belongs to and its index within that gate."""
        g = self._gate_of(channel)
        return self.gates[g], channel - self._offsets[g]

    def poll(self, timeout: float) -> tuple[int, GateItem] | None:
        deadline = time.monotonic() + timeout
        n = len(self.gates)
        while True:
            with self._cond:
                self._signalled = False
            for k in range(n):
                g = (self._next + k) % n
                gate = self.gates[g]
                if gate.is_finished():
                    continue
                got = gate.poll(0)
                if got is not None:
                    self._next = g + 1
                    return self._offsets[g] + got[0], got[1]
            if self.is_finished():
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if any(gate.needs_periodic_poll for gate in self.gates):
                remaining = min(remaining, _LOCAL_RESOLVE_SLICE_S)
            with self._cond:
                if not self._signalled:
                    self._cond.wait(remaining)

    def is_finished(self) -> bool:
        return all(gate.is_finished() for gate in self.gates)

    def buffered_bytes(self) -> int:
        return sum(gate.buffered_bytes() for gate in self.gates)

    def close(self) -> None:
        for gate in self.gates:
            gate.close()

    def _gate_of(self, channel: int) -> int:
        if not 0 <= channel < self._num_channels:
            raise IndexError(f"union gate has {self._num_channels} channels, not {channel + 1}")
        return bisect.bisect_right(self._offsets, channel) - 1

    def _on_available(self) -> None:
        with self._cond:
            self._signalled = True
            self._cond.notify()
