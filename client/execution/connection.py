"""The client's line to the leading Dispatcher.

``ClusterConnection`` finds the JobManager (an explicit ``host:port``, or the
leader published through the HA services), checks that something answers
there within ``client.connect-timeout`` (so an unreachable cluster fails in
seconds with a message saying what to do), learns the leader session id, and
wraps ``DispatcherGateway`` so that every failure is a ``StromError``:

    conn = ClusterConnection.open(config, "127.0.0.1:6123")
    job_id = conn.submit_job(job_graph)
    conn.get_job(job_id).state

A ``FencingTokenError`` (the leader changed) re-resolves the leader once and
retries. Not thread-safe: one connection per thread.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from strom.client.execution.context import CLIENT_CONNECT_TIMEOUT, parse_address
from strom.common.config import HA_ZK_CONNECTION_TIMEOUT, HA_ZK_SESSION_TIMEOUT, Configuration
from strom.common.errors import (
    ClusterUnreachableError,
    FencingTokenError,
    JobNotFoundError,
    StromError,
    error_for_status,
)
from strom.common.jobgraph import JobGraph

log = logging.getLogger(__name__)

T = TypeVar("T")

START_HINT = "Is it running? Start one with 'strom jobmanager start'."


def unreachable(address: str, cause: str) -> ClusterUnreachableError:
    """``Could not reach the JobManager at X: <cause>. <hint>``; the short cause is kept as ``.cause``."""
    error = ClusterUnreachableError(f"Could not reach the JobManager at {address}: {cause}. {START_HINT}")
    error.cause = cause  # type: ignore[attr-defined]
    return error


def short_cause(message: str) -> str:
    """A gRPC/socket failure text in a few words ("connection refused"), else the text itself."""
    lowered = message.lower()
    for needle, words in (("connection refused", "connection refused"), ("deadline_exceeded", "timed out"),
                          ("timed out", "timed out"), ("dns resolution failed", "unknown host"),
                          ("name or service not known", "unknown host"), ("connection reset", "connection reset")):
        if needle in lowered:
            return words
    return message


def create_gateway(address: str, session_id: str | None, retry_deadline_s: float) -> Any:
    """A ``DispatcherGateway`` (session None: it asks for the session itself); tests replace this factory."""
    from strom.common.gateway.dispatcher import DispatcherGateway

    return DispatcherGateway(address, session_id, retry_deadline_s=retry_deadline_s)


def probe_address(address: str, timeout_s: float) -> None:
    """Retry a TCP connect to ``address`` until it succeeds or ``timeout_s`` passes.

    Raises ClusterUnreachableError with the cause in words ("connection refused").
    """
    host, port = parse_address(address)
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        remaining = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(0.2, min(1.0, remaining))):
                return
        except OSError as e:
            cause = describe_socket_error(e)
            if isinstance(e, socket.gaierror) or time.monotonic() + delay > deadline:
                raise unreachable(address, cause) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def describe_socket_error(e: OSError) -> str:
    if isinstance(e, socket.gaierror):
        return "unknown host"
    if isinstance(e, TimeoutError | socket.timeout):
        return "timed out"
    return {
        errno.ECONNREFUSED: "connection refused",
        errno.EHOSTUNREACH: "host unreachable",
        errno.ENETUNREACH: "network unreachable",
        errno.ECONNRESET: "connection reset",
    }.get(e.errno or 0, e.strerror or str(e))


class _LeaderCatcher:
    """Receives the leader from a LeaderRetriever (on the retriever's thread) and hands it over."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.leader: Any = None

    def notify_leader_address(self, leader: Any) -> None:
        if leader is not None and leader.rpc_address:
            self.leader = leader
            self.ready.set()


def retrieve_leader(config: Configuration, timeout_s: float) -> tuple[str, str]:
    """(rpc address, session id) of the leader published through the HA services."""
    from strom.common.ha import create_ha_services

    services = create_ha_services(config)
    catcher = _LeaderCatcher()
    retriever = services.leader_retriever()
    try:
        retriever.start(catcher)
        if not catcher.ready.wait(timeout_s):
            raise ClusterUnreachableError(
                f"No JobManager leader was published through high availability within {timeout_s:.0f} s. "
                f"Is a JobManager with the same high-availability settings running? {START_HINT}")
        return str(catcher.leader.rpc_address), str(catcher.leader.session_id)
    finally:
        retriever.stop()
        services.close()


class ClusterConnection:
    """A Dispatcher connection that reports failures as StromErrors and follows leader changes."""

    def __init__(self, config: Configuration, address: str | None) -> None:
        self.config = config
        self._explicit_address = address
        self.address: str = address or "?"
        self.session_id: str | None = None
        self._gateway: Any = None

    @classmethod
    def open(cls, config: Configuration, address: str | None) -> ClusterConnection:
        """Connect to ``address``, or to the HA leader when None; raises ClusterUnreachableError."""
        conn = cls(config, address)
        conn.connect()
        return conn

    @property
    def uses_ha(self) -> bool:
        """The leader is found through the HA services (no explicit address)."""
        return self._explicit_address is None

    @property
    def connect_timeout_s(self) -> float:
        return self.config.get_duration_ms(CLIENT_CONNECT_TIMEOUT) / 1000.0

    def connect(self) -> None:
        """(Re-)resolve the leader and check that it answers."""
        self.close()
        timeout = self.connect_timeout_s
        if self._explicit_address is None:
            ha_timeout = max(timeout, self.config.get_duration_ms(HA_ZK_CONNECTION_TIMEOUT) / 1000.0)
            self.address, session = retrieve_leader(self.config, ha_timeout)
            try:
                probe_address(self.address, timeout)
            except ClusterUnreachableError as e:
                session_s = self.config.get_duration_ms(HA_ZK_SESSION_TIMEOUT) / 1000.0
                raise ClusterUnreachableError(
                    f"{e} It is the leader published in ZooKeeper: if it just failed, a standby JobManager "
                    f"takes over once its ZooKeeper session expires (within {session_s:g} s, "
                    f"high-availability.zookeeper.client.session-timeout).") from None
            self._gateway, self.session_id = create_gateway(self.address, session, timeout), session
            return
        self.address = self._explicit_address
        probe_address(self.address, timeout)
        gateway = create_gateway(self.address, None, timeout)
        info = self._translate(gateway.leader_info)
        if not info.session_id and info.rpc_address and info.rpc_address != self.address:
            # A standby JobManager: follow it to the leader it knows.
            log.info("JobManager at %s is not the leader; following it to %s", self.address, info.rpc_address)
            self._close_gateway(gateway)
            self.address = info.rpc_address
            probe_address(self.address, timeout)
            gateway = create_gateway(self.address, None, timeout)
        self._gateway, self.session_id = gateway, info.session_id or None

    # ---- Dispatcher calls -------------------------------------------------

    def submit_job(self, job_graph: JobGraph) -> str:
        return str(self._call(lambda g: g.submit_job(job_graph)))

    def get_job(self, job_id: str) -> Any:
        """The job's ``JobDetails`` proto; JobNotFoundError names the id and the address."""
        return self._call(lambda g: g.get_job(job_id), job_id=job_id)

    def list_jobs(self) -> list[Any]:
        return list(self._call(lambda g: g.list_jobs()))

    def cancel_job(self, job_id: str) -> None:
        self._call(lambda g: g.cancel_job(job_id), job_id=job_id)

    def overview(self) -> Any:
        return self._call(lambda g: g.overview())

    def close(self) -> None:
        if self._gateway is not None:
            self._close_gateway(self._gateway)
            self._gateway = None

    def __enter__(self) -> ClusterConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- internals --------------------------------------------------------

    def _call(self, fn: Callable[[Any], T], job_id: str | None = None) -> T:
        if self._gateway is None:
            self.connect()
        try:
            return self._translate(lambda: fn(self._gateway), job_id)
        except FencingTokenError:
            log.info("leader of %s changed; re-resolving", self.address)
            self.connect()
            return self._translate(lambda: fn(self._gateway), job_id)

    def _translate(self, fn: Callable[[], T], job_id: str | None = None) -> T:
        """Run a gateway call; every failure leaves as a StromError with the address in it."""
        import grpc

        try:
            return fn()
        except JobNotFoundError:
            raise JobNotFoundError(self._not_found(job_id)) from None
        except ClusterUnreachableError as e:
            if hasattr(e, "cause"):
                raise
            raise unreachable(self.address, short_cause(str(e))) from None
        except StromError:
            raise
        except grpc.RpcError as e:
            code = e.code().name if hasattr(e, "code") else "UNKNOWN"
            details = (e.details() if hasattr(e, "details") else None) or str(e)
            if code in {"UNAVAILABLE", "DEADLINE_EXCEEDED"}:
                raise unreachable(self.address, short_cause(f"{code}: {details}")) from None
            if code == "NOT_FOUND":
                raise JobNotFoundError(self._not_found(job_id)) from None
            raise error_for_status(code, f"JobManager at {self.address}: {details}") from None

    def _not_found(self, job_id: str | None) -> str:
        return (f"Job '{job_id}' is unknown to the JobManager at {self.address}. "
                f"List its jobs with 'strom list -m {self.address}'.")

    @staticmethod
    def _close_gateway(gateway: Any) -> None:
        close = getattr(gateway, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # closing a dead channel must not hide the real error
                log.debug("closing dispatcher gateway failed", exc_info=True)
