"""Real ZooKeeper servers for tests: one standalone node, or a 3-node ensemble, on loopback.

Uses the Debian ``zookeeper`` package (``/usr/share/java/zookeeper.jar``) and Java.
Every server gets a private state directory (``zoo.cfg``, ``data/``, ``zookeeper.log``),
a free loopback port, ``tickTime`` 250 ms (minimum session timeout 500 ms), no admin
server, and all four-letter-word commands (kazoo's ``server_version()`` needs ``envi``).
Processes are stopped by their PID, never by name.

    with ZooKeeperServer(tmp_path / "zk") as zk:
        ha = ZooKeeperHaServices(Configuration({"high-availability.zookeeper.quorum": zk.connect_string}))
        zk.stop()       # clients go SUSPENDED
        zk.restart()    # same port, same data: sessions may survive

    with ZooKeeperEnsemble(tmp_path / "zks", size=3) as ens:
        ens.kill(0)     # the other two still form a quorum
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import weakref
from pathlib import Path

ZOOKEEPER_JAR = "/usr/share/java/zookeeper.jar"
SLF4J_JAR = "/usr/share/java/slf4j-simple.jar"
MAIN_CLASS = "org.apache.zookeeper.server.ZooKeeperServerMain"
QUORUM_MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
HOST = "127.0.0.1"


def zookeeper_available() -> str | None:
    """None if a ZooKeeper server can be started here, else the reason why not (for ``pytest.skip``)."""
    if shutil.which("java") is None:
        return "java not found (apt-get install -y --no-install-recommends zookeeper)"
    if not os.path.exists(ZOOKEEPER_JAR):
        return f"{ZOOKEEPER_JAR} missing (apt-get install -y --no-install-recommends zookeeper)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def four_letter_word(port: int, command: str, timeout: float = 1.0) -> str:
    """Send a four-letter-word command (``ruok``, ``srvr``, ``mntr``...) and return the answer ('' if none)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(command.encode())
            chunks = []
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def _kill_pid(pid: int) -> None:
    """Finalizer safety net: SIGKILL a server a test forgot to stop."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class ZooKeeperServer:
    """One ZooKeeper server process. Standalone unless ``ensemble`` lines are given (see ZooKeeperEnsemble)."""

    def __init__(self, state_dir: str | Path, port: int | None = None, tick_ms: int = 250,
                 max_session_ms: int = 60000, server_id: int | None = None,
                 ensemble: list[str] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.port = port or free_port()
        self.tick_ms = tick_ms
        self.max_session_ms = max_session_ms
        self.server_id = server_id
        self.ensemble = ensemble
        self._proc: subprocess.Popen[bytes] | None = None
        self._finalizer: weakref.finalize[[int], ZooKeeperServer] | None = None

    @property
    def connect_string(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def log_file(self) -> Path:
        return self.state_dir / "zookeeper.log"

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _write_config(self) -> Path:
        data = self.state_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        lines = [
            f"tickTime={self.tick_ms}",
            "initLimit=20",
            "syncLimit=10",
            f"dataDir={data}",
            f"clientPort={self.port}",
            f"clientPortAddress={HOST}",
            f"minSessionTimeout={2 * self.tick_ms}",
            f"maxSessionTimeout={self.max_session_ms}",
            "maxClientCnxns=0",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
            "autopurge.purgeInterval=0",
        ]
        if self.ensemble:
            (data / "myid").write_text(f"{self.server_id}\n")
            lines += ["cnxTimeout=500", *self.ensemble]
        cfg = self.state_dir / "zoo.cfg"
        cfg.write_text("\n".join(lines) + "\n")
        return cfg

    def start(self, wait: bool = True, timeout: float = 30.0) -> ZooKeeperServer:
        """Start the process; with ``wait``, return once it serves clients (``ruok`` + ``srvr`` Mode)."""
        if self.is_running():
            raise RuntimeError(f"ZooKeeper on port {self.port} is already running (pid {self.pid})")
        reason = zookeeper_available()
        if reason:
            raise RuntimeError(reason)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cfg = self._write_config()
        classpath = ZOOKEEPER_JAR + (f":{SLF4J_JAR}" if os.path.exists(SLF4J_JAR) else "")
        main = QUORUM_MAIN_CLASS if self.ensemble else MAIN_CLASS
        cmd = ["java", "-Xms16m", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-XX:-UsePerfData", "-Djava.net.preferIPv4Stack=true",
               "-Dzookeeper.admin.enableServer=false", "-cp", classpath, main, str(cfg)]
        with open(self.log_file, "ab") as log:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          start_new_session=True)
        self._finalizer = weakref.finalize(self, _kill_pid, self._proc.pid)
        if wait:
            self.wait_serving(timeout)
        return self

    def wait_serving(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise RuntimeError(f"ZooKeeper (port {self.port}) exited; log tail:\n{self.log_tail()}")
            if four_letter_word(self.port, "ruok") == "imok" and "Mode: " in four_letter_word(self.port, "srvr"):
                return
            time.sleep(0.05)
        raise TimeoutError(f"ZooKeeper not serving on {self.connect_string} after {timeout}s; log tail:\n"
                           f"{self.log_tail()}")

    def mode(self) -> str:
        """'standalone', 'leader', 'follower' or '' when not serving."""
        for line in four_letter_word(self.port, "srvr").splitlines():
            if line.startswith("Mode: "):
                return line[len("Mode: "):].strip()
        return ""

    def stop(self, kill: bool = False, timeout: float = 10.0) -> None:
        """SIGTERM (or SIGKILL with ``kill``) by PID; SIGKILL after ``timeout``. Keeps the data directory."""
        proc, self._proc = self._proc, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def kill(self) -> None:
        self.stop(kill=True)

    def restart(self, wait: bool = True, timeout: float = 30.0) -> None:
        """Stop (if running) and start again on the same port with the same data."""
        self.stop()
        deadline = time.monotonic() + timeout
        while True:   # the port is normally reusable at once (SO_REUSEADDR); be patient if not
            try:
                with socket.socket() as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind((HOST, self.port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.start(wait=wait, timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> ZooKeeperServer:
        if not self.is_running():
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(kill=True)


class ZooKeeperEnsemble:
    """``size`` ZooKeeper servers forming one quorum on loopback ports (3 ports each: client, peer, election)."""

    def __init__(self, state_dir: str | Path, size: int = 3, tick_ms: int = 250, max_session_ms: int = 60000) -> None:
        self.state_dir = Path(state_dir)
        ids = range(1, size + 1)
        peers = {i: (free_port(), free_port()) for i in ids}
        ensemble = [f"server.{i}={HOST}:{p}:{e}" for i, (p, e) in peers.items()]
        self.servers = [ZooKeeperServer(self.state_dir / f"zk{i}", tick_ms=tick_ms, max_session_ms=max_session_ms,
                                        server_id=i, ensemble=ensemble) for i in ids]

    @property
    def connect_string(self) -> str:
        return ",".join(s.connect_string for s in self.servers)

    def start(self, timeout: float = 60.0) -> ZooKeeperEnsemble:
        for server in self.servers:
            server.start(wait=False)
        try:
            for server in self.servers:
                server.wait_serving(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def leader_index(self) -> int | None:
        for i, server in enumerate(self.servers):
            if server.is_running() and server.mode() == "leader":
                return i
        return None

    def kill(self, index: int) -> None:
        self.servers[index].kill()

    def stop(self) -> None:
        for server in self.servers:
            server.stop(kill=True)

    def __enter__(self) -> ZooKeeperEnsemble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
