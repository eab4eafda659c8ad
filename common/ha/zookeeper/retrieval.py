"""Leader retrieval on ZooKeeper: watch ``leader/jobmanager/connection_info``.

The listener hears the current ``LeaderInformation`` once at start (``None``
when nobody leads), then again on every change: a new leader publishing,
the leader's node vanishing (clean stop or session expiry), and ``None`` as
soon as our own connection is SUSPENDED or LOST (we cannot know who leads
while cut off; Flink's default "clear on suspended connection" policy).
When the connection returns (same or new session) the watch is set again and
the node re-read, so a retriever survives session loss.

Repeated identical values are not re-delivered. All ZooKeeper reads and all
listener calls happen on this retriever's worker thread, in order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kazoo.exceptions import KazooException, NoNodeError
from kazoo.protocol.states import WatchedEvent

from strom.common.errors import ClusterUnreachableError, IllegalStateTransitionError
from strom.common.ha.services import LeaderInformation, LeaderRetrievalListener, LeaderRetriever
from strom.common.ha.zookeeper.connection import EventWorker, ZooKeeperConnection
from strom.common.ha.zookeeper.layout import ZNodeLayout, decode_leader_information

log = logging.getLogger(__name__)

_UNSET = object()
_RETRY_DELAY_S = 0.5


class ZooKeeperLeaderRetriever(LeaderRetriever):
    def __init__(self, conn: ZooKeeperConnection, layout: ZNodeLayout) -> None:
        self._conn = conn
        self._path = layout.connection_info
        self._lock = threading.Lock()
        self._listener: LeaderRetrievalListener | None = None
        self._worker: EventWorker | None = None
        self._last: object = _UNSET

    def start(self, listener: LeaderRetrievalListener) -> None:
        with self._lock:
            if self._listener is not None:
                raise IllegalStateTransitionError("ZooKeeper leader retriever already started")
            self._listener = listener
            self._last = _UNSET
            self._worker = EventWorker("strom-zk-leader-retrieval")
        self._conn.add_listener(self._on_connection_state)
        self._worker.submit(self._refresh)

    def stop(self) -> None:
        with self._lock:
            worker, self._worker, self._listener = self._worker, None, None
        self._conn.remove_listener(self._on_connection_state)
        if worker is not None:
            worker.stop()

    # -- kazoo threads: hand over only ------------------------------------------------------------

    def _on_connection_state(self, state: str) -> None:
        if state in ("SUSPENDED", "LOST"):
            self._submit(lambda: self._notify(None))
        elif state == "CONNECTED":
            self._submit(self._refresh)

    def _on_watch(self, event: WatchedEvent) -> None:
        self._submit(self._refresh)

    def _submit(self, fn: Callable[[], None]) -> None:
        with self._lock:
            worker = self._worker
        if worker is not None:
            worker.submit(fn)

    # -- worker thread ------------------------------------------------------------------------------

    def _refresh(self) -> None:
        if self._worker is None or not self._conn.connected:
            return
        zk, call = self._conn.client, self._conn.call
        try:
            try:
                data, _ = call("read the leader address", zk.get_async, self._path, watch=self._on_watch)
            except NoNodeError:
                # watch for the node's creation; if it appeared in between, read it
                if call("watch for a leader", zk.exists_async, self._path, watch=self._on_watch) is not None:
                    self._submit(self._refresh)
                    return
                data = None
        except ClusterUnreachableError as e:
            log.debug("leader retrieval postponed until ZooKeeper is back: %s", e)
            return
        except KazooException as e:
            log.warning("reading the leader address failed (%s: %s); retrying in %.1f s",
                        type(e).__name__, e, _RETRY_DELAY_S)
            with self._lock:
                worker = self._worker
            if worker is not None:
                worker.submit_later(_RETRY_DELAY_S, self._refresh)
            return
        self._notify(decode_leader_information(data))

    def _notify(self, leader: LeaderInformation | None) -> None:
        with self._lock:
            listener = self._listener
            if listener is None or leader == self._last:
                return
            self._last = leader
        log.info("Leader is now %s", f"{leader.rpc_address} (session {leader.session_id})" if leader else "unknown")
        try:
            listener.notify_leader_address(leader)
        except Exception:
            log.exception("leader retrieval listener %r failed", listener)
