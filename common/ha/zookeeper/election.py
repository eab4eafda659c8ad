"""JobManager leader election on ZooKeeper: an ephemeral-sequential latch, like Curator's LeaderLatch.

Each contender creates ``leader/latch/latch-<seq>`` (ephemeral, owned by its
session). The lowest sequence number leads; every other contender watches
only its predecessor, so a handover wakes one process, not all of them.

- Grant: the latch holder gets a NEW leader session id (uuid hex) via
  ``contender.grant_leadership`` on this driver's worker thread.
- Revoke: on SUSPENDED or LOST the contender is told at once, on kazoo's
  connection thread, without waiting for ZooKeeper to decide anything: while
  disconnected we cannot know whether our session (and latch node) survives.
- Return: on CONNECTED the driver checks its latch node again. Same session:
  the node is still ours, so if it is still the lowest the contender is
  granted again, with a new session id. New session: the old node is gone;
  a new one is created at the end of the queue.
- Publish: ``confirm_leadership`` writes ``leader/jobmanager/connection_info``
  (ephemeral, owned by the leader's session) in one transaction with a check
  that our latch node still exists, so a deposed leader can never overwrite
  the new leader's address.
- Stop: deletes connection_info and the latch node in one transaction; the
  next contender's watch fires and it takes over within milliseconds.

State (``_leader_session``, ``_latch_node``) is guarded by ``_lock``; all
ZooKeeper calls run on the worker thread.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from typing import Any

from kazoo.exceptions import (
    BadVersionError,
    KazooException,
    NodeExistsError,
    NoNodeError,
)
from kazoo.protocol.states import WatchedEvent

from strom.common.errors import ClusterUnreachableError, IllegalStateTransitionError
from strom.common.ha.services import LeaderContender, LeaderElection, LeaderInformation
from strom.common.ha.zookeeper.connection import EventWorker, ZooKeeperConnection, transaction_errors
from strom.common.ha.zookeeper.layout import (
    LATCH_PREFIX,
    ZNodeLayout,
    encode_leader_information,
    latch_sequence,
)
from strom.common.ids import LeaderSessionId

log = logging.getLogger(__name__)

_RETRY_DELAY_S = 0.5


class ZooKeeperLeaderElection(LeaderElection):
    """Leader election for one JobManager process (one contender)."""

    def __init__(self, conn: ZooKeeperConnection, layout: ZNodeLayout, owner: str | None = None) -> None:
        self._conn = conn
        self._zk = conn.client
        self._layout = layout
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lock = threading.RLock()
        self._contender: LeaderContender | None = None
        self._running = False
        self._latch_node: str | None = None          # full path of our latch node
        self._leader_session: LeaderSessionId | None = None
        self._worker: EventWorker | None = None
        self._guid = uuid.uuid4().hex
        self._contended = False   # set for good by start(): such a process's writes stay fenced

    # -- LeaderElection -------------------------------------------------------------------------

    def start(self, contender: LeaderContender) -> None:
        with self._lock:
            if self._running:
                raise IllegalStateTransitionError("ZooKeeper leader election already started")
            self._contender = contender
            self._running = True
            self._contended = True
            self._worker = EventWorker("strom-zk-leader-election")
        self._conn.add_listener(self._on_connection_state)
        self._worker.submit(self._check)
        log.info("Contending for leadership at %s as %s", self._layout.latch_dir, self.owner)

    def confirm_leadership(self, session_id: LeaderSessionId, rpc_address: str, rest_address: str) -> None:
        """Publish the leader's addresses (asynchronously, on the worker thread) if ``session_id`` still leads."""
        with self._lock:
            worker = self._worker
            if not self._running or worker is None:
                return
        info = LeaderInformation(session_id, rpc_address, rest_address)
        worker.submit(lambda: self._publish(info))

    def has_leadership(self, session_id: LeaderSessionId) -> bool:
        with self._lock:
            return self._running and self._leader_session is not None and self._leader_session == session_id

    def stop(self) -> None:
        """Leave the election: delete our latch node (and our connection_info) so the next contender takes over."""
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._leader_session = None
            worker = self._worker
        self._conn.remove_listener(self._on_connection_state)
        if worker is not None:
            try:
                worker.run_and_wait(self._leave, timeout=self._conn.connection_timeout_ms / 1000.0 + 1.0)
            except Exception as e:
                log.warning("Could not leave the leader election cleanly (%s); the latch node %s disappears "
                            "when the ZooKeeper session ends", e, self._latch_node)
            worker.stop()
        log.info("Stopped contending for leadership (%s)", self.owner)

    # -- introspection (tests, REST) ---------------------------------------------------------------

    @property
    def leader_session_id(self) -> LeaderSessionId | None:
        with self._lock:
            return self._leader_session

    @property
    def latch_node(self) -> str | None:
        with self._lock:
            return self._latch_node

    def fencing_node(self) -> str | None:
        """The latch node a write must check to be fenced by leadership; None if this process does not lead.

        Raises nothing: callers decide what "not leader" means for them.
        """
        with self._lock:
            return self._latch_node if self._running and self._leader_session is not None else None

    @property
    def started(self) -> bool:
        with self._lock:
            return self._running

    @property
    def has_contended(self) -> bool:
        """True once ``start`` was called, also after ``stop``."""
        with self._lock:
            return self._contended

    # -- kazoo threads: hand over only ------------------------------------------------------------

    def _on_connection_state(self, state: str) -> None:
        if state in ("SUSPENDED", "LOST"):
            self._revoke(f"ZooKeeper connection {state}")
        elif state == "CONNECTED":
            self._submit(self._check)

    def _on_watch(self, event: WatchedEvent) -> None:
        self._submit(self._check)

    def _submit(self, fn: Any) -> None:
        with self._lock:
            worker = self._worker if self._running else None
        if worker is not None:
            worker.submit(fn)

    # -- grant / revoke -------------------------------------------------------------------------

    def _grant(self) -> None:
        with self._lock:
            if not self._running or self._leader_session is not None or self._contender is None:
                return
            if not self._conn.connected:   # suspended since we looked; CONNECTED will check again
                return
            session = LeaderSessionId(uuid.uuid4().hex)
            self._leader_session = session
            log.info("%s was granted leadership with leader session id %s (latch %s)",
                     self.owner, session, self._latch_node)
            self._contender.grant_leadership(session)

    def _revoke(self, cause: str) -> None:
        with self._lock:
            if self._leader_session is None or self._contender is None:
                return
            old, self._leader_session = self._leader_session, None
            log.warning("%s lost leadership (leader session id %s): %s", self.owner, old, cause)
            self._contender.revoke_leadership()

    # -- worker thread ------------------------------------------------------------------------------

    def _check(self) -> None:
        if not self.started:
            return
        try:
            self._check_once()
        except ClusterUnreachableError as e:
            log.debug("leader election check postponed until ZooKeeper is back: %s", e)
        except KazooException as e:
            log.warning("leader election check failed (%s: %s); retrying in %.1f s",
                        type(e).__name__, e, _RETRY_DELAY_S)
            with self._lock:
                worker = self._worker if self._running else None
            if worker is not None:
                worker.submit_later(_RETRY_DELAY_S, self._check)

    def _check_once(self) -> None:
        session = self._conn.session_id
        if session is None:
            return
        zk, call = self._zk, self._conn.call
        try:
            children = call("list the leader latch", zk.get_children_async, self._layout.latch_dir)
        except NoNodeError:   # the cluster's znodes were deleted under us (cleanup): recreate the folders
            for path in self._layout.persistent_dirs():
                call(f"create {path}", zk.ensure_path_async, path)
            children = []
        latches = sorted((c for c in children if c.startswith(LATCH_PREFIX)), key=latch_sequence)
        node = self._own_latch_node(latches, session)
        if node is None:
            self._revoke("our latch node is gone (ZooKeeper session ended)")
            with self._lock:
                self._latch_node = None
            # if the reply is lost, the next check finds the node by our guid
            node = call("join the leader election", zk.create_async, self._layout.latch_prefix(self._guid),
                        self.owner.encode(), ephemeral=True, sequence=True)
            with self._lock:
                if not self._running:   # stop() raced with us: do not leave a node behind
                    self._delete_quietly(node)
                    return
                self._latch_node = node
            log.debug("%s created latch node %s", self.owner, node)
            self._submit(self._check)
            return
        index = latches.index(node.rsplit("/", 1)[1])
        if index == 0:
            # watch our own node: someone deleting it by hand must depose us
            if call("watch the leader latch node", zk.exists_async, node, watch=self._on_watch) is None:
                self._submit(self._check)
                return
            if self.leader_session_id is None:
                self._clear_stale_connection_info(node, session)
            self._grant()
            return
        self._revoke(f"latch node {node} is no longer the first")
        predecessor = f"{self._layout.latch_dir}/{latches[index - 1]}"
        if call("watch the preceding contender", zk.exists_async, predecessor, watch=self._on_watch) is None:
            self._submit(self._check)   # it left meanwhile: look again

    def _clear_stale_connection_info(self, node: str, session: int) -> None:
        """Before a re-grant in the same ZooKeeper session, drop the address published under the revoked
        leader session id, so retrievers see "no leader" until the contender confirms the new one."""
        zk, call = self._zk, self._conn.call
        stat = call("read connection_info", zk.exists_async, self._layout.connection_info)
        if stat is None or stat.ephemeralOwner != session:
            return
        tx = zk.transaction()
        tx.check(node, -1)
        tx.delete(self._layout.connection_info, stat.version)
        errors = transaction_errors(call("clear the stale leader address", tx.commit_async))
        if errors:
            log.debug("stale connection_info not cleared: %r", errors)

    def _own_latch_node(self, latches: list[str], session: int) -> str | None:
        """Our latch node in the current session (adopting one whose create reply was lost); extras are deleted."""
        tag = f"{LATCH_PREFIX}{self._guid}-"
        ours = []
        for name in (n for n in latches if n.startswith(tag)):
            path = f"{self._layout.latch_dir}/{name}"
            stat = self._conn.call("look up a leader latch node", self._zk.exists_async, path)
            if stat is not None and stat.ephemeralOwner == session:
                ours.append(path)
        for extra in ours[1:]:
            log.warning("%s: deleting duplicate latch node %s", self.owner, extra)
            self._delete_quietly(extra)
        node = ours[0] if ours else None
        with self._lock:
            if node is not None and node != self._latch_node:
                log.info("%s: using latch node %s", self.owner, node)
                self._latch_node = node
        return node

    def _publish(self, info: LeaderInformation) -> None:
        with self._lock:
            node = self._latch_node
            current = self._leader_session
        if current != info.session_id or node is None:
            log.info("Not publishing leader address for session %s: no longer the leader", info.session_id)
            return
        data = encode_leader_information(info, self.owner)
        path = self._layout.connection_info
        zk, call = self._zk, self._conn.call
        for _ in range(5):
            session = self._conn.session_id
            try:
                stat = call("read connection_info", zk.exists_async, path)
                tx = zk.transaction()
                tx.check(node, -1)   # fencing: only while our latch node exists
                if stat is None:
                    tx.create(path, data, ephemeral=True)
                elif stat.ephemeralOwner == session:
                    tx.set_data(path, data, stat.version)
                else:   # a previous leader's node whose session has not expired yet
                    tx.delete(path, stat.version)
                    tx.create(path, data, ephemeral=True)
                results = call("publish the leader address", tx.commit_async)
            except ClusterUnreachableError as e:
                log.warning("Could not publish leader address for session %s: %s", info.session_id, e)
                return
            errors = transaction_errors(results)
            if not errors:
                log.info("Published leader address %s (REST %s) for leader session %s at %s",
                         info.rpc_address, info.rest_address, info.session_id, path)
                return
            if isinstance(results[0], NoNodeError):
                log.warning("Not publishing leader address for session %s: latch node %s is gone",
                            info.session_id, node)
                return
            if not any(isinstance(e, (BadVersionError, NodeExistsError, NoNodeError)) for e in errors):
                log.error("Publishing leader address failed: %r", errors)
                return
            # raced with the old leader's node disappearing: read again
        log.error("Gave up publishing the leader address for session %s after repeated races", info.session_id)

    def _leave(self) -> None:
        with self._lock:
            node, self._latch_node = self._latch_node, None
        if node is None or self._conn.session_id is None:
            return
        zk, call = self._zk, self._conn.call
        tx = zk.transaction()
        stat = call("read connection_info", zk.exists_async, self._layout.connection_info)
        if stat is not None and stat.ephemeralOwner == self._conn.session_id:
            tx.delete(self._layout.connection_info, stat.version)
        tx.delete(node)
        results = call("leave the leader election", tx.commit_async)
        if any(isinstance(r, Exception) for r in results):   # e.g. connection_info changed: delete the latch alone
            self._delete_quietly(node)

    def _delete_quietly(self, node: str) -> None:
        try:
            self._conn.call("delete the latch node", self._zk.delete_async, node)
        except NoNodeError:
            pass
        except (ClusterUnreachableError, KazooException) as e:
            log.warning("Could not delete latch node %s (%s); it vanishes with the session", node, e)
