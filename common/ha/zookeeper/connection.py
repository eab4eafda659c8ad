"""One kazoo session per process, plus the worker thread pattern every ZooKeeper driver uses.

Threads: kazoo runs a connection thread (calls state listeners) and a callback
thread (calls watches). Neither may block, so drivers only enqueue work on
their own ``EventWorker``; the worker thread does all ZooKeeper reads and
writes of that driver, one at a time, in order.

Every call goes through ``ZooKeeperConnection.call`` with a bounded wait
(``high-availability.zookeeper.client.connection-timeout``): kazoo would
otherwise park a request issued while disconnected until the connection
returns. ZooKeeper failures surface as ``ClusterUnreachableError`` (retryable).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import (
    ConnectionClosedError,
    ConnectionLoss,
    RolledBackError,
    RuntimeInconsistency,
    SessionExpiredError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

from strom.common.config import HA_ZK_CONNECTION_TIMEOUT, HA_ZK_QUORUM, HA_ZK_SESSION_TIMEOUT, Configuration
from strom.common.errors import ClusterUnreachableError, ConfigurationError

log = logging.getLogger(__name__)

StateListener = Callable[[str], None]   # called with "CONNECTED" | "SUSPENDED" | "LOST"


class ZooKeeperConnection:
    """A started kazoo client for ``high-availability.zookeeper.quorum``.

    Raises ``ClusterUnreachableError`` (naming the quorum) when no server
    answers within the connection timeout, ``ConfigurationError`` for a missing
    or malformed quorum.
    """

    def __init__(self, config: Configuration) -> None:
        quorum = (config.get(HA_ZK_QUORUM) or "").strip()
        if not quorum:
            raise ConfigurationError(f"config key '{HA_ZK_QUORUM.key}' must be set for ZooKeeper HA "
                                     "(host:port[,host:port...])")
        self.quorum = quorum
        self.session_timeout_ms = config.get_duration_ms(HA_ZK_SESSION_TIMEOUT)
        self.connection_timeout_ms = config.get_duration_ms(HA_ZK_CONNECTION_TIMEOUT)
        if self.session_timeout_ms <= 0 or self.connection_timeout_ms <= 0:
            raise ConfigurationError("ZooKeeper session and connection timeouts must be positive")
        try:
            self.client = KazooClient(
                hosts=quorum,
                timeout=self.session_timeout_ms / 1000.0,
                # reconnect forever, but never back off beyond 1 s: a restarted quorum is found quickly
                connection_retry=KazooRetry(max_tries=-1, delay=0.05, backoff=2, max_delay=1.0),
                command_retry=KazooRetry(max_tries=3, delay=0.05, max_delay=0.5),
                logger=logging.getLogger("strom.zookeeper.kazoo"),
            )
        except (ValueError, TypeError) as e:
            raise ConfigurationError(f"config key '{HA_ZK_QUORUM.key}': cannot parse {quorum!r}: {e}") from e
        self._listeners: list[StateListener] = []
        self._listeners_lock = threading.Lock()
        self.client.add_listener(self._on_state)
        self._closed = False

    def start(self) -> None:
        try:
            self.client.start(timeout=self.connection_timeout_ms / 1000.0)
        except KazooTimeoutError:
            raise ClusterUnreachableError(
                f"cannot reach ZooKeeper quorum {self.quorum!r} within {self.connection_timeout_ms} ms "
                f"(config keys '{HA_ZK_QUORUM.key}', '{HA_ZK_CONNECTION_TIMEOUT.key}'); "
                "check that the servers run and are reachable from this host") from None
        log.info("Connected to ZooKeeper quorum %s (session 0x%x, session timeout %d ms)",
                 self.quorum, self.session_id or 0, self.client._session_timeout)

    @property
    def session_id(self) -> int | None:
        """The current ZooKeeper session id, None while disconnected."""
        cid = self.client.client_id
        return int(cid[0]) if cid else None

    @property
    def connected(self) -> bool:
        return bool(self.client.connected)

    def add_listener(self, listener: StateListener) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        with self._listeners_lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _on_state(self, state: str) -> None:   # kazoo connection thread: must not block
        if state == KazooState.CONNECTED:
            log.info("ZooKeeper connection to %s established (session 0x%x)", self.quorum, self.session_id or 0)
        elif state == KazooState.SUSPENDED:
            log.warning("ZooKeeper connection to %s suspended; leadership is revoked until it returns", self.quorum)
        else:
            log.warning("ZooKeeper session with %s lost; ephemeral nodes and watches are gone", self.quorum)
        with self._listeners_lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(str(state))
            except Exception:
                log.exception("ZooKeeper state listener %r failed", listener)

    def call(self, what: str, start: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one kazoo ``*_async`` operation and wait at most the connection timeout for it.

        Fails at once with ``ClusterUnreachableError`` while disconnected (SUSPENDED).
        """
        if self._closed:
            raise ClusterUnreachableError(f"ZooKeeper client for {self.quorum!r} is closed ({what})")
        if not self.client.connected:   # fail fast: kazoo would park the request until reconnection
            raise ClusterUnreachableError(f"not connected to ZooKeeper quorum {self.quorum!r}; cannot {what}")
        try:
            return start(*args, **kwargs).get(timeout=self.connection_timeout_ms / 1000.0)
        except (ConnectionLoss, SessionExpiredError, ConnectionClosedError, KazooTimeoutError) as e:
            raise ClusterUnreachableError(f"ZooKeeper quorum {self.quorum!r} unavailable while trying to "
                                          f"{what}: {type(e).__name__}") from e

    def close(self) -> None:
        """End the session (its ephemeral nodes vanish at once) and release the client."""
        if self._closed:
            return
        self._closed = True
        self.client.remove_listener(self._on_state)
        try:
            self.client.stop()
            self.client.close()
        except Exception:
            log.exception("closing the ZooKeeper client for %s failed", self.quorum)


def transaction_errors(results: list[object]) -> list[Exception]:
    """The real failures of a committed multi-op (not the rolled-back or skipped ops around them)."""
    return [r for r in results if isinstance(r, Exception) and not isinstance(r, (RolledBackError, RuntimeInconsistency))]


class EventWorker:
    """A daemon thread that runs submitted callables in order; exceptions are logged, not lost."""

    def __init__(self, name: str) -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], None]) -> bool:
        """Queue ``fn``; False (and nothing queued) once the worker is stopping."""
        if self._stopped.is_set():
            return False
        self._queue.put(fn)
        return True

    def submit_later(self, delay_s: float, fn: Callable[[], None]) -> None:
        timer = threading.Timer(delay_s, self.submit, args=(fn,))
        timer.daemon = True
        timer.start()

    def run_and_wait(self, fn: Callable[[], Any], timeout: float) -> Any:
        """Run ``fn`` on the worker thread and return its result (re-raising its exception)."""
        done = threading.Event()
        box: dict[str, Any] = {}

        def job() -> None:
            try:
                box["result"] = fn()
            except BaseException as e:   # handed to the waiting caller
                box["error"] = e
            finally:
                done.set()

        if threading.current_thread() is self._thread:
            job()
        else:
            if not self.submit(job):
                raise RuntimeError(f"{self._thread.name} is stopped")
            if not done.wait(timeout):
                raise TimeoutError(f"{self._thread.name} did not answer within {timeout:.1f} s")
        if "error" in box:
            raise box["error"]
        return box.get("result")

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            fn = self._queue.get()
            if fn is None:
                return
            try:
                fn()
            except Exception:
                log.exception("%s: task %r failed", self._thread.name, fn)
