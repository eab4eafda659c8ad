"""Messages between the TaskManager daemon and its slot worker processes.

They travel over a ``multiprocessing`` connection (pickled dataclasses): the
daemon sends commands, the worker sends events. Plain data only, no user code.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---- daemon -> worker ------------------------------------------------------

@dataclass(frozen=True)
class DeployTask:
    tdd: bytes  # serialized strom.common.rpc.common_pb2.TaskDeploymentDescriptor


@dataclass(frozen=True)
class CancelTask:
    execution_id: str


@dataclass(frozen=True)
class Shutdown:
    pass


# ---- worker -> daemon ------------------------------------------------------

@dataclass(frozen=True)
class WorkerReady:
    data_address: str  # host:port of the worker's Flight server
    pid: int


@dataclass(frozen=True)
class TaskStateChanged:
    execution_id: str
    state: str             # an ExecutionState name
    error: str = ""        # formatted Python traceback when FAILED
    error_name: str = ""   # exception class name when FAILED


@dataclass(frozen=True)
class WorkerFailed:
    """The worker could not start (e.g. its data plane failed to bind) and is exiting."""

    error: str  # formatted Python traceback


WorkerCommand = DeployTask | CancelTask | Shutdown
WorkerEvent = WorkerReady | TaskStateChanged | WorkerFailed
