"""The TaskManager's connection to the leading JobManager: registration and heartbeats.

Owned by the TaskManager's asyncio loop. The HA leader retriever may call
``notify_leader_address`` from any thread; it only hands the news to the loop.

``run`` loops forever (until cancelled or fatal):

1. wait until a leader is known (standalone: at once; ZooKeeper: when elected);
2. register with its ResourceManager, retrying with backoff while it is
   unreachable ("JobManager at X unreachable, retrying"); a protocol version
   rejection is fatal (``ProtocolVersionError``);
3. heartbeat every interval with the slot report. ``registered=false`` ->
   register again (slots are kept: the JobMasters may still be alive). No
   successful heartbeat within the heartbeat timeout -> the JobManager is
   lost: every slot is released (``on_lost``) and registration starts over.
   A different leader -> the old one's jobs are gone: release, register with
   the new one.

Not being registered for ``taskmanager.registration.timeout`` (at start or
after losing the JobManager) is fatal (``RegistrationTimeoutError``), like
Flink's TaskExecutor.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from strom.common.errors import ClusterUnreachableError, ProtocolVersionError, StromError
from strom.common.gateway.resource_manager import Registration, ResourceManagerGateway, SlotStatus
from strom.common.ha import LeaderInformation
from strom.common.version import PROTOCOL_VERSION

log = logging.getLogger(__name__)

INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 5.0
REGISTER_CALL_TIMEOUT_S = 10.0
UNREACHABLE_LOG_EVERY_S = 30.0


class RegistrationTimeoutError(StromError):
    """The TaskManager could not register with a JobManager within ``taskmanager.registration.timeout``."""


@dataclass(frozen=True)
class ConnectionSettings:
    num_slots: int
    heartbeat_interval_ms: int
    heartbeat_timeout_ms: int
    registration_timeout_ms: int
    protocol_version: int = PROTOCOL_VERSION


class _Outcome(Enum):
    UNREGISTERED = "the ResourceManager does not know this TaskManager anymore"
    LOST = "heartbeat timeout"
    LEADER_CHANGED = "a new leader was elected"


GatewayFactory = Callable[[LeaderInformation], ResourceManagerGateway]


def _default_gateway(leader: LeaderInformation) -> ResourceManagerGateway:
    # No retries inside the gateway: this connection retries on its own schedule.
    return ResourceManagerGateway(leader.rpc_address, leader.session_id, timeout_s=REGISTER_CALL_TIMEOUT_S,
                                  retry_deadline_s=0.0)


def machine_memory_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


class JobManagerConnection:
    """Registration and heartbeats with the leading JobManager. Loop-owned.

    ``slot_report()`` is read for every registration and heartbeat;
    ``on_leader(session_id)`` is called before registering with a leader (slot
    requests must carry that session); ``on_lost(cause)`` releases every slot.
    """

    def __init__(self, resource_id: str, rpc_address: str, settings: ConnectionSettings,
                 slot_report: Callable[[], list[SlotStatus]], on_leader: Callable[[str | None], None],
                 on_lost: Callable[[str], Awaitable[None]],
                 gateway_factory: GatewayFactory = _default_gateway) -> None:
        self.resource_id = resource_id
        self.rpc_address = rpc_address
        self.settings = settings
        self._slot_report = slot_report
        self._on_leader = on_leader
        self._on_lost = on_lost
        self._gateway_factory = gateway_factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._leader: LeaderInformation | None = None
        self._leader_changed = asyncio.Event()
        self._registered = False
        self._registrations = 0
        self._unregistered_since = time.monotonic()

    @property
    def registered(self) -> bool:
        return self._registered

    @property
    def registrations(self) -> int:
        """How many times this TaskManager registered (1 + re-registrations)."""
        return self._registrations

    # ---- LeaderRetrievalListener (any thread) ------------------------------

    def notify_leader_address(self, leader: LeaderInformation | None) -> None:
        if self._loop is None:
            raise RuntimeError("JobManagerConnection.bind(loop) must be called before the retriever starts")
        try:
            self._loop.call_soon_threadsafe(self._set_leader, leader)
        except RuntimeError:
            pass  # loop closed: the TaskManager has stopped

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def _set_leader(self, leader: LeaderInformation | None) -> None:
        if leader == self._leader:
            return
        log.info("Leading JobManager is now %s", "unknown" if leader is None else
                 f"at {leader.rpc_address} (leader session {leader.session_id})")
        self._leader = leader
        self._leader_changed.set()

    # ---- main loop ---------------------------------------------------------

    async def run(self) -> None:
        """Register and heartbeat until cancelled; raises ``ProtocolVersionError``/``RegistrationTimeoutError``."""
        self._loop = asyncio.get_running_loop()
        self._unregistered_since = time.monotonic()
        followed: LeaderInformation | None = None
        while True:
            leader = await self._wait_for_leader()
            if followed is not None and leader != followed:
                await self._on_lost(f"the JobManager leader changed from {followed.rpc_address} "
                                    f"(session {followed.session_id}) to {leader.rpc_address} "
                                    f"(session {leader.session_id})")
            followed = leader
            self._on_leader(leader.session_id)
            gateway = self._gateway_factory(leader)
            try:
                registration = await self._register(gateway, leader)
                if registration is None:
                    continue  # the leader changed while registering
                outcome = await self._heartbeat(gateway, leader, registration)
            finally:
                self._set_unregistered()
                await gateway.close_async()
            if outcome is _Outcome.LOST:
                await self._on_lost(f"the JobManager at {leader.rpc_address} answered no heartbeat for "
                                    f"{self._timeout_ms(registration) / 1000:g} s")
            log.info("Registering again with the JobManager: %s", outcome.value)

    async def _wait_for_leader(self) -> LeaderInformation:
        logged = False
        while self._leader is None:
            self._leader_changed.clear()
            if not await self._wait_changed(min(1.0, self._remaining_registration_s())) and not logged:
                log.info("Waiting for a JobManager leader")
                logged = True
            self._check_registration_timeout("no JobManager leader became known")
        self._leader_changed.clear()
        return self._leader

    async def _register(self, gateway: ResourceManagerGateway, leader: LeaderInformation) -> Registration | None:
        backoff = INITIAL_BACKOFF_S
        last_warning = 0.0
        attempt = 0
        while True:
            attempt += 1
            try:
                registration = await gateway.register_task_executor_async(
                    self.resource_id, self.rpc_address, self.settings.num_slots, self._slot_report(),
                    hostname=socket.gethostname(), memory_bytes=machine_memory_bytes(),
                    cpu_cores=os.cpu_count() or 1, protocol_version=self.settings.protocol_version)
            except ProtocolVersionError as e:
                raise ProtocolVersionError(
                    f"the JobManager at {leader.rpc_address} rejected this TaskManager (protocol version "
                    f"{self.settings.protocol_version}): {e}") from None
            except StromError as e:
                now = time.monotonic()
                if now - last_warning >= UNREACHABLE_LOG_EVERY_S:
                    last_warning = now
                    if isinstance(e, ClusterUnreachableError):
                        log.warning("JobManager at %s unreachable, retrying (attempt %d): %s",
                                    leader.rpc_address, attempt, e)
                    else:
                        log.warning("Registration with the JobManager at %s failed, retrying (attempt %d): %s",
                                    leader.rpc_address, attempt, e)
                self._check_registration_timeout(
                    f"could not register with the JobManager at {leader.rpc_address}: {e}")
                if await self._wait_changed(min(backoff, self._remaining_registration_s())):
                    return None
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            self._registered = True
            self._registrations += 1
            log.info("Registered as %s with the JobManager at %s (registration %s, %d slots)", self.resource_id,
                     leader.rpc_address, registration.registration_id, self.settings.num_slots)
            return registration

    async def _heartbeat(self, gateway: ResourceManagerGateway, leader: LeaderInformation,
                         registration: Registration) -> _Outcome:
        interval_s = (registration.heartbeat_interval_ms or self.settings.heartbeat_interval_ms) / 1000
        timeout_s = self._timeout_ms(registration) / 1000
        loop = asyncio.get_running_loop()
        last_ok = loop.time()
        while True:
            if await self._wait_changed(interval_s):
                return _Outcome.LEADER_CHANGED
            # Wait for the answer no longer than the heartbeat timeout allows.
            deadline_s = max(0.05, min(interval_s, last_ok + timeout_s - loop.time()))
            try:
                registered = await asyncio.wait_for(
                    gateway.heartbeat_async(self.resource_id, self._slot_report()), deadline_s)
            except (StromError, TimeoutError) as e:
                silent_s = loop.time() - last_ok
                log.warning("Heartbeat to the JobManager at %s failed (%.1f s without an answer): %s",
                            leader.rpc_address, silent_s, str(e) or "no answer in time")
                if silent_s >= timeout_s:
                    log.error("JobManager at %s lost: no heartbeat answered for %.1f s", leader.rpc_address, silent_s)
                    return _Outcome.LOST
                continue
            last_ok = loop.time()
            if not registered:
                log.warning("The JobManager at %s does not know this TaskManager anymore", leader.rpc_address)
                return _Outcome.UNREGISTERED

    # ---- helpers -----------------------------------------------------------

    def _timeout_ms(self, registration: Registration | None) -> int:
        if registration is not None and registration.heartbeat_timeout_ms:
            return registration.heartbeat_timeout_ms
        return self.settings.heartbeat_timeout_ms

    async def _wait_changed(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``; True (and consumed) if the leader changed meanwhile."""
        try:
            await asyncio.wait_for(self._leader_changed.wait(), max(0.0, timeout_s))
        except TimeoutError:
            return False
        return True

    def _set_unregistered(self) -> None:
        if self._registered:
            self._registered = False
            self._unregistered_since = time.monotonic()

    def _remaining_registration_s(self) -> float:
        return self.settings.registration_timeout_ms / 1000 - (time.monotonic() - self._unregistered_since)

    def _check_registration_timeout(self, what: str) -> None:
        if self._remaining_registration_s() <= 0:
            raise RegistrationTimeoutError(
                f"TaskManager {self.resource_id} gave up after {self.settings.registration_timeout_ms / 1000:g} s "
                f"without registration ({what}); check that the JobManager runs and that "
                "jobmanager.rpc.address/port (or the HA settings) point at it")
