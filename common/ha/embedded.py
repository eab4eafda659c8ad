"""Embedded HA: in-memory, in-process leader election with explicit ``grant`` / ``revoke``, for fast tests.

Several JobManagers in one process share one embedded "cluster": give the
first ``EmbeddedHaServices()`` to one JobManager and ``services.sibling()`` to
each other one. Siblings share the election, leader retrieval and the job
graph and job result stores; each has its own ``leader_election()`` handle
(one contender per JobManager, like one ZooKeeper session per process).

    ha1 = EmbeddedHaServices()
    ha2 = ha1.sibling()
    jm1.start(ha1); jm2.start(ha2)      # both call leader_election().start(contender)
    session = ha1.grant(0)              # first contender (in start order) leads
    ha1.revoke()                        # it loses leadership; listeners hear None
    ha1.grant(jm2_contender)            # or pick the contender object itself

Nothing is granted until a test calls ``grant`` unless ``auto_grant=True``,
which grants the first contender at once and the next one when the leader
stops (Flink's embedded services for a single-process cluster).

Threading: contenders and listeners are called synchronously on the thread
that calls ``grant``/``revoke``/``start``/``stop``/``confirm_leadership``; per
the HA contract they only hand the event to their own loop. All shared state
sits behind one lock, which is released before any callback runs.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from strom.common.errors import IllegalStateTransitionError
from strom.common.ha.services import (
    HighAvailabilityServices,
    JobGraphStore,
    JobResultStore,
    LeaderContender,
    LeaderElection,
    LeaderInformation,
    LeaderRetrievalListener,
    LeaderRetriever,
)
from strom.common.ha.standalone import InMemoryJobGraphStore, InMemoryJobResultStore
from strom.common.ids import LeaderSessionId

Callback = Callable[[], None]


@dataclass
class _Group:
    """What siblings share."""

    auto_grant: bool
    lock: threading.RLock = field(default_factory=threading.RLock)
    contenders: list[EmbeddedLeaderElection] = field(default_factory=list)   # started, in start order
    leader: EmbeddedLeaderElection | None = None
    session: LeaderSessionId | None = None
    published: LeaderInformation | None = None
    listeners: list[EmbeddedLeaderRetriever] = field(default_factory=list)
    graphs: InMemoryJobGraphStore = field(default_factory=InMemoryJobGraphStore)
    results: InMemoryJobResultStore = field(default_factory=InMemoryJobResultStore)

    def set_published(self, leader: LeaderInformation | None) -> list[Callback]:
        """Record what retrievers should see; return the notifications to run outside the lock."""
        if leader == self.published:
            return []
        self.published = leader
        return [partial(r.deliver, leader) for r in self.listeners]


def _run(callbacks: list[Callback]) -> None:
    for cb in callbacks:
        cb()


class EmbeddedLeaderElection(LeaderElection):
    """One JobManager's handle on the shared embedded election."""

    def __init__(self, group: _Group) -> None:
        self._group = group
        self.contender: LeaderContender | None = None

    def start(self, contender: LeaderContender) -> None:
        g = self._group
        with g.lock:
            if self.contender is not None:
                raise IllegalStateTransitionError("embedded leader election already started")
            self.contender = contender
            g.contenders.append(self)
            callbacks = _grant_locked(g, self) if g.auto_grant and g.leader is None else []
        _run(callbacks)

    def confirm_leadership(self, session_id: LeaderSessionId, rpc_address: str, rest_address: str) -> None:
        g = self._group
        with g.lock:
            if g.leader is not self or g.session != session_id:
                return   # stale confirmation from a revoked leadership: ignored, as in ZooKeeper
            callbacks = g.set_published(LeaderInformation(session_id, rpc_address, rest_address))
        _run(callbacks)

    def has_leadership(self, session_id: LeaderSessionId) -> bool:
        g = self._group
        with g.lock:
            return g.leader is self and g.session == session_id

    def stop(self) -> None:
        """Leave the election. A leader steps down without a revoke call (like a ZooKeeper contender)."""
        g = self._group
        with g.lock:
            if self not in g.contenders:
                return
            g.contenders.remove(self)
            callbacks: list[Callback] = []
            if g.leader is self:
                g.leader, g.session = None, None
                callbacks += g.set_published(None)
                if g.auto_grant and g.contenders:
                    callbacks += _grant_locked(g, g.contenders[0])
            self.contender = None
        _run(callbacks)


def _grant_locked(g: _Group, election: EmbeddedLeaderElection) -> list[Callback]:
    """Make ``election`` the leader with a new session id; the caller holds the lock."""
    callbacks = _revoke_locked(g)
    session = LeaderSessionId(uuid.uuid4().hex)
    g.leader, g.session = election, session
    contender = election.contender
    assert contender is not None
    callbacks.append(lambda: contender.grant_leadership(session))
    return callbacks


def _revoke_locked(g: _Group) -> list[Callback]:
    if g.leader is None:
        return []
    contender = g.leader.contender
    g.leader, g.session = None, None
    callbacks = g.set_published(None)
    if contender is not None:
        callbacks.insert(0, contender.revoke_leadership)
    return callbacks


class EmbeddedLeaderRetriever(LeaderRetriever):
    """Hears the published leader at start (None if none) and on every change."""

    def __init__(self, group: _Group) -> None:
        self._group = group
        self._listener: LeaderRetrievalListener | None = None

    def start(self, listener: LeaderRetrievalListener) -> None:
        g = self._group
        with g.lock:
            if self._listener is not None:
                raise IllegalStateTransitionError("embedded leader retriever already started")
            self._listener = listener
            g.listeners.append(self)
            current = g.published
        listener.notify_leader_address(current)

    def deliver(self, leader: LeaderInformation | None) -> None:
        listener = self._listener
        if listener is not None:
            listener.notify_leader_address(leader)

    def stop(self) -> None:
        g = self._group
        with g.lock:
            if self in g.listeners:
                g.listeners.remove(self)
            self._listener = None


class EmbeddedHaServices(HighAvailabilityServices):
    """In-memory HA services; ``sibling()`` gives another JobManager in this process a view of the same state."""

    def __init__(self, auto_grant: bool = False, _group: _Group | None = None) -> None:
        self._group = _group or _Group(auto_grant=auto_grant)
        self._election = EmbeddedLeaderElection(self._group)
        self._retriever = EmbeddedLeaderRetriever(self._group)

    def sibling(self) -> EmbeddedHaServices:
        """Services for another JobManager (or TaskManager, or client) sharing this embedded cluster."""
        return EmbeddedHaServices(_group=self._group)

    # -- HighAvailabilityServices ---------------------------------------------------------------

    def leader_election(self) -> EmbeddedLeaderElection:
        return self._election

    def leader_retriever(self) -> EmbeddedLeaderRetriever:
        return self._retriever

    def job_graph_store(self) -> JobGraphStore:
        return self._group.graphs

    def job_result_store(self) -> JobResultStore:
        return self._group.results

    def close(self) -> None:
        self._election.stop()
        self._retriever.stop()

    # -- test control ---------------------------------------------------------------------------

    def grant(self, contender: int | LeaderContender | None = None) -> LeaderSessionId:
        """Grant leadership with a new session id, revoking the current leader first.

        ``contender``: an index into the started contenders (in start order), the
        contender object itself, or None for the first one.
        """
        g = self._group
        with g.lock:
            target = self._find(contender)
            callbacks = _grant_locked(g, target)
            session = g.session
        _run(callbacks)
        assert session is not None
        return session

    def revoke(self) -> None:
        """Revoke the current leader's leadership (no-op without a leader); retrievers hear None."""
        g = self._group
        with g.lock:
            callbacks = _revoke_locked(g)
        _run(callbacks)

    @property
    def leader(self) -> LeaderContender | None:
        with self._group.lock:
            return self._group.leader.contender if self._group.leader else None

    @property
    def leader_session_id(self) -> LeaderSessionId | None:
        with self._group.lock:
            return self._group.session

    @property
    def leader_information(self) -> LeaderInformation | None:
        """What retrievers currently see (set by the leader's ``confirm_leadership``)."""
        with self._group.lock:
            return self._group.published

    @property
    def contenders(self) -> list[LeaderContender]:
        with self._group.lock:
            return [e.contender for e in self._group.contenders if e.contender is not None]

    def _find(self, contender: int | LeaderContender | None) -> EmbeddedLeaderElection:
        started = self._group.contenders
        if not started:
            raise IllegalStateTransitionError("no contender has started the embedded leader election")
        if contender is None:
            return started[0]
        if isinstance(contender, int):
            if not 0 <= contender < len(started):
                raise IndexError(f"contender index {contender} out of range: {len(started)} started")
            return started[contender]
        for election in started:
            if election.contender is contender:
                return election
        raise ValueError(f"{contender!r} has not started the embedded leader election")
