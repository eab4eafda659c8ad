"""The ``strom jobmanager start`` process.

One asyncio loop owns all control-plane state: the ResourceManager, the
Dispatcher and its JobMasters, the gRPC server (DispatcherService,
ResourceManagerService, JobMasterService) on ``jobmanager.bind-host:
jobmanager.rpc.port`` and the REST server on ``rest.bind-address:rest.port``
(port 0: any free port). Leadership comes from the HA services
(``leadership.Leadership``); standalone HA grants it at once. With ZooKeeper
HA several JobManagers run with the same config: one leads, the others stand
by. Every JobManager also watches who leads (the HA leader retriever): a
standby's REST redirects to the leader (``rest.leader.LeaderGate``, HTTP 307;
``GET /jobmanager/leader`` answers locally) and its ``GetLeaderInfo`` names
the leader's addresses with an empty session id.

Once serving, the JobManager logs ``JobManager serving RPC on host:port, REST
on host:port`` and, if ``jobmanager.ports-file`` is set, writes
``{"rpc_port", "rest_port", "pid", ...}`` there atomically. SIGTERM/SIGINT
stop it: servers close, running jobs are suspended (their tasks cancelled
best-effort); standalone HA does not keep jobs across restarts, as in Flink.

    config = Configuration.load(overrides={"jobmanager.rpc.port": "0", "rest.port": "0"})
    async with JobManager(config) as jobmanager:
        print(jobmanager.rpc_address, jobmanager.rest_address)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import socket
import sys

import grpc.aio

from strom.common.config import (
    JOBMANAGER_BIND_HOST,
    JOBMANAGER_PORTS_FILE,
    JOBMANAGER_RPC_ADDRESS,
    JOBMANAGER_RPC_PORT,
    REST_ADDRESS,
    REST_BIND_ADDRESS,
    REST_PORT,
    Configuration,
)
from strom.common.errors import StromError
from strom.common.gateway.base import channel_options
from strom.common.ha import HighAvailabilityServices, LeaderInformation, create_ha_services
from strom.common.ids import LeaderSessionId
from strom.common.rpc import dispatcher_pb2_grpc, job_master_pb2_grpc, resource_manager_pb2_grpc
from strom.jobmanager.dispatcher import Dispatcher
from strom.jobmanager.leadership import Leadership
from strom.jobmanager.resourcemanager import ResourceManager
from strom.jobmanager.rest import RestApi, RestServer
from strom.jobmanager.rest.leader import LeaderGate, LeaderStatus
from strom.jobmanager.rpc import DispatcherServicer, JobMasterServicer, ResourceManagerServicer
from strom.jobmanager.task_executors import TaskExecutorGateways

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 10.0


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _check_port_free(host: str, port: int, what: str) -> None:
    """Fail with a clear message before gRPC logs its own bind error (port 0 is always free)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            reason = "address already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
            raise StromError(f"JobManager cannot bind {what}{_host_port(host, port)}: {reason}") from None


def write_ports_file(path: str, content: dict[str, object]) -> None:
    """Write JSON atomically: a temporary file next to ``path``, then rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(content, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class JobManager:
    """The JobManager's components wired on the running loop; ``start()``/``stop()`` or ``async with``."""

    def __init__(self, config: Configuration, ha_services: HighAvailabilityServices | None = None,
                 task_executors: TaskExecutorGateways | None = None) -> None:
        self.config = config
        self._ha = ha_services or create_ha_services(config)
        self._task_executors = task_executors or TaskExecutorGateways()
        self._loop = asyncio.get_running_loop()
        self.leadership = Leadership(self._ha.leader_election(), self._loop, self._on_grant, self._on_revoke)
        self.resource_manager = ResourceManager(config, self._task_executors, self.leadership.current_session)
        self.dispatcher = Dispatcher(config, self._ha, self.resource_manager, self._task_executors,
                                     self.leadership.current_session, lambda: self.rpc_address)
        self.rpc_address = ""
        self.rest_address = ""
        self.rpc_port = 0
        self.rest_port = 0
        self._grpc: grpc.aio.Server | None = None
        self._rest: RestServer | None = None
        self._ports_file: str | None = None
        self._retriever = self._ha.leader_retriever()
        self._retriever_started = False
        self.known_leader: LeaderInformation | None = None   # who leads, as published through the HA services

    async def __aenter__(self) -> JobManager:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        try:
            await self._start_servers()
            self.resource_manager.start()
            self._retriever.start(self)
            self._retriever_started = True
            self.leadership.start(self.rpc_address, self.rest_address)
            await self.leadership.settle()
        except BaseException:
            await self.stop()
            raise
        log.info("JobManager serving RPC on %s, REST on %s", self.rpc_address, self.rest_address)
        self._write_ports_file()

    async def _start_servers(self) -> None:
        bind_host = self.config.get_str(JOBMANAGER_BIND_HOST)
        port = self.config.get_int(JOBMANAGER_RPC_PORT)
        _check_port_free(bind_host, port, "")
        server = grpc.aio.server(options=[*channel_options(), ("grpc.so_reuseport", 0)])
        dispatcher_pb2_grpc.add_DispatcherServiceServicer_to_server(
            DispatcherServicer(self.dispatcher, self.leadership, self.leader_addresses), server)
        resource_manager_pb2_grpc.add_ResourceManagerServiceServicer_to_server(
            ResourceManagerServicer(self.resource_manager, self.leadership), server)
        job_master_pb2_grpc.add_JobMasterServiceServicer_to_server(
            JobMasterServicer(self.dispatcher, self.leadership), server)
        try:
            self.rpc_port = server.add_insecure_port(_host_port(bind_host, port))
        except RuntimeError:
            raise StromError(f"JobManager cannot bind {_host_port(bind_host, port)}: address already in use "
                             "or not available") from None
        await server.start()
        self._grpc = server
        self.rpc_address = _host_port(self.config.get_str(JOBMANAGER_RPC_ADDRESS), self.rpc_port)

        api = RestApi(self.dispatcher, self.resource_manager, self.config)
        gate = LeaderGate(api.router.handle, self.leader_status)
        self._rest = RestServer(self.config.get_str(REST_BIND_ADDRESS), self.config.get_int(REST_PORT), gate.handle)
        self.rest_port = await self._rest.start()
        self.rest_address = _host_port(self.config.get_str(REST_ADDRESS), self.rest_port)

    def _write_ports_file(self) -> None:
        path = self.config.get(JOBMANAGER_PORTS_FILE)
        if not path:
            return
        write_ports_file(path, {"rpc_port": self.rpc_port, "rest_port": self.rest_port, "pid": os.getpid(),
                                "rpc_address": self.rpc_address, "rest_address": self.rest_address})
        self._ports_file = path

    async def stop(self) -> None:
        """Close the servers, suspend the jobs, release everything. Bounded by SHUTDOWN_TIMEOUT_S."""
        if self._rest is not None:
            await self._rest.stop()
            self._rest = None
        await self.leadership.stop()
        if self._retriever_started:
            self._retriever.stop()
            self._retriever_started = False
        try:
            await asyncio.wait_for(self.dispatcher.suspend_all("JobManager is shutting down"), SHUTDOWN_TIMEOUT_S)
        except TimeoutError:
            log.warning("jobs did not suspend within %g s", SHUTDOWN_TIMEOUT_S)
        await self.resource_manager.stop()
        await self.dispatcher.stop()
        if self._grpc is not None:
            await self._grpc.stop(grace=1.0)
            self._grpc = None
        await self._task_executors.close()
        self._ha.close()
        if self._ports_file is not None:
            with contextlib.suppress(OSError):
                os.remove(self._ports_file)
            self._ports_file = None

    # ---- who leads ------------------------------------------------------------

    def notify_leader_address(self, leader: LeaderInformation | None) -> None:
        """LeaderRetrievalListener (any thread): hand the news to the loop."""
        try:
            self._loop.call_soon_threadsafe(self._set_known_leader, leader)
        except RuntimeError:
            pass  # loop closed: the JobManager has stopped

    def _set_known_leader(self, leader: LeaderInformation | None) -> None:
        self.known_leader = leader

    def leader_addresses(self) -> tuple[str, str]:
        """(rpc, rest) address of the leader: our own while we lead, else the published one ("" if unknown).

        A standby never names itself: a stale publication of its own old leadership counts as unknown.
        """
        if self.leadership.is_leader:
            return self.rpc_address, self.rest_address
        leader = self.known_leader
        if leader is None or leader.rpc_address == self.rpc_address:
            return "", ""
        return leader.rpc_address, leader.rest_address

    def leader_status(self) -> LeaderStatus:
        rpc_address, rest_address = self.leader_addresses()
        return LeaderStatus(self.leadership.is_leader, self.leadership.session_id, rpc_address, rest_address,
                            self.rpc_address, self.rest_address)

    async def _on_grant(self, session: LeaderSessionId) -> None:
        await self.dispatcher.recover_jobs()

    async def _on_revoke(self) -> None:
        await self.dispatcher.suspend_all("JobManager lost leadership")
        self.resource_manager.clear("JobManager lost leadership")


async def run_jobmanager(config: Configuration, stop_event: asyncio.Event | None = None) -> None:
    """Serve until ``stop_event`` is set (or SIGTERM/SIGINT when no event is given), then stop."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if stop_event is None:
        stop_event = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop_event.set)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
    try:
        async with JobManager(config):
            await stop_event.wait()
            log.info("JobManager stopping")
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def main(config: Configuration) -> None:
    """Blocking entry point of ``strom jobmanager start``; exits 1 with one clear line on a StromError."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run_jobmanager(config))
    except StromError as e:
        log.error("%s", e)
        if not _logs_to_stderr():
            print(f"strom jobmanager: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass
    log.info("JobManager stopped")


def _logs_to_stderr() -> bool:
    return any(isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.stderr
               for h in logging.getLogger().handlers)
