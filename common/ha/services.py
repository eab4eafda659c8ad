"""The HA-services contract every implementation fulfils.

Threading: implementations may call contenders and listeners from their own
threads (kazoo's, a timer's). Callees must only hand the event over to their
owner's loop (``loop.call_soon_threadsafe``) and return.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Protocol

from strom.common.config import HA_TYPE, Configuration
from strom.common.errors import ConfigurationError
from strom.common.ids import LeaderSessionId


@dataclass(frozen=True)
class LeaderInformation:
    """Who leads: the leader session id (fencing token) and where it answers."""

    session_id: LeaderSessionId
    rpc_address: str    # host:port of the JobManager's gRPC server
    rest_address: str   # host:port of its REST server


class LeaderContender(Protocol):
    def grant_leadership(self, session_id: LeaderSessionId) -> None: ...

    def revoke_leadership(self) -> None: ...


class LeaderRetrievalListener(Protocol):
    def notify_leader_address(self, leader: LeaderInformation | None) -> None: ...


class LeaderElection(abc.ABC):
    """Leader election for the JobManager process (Dispatcher, ResourceManager, REST, JobMasters)."""

    @abc.abstractmethod
    def start(self, contender: LeaderContender) -> None: ...

    @abc.abstractmethod
    def confirm_leadership(self, session_id: LeaderSessionId, rpc_address: str, rest_address: str) -> None:
        """Publish the leader's addresses under the granted session id."""

    @abc.abstractmethod
    def has_leadership(self, session_id: LeaderSessionId) -> bool: ...

    @abc.abstractmethod
    def stop(self) -> None: ...


class LeaderRetriever(abc.ABC):
    """Tells listeners where the current leader is, and again whenever it changes."""

    @abc.abstractmethod
    def start(self, listener: LeaderRetrievalListener) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...


class JobGraphStore(abc.ABC):
    """Submitted job graphs, so a new leader can recover them."""

    @abc.abstractmethod
    def put(self, job_id: str, job_graph: bytes) -> None: ...

    @abc.abstractmethod
    def get(self, job_id: str) -> bytes | None: ...

    @abc.abstractmethod
    def remove(self, job_id: str) -> None: ...

    @abc.abstractmethod
    def job_ids(self) -> list[str]: ...


@dataclass(frozen=True)
class JobResultEntry:
    job_id: str
    state: str          # FINISHED | CANCELED | FAILED
    name: str = ""
    end_time_ms: int = 0
    error: str = ""


class JobResultStore(abc.ABC):
    """Jobs that reached a globally terminal state: a new leader does not run them again."""

    @abc.abstractmethod
    def put(self, entry: JobResultEntry) -> None: ...

    @abc.abstractmethod
    def get(self, job_id: str) -> JobResultEntry | None: ...

    @abc.abstractmethod
    def entries(self) -> list[JobResultEntry]: ...


class HighAvailabilityServices(abc.ABC):
    @abc.abstractmethod
    def leader_election(self) -> LeaderElection: ...

    @abc.abstractmethod
    def leader_retriever(self) -> LeaderRetriever: ...

    @abc.abstractmethod
    def job_graph_store(self) -> JobGraphStore: ...

    @abc.abstractmethod
    def job_result_store(self) -> JobResultStore: ...

    def close(self) -> None:
        """Release connections; keep the HA data."""

    def cleanup_job(self, job_id: str) -> None:
        """Remove a globally terminal job's HA data (its job graph)."""
        self.job_graph_store().remove(job_id)


def create_ha_services(config: Configuration) -> HighAvailabilityServices:
    kind = (config.get(HA_TYPE) or "standalone").lower()
    if kind in {"standalone", "none"}:
        from strom.common.ha.standalone import StandaloneHaServices

        return StandaloneHaServices(config)
    if kind == "zookeeper":
        from strom.common.ha.zookeeper import ZooKeeperHaServices  # type: ignore[attr-defined]

        return ZooKeeperHaServices(config)  # type: ignore[no-any-return]
    raise ConfigurationError(f"high-availability.type must be 'standalone' or 'zookeeper', got {kind!r}")
