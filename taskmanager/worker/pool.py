"""Slot worker processes, forked from one preloaded fork server per TaskManager.

Starting a Python interpreter that imports pyarrow and grpc costs hundreds of
milliseconds; a ``multiprocessing`` *forkserver* that imported them once forks
a fresh worker in milliseconds, and every worker still starts from clean
module state (jobs never share a worker). ``WorkerPool.start`` warms the fork
server up; ``start_worker`` forks one worker and returns when it announced
``WorkerReady``.

Threads: the pool and every ``WorkerHandle`` belong to the TaskManager's
asyncio loop. One reader thread per worker blocks on the worker's pipe and
only hands events (and the worker's exit) to the loop with
``loop.call_soon_threadsafe``; commands are written from the loop through
``WorkerPool.send`` (in a helper thread, one at a time per worker, in order).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any

from strom.common.errors import StromError
from strom.taskmanager.worker.process import worker_main
from strom.taskmanager.worker.protocol import Shutdown, WorkerCommand, WorkerEvent, WorkerFailed, WorkerReady

log = logging.getLogger(__name__)

_PRELOAD_ENV = "STROM_FORKSERVER_PRELOAD"

# Imported once by the fork server; every forked worker finds them loaded.
PRELOAD_MODULES = [
    "numpy", "pyarrow", "pyarrow.flight", "grpc", "cloudpickle", "strom.taskmanager.worker.process",
    # the operators jobs ship: imported once here, never concurrently by two tasks' unpickling
    "strom.taskmanager.state", "strom.taskmanager.time", "strom.taskmanager.windowing",
    "strom.taskmanager.operators.window", "strom.taskmanager.operators.window_vectorized",
    "strom.taskmanager.operators.process", "strom.taskmanager.operators.co_process",
    "strom.taskmanager.operators.broadcast", "strom.taskmanager.operators.interval_join",
    "strom.taskmanager.operators.timestamps", "strom.taskmanager.operators.keyed",
]
WORKER_READY_TIMEOUT_S = 60.0
WORKER_STOP_TIMEOUT_S = 5.0


class WorkerStartError(StromError):
    """A slot worker process could not be started or died before it was ready."""


class WorkerGoneError(StromError):
    """A command could not be delivered because the slot worker has exited."""


def _warm_up() -> None:
    """Target of the throw-away process that makes the fork server finish its preloading."""


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _main_module_preload() -> list[str]:
    """Every forked worker re-imports the parent's ``__main__`` (as ``__mp_main__``): preload it once.

    A module run with ``-m`` is preloaded by name; a script by ``"__main__"``.
    """
    main = sys.modules.get("__main__")
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if spec_name:
        return [] if spec_name == "__main__" or spec_name.endswith(".__main__") else [spec_name]
    return ["__main__"] if getattr(main, "__file__", None) else []


def describe_exit(exitcode: int | None) -> str:
    """'exit code 3' / 'signal SIGKILL' / 'an unknown exit status'."""
    if exitcode is None:
        return "an unknown exit status"
    if exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class WorkerHandle:
    """The daemon's side of one slot worker process. Loop-owned; the reader thread only reads the pipe."""

    def __init__(self, name: str, process: Any, conn: Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self.process = process
        self.conn = conn
        self.pid: int = process.pid or 0
        self.data_address = ""
        self.spawn_ms = 0.0       # Process.start(): the fork server forked the worker
        self.ready_ms = 0.0       # ... until WorkerReady (data plane listening)
        self.stopping = False     # the daemon asked it to stop: its exit is expected
        self.exitcode: int | None = None
        self.ready: asyncio.Future[WorkerHandle] = loop.create_future()
        self.exited = asyncio.Event()
        self.send_lock = asyncio.Lock()

    @property
    def alive(self) -> bool:
        return not self.exited.is_set()

    def describe_exit(self) -> str:
        return describe_exit(self.exitcode)

    def __repr__(self) -> str:
        return f"WorkerHandle({self.name!r}, pid={self.pid}, data_address={self.data_address!r})"


EventCallback = Callable[[WorkerHandle, WorkerEvent], None]
ExitCallback = Callable[[WorkerHandle], None]


class WorkerPool:
    """Forks slot workers from a preloaded fork server. Owned by the TaskManager's loop.

    ``on_event(handle, event)`` gets every event after ``WorkerReady``;
    ``on_exit(handle)`` gets every exit of a worker that had been ready (check
    ``handle.stopping`` to tell an expected exit from a crash). Both run on the loop.
    """

    def __init__(self, host: str, config: Mapping[str, str], on_event: EventCallback, on_exit: ExitCallback,
                 preload: list[str] | None = None) -> None:
        self._host = host
        self._config = dict(config)
        self._on_event = on_event
        self._on_exit = on_exit
        self._preload = PRELOAD_MODULES if preload is None else preload
        self._ctx = multiprocessing.get_context("forkserver")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: dict[int, WorkerHandle] = {}
        self._start_lock = threading.Lock()
        self._closed = False

    @property
    def workers(self) -> list[WorkerHandle]:
        return list(self._workers.values())

    async def start(self) -> float:
        """Start the fork server, let it import the heavy modules and fork one throw-away process.

        Returns the seconds it took; afterwards a worker forks in milliseconds.
        """
        self._loop = asyncio.get_running_loop()
        preload = self._preload + _main_module_preload()
        for name in preload:
            if name != "__main__" and not _importable(name):
                log.warning("Slot worker preload module %r cannot be imported; workers import it on use", name)
        self._ctx.set_forkserver_preload(preload)
        t0 = time.perf_counter()
        await asyncio.to_thread(self._start_fork_server)
        elapsed = time.perf_counter() - t0
        log.info("Fork server for slot workers ready in %.0f ms (preloaded %s)", elapsed * 1000, ", ".join(preload))
        return elapsed

    async def start_worker(self, name: str, timeout_s: float = WORKER_READY_TIMEOUT_S) -> WorkerHandle:
        """Fork one slot worker and wait for its ``WorkerReady``. Raises ``WorkerStartError``."""
        if self._closed:
            raise WorkerStartError("the TaskManager is shutting down")
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        t0 = time.perf_counter()
        process, conn = await asyncio.to_thread(self._fork, name)
        handle = WorkerHandle(name, process, conn, loop)
        handle.spawn_ms = (time.perf_counter() - t0) * 1000
        self._workers[handle.pid] = handle
        threading.Thread(target=self._read, args=(handle,), name=f"worker-reader-{handle.pid}", daemon=True).start()
        try:
            await asyncio.wait_for(asyncio.shield(handle.ready), timeout_s)
        except TimeoutError:
            await self.kill(handle)
            raise WorkerStartError(
                f"slot worker {name} (pid {handle.pid}) did not report ready within {timeout_s:.0f} s; killed it"
            ) from None
        except BaseException:
            if handle.alive:
                await self.kill(handle)
            raise
        handle.ready_ms = (time.perf_counter() - t0) * 1000
        log.info("Started slot worker for %s: pid %d, data address %s, forked in %.1f ms, ready in %.1f ms",
                 name, handle.pid, handle.data_address, handle.spawn_ms, handle.ready_ms)
        return handle

    async def send(self, handle: WorkerHandle, command: WorkerCommand) -> None:
        """Write one command to the worker, in call order per worker. Raises ``WorkerGoneError``."""
        async with handle.send_lock:
            if not handle.alive:
                raise WorkerGoneError(f"slot worker {handle.name} (pid {handle.pid}) exited with "
                                      f"{handle.describe_exit()}")
            try:
                await asyncio.to_thread(handle.conn.send, command)
            except (OSError, EOFError, ValueError) as e:
                raise WorkerGoneError(f"slot worker {handle.name} (pid {handle.pid}) is gone: {e}") from None

    async def stop_worker(self, handle: WorkerHandle, timeout_s: float = WORKER_STOP_TIMEOUT_S) -> None:
        """Ask the worker to shut down (its tasks are canceled); SIGKILL it if it has not exited in time."""
        handle.stopping = True
        if not handle.alive:
            return
        try:
            await self.send(handle, Shutdown())
        except WorkerGoneError:
            pass
        try:
            await asyncio.wait_for(handle.exited.wait(), timeout_s)
        except TimeoutError:
            log.warning("slot worker %s (pid %d) did not stop within %.0f s; killing it", handle.name, handle.pid,
                        timeout_s)
            await self.kill(handle)

    async def kill(self, handle: WorkerHandle, timeout_s: float = WORKER_STOP_TIMEOUT_S) -> None:
        """SIGKILL the worker and wait for the reader thread to see its exit."""
        handle.stopping = True
        if handle.alive:
            try:
                handle.process.kill()
            except (OSError, ValueError, AttributeError):
                pass
            try:
                await asyncio.wait_for(handle.exited.wait(), timeout_s)
            except TimeoutError:
                log.error("slot worker %s (pid %d) did not exit after SIGKILL", handle.name, handle.pid)

    async def close(self) -> None:
        """Stop every worker (gracefully, then SIGKILL)."""
        self._closed = True
        await asyncio.gather(*(self.stop_worker(h) for h in list(self._workers.values()) if h.alive))

    # ---- internals --------------------------------------------------------

    def _start_fork_server(self) -> None:
        """Helper thread: start the fork server with this process's import path, and wait until it preloaded."""
        with self._start_lock:
            saved = {k: os.environ.get(k) for k in ("PYTHONPATH", _PRELOAD_ENV)}
            # Python 3.11's fork server ignores the parent's sys.path when preloading; hand it over.
            os.environ["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
            os.environ[_PRELOAD_ENV] = "1"   # process.py then preloads the task runtime as well
            try:
                multiprocessing.forkserver.ensure_running()
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
            # The fork server imports the preload modules before it forks its first
            # child: one throw-away child makes the first real worker fast too.
            process = self._ctx.Process(target=_warm_up, name="strom-slot-worker-warm-up")
            process.start()
            process.join()

    def _fork(self, name: str) -> tuple[Any, Connection]:
        """Runs in a helper thread: ask the fork server for a new worker process."""
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=worker_main, args=(child_conn, self._host, self._config),
                                    name=f"strom-slot-worker-{name}")
        with self._start_lock:
            try:
                process.start()
            except BaseException:
                parent_conn.close()
                raise
            finally:
                child_conn.close()  # the child holds its own copy; ours would hide end of file
        return process, parent_conn

    def _read(self, handle: WorkerHandle) -> None:
        """Reader thread: forward events to the loop until the pipe closes, then report the exit."""
        try:
            while True:
                event = handle.conn.recv()
                self._to_loop(self._dispatch, handle, event)
        except (EOFError, OSError):
            pass
        except Exception:
            log.exception("reading from slot worker %s (pid %d) failed", handle.name, handle.pid)
        # Wait for the exit without reading the status, then read it under the start
        # lock: Process.start() polls every child, and two threads reading one fork
        # server status pipe could lose the exit code.
        multiprocessing.connection.wait([handle.process.sentinel])
        with self._start_lock:
            handle.process.join()
            exitcode = handle.process.exitcode
        self._to_loop(self._exited, handle, exitcode)

    def _to_loop(self, fn: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # the loop is closed: the TaskManager has stopped

    def _dispatch(self, handle: WorkerHandle, event: WorkerEvent) -> None:
        if not handle.ready.done():
            if isinstance(event, WorkerReady):
                handle.data_address, handle.pid = event.data_address, event.pid or handle.pid
                handle.ready.set_result(handle)
                return
            if isinstance(event, WorkerFailed):
                handle.ready.set_exception(WorkerStartError(
                    f"slot worker {handle.name} (pid {handle.pid}) failed to start:\n{event.error}"))
                return
        self._on_event(handle, event)

    def _exited(self, handle: WorkerHandle, exitcode: int | None) -> None:
        handle.exitcode = exitcode
        handle.exited.set()
        self._workers.pop(handle.pid, None)
        try:
            handle.conn.close()
        except OSError:
            pass
        if not handle.ready.done():
            handle.ready.set_exception(WorkerStartError(
                f"slot worker {handle.name} (pid {handle.pid}) exited with {describe_exit(exitcode)} "
                "before it was ready"))
            return
        if handle.ready.exception() is not None:
            return
        self._on_exit(handle)
