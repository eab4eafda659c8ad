"""The JobManager's leadership: the leader session id and fencing checks.

``Leadership`` is the ``LeaderContender`` the HA services talk to. Standalone
HA grants leadership at once; ZooKeeper HA grants and revokes it from kazoo's
threads. Either way grant/revoke only hand the event over to the JobManager's
loop (``call_soon_threadsafe``); there the session id changes and the
``on_grant``/``on_revoke`` callbacks run (recover jobs / suspend them).

Every fenced RPC passes its token to ``check_fencing``: a token that is not
the current session (or any token while this JobManager does not lead) raises
``FencingTokenError`` ("leader session" in the text), which the transport
turns into FAILED_PRECONDITION.

State owner: the JobManager's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from strom.common.errors import FencingTokenError
from strom.common.ha import LeaderElection
from strom.common.ids import LeaderSessionId

log = logging.getLogger(__name__)

GrantCallback = Callable[[LeaderSessionId], Awaitable[None]]
RevokeCallback = Callable[[], Awaitable[None]]

GRANT_RETRY_INITIAL_S = 0.2
GRANT_RETRY_MAX_S = 5.0


class Leadership:
    """Holds the leader session id of this JobManager; LeaderContender for the HA services."""

    def __init__(self, election: LeaderElection, loop: asyncio.AbstractEventLoop,
                 on_grant: GrantCallback, on_revoke: RevokeCallback) -> None:
        self._election = election
        self._loop = loop
        self._on_grant = on_grant
        self._on_revoke = on_revoke
        self._session: LeaderSessionId | None = None
        self._rpc_address = ""
        self._rest_address = ""
        self._changes: asyncio.Queue[LeaderSessionId | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._granted = asyncio.Event()

    @property
    def session_id(self) -> LeaderSessionId | None:
        """The current leader session id, None while not leading."""
        return self._session

    @property
    def is_leader(self) -> bool:
        return self._session is not None

    def start(self, rpc_address: str, rest_address: str) -> None:
        """Join the election; ``rpc_address``/``rest_address`` are published once leadership is granted."""
        self._rpc_address = rpc_address
        self._rest_address = rest_address
        self._worker = self._loop.create_task(self._apply_changes(), name="leadership")
        self._election.start(self)

    async def stop(self) -> None:
        if self._worker is None:
            return  # never started
        self._election.stop()
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    async def settle(self, timeout_s: float = 10.0) -> None:
        """Wait until every leadership change handed over so far is applied (e.g. standalone's
        immediate grant, so the JobManager leads before it announces that it serves)."""
        await asyncio.sleep(0)  # let call_soon_threadsafe hand-overs already scheduled run first
        try:
            await asyncio.wait_for(self._changes.join(), timeout_s)
        except TimeoutError:
            log.warning("leadership change still in progress after %g s", timeout_s)

    async def wait_for_leadership(self, timeout_s: float) -> bool:
        try:
            await asyncio.wait_for(self._granted.wait(), timeout_s)
            return True
        except TimeoutError:
            return False

    # ---- LeaderContender (any thread) ---------------------------------------

    def grant_leadership(self, session_id: LeaderSessionId) -> None:
        self._loop.call_soon_threadsafe(self._changes.put_nowait, session_id)

    def revoke_leadership(self) -> None:
        self._loop.call_soon_threadsafe(self._changes.put_nowait, None)

    # ---- fencing (loop) -----------------------------------------------------

    def check_fencing(self, token: str) -> LeaderSessionId:
        """Raise FencingTokenError unless ``token`` is the current leader session id."""
        if self._session is None:
            raise FencingTokenError("this JobManager is not the leader (no leader session); "
                                    "ask the HA services for the current leader and retry")
        if token != self._session:
            shown = token or "<none>"
            raise FencingTokenError(f"stale leader session {shown}: the current leader session is {self._session}; "
                                    "re-resolve the leader and retry")
        return self._session

    def current_session(self) -> LeaderSessionId:
        """The session id to put on outgoing calls; FencingTokenError while not leading."""
        if self._session is None:
            raise FencingTokenError("this JobManager lost its leader session")
        return self._session

    # ---- loop side ----------------------------------------------------------

    async def _apply_changes(self) -> None:
        while True:
            session = await self._changes.get()
            try:
                if session is not None:
                    await self._grant(session)
                elif self._session is not None:
                    await self._revoke()
            except Exception:
                log.exception("leadership change to %s failed", session)
            finally:
                self._changes.task_done()

    async def _grant(self, session: LeaderSessionId) -> None:
        if self._session == session:
            return
        if self._session is not None:
            await self._revoke()
        log.info("JobManager granted leadership with leader session %s", session)
        self._session = session
        if not await self._run_grant_callback(session):
            return
        if self._election.has_leadership(session):
            self._election.confirm_leadership(session, self._rpc_address, self._rest_address)
        self._granted.set()

    async def _run_grant_callback(self, session: LeaderSessionId) -> bool:
        """``on_grant`` (job recovery), retried with backoff while the HA store is unavailable.

        The leader's address is published only after this succeeds, so nobody talks to a leader that
        has not recovered its jobs yet (Flink's Dispatcher confirms leadership after recovery, too).
        Gives up (False) as soon as the session is no longer ours or a newer change waits in the queue.
        """
        delay = GRANT_RETRY_INITIAL_S
        while True:
            try:
                await self._on_grant(session)
                return True
            except Exception as e:
                if self._session != session or not self._election.has_leadership(session) \
                        or not self._changes.empty():
                    log.warning("recovery under leader session %s failed (%s: %s); a newer leadership change "
                                "takes over", session, type(e).__name__, e)
                    return False
                log.warning("recovery under leader session %s failed (%s: %s); retrying in %.1f s", session,
                            type(e).__name__, e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, GRANT_RETRY_MAX_S)

    async def _revoke(self) -> None:
        log.warning("JobManager lost leadership (leader session %s): suspending its jobs", self._session)
        self._session = None
        self._granted.clear()
        await self._on_revoke()
