"""The slot worker process: one per allocated slot, forked from the TaskManager's fork server.

``worker_main`` starts the slot's data plane (a ``NetworkEnvironment`` with its
Flight server), announces ``WorkerReady(data_address, pid)`` and then serves
the daemon's commands (``taskmanager.worker.protocol``) until ``Shutdown`` or
until the daemon goes away (end of file on the pipe).

Threads: the process's main thread owns the ``SlotWorker`` (its task table)
and is the only reader of the pipe; every task runs ``Task.run()`` on its own
thread and reports state changes through ``SlotWorker.send``, which guards
pipe writes with a lock.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Protocol

from strom.common.ids import ExecutionAttemptId
from strom.common.rpc import common_pb2
from strom.common.states import ExecutionState
from strom.taskmanager.worker.protocol import (
    CancelTask,
    DeployTask,
    Shutdown,
    TaskStateChanged,
    WorkerEvent,
    WorkerFailed,
    WorkerReady,
)

log = logging.getLogger(__name__)

# Seconds a Shutdown waits for canceled tasks to end before the process exits anyway.
SHUTDOWN_GRACE_S = 3.0


class RunnableTask(Protocol):
    def run(self) -> None: ...

    def cancel(self) -> None: ...


# (tdd, network environment, on_state(state, error, error_name)) -> task
TaskFactory = Callable[[common_pb2.TaskDeploymentDescriptor, Any, Callable[[str, str, str], None]], RunnableTask]


def execution_id_of(tdd: common_pb2.TaskDeploymentDescriptor) -> str:
    return str(ExecutionAttemptId(tdd.job_id, tdd.vertex_id, tdd.subtask_index, tdd.attempt))


@dataclass
class _RunningTask:
    task: RunnableTask
    thread: threading.Thread
    terminal_reported: bool = False


class SlotWorker:
    """The tasks of one slot. Main thread: ``serve``/``handle``; task threads: ``_report``."""

    def __init__(self, conn: Connection, network: Any, task_factory: TaskFactory) -> None:
        self._conn = conn
        self._network = network
        self._task_factory = task_factory
        self._send_lock = threading.Lock()
        self._tasks_lock = threading.Lock()
        self._tasks: dict[str, _RunningTask] = {}
        self._daemon_gone = False

    def send(self, event: WorkerEvent) -> None:
        """Write one event to the daemon (any thread)."""
        with self._send_lock:
            if self._daemon_gone:
                return
            try:
                self._conn.send(event)
            except (OSError, EOFError, ValueError):
                # The daemon is gone; the main thread sees EOF on the pipe and shuts down.
                self._daemon_gone = True
                log.warning("TaskManager daemon is gone; dropping %s", event)

    def serve(self) -> None:
        """Handle commands until Shutdown or until the daemon closes the pipe."""
        while True:
            try:
                command = self._conn.recv()
            except (EOFError, OSError):
                log.warning("TaskManager daemon closed the connection; cancelling all tasks of this slot")
                self._daemon_gone = True
                self.shutdown()
                return
            if isinstance(command, Shutdown):
                self.shutdown()
                return
            self.handle(command)

    def handle(self, command: object) -> None:
        if isinstance(command, DeployTask):
            self._deploy(command.tdd)
        elif isinstance(command, CancelTask):
            self._cancel(command.execution_id)
        else:
            log.error("slot worker ignores unknown command %r", command)

    def shutdown(self) -> None:
        """Cancel every task, give them ``SHUTDOWN_GRACE_S`` to end, close the data plane."""
        with self._tasks_lock:
            running = list(self._tasks.values())
        for entry in running:
            _cancel_quietly(entry.task)
        for entry in running:
            entry.thread.join(SHUTDOWN_GRACE_S / max(1, len(running)))
        try:
            self._network.close()
        except Exception:
            log.exception("closing the slot's network environment failed")

    def running_tasks(self) -> list[str]:
        with self._tasks_lock:
            return list(self._tasks)

    # ---- internals --------------------------------------------------------

    def _deploy(self, tdd_bytes: bytes) -> None:
        tdd = common_pb2.TaskDeploymentDescriptor()
        try:
            tdd.ParseFromString(tdd_bytes)
        except Exception as e:  # noqa: BLE001 - reported, not swallowed
            log.error("cannot parse a TaskDeploymentDescriptor (%d bytes): %s", len(tdd_bytes), e)
            return
        execution_id = execution_id_of(tdd)
        with self._tasks_lock:
            if execution_id in self._tasks:
                log.warning("task %s is already deployed in this slot; ignoring the second deployment", execution_id)
                return

        def on_state(state: str, error: str = "", error_name: str = "") -> None:
            self._report(execution_id, str(state), error, error_name)

        try:
            task = self._task_factory(tdd, self._network, on_state)
        except Exception as e:
            log.exception("cannot create task %s (%s)", execution_id, tdd.vertex_name)
            self.send(TaskStateChanged(execution_id, ExecutionState.FAILED.value,
                                       traceback.format_exc(), type(e).__name__))
            return
        thread = threading.Thread(target=self._run, args=(execution_id, task),
                                  name=f"task {tdd.vertex_name} ({tdd.subtask_index + 1}/{tdd.parallelism})",
                                  daemon=True)
        with self._tasks_lock:
            self._tasks[execution_id] = _RunningTask(task, thread)
        thread.start()

    def _run(self, execution_id: str, task: RunnableTask) -> None:
        try:
            task.run()
        except BaseException as e:  # noqa: BLE001 - a task thread must always report its end
            log.exception("task %s raised out of Task.run()", execution_id)
            self._report(execution_id, ExecutionState.FAILED.value, traceback.format_exc(), type(e).__name__)
        finally:
            with self._tasks_lock:
                entry = self._tasks.pop(execution_id, None)
            if entry is not None and not entry.terminal_reported:
                self.send(TaskStateChanged(
                    execution_id, ExecutionState.FAILED.value,
                    f"task {execution_id} ended without reporting FINISHED, CANCELED or FAILED", "RuntimeError"))

    def _report(self, execution_id: str, state: str, error: str, error_name: str) -> None:
        terminal = state in (ExecutionState.FINISHED, ExecutionState.CANCELED, ExecutionState.FAILED)
        with self._tasks_lock:
            entry = self._tasks.get(execution_id)
            if entry is not None and entry.terminal_reported:
                return  # a task reports exactly one terminal state
            if entry is not None and terminal:
                entry.terminal_reported = True
        self.send(TaskStateChanged(execution_id, state, error, error_name))

    def _cancel(self, execution_id: str) -> None:
        with self._tasks_lock:
            entry = self._tasks.get(execution_id)
        if entry is None:
            log.info("cancel of task %s: not running in this slot (already ended?)", execution_id)
            return
        _cancel_quietly(entry.task)


def _cancel_quietly(task: RunnableTask) -> None:
    try:
        task.cancel()
    except Exception:
        log.exception("Task.cancel() raised")


def _configure_process() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the daemon decides
    # when workers stop, so the worker ignores SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)  # print sinks show up promptly on the TM's stdout
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format=f"%(asctime)s %(levelname)s [slot worker {os.getpid()}] %(name)s: %(message)s")


def worker_main(conn: Connection, host: str, config: dict[str, str]) -> None:
    """Main of a slot worker process (the target of the pool's ``Process``)."""
    _configure_process()
    try:
        from strom.taskmanager.network import NetworkEnvironment
        from strom.taskmanager.runtime.task import Task

        network = NetworkEnvironment(host, config)
    except BaseException:
        error = traceback.format_exc()
        log.error("slot worker cannot start:\n%s", error)
        try:
            conn.send(WorkerFailed(error))
        finally:
            conn.close()
        raise SystemExit(1) from None
    worker = SlotWorker(conn, network, Task)
    worker.send(WorkerReady(network.address, os.getpid()))
    worker.serve()
    conn.close()


def _preload_runtime() -> None:
    """Import the task runtime once in the fork server, so forked workers find it loaded.

    Only an optimisation: a module that fails to import here is imported (and
    its error reported) again by ``worker_main``.
    """
    for name in ("strom.taskmanager.network", "strom.taskmanager.runtime.task"):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - reported by worker_main when it matters
            pass


if os.environ.get("STROM_FORKSERVER_PRELOAD") == "1":  # set by the pool while it starts the fork server
    _preload_runtime()
