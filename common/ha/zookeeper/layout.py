"""Where Strom keeps what in ZooKeeper, and how each znode's data is encoded (JSON).

    /<root>/<cluster-id>/
        leader/latch/latch-<guid>-<seq>           ephemeral-sequential, one per contending JobManager;
                                                  the lowest sequence number leads; <guid> identifies
                                                  the contender, so it finds its node again when the
                                                  reply to its create was lost (Curator's "protected" mode)
        leader/jobmanager/connection_info         ephemeral (the leader's ZooKeeper session): leader
                                                  session id, gRPC and REST address
        jobgraphs/<job-id>                        persistent: pointer to the job graph file in
                                                  high-availability.storageDir (URI, size, sha256)
        job-results/<job-id>                      persistent: a globally terminal job's state and end time

``root`` is ``high-availability.zookeeper.path.root`` (default ``/strom``). The
codecs here are pure functions, so they are unit-tested without a server.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import asdict, dataclass
from typing import Any

from strom.common.config import HA_CLUSTER_ID, HA_ZK_ROOT, Configuration
from strom.common.errors import ConfigurationError
from strom.common.ha.services import JobResultEntry, LeaderInformation
from strom.common.ids import LeaderSessionId

LATCH_PREFIX = "latch-"
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


@dataclass(frozen=True)
class ZNodeLayout:
    """Absolute znode paths of one cluster."""

    base: str   # /<root>/<cluster-id>

    @classmethod
    def from_config(cls, config: Configuration) -> ZNodeLayout:
        root = (config.get(HA_ZK_ROOT) or "/strom").strip()
        cluster_id = config.get_str(HA_CLUSTER_ID).strip()
        if not root.startswith("/"):
            root = "/" + root
        if not cluster_id or "/" in cluster_id or cluster_id in {".", ".."}:
            raise ConfigurationError(f"config key '{HA_CLUSTER_ID.key}': expected a name without '/', "
                                     f"got {cluster_id!r}")
        return cls(posixpath.normpath(f"{root}/{cluster_id}"))

    @property
    def latch_dir(self) -> str:
        return f"{self.base}/leader/latch"

    def latch_prefix(self, guid: str) -> str:
        return f"{self.latch_dir}/{LATCH_PREFIX}{guid}-"

    @property
    def connection_info(self) -> str:
        return f"{self.base}/leader/jobmanager/connection_info"

    @property
    def job_graphs(self) -> str:
        return f"{self.base}/jobgraphs"

    @property
    def job_results(self) -> str:
        return f"{self.base}/job-results"

    def job_graph(self, job_id: str) -> str:
        return f"{self.job_graphs}/{check_name(job_id)}"

    def job_result(self, job_id: str) -> str:
        return f"{self.job_results}/{check_name(job_id)}"

    def persistent_dirs(self) -> list[str]:
        return [self.latch_dir, posixpath.dirname(self.connection_info), self.job_graphs, self.job_results]


def check_name(name: str) -> str:
    """Job ids become znode names: refuse anything that could escape the folder."""
    if not _NAME.match(name) or name in {".", ".."}:
        raise ValueError(f"not usable as a znode name: {name!r}")
    return name


def latch_sequence(name: str) -> int:
    """'latch-<guid>-0000000012' -> 12; names that are not latch nodes sort last."""
    try:
        return int(name.rsplit("-", 1)[1]) if name.startswith(LATCH_PREFIX) else 1 << 62
    except (IndexError, ValueError):
        return 1 << 62


def _dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def encode_leader_information(leader: LeaderInformation, owner: str = "") -> bytes:
    return _dumps({"session_id": leader.session_id, "rpc_address": leader.rpc_address,
                   "rest_address": leader.rest_address, "owner": owner})


def decode_leader_information(data: bytes | None) -> LeaderInformation | None:
    """None for an empty or unreadable node (a reader then waits for the next write)."""
    if not data:
        return None
    try:
        obj = json.loads(data)
        return LeaderInformation(LeaderSessionId(str(obj["session_id"])), str(obj["rpc_address"]),
                                 str(obj.get("rest_address", "")))
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class StatePointer:
    """What a ``jobgraphs/<job-id>`` znode holds: where the payload is, and how to check it."""

    path: str      # URI (or absolute local path) of the payload file
    size: int
    sha256: str

    def encode(self) -> bytes:
        return _dumps(asdict(self))

    @classmethod
    def decode(cls, data: bytes) -> StatePointer:
        obj = json.loads(data)
        return cls(str(obj["path"]), int(obj["size"]), str(obj["sha256"]))


MAX_ERROR_CHARS = 64 * 1024   # keeps a job-result znode far below ZooKeeper's 1 MB limit


def encode_job_result(entry: JobResultEntry) -> bytes:
    obj = asdict(entry)
    if len(entry.error) > MAX_ERROR_CHARS:
        obj["error"] = entry.error[:MAX_ERROR_CHARS] + f"\n... ({len(entry.error) - MAX_ERROR_CHARS} chars cut)"
    return _dumps(obj)


def decode_job_result(data: bytes) -> JobResultEntry:
    obj = json.loads(data)
    return JobResultEntry(job_id=str(obj["job_id"]), state=str(obj["state"]), name=str(obj.get("name", "")),
                          end_time_ms=int(obj.get("end_time_ms", 0)), error=str(obj.get("error", "")))
