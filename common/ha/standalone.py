"""Standalone HA: one JobManager at a fixed address, leadership granted at once
with the default session id, job graphs kept in memory (no JobManager failover)."""

from __future__ import annotations

import threading

from strom.common.config import JOBMANAGER_RPC_ADDRESS, JOBMANAGER_RPC_PORT, Configuration
from strom.common.ha.services import (
    HighAvailabilityServices,
    JobGraphStore,
    JobResultEntry,
    JobResultStore,
    LeaderContender,
    LeaderElection,
    LeaderInformation,
    LeaderRetrievalListener,
    LeaderRetriever,
)
from strom.common.ids import NO_LEADER_SESSION, LeaderSessionId


class StandaloneLeaderElection(LeaderElection):
    def __init__(self) -> None:
        self._contender: LeaderContender | None = None

    def start(self, contender: LeaderContender) -> None:
        self._contender = contender
        contender.grant_leadership(NO_LEADER_SESSION)

    def confirm_leadership(self, session_id: LeaderSessionId, rpc_address: str, rest_address: str) -> None:
        pass

    def has_leadership(self, session_id: LeaderSessionId) -> bool:
        return self._contender is not None and session_id == NO_LEADER_SESSION

    def stop(self) -> None:
        self._contender = None


class StandaloneLeaderRetriever(LeaderRetriever):
    """Always the configured address; the REST address is unknown (empty)."""

    def __init__(self, rpc_address: str) -> None:
        self._rpc_address = rpc_address

    def start(self, listener: LeaderRetrievalListener) -> None:
        listener.notify_leader_address(LeaderInformation(NO_LEADER_SESSION, self._rpc_address, ""))

    def stop(self) -> None:
        pass


class InMemoryJobGraphStore(JobGraphStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._graphs: dict[str, bytes] = {}

    def put(self, job_id: str, job_graph: bytes) -> None:
        with self._lock:
            self._graphs[job_id] = job_graph

    def get(self, job_id: str) -> bytes | None:
        with self._lock:
            return self._graphs.get(job_id)

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._graphs.pop(job_id, None)

    def job_ids(self) -> list[str]:
        with self._lock:
            return list(self._graphs)


class InMemoryJobResultStore(JobResultStore):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, JobResultEntry] = {}

    def put(self, entry: JobResultEntry) -> None:
        with self._lock:
            self._entries[entry.job_id] = entry

    def get(self, job_id: str) -> JobResultEntry | None:
        with self._lock:
            return self._entries.get(job_id)

    def entries(self) -> list[JobResultEntry]:
        with self._lock:
            return list(self._entries.values())


class StandaloneHaServices(HighAvailabilityServices):
    def __init__(self, config: Configuration) -> None:
        address = f"{config.get_str(JOBMANAGER_RPC_ADDRESS)}:{config.get_int(JOBMANAGER_RPC_PORT)}"
        self._election = StandaloneLeaderElection()
        self._retriever = StandaloneLeaderRetriever(address)
        self._graphs = InMemoryJobGraphStore()
        self._results = InMemoryJobResultStore()

    def leader_election(self) -> LeaderElection:
        return self._election

    def leader_retriever(self) -> LeaderRetriever:
        return self._retriever

    def job_graph_store(self) -> JobGraphStore:
        return self._graphs

    def job_result_store(self) -> JobResultStore:
        return self._results
