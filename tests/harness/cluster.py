"""A real Strom cluster for integration tests: JobManager(s) and TaskManagers as processes.

Every process is started through the ``strom`` CLI (``python -m
strom.client.cli.main ...``) on 127.0.0.1 with ephemeral ports; the
JobManager reports its ports in a ports file; the cluster is ready when
``/overview`` (REST, or the Dispatcher's gRPC overview while REST is not
there) counts every TaskManager and slot. Each process's stdout/stderr and
``env.log.dir`` land in ``work_dir/log``. ``stop()`` stops every process by
PID (SIGTERM, then SIGKILL of its process group) and prints the tail of each
log, which pytest shows for failed tests only.

    @pytest.fixture
    def cluster(tmp_path):
        with StromCluster(tmp_path, num_taskmanagers=2, slots_per_taskmanager=2) as c:
            yield c

    def test_wordcount(cluster, tmp_path):
        r = cluster.cli("run", "-m", cluster.rpc_address, "wc.py")
        assert r.returncode == 0, r.stderr
        cluster.kill_taskmanager(0)              # SIGKILL, e.g. mid-job
        cluster.add_taskmanager()                # a replacement

HA: pass ``config=ha_config(zk.connect_string, tmp_path / "ha")`` (a
ZooKeeper from ``tests/harness/zookeeper.py``) and ``num_jobmanagers=3`` (or
call ``start_jobmanager()`` again) for standbys; TaskManagers and the CLI
(``ha_cli_args()``, no ``-m``) then find the leader through ZooKeeper.

    with StromCluster(tmp_path / "c", num_jobmanagers=2, config=ha_config(zk.connect_string, tmp_path / "ha")) as c:
        leader = c.wait_for_leader()             # index into c.jobmanagers
        c.kill_jobmanager(leader)                # SIGKILL: a standby takes over after the session timeout
        c.pause_jobmanager(i); c.resume_jobmanager(i)   # SIGSTOP / SIGCONT
        c.cli("list", *c.ha_cli_args())
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from strom.client.local.process import DaemonProcess, strom_command, wait_for_ports_file
from strom.common.config import Configuration

HOST = "127.0.0.1"

# Failure detection fast enough for tests, slow enough for a loaded 2-core machine.
TEST_DEFAULTS = {
    "heartbeat.interval": "500 ms",
    "heartbeat.timeout": "5 s",
    "slot.request.timeout": "30 s",
    "taskmanager.registration.timeout": "60 s",
}


HA_KEYS = ("high-availability.type", "high-availability.zookeeper.quorum", "high-availability.zookeeper.path.root",
           "high-availability.cluster-id", "high-availability.storageDir",
           "high-availability.zookeeper.client.session-timeout",
           "high-availability.zookeeper.client.connection-timeout")


class ClusterStartupError(RuntimeError):
    pass


def ha_config(quorum: str, storage_dir: str | os.PathLike[str], session_timeout: str = "2 s",
              cluster_id: str | None = None, **extra: str) -> dict[str, str]:
    """Config of a ZooKeeper-HA cluster for tests: a fresh cluster id, storageDir as a file:// URI."""
    return {
        "high-availability.type": "zookeeper",
        "high-availability.zookeeper.quorum": quorum,
        "high-availability.cluster-id": cluster_id or f"test-{uuid.uuid4().hex[:8]}",
        "high-availability.storageDir": Path(storage_dir).resolve().as_uri(),
        "high-availability.zookeeper.client.session-timeout": session_timeout,
        "high-availability.zookeeper.client.connection-timeout": "5 s",
        **extra,
    }


class StromCluster:
    """JobManager(s) and TaskManagers started with the CLI; stopped by PID. Use from the test's thread."""

    def __init__(self, work_dir: str | os.PathLike[str], num_taskmanagers: int = 1, slots_per_taskmanager: int = 2,
                 config: Mapping[str, str] | None = None, startup_timeout_s: float = 60.0,
                 echo_logs_on_stop: bool = True, num_jobmanagers: int = 1) -> None:
        self.work_dir = Path(work_dir)
        self.log_dir = self.work_dir / "log"
        self.num_jobmanagers = num_jobmanagers
        self.num_taskmanagers = num_taskmanagers
        self.slots_per_taskmanager = slots_per_taskmanager
        self.config_values = {**TEST_DEFAULTS, **(config or {})}
        self.startup_timeout_s = startup_timeout_s
        self.echo_logs_on_stop = echo_logs_on_stop
        self.jobmanagers: list[DaemonProcess] = []
        self.jobmanager_ports: list[dict[str, int]] = []
        self.taskmanagers: list[DaemonProcess] = []
        self.paused: set[int] = set()   # JobManagers stopped with SIGSTOP
        self.startup_s: float | None = None

    # ---- lifecycle --------------------------------------------------------

    def __enter__(self) -> StromCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> StromCluster:
        started = time.monotonic()
        for _ in range(self.num_jobmanagers):
            self.start_jobmanager()
        for _ in range(self.num_taskmanagers):
            self.add_taskmanager(wait=False)
        self.wait_until_ready(self.num_taskmanagers, self.num_taskmanagers * self.slots_per_taskmanager)
        self.startup_s = time.monotonic() - started
        return self

    @property
    def uses_ha(self) -> bool:
        return self.config_values.get("high-availability.type", "standalone").lower() == "zookeeper"

    def _dynamic(self, extra: Mapping[str, str] | None = None) -> list[str]:
        values = {"env.log.dir": str(self.log_dir), **self.config_values, **(extra or {})}
        return [arg for key, value in values.items() for arg in ("-D", f"{key}={value}")]

    def start_jobmanager(self, extra_config: Mapping[str, str] | None = None) -> DaemonProcess:
        """Start a JobManager (a standby when one runs already under HA); returns once it serves."""
        index = len(self.jobmanagers)
        ports_file = self.work_dir / f"jobmanager-{index}.ports.json"
        ports_file.unlink(missing_ok=True)
        proc = DaemonProcess(f"jobmanager-{index}",
                             ["jobmanager", "start", "--host", HOST, "--rpc-port", "0", "--rest-port", "0",
                              *self._dynamic({"jobmanager.ports-file": str(ports_file), **(extra_config or {})})],
                             str(self.log_dir), cwd=str(self.work_dir))
        self.jobmanagers.append(proc)
        proc.start()
        try:
            ports = wait_for_ports_file(str(ports_file), proc, self.startup_timeout_s)
        except Exception as e:
            raise ClusterStartupError(str(e)) from None
        self.jobmanager_ports.append(ports)
        return proc

    def add_taskmanager(self, slots: int | None = None, extra_config: Mapping[str, str] | None = None,
                        wait: bool = True) -> DaemonProcess:
        """Start one more TaskManager; with ``wait``, return once the cluster counts it."""
        index = len(self.taskmanagers)
        args = ["taskmanager", "start", "--host", HOST, "--slots", str(slots or self.slots_per_taskmanager)]
        if not self.uses_ha:
            args += ["--jobmanager", self.rpc_address]
        proc = DaemonProcess(f"taskmanager-{index}", [*args, *self._dynamic(extra_config)], str(self.log_dir),
                             cwd=str(self.work_dir))
        self.taskmanagers.append(proc)
        proc.start()
        if wait:
            self.wait_until_ready(len(self.live_taskmanagers()))
        return proc

    def wait_until_ready(self, num_taskmanagers: int | None = None, num_slots: int | None = None,
                         timeout_s: float | None = None) -> dict[str, Any]:
        """Poll /overview until it counts ``num_taskmanagers`` TaskManagers (and ``num_slots`` slots)."""
        want_tms = len(self.live_taskmanagers()) if num_taskmanagers is None else num_taskmanagers
        deadline = time.monotonic() + (timeout_s or self.startup_timeout_s)
        last: dict[str, Any] = {}
        while True:
            if not any(p.is_alive() for p in self.jobmanagers):
                raise ClusterStartupError(f"no JobManager is running:\n{self.dump_logs()}")
            try:
                last = self.overview()
            except Exception as e:  # not serving yet
                last = {"error": str(e)}
            if last.get("taskmanagers", 0) >= want_tms and last.get("slots-total", 0) >= (num_slots or 0):
                return last
            if time.monotonic() > deadline:
                raise ClusterStartupError(f"cluster not ready: want {want_tms} TaskManagers, last overview {last}"
                                          f"\n{self.dump_logs()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop TaskManagers, then JobManagers, by PID; print each log's tail (shown by pytest on failure)."""
        for index in list(self.paused):
            self.resume_jobmanager(index)
        for proc in [*self.taskmanagers, *reversed(self.jobmanagers)]:
            proc.stop()
        if self.echo_logs_on_stop and (self.taskmanagers or self.jobmanagers):
            print(self.dump_logs())

    # ---- addresses and clients ------------------------------------------------

    def _first_live_jobmanager(self) -> int:
        for i, proc in enumerate(self.jobmanagers):
            if proc.is_alive() and i not in self.paused:
                return i
        return 0

    def jobmanager_rpc_address(self, index: int) -> str:
        return f"{HOST}:{self.jobmanager_ports[index]['rpc']}"

    def jobmanager_rest_url(self, index: int) -> str:
        return f"http://{HOST}:{self.jobmanager_ports[index]['rest']}"

    def ha_config(self) -> dict[str, str]:
        """The cluster's HA settings alone (what a client needs to find the leader)."""
        return {k: v for k, v in self.config_values.items() if k in HA_KEYS}

    def ha_cli_args(self) -> list[str]:
        """``-D key=value`` arguments naming only the ZooKeeper quorum and HA settings (no ``-m``)."""
        return [arg for key, value in self.ha_config().items() for arg in ("-D", f"{key}={value}")]

    def leader_status(self, index: int, timeout_s: float = 2.0) -> dict[str, Any]:
        """``GET /jobmanager/leader`` of JobManager ``index`` (answered locally, never redirected)."""
        with urllib.request.urlopen(f"{self.jobmanager_rest_url(index)}/jobmanager/leader",
                                    timeout=timeout_s) as response:
            return dict(json.load(response))

    def wait_for_leader(self, timeout_s: float = 30.0, exclude: Sequence[int] = ()) -> int:
        """Index of the JobManager that leads (and has published itself), polled among live, unpaused ones."""
        deadline = time.monotonic() + timeout_s
        last: dict[int, Any] = {}
        while True:
            for i, proc in enumerate(self.jobmanagers):
                if i in exclude or i in self.paused or not proc.is_alive():
                    continue
                try:
                    status = self.leader_status(i)
                except (OSError, ValueError) as e:
                    last[i] = str(e)
                    continue
                last[i] = status
                if status.get("leader") and status.get("leaderRestAddress") == status.get("restAddress"):
                    return i
            if time.monotonic() > deadline:
                raise AssertionError(f"no JobManager leads after {timeout_s} s: {last}\n{self.dump_logs()}")
            time.sleep(0.02)

    @property
    def rpc_port(self) -> int:
        return self.jobmanager_ports[self._first_live_jobmanager()]["rpc"]

    @property
    def rpc_address(self) -> str:
        """gRPC address of the first live JobManager (``-m`` for the CLI).

        Under HA that may be a standby: use ``client_config()`` to follow the leader.
        """
        return f"{HOST}:{self.rpc_port}"

    @property
    def rest_url(self) -> str | None:
        ports = self.jobmanager_ports[self._first_live_jobmanager()] if self.jobmanager_ports else {}
        return f"http://{HOST}:{ports['rest']}" if "rest" in ports else None

    def client_config(self) -> Configuration:
        """A client Configuration naming this cluster (``execution.target: remote``)."""
        values = {**self.config_values, "jobmanager.rpc.address": HOST, "jobmanager.rpc.port": str(self.rpc_port)}
        if not self.uses_ha:
            values["execution.target"] = "remote"
        return Configuration(values)

    def cli_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for CLI subprocesses: no stray config from the developer's conf dir."""
        env = {k: v for k, v in os.environ.items() if k not in {"STROM_PROPERTIES", "STROM_CONF_DIR"}}
        env["STROM_CONF_DIR"] = str(self.work_dir / "conf")
        env.update(extra or {})
        return env

    def cli(self, *args: str, timeout_s: float = 120.0, env: Mapping[str, str] | None = None,
            cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``strom ARGS`` to completion (text output captured)."""
        return run_cli(args, timeout_s=timeout_s, env=self.cli_env(env), cwd=cwd or self.work_dir)

    def dispatcher(self) -> Any:
        """A DispatcherGateway to the first JobManager (close it when done)."""
        from strom.common.gateway.dispatcher import DispatcherGateway

        return DispatcherGateway(self.rpc_address)

    def overview(self) -> dict[str, Any]:
        """Flink's ``/overview`` JSON (REST), or the same keys from the Dispatcher's gRPC overview."""
        if self.rest_url is not None:
            try:
                with urllib.request.urlopen(f"{self.rest_url}/overview", timeout=2) as response:
                    return dict(json.load(response))
            except (urllib.error.URLError, ConnectionError, json.JSONDecodeError):
                pass  # REST not (yet) serving: ask the Dispatcher
        gateway = self.dispatcher()
        try:
            o = gateway.overview()
        finally:
            gateway.close()
        return {"taskmanagers": o.taskmanagers, "slots-total": o.slots_total, "slots-available": o.slots_available,
                "jobs-running": o.jobs_running, "jobs-finished": o.jobs_finished,
                "jobs-cancelled": o.jobs_cancelled, "jobs-failed": o.jobs_failed}

    # ---- failures -------------------------------------------------------------

    def live_taskmanagers(self) -> list[DaemonProcess]:
        return [p for p in self.taskmanagers if p.is_alive()]

    def kill_taskmanager(self, index: int) -> None:
        """SIGKILL TaskManager ``index`` and its slot workers (its process group)."""
        self.taskmanagers[index].kill()

    def kill_jobmanager(self, index: int = 0) -> None:
        """SIGKILL JobManager ``index`` (a crash: no clean hand-over, its ZooKeeper session must expire)."""
        self.jobmanagers[index].kill()
        self.paused.discard(index)

    def pause_jobmanager(self, index: int) -> None:
        """SIGSTOP JobManager ``index`` (a frozen process: its ZooKeeper session expires if paused long enough)."""
        self.jobmanagers[index].signal(signal.SIGSTOP)
        self.paused.add(index)

    def resume_jobmanager(self, index: int) -> None:
        self.jobmanagers[index].signal(signal.SIGCONT)
        self.paused.discard(index)

    # ---- logs -----------------------------------------------------------------

    def log_files(self) -> list[Path]:
        return sorted(p for p in self.log_dir.glob("*") if p.is_file()) if self.log_dir.exists() else []

    def log_text(self, name_part: str) -> str:
        """Concatenated text of every log file whose name contains ``name_part``."""
        return "\n".join(p.read_text(errors="replace") for p in self.log_files() if name_part in p.name)

    def dump_logs(self, max_lines: int = 40) -> str:
        parts = []
        for path in self.log_files():
            lines = path.read_text(errors="replace").splitlines()[-max_lines:]
            if lines:
                parts.append(f"===== {path.name} (last {len(lines)} lines) =====\n" + "\n".join(lines))
        return "\n".join(parts)


def run_cli(args: Sequence[str], timeout_s: float = 120.0, env: Mapping[str, str] | None = None,
            cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess[str]:
    """``strom ARGS`` as a subprocess with this interpreter; text output captured; killed at the timeout."""
    return subprocess.run(strom_command(args), capture_output=True, text=True, timeout=timeout_s,
                          env=dict(env) if env is not None else None, cwd=cwd, stdin=subprocess.DEVNULL)

