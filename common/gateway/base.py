"""What every gateway shares: channels, error translation, fencing, retries.

A gateway hides one gRPC service behind plain method calls. Each call exists
twice, blocking (``submit_job``) on a lazily created ``grpc`` channel and
``async`` (``submit_job_async``) on a lazily created ``grpc.aio`` channel; the
aio channel belongs to the event loop that first used it.

Errors: a gRPC status comes back as a ``StromError`` subclass
(``errors.error_for_status``). ``UNAVAILABLE`` (nobody listens, connection
refused, the server is restarting) is retried with exponential backoff until
the gateway's retry deadline; then the call raises ``ClusterUnreachableError``
naming the address. ``DEADLINE_EXCEEDED`` is not retried (the call may have
taken effect) and raises ``ClusterUnreachableError`` as well.

Fencing: calls to leader-elected components carry the leader session id.
A fenced gateway built without one asks the JobManager for it
(``DispatcherService.GetLeaderInfo``) before the first call, and asks again
once when a call is rejected for a stale session.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, ClassVar

import grpc
import grpc.aio

from strom.common.errors import ClusterUnreachableError, FencingTokenError, StromError, error_for_status
from strom.common.rpc import common_pb2, dispatcher_pb2, dispatcher_pb2_grpc

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRY_DEADLINE_S = 10.0
INITIAL_BACKOFF_S = 0.05
MAX_BACKOFF_S = 1.0

# Job graphs carry pickled user code; gRPC's default 4 MiB limit is too small.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024


def channel_options() -> list[tuple[str, Any]]:
    """Options for client channels and servers alike: message size limits, and quick reconnects
    (gRPC's default reconnect backoff starts at 1 s and grows to 2 min; a restarted JobManager
    should be found within a retry or two)."""
    return [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    ]


def fencing(session_id: str) -> common_pb2.Fencing:
    return common_pb2.Fencing(leader_session_id=session_id)


def translate_rpc_error(error: grpc.RpcError, peer: str) -> StromError:
    """A gRPC failure as a StromError; ``peer`` names the other side ("JobManager at 127.0.0.1:6123")."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = (error.details() if hasattr(error, "details") else None) or str(error)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return ClusterUnreachableError(f"{peer} unreachable ({code.name}): {details}")
    return error_for_status(code.name, details)


def _is_unavailable(error: grpc.RpcError) -> bool:
    return hasattr(error, "code") and error.code() == grpc.StatusCode.UNAVAILABLE


class GatewayBase:
    """Channels, stubs, retries and error translation for one service at ``address``.

    Thread/loop ownership: the blocking channel may be used from any thread;
    the aio channel belongs to the loop that first used it.
    """

    peer_name: ClassVar[str] = "JobManager"
    stub_class: ClassVar[type[Any]]

    def __init__(self, address: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 retry_deadline_s: float = DEFAULT_RETRY_DEADLINE_S) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.retry_deadline_s = retry_deadline_s
        self._channel: grpc.Channel | None = None
        self._aio_channel: grpc.aio.Channel | None = None
        self._stubs: dict[tuple[bool, Any], Any] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.address!r})"

    @property
    def peer(self) -> str:
        return f"{self.peer_name} at {self.address}"

    # ---- channels ---------------------------------------------------------

    def _stub(self, stub_class: Callable[[Any], Any] | None = None, *, aio: bool = False) -> Any:
        cls = stub_class or type(self).stub_class
        key = (aio, cls)
        stub = self._stubs.get(key)
        if stub is None:
            if aio:
                if self._aio_channel is None:
                    self._aio_channel = grpc.aio.insecure_channel(self.address, options=channel_options())
                stub = cls(self._aio_channel)
            else:
                if self._channel is None:
                    self._channel = grpc.insecure_channel(self.address, options=channel_options())
                stub = cls(self._channel)
            self._stubs[key] = stub
        return stub

    def close(self) -> None:
        """Close the blocking channel; an aio channel is closed on its loop if one is running."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._aio_channel is not None:
            channel, self._aio_channel = self._aio_channel, None
            try:
                asyncio.get_running_loop().create_task(channel.close())
            except RuntimeError:
                pass  # no running loop: the aio channel dies with its loop
        self._stubs.clear()

    async def close_async(self) -> None:
        if self._aio_channel is not None:
            channel, self._aio_channel = self._aio_channel, None
            await channel.close()
        self.close()

    def __enter__(self) -> GatewayBase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- calls ------------------------------------------------------------

    def _call(self, method: str, request: Any, *, timeout_s: float | None = None,
              stub_class: Callable[[Any], Any] | None = None) -> Any:
        """Blocking unary call with UNAVAILABLE retries until the retry deadline."""
        deadline = time.monotonic() + self.retry_deadline_s
        backoff = INITIAL_BACKOFF_S
        while True:
            try:
                return getattr(self._stub(stub_class), method)(request, timeout=timeout_s or self.timeout_s)
            except grpc.RpcError as e:
                remaining = deadline - time.monotonic()
                if not _is_unavailable(e) or remaining <= 0:
                    raise self._error(e) from None
            time.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _call_async(self, method: str, request: Any, *, timeout_s: float | None = None,
                          stub_class: Callable[[Any], Any] | None = None) -> Any:
        deadline = time.monotonic() + self.retry_deadline_s
        backoff = INITIAL_BACKOFF_S
        while True:
            try:
                stub = self._stub(stub_class, aio=True)
                return await getattr(stub, method)(request, timeout=timeout_s or self.timeout_s)
            except grpc.RpcError as e:
                remaining = deadline - time.monotonic()
                if not _is_unavailable(e) or remaining <= 0:
                    raise self._error(e) from None
            await asyncio.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _error(self, e: grpc.RpcError) -> StromError:
        error = translate_rpc_error(e, self.peer)
        if isinstance(error, ClusterUnreachableError) and _is_unavailable(e):
            return ClusterUnreachableError(
                f"no {self.peer_name} answers at {self.address} (retried for {self.retry_deadline_s:g} s): "
                f"{e.details() if hasattr(e, 'details') else e}. Is it running, and is the address right?")
        return error


class FencedGatewayBase(GatewayBase):
    """A gateway to a leader-elected component: every request carries the leader session id."""

    def __init__(self, address: str, session_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(address, **kwargs)
        self._explicit_session = session_id is not None
        self.session_id: str | None = session_id

    def resolve_session(self) -> str:
        """Ask the JobManager for its current leader session id (blocking)."""
        response: dispatcher_pb2.LeaderInfoResponse = self._call(
            "GetLeaderInfo", common_pb2.Empty(), stub_class=dispatcher_pb2_grpc.DispatcherServiceStub)
        return self._accept_session(response)

    async def resolve_session_async(self) -> str:
        response: dispatcher_pb2.LeaderInfoResponse = await self._call_async(
            "GetLeaderInfo", common_pb2.Empty(), stub_class=dispatcher_pb2_grpc.DispatcherServiceStub)
        return self._accept_session(response)

    def _accept_session(self, response: dispatcher_pb2.LeaderInfoResponse) -> str:
        if not response.leader_session_id:
            raise FencingTokenError(f"{self.peer} is not the leader (no leader session); "
                                    "retry when a leader is elected")
        self.session_id = response.leader_session_id
        return self.session_id

    def _fenced(self, method: str, build: Callable[[common_pb2.Fencing], Any], **kwargs: Any) -> Any:
        """Blocking fenced call: ``build(fencing)`` makes the request."""
        if self.session_id is None:
            self.resolve_session()
        try:
            return self._call(method, build(fencing(self.session_id or "")), **kwargs)
        except FencingTokenError:
            if self._explicit_session:
                raise
            self.resolve_session()
            return self._call(method, build(fencing(self.session_id or "")), **kwargs)

    async def _fenced_async(self, method: str, build: Callable[[common_pb2.Fencing], Any],
                            **kwargs: Any) -> Any:
        if self.session_id is None:
            await self.resolve_session_async()
        try:
            return await self._call_async(method, build(fencing(self.session_id or "")), **kwargs)
        except FencingTokenError:
            if self._explicit_session:
                raise
            await self.resolve_session_async()
            return await self._call_async(method, build(fencing(self.session_id or "")), **kwargs)
