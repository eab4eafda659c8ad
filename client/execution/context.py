"""Where ``env.execute()`` sends a job: the current ExecutionTarget.

``strom run`` sets the target before running the job script in-process; a
script started with plain ``python wc.py`` gets the default target, read from
the configuration (``conf/strom.yaml``, ``STROM_PROPERTIES``):

- ``execution.target: remote`` -> the JobManager at
  ``jobmanager.rpc.address``:``jobmanager.rpc.port``;
- ``high-availability.type: zookeeper`` -> the leader published in ZooKeeper;
- otherwise an embedded local cluster, started for the job and stopped after it.

    from strom.client.execution.context import ExecutionTarget, current_target, set_current_target

    set_current_target(ExecutionTarget("127.0.0.1:6123", detached=False, parallelism=4,
                                       config=Configuration.load()))
    current_target().parallelism  # 4

The target is process-wide (a module global, not a context variable), so a
job script that calls ``execute()`` from a thread sees the same target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from strom.common.config import (
    HA_TYPE,
    JOBMANAGER_RPC_ADDRESS,
    JOBMANAGER_RPC_PORT,
    PARALLELISM_DEFAULT,
    Configuration,
    option,
)
from strom.common.errors import ConfigurationError

if TYPE_CHECKING:
    from strom.client.execution.job_client import JobExecutionResult

EXECUTION_TARGET = option("execution.target", "local",
                          "Where `strom run` and env.execute() send jobs when no -m is given: "
                          "'local' (embedded cluster) or 'remote' (jobmanager.rpc.address/port).")
CLIENT_CONNECT_TIMEOUT = option("client.connect-timeout", "2 s",
                                "How long the client retries a JobManager that does not answer before giving up.")
CLIENT_TIMEOUT = option("client.timeout", "30 s",
                        "How long a client waiting for a job keeps retrying a JobManager it lost.")
SAVEPOINT_PATH = option("execution.savepoint.path", None, "Savepoint to restore the submitted job from.")


class JobListener:
    """Hooks around job submission (Flink's ``JobListener``); ``strom run`` prints from them.

    Called on the thread that calls ``execute()``. The default does nothing.
    """

    def on_job_submitted(self, job_id: str, job_name: str) -> None:
        """The JobManager accepted the job."""

    def on_job_executed(self, result: JobExecutionResult) -> None:
        """An attached job FINISHED (not called for detached submissions or failures)."""


@dataclass
class ExecutionTarget:
    """Where and how to run jobs.

    ``jobmanager_address`` is ``host:port`` of a JobManager's gRPC server, or
    ``None``: then the job goes to the ZooKeeper-elected leader if the config
    enables HA (``uses_ha``), else to an embedded local cluster (``is_local``).
    ``parallelism`` is the ``-p`` flag (None: the job's own settings, then
    ``parallelism.default``).
    """

    jobmanager_address: str | None
    detached: bool
    parallelism: int | None
    config: Configuration
    savepoint_path: str | None = None
    listeners: list[JobListener] = field(default_factory=list)
    job_config: dict[str, str] = field(default_factory=dict)   # ``strom run -D``: shipped with every job

    def __post_init__(self) -> None:
        if self.jobmanager_address is not None:
            parse_address(self.jobmanager_address)
        if self.parallelism is not None and self.parallelism < 1:
            raise ConfigurationError(f"parallelism must be >= 1, got {self.parallelism}")

    @property
    def uses_ha(self) -> bool:
        """No explicit address, and the config names a ZooKeeper-elected leader."""
        return self.jobmanager_address is None and (self.config.get(HA_TYPE) or "").lower() == "zookeeper"

    @property
    def is_local(self) -> bool:
        """Jobs run on an embedded cluster started for each job."""
        return self.jobmanager_address is None and not self.uses_ha

    @property
    def default_parallelism(self) -> int:
        """``-p`` if given, else ``parallelism.default``: what the API uses for operators without one."""
        return self.parallelism if self.parallelism is not None else self.config.get_int(PARALLELISM_DEFAULT)

    def describe(self) -> str:
        if self.jobmanager_address is not None:
            return f"the JobManager at {self.jobmanager_address}"
        return "the leading JobManager (ZooKeeper)" if self.uses_ha else "an embedded local cluster"

    def notify(self, call: Callable[[JobListener], None]) -> None:
        for listener in self.listeners:
            call(listener)


def parse_address(text: str) -> tuple[str, int]:
    """``'host:port'`` -> ``('host', port)``, with a message naming what is wrong."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"expected a JobManager address as HOST:PORT (e.g. 127.0.0.1:6123), got {text!r}")
    return host.strip("[]"), int(port)


def configured_address(config: Configuration) -> str:
    """``jobmanager.rpc.address``:``jobmanager.rpc.port`` of the config."""
    return f"{config.get_str(JOBMANAGER_RPC_ADDRESS)}:{config.get_int(JOBMANAGER_RPC_PORT)}"


def target_from_config(config: Configuration, jobmanager_address: str | None = None, *,
                       detached: bool = False, parallelism: int | None = None,
                       savepoint_path: str | None = None, job_config: dict[str, str] | None = None
                       ) -> ExecutionTarget:
    """The target a config (plus explicit flags) names.

    An explicit address wins; else ``execution.target: remote`` uses the
    configured address; else HA (if on) or the embedded local cluster.
    """
    if jobmanager_address is None:
        kind = (config.get(EXECUTION_TARGET) or "local").lower()
        if kind == "remote":
            jobmanager_address = configured_address(config)
        elif kind != "local":
            raise ConfigurationError(f"execution.target must be 'local' or 'remote', got {kind!r}")
    if savepoint_path is None:
        savepoint_path = config.get(SAVEPOINT_PATH)
    return ExecutionTarget(jobmanager_address, detached, parallelism, config, savepoint_path,
                           job_config=dict(job_config or {}))


_current: ExecutionTarget | None = None


def set_current_target(target: ExecutionTarget | None) -> ExecutionTarget | None:
    """Make ``target`` the current one (None: back to the config default); returns the previous one."""
    global _current
    previous, _current = _current, target
    return previous


def current_target() -> ExecutionTarget:
    """The target ``strom run`` set, else the one the configuration names (read afresh each call)."""
    if _current is not None:
        return _current
    return target_from_config(Configuration.load())
