"""The embedded local cluster behind ``strom run`` without a configured cluster.

A JobManager and one TaskManager run as child processes of the client (like
Flink's MiniCluster, but processes: slots are worker processes anyway), on
127.0.0.1 with ephemeral ports, logs in a temp dir that is removed on stop.
The TaskManager's stdout is the client's, so ``print()`` sinks show up in the
user's terminal.

    with LocalCluster(num_slots=4) as cluster:
        conn = ClusterConnection.open(cluster.config, cluster.rpc_address)
        ...

Start-up: both daemons start at once (the TaskManager's interpreter and
slot-worker fork server take longest, so they warm up while the JobManager
binds a port chosen here); the JobManager confirms its ports in a ports file;
the cluster is ready when the Dispatcher's overview counts the TaskManager's
slots. The time this takes is logged at INFO (about 1 s on a 2-core machine).

The daemons run in the client's working directory, so relative paths in the
job (sinks, checkpoint dirs) mean what the user expects.

No orphans: ``stop()`` runs from ``__exit__``, from the JobClient that owns
the cluster, and at interpreter exit (atexit); children die with a client
killed by SIGKILL (``PR_SET_PDEATHSIG``, see ``process.py``).
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import weakref
from typing import Any

from strom.client.local.process import DaemonProcess, wait_for_ports_file
from strom.common.config import (
    HA_TYPE,
    HEARTBEAT_INTERVAL,
    HEARTBEAT_TIMEOUT,
    JOBMANAGER_PORTS_FILE,
    LOG_DIR,
    SLOT_REQUEST_TIMEOUT,
    Configuration,
)
from strom.common.errors import StromError

log = logging.getLogger(__name__)

# A local cluster's processes share one machine: peers that die are noticed
# quickly, and a job that cannot get its slots fails fast instead of waiting 5 min.
LOCAL_DEFAULTS = {
    HEARTBEAT_INTERVAL.key: "1 s",
    HEARTBEAT_TIMEOUT.key: "10 s",
    SLOT_REQUEST_TIMEOUT.key: "30 s",
}
# Keys that would point the embedded cluster at someone else's cluster or ports.
_NOT_INHERITED = {"execution.target", "jobmanager.rpc.address", "jobmanager.rpc.port", "jobmanager.bind-host",
                  "rest.port", "rest.address", "rest.bind-address", "taskmanager.host", "taskmanager.rpc.port",
                  "taskmanager.numberOfTaskSlots", JOBMANAGER_PORTS_FILE.key}

BIND_ATTEMPTS = 3

_live: weakref.WeakSet[LocalCluster] = weakref.WeakSet()
_live_lock = threading.Lock()


def _stop_all_at_exit() -> None:
    with _live_lock:
        clusters = list(_live)
    for cluster in clusters:
        cluster.stop()


atexit.register(_stop_all_at_exit)


class LocalCluster:
    """A JobManager and one TaskManager as child processes on 127.0.0.1.

    State is owned by the thread that calls start()/stop(); ``stop()`` is
    idempotent and also safe from atexit.
    """

    def __init__(self, num_slots: int | None = None, config: Configuration | None = None, *,
                 startup_timeout_s: float = 60.0, stop_timeout_s: float = 5.0,
                 inherit_taskmanager_stdout: bool = True) -> None:
        self.num_slots = num_slots or os.cpu_count() or 1
        self._user_config = config or Configuration()
        self._startup_timeout_s = startup_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._inherit_stdout = inherit_taskmanager_stdout
        self._tmp_dir: str | None = None
        self.jobmanager: DaemonProcess | None = None
        self.taskmanager: DaemonProcess | None = None
        self.rpc_address = ""
        self.rest_address = ""
        self.startup_s: float | None = None
        self._stopped = False

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def config(self) -> Configuration:
        """The client-side config for talking to this cluster."""
        return self._user_config

    @property
    def log_dir(self) -> str | None:
        return None if self._tmp_dir is None else os.path.join(self._tmp_dir, "log")

    def daemon_overrides(self) -> dict[str, str]:
        """-D flags for both daemons: the user's config, local defaults under it, local wiring over it."""
        assert self._tmp_dir is not None
        user = {k: v for k, v in self._user_config.to_dict().items() if k not in _NOT_INHERITED}
        forced = {HA_TYPE.key: "standalone"}
        if LOG_DIR.key not in user:
            forced[LOG_DIR.key] = os.path.join(self._tmp_dir, "log")
        return {**LOCAL_DEFAULTS, **user, **forced}

    def start(self) -> None:
        """Start both daemons and return when the TaskManager's slots are registered."""
        if self.jobmanager is not None:
            raise StromError("LocalCluster.start() called twice")
        started = time.monotonic()
        self._tmp_dir = tempfile.mkdtemp(prefix="strom-local-")
        with _live_lock:
            _live.add(self)
        try:
            self._start_processes(started)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        log.info("local cluster ready in %.2f s: JobManager at %s, TaskManager with %d slots (logs in %s)",
                 self.startup_s, self.rpc_address, self.num_slots, self.log_dir)

    def _start_processes(self, started: float) -> None:
        """Start both daemons at once: the TaskManager's interpreter and fork server warm up while
        the JobManager binds a port chosen here (retried if someone else took it meanwhile)."""
        assert self._tmp_dir is not None
        log_dir = os.path.join(self._tmp_dir, "log")
        for attempt in range(1, BIND_ATTEMPTS + 1):
            rpc_port = free_port()
            ports_file = os.path.join(self._tmp_dir, f"jobmanager-{attempt}.ports.json")
            jm_flags = _dynamic_flags({**self.daemon_overrides(), JOBMANAGER_PORTS_FILE.key: ports_file})
            self.jobmanager = DaemonProcess(
                "jobmanager", ["jobmanager", "start", "--host", "127.0.0.1", "--rpc-port", str(rpc_port),
                               "--rest-port", "0", *jm_flags], log_dir)
            self.taskmanager = DaemonProcess(
                "taskmanager", ["taskmanager", "start", "--jobmanager", f"127.0.0.1:{rpc_port}",
                                "--host", "127.0.0.1", "--slots", str(self.num_slots),
                                *_dynamic_flags(self.daemon_overrides())],
                log_dir, inherit_stdout=self._inherit_stdout)
            self.jobmanager.start()
            self.taskmanager.start()
            try:
                ports = wait_for_ports_file(ports_file, self.jobmanager, self._remaining(started))
                break
            except StromError:
                lost_port = "already in use" in self.jobmanager.output_tail()
                self.taskmanager.stop(self._stop_timeout_s)
                self.jobmanager.stop(self._stop_timeout_s)
                if not lost_port or attempt == BIND_ATTEMPTS:
                    raise
                log.info("port %d was taken before the local JobManager bound it; retrying", rpc_port)
        self.rpc_address = f"127.0.0.1:{ports['rpc']}"
        self.rest_address = f"127.0.0.1:{ports['rest']}" if "rest" in ports else ""
        log.info("local JobManager serving at %s after %.2f s", self.rpc_address, time.monotonic() - started)
        self._wait_for_slots(started)

    def _wait_for_slots(self, started: float) -> None:
        from strom.client.execution.connection import ClusterConnection

        with ClusterConnection.open(self._user_config, self.rpc_address) as conn:
            delay = 0.01
            while True:
                self.check_alive()
                overview = conn.overview()
                if overview.taskmanagers >= 1 and overview.slots_total >= self.num_slots:
                    return
                if self._remaining(started) <= 0:
                    raise StromError(
                        f"the local TaskManager did not register with the JobManager within "
                        f"{self._startup_timeout_s:.0f} s:\n{self._tails()}")
                time.sleep(delay)
                delay = min(delay * 1.5, 0.1)

    def _remaining(self, started: float) -> float:
        return self._startup_timeout_s - (time.monotonic() - started)

    def check_alive(self) -> None:
        """Raise StromError (with the log tail) if a daemon of this cluster has exited."""
        for proc in (self.jobmanager, self.taskmanager):
            if proc is not None and not self._stopped and not proc.is_alive():
                raise StromError(f"the local {proc.name} process (pid {proc.pid}) exited unexpectedly with code "
                                 f"{proc.returncode}:\n{proc.output_tail()}")

    def _tails(self) -> str:
        return "\n".join(p.output_tail() for p in (self.jobmanager, self.taskmanager) if p is not None)

    def stop(self) -> None:
        """Stop the TaskManager, then the JobManager (SIGTERM, SIGKILL after a deadline); remove temp files."""
        if self._stopped:
            return
        self._stopped = True
        with _live_lock:
            _live.discard(self)
        for proc in (self.taskmanager, self.jobmanager):
            if proc is not None:
                code = proc.stop(self._stop_timeout_s)
                log.debug("local %s (pid %s) stopped with code %s", proc.name, proc.pid, code)
        if self._tmp_dir is not None:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {"rpc_address": self.rpc_address, "rest_address": self.rest_address, "slots": self.num_slots,
                "startup_s": self.startup_s}


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _dynamic_flags(values: dict[str, str]) -> list[str]:
    flags: list[str] = []
    for key, value in values.items():
        flags += ["-D", f"{key}={value}"]
    return flags
