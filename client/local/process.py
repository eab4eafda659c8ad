"""Child daemon processes that cannot outlive their parent.

``DaemonProcess`` starts one ``strom`` daemon (``strom jobmanager start
...`` run by this interpreter) in its own session (so a
terminal's Ctrl-C reaches only the client, which then stops its children in
order) with its output in log files, and stops it by PID: SIGTERM, then
SIGKILL of its whole process group (its slot workers included) after a
deadline. Started from the main thread, the child also gets
``STROM_DIE_WITH_PARENT`` so the CLI arms ``PR_SET_PDEATHSIG``: a client
killed with SIGKILL still takes its daemons down.

Used by the embedded ``LocalCluster`` and by the integration-test harness.

    proc = DaemonProcess("jobmanager", ["jobmanager", "start", "--rpc-port", "0"], log_dir)
    proc.start()
    ...
    proc.stop()
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO

from strom.common.errors import StromError

DIE_WITH_PARENT_ENV = "STROM_DIE_WITH_PARENT"
DEFAULT_STOP_TIMEOUT_S = 5.0
GROUP_GONE_TIMEOUT_S = 2.0


def strom_command(args: Sequence[str]) -> list[str]:
    """argv running the ``strom`` CLI with this interpreter (works without the console script on PATH).

    ``-c`` rather than ``-m strom.client.cli.main``: a ``__main__`` with a module
    spec would be re-imported by every multiprocessing fork server the daemon starts.
    """
    return [sys.executable, "-c", "from strom.client.cli.main import main; main()", *args]


class DaemonProcess:
    """One child process started with the ``strom`` CLI, owned by this object (state: the caller's thread)."""

    def __init__(self, name: str, args: Sequence[str], log_dir: str, *, inherit_stdout: bool = False,
                 env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
        self.name = name
        self.argv = strom_command(args)
        self.log_dir = log_dir
        self.stdout_path = None if inherit_stdout else os.path.join(log_dir, f"{name}.out")
        self.stderr_path = os.path.join(log_dir, f"{name}.err")
        self._env = dict(os.environ if env is None else env)
        self._cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._files: list[IO[bytes]] = []

    def __repr__(self) -> str:
        return f"DaemonProcess({self.name!r}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    @property
    def returncode(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def start(self) -> None:
        os.makedirs(self.log_dir, exist_ok=True)
        env = dict(self._env)
        if threading.current_thread() is threading.main_thread():
            env[DIE_WITH_PARENT_ENV] = str(os.getpid())
        else:
            env.pop(DIE_WITH_PARENT_ENV, None)
        stdout: IO[bytes] | None = None
        if self.stdout_path is not None:
            stdout = open(self.stdout_path, "ab")  # noqa: SIM115 - closed in stop()
            self._files.append(stdout)
        stderr = open(self.stderr_path, "ab")  # noqa: SIM115 - closed in stop()
        self._files.append(stderr)
        self._popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                       env=env, cwd=self._cwd, start_new_session=True)

    def is_alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the daemon itself (not its children)."""
        if self.is_alive():
            assert self._popen is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the daemon and everything in its process group (e.g. to simulate a crash)."""
        if self._popen is None:
            return
        self._kill_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(5.0)
        self._wait_group_gone(GROUP_GONE_TIMEOUT_S)

    def stop(self, timeout_s: float = DEFAULT_STOP_TIMEOUT_S) -> int | None:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL the process group; returns the exit code."""
        if self._popen is None:
            return None
        popen = self._popen
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                pass
        # Slot workers live in the daemon's process group: sweep whatever is left.
        self._kill_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(5.0)
        self._wait_group_gone(GROUP_GONE_TIMEOUT_S)
        for f in self._files:
            f.close()
        self._files.clear()
        return popen.returncode

    def _wait_group_gone(self, timeout_s: float) -> bool:
        """Poll until no process of the daemon's group is left (killed members need a moment to be reaped)."""
        assert self._popen is not None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                os.killpg(self._popen.pid, 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def _kill_group(self, sig: int) -> None:
        assert self._popen is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    def output_tail(self, max_lines: int = 30) -> str:
        """The last lines of the daemon's stderr (and stdout, if captured), for error messages."""
        chunks = []
        for path in (self.stderr_path, self.stdout_path):
            if path is None or not os.path.exists(path):
                continue
            with open(path, "rb") as f:
                f.seek(max(0, os.path.getsize(path) - 64 * 1024))
                lines = f.read().decode("utf-8", "replace").splitlines()[-max_lines:]
            if lines:
                chunks.append(f"--- {os.path.basename(path)} ---\n" + "\n".join(lines))
        return "\n".join(chunks) or "(no output)"


def read_ports_file(path: str) -> dict[str, int]:
    """The JobManager's ports file, as ``{'rpc': port, 'rest': port}``; {} while absent or half-written.

    Accepts ``rpc``/``rpc_port``/``rpcPort``/``jobmanager.rpc.port`` (and the same for rest).
    """
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    out: dict[str, int] = {}
    for kind, keys in (("rpc", ("rpc", "rpc_port", "rpcPort", "rpc-port", "jobmanager.rpc.port")),
                       ("rest", ("rest", "rest_port", "restPort", "rest-port", "rest.port"))):
        for key in keys:
            value = data.get(key)
            if isinstance(value, int | str) and str(value).isdigit() and int(value) > 0:
                out[kind] = int(value)
                break
    return out


def wait_for_ports_file(path: str, process: DaemonProcess, timeout_s: float) -> dict[str, int]:
    """Poll the ports file until it names the rpc port; fail early if the process exits."""
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while True:
        ports = read_ports_file(path)
        if "rpc" in ports:
            return ports
        if not process.is_alive():
            raise StromError(f"the {process.name} exited with code {process.returncode} before serving:\n"
                             f"{process.output_tail()}")
        if time.monotonic() > deadline:
            raise StromError(f"the {process.name} did not write its ports file {path} within {timeout_s:.0f} s:\n"
                             f"{process.output_tail()}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)


def arm_parent_death_signal() -> None:
    """In a daemon started by a DaemonProcess: die (SIGTERM) when the starting client dies.

    Linux only (PR_SET_PDEATHSIG); a no-op elsewhere or when not started by a DaemonProcess.
    """
    expected = os.environ.pop(DIE_WITH_PARENT_ENV, None)
    if not expected or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != expected:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
