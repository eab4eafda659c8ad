"""Stand-ins for the slot worker's runtime: ``FakeTask`` and ``FakeNetworkEnvironment``.

``install()`` puts them in ``sys.modules`` as ``strom.taskmanager.runtime.task``
/ ``strom.taskmanager.network``, so a slot worker forked afterwards runs them
instead of the real ones. TaskManager tests make the fork server import
``tests.harness.fake_worker_preload`` (which calls ``install()``) with
``-D taskmanager.worker.preload-modules=tests.harness.fake_worker_preload`` and
the repository root on ``PYTHONPATH``. Unit tests use the classes directly.

``FakeTask`` acts on its ``tdd.vertex_name``:

    finish   INITIALIZING, RUNNING, FINISHED
    block    INITIALIZING, RUNNING, then CANCELED once cancelled
    fail     INITIALIZING, RUNNING, FAILED (ValueError)
    crash    INITIALIZING, RUNNING, then the worker SIGKILLs itself
    exit3    INITIALIZING, RUNNING, then the worker exits with code 3
    print    prints "FakeTask says hello from <execution id>", FINISHED
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
import types
from collections.abc import Callable
from typing import Any

import pyarrow.flight as flight


class FakeNetworkEnvironment:
    """A Flight server on a free port that serves nothing: enough to show that the data address answers."""

    def __init__(self, host: str, config: dict[str, str]) -> None:
        self._server = flight.FlightServerBase(f"grpc+tcp://{host}:0")
        self.address = f"{host}:{self._server.port}"
        self._thread = threading.Thread(target=self._server.serve, name="fake-flight", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()


class FakeTask:
    def __init__(self, tdd: Any, network: Any, on_state: Callable[[str, str, str], None]) -> None:
        self.tdd = tdd
        self.on_state = on_state
        self.execution_id = f"{tdd.job_id}:{tdd.vertex_id}:{tdd.subtask_index}:{tdd.attempt}"
        self._cancelled = threading.Event()

    def run(self) -> None:
        behaviour = self.tdd.vertex_name
        self.on_state("INITIALIZING", "", "")
        self.on_state("RUNNING", "", "")
        if behaviour == "block":
            self._cancelled.wait()
            self.on_state("CANCELED", "", "")
        elif behaviour == "fail":
            try:
                raise ValueError(f"FakeTask {self.execution_id} was told to fail")
            except ValueError as e:
                self.on_state("FAILED", traceback.format_exc(), type(e).__name__)
        elif behaviour == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        elif behaviour == "exit3":
            os._exit(3)
        else:
            if behaviour == "print":
                print(f"FakeTask says hello from {self.execution_id}", flush=True)
            self.on_state("FINISHED", "", "")

    def cancel(self) -> None:
        self._cancelled.set()


def install() -> None:
    network = types.ModuleType("strom.taskmanager.network")
    network.NetworkEnvironment = FakeNetworkEnvironment  # type: ignore[attr-defined]
    task = types.ModuleType("strom.taskmanager.runtime.task")
    task.Task = FakeTask  # type: ignore[attr-defined]
    sys.modules["strom.taskmanager.network"] = network
    sys.modules["strom.taskmanager.runtime.task"] = task

