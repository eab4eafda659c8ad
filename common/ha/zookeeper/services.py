"""``ZooKeeperHaServices``: the HA services of one process (JobManager, TaskManager or client) on ZooKeeper.

One kazoo session per instance, opened in the constructor (so a JobManager
fails at start, with the quorum in the message, when ZooKeeper is
unreachable). The election, retriever and stores share that session; each
accessor returns the same object every time.

    config = Configuration({"high-availability.type": "zookeeper",
                            "high-availability.zookeeper.quorum": "127.0.0.1:2181",
                            "high-availability.storageDir": "file:///var/lib/strom/ha"})
    ha = ZooKeeperHaServices(config)
    ha.leader_election().start(contender)       # contender.grant_leadership(session_id) follows
    ha.leader_retriever().start(listener)       # listener.notify_leader_address(info | None)
    ha.close()

``high-availability.storageDir`` is needed only by the job graph store, so
TaskManagers and clients may leave it unset.
"""

from __future__ import annotations

import logging
import threading

from kazoo.exceptions import KazooException, NoNodeError, NotEmptyError

from strom.common.config import Configuration
from strom.common.errors import FencingTokenError
from strom.common.ha.filesystem import HaStorageDir
from strom.common.ha.services import HighAvailabilityServices, JobGraphStore, JobResultStore
from strom.common.ha.zookeeper.connection import ZooKeeperConnection
from strom.common.ha.zookeeper.election import ZooKeeperLeaderElection
from strom.common.ha.zookeeper.layout import ZNodeLayout
from strom.common.ha.zookeeper.retrieval import ZooKeeperLeaderRetriever
from strom.common.ha.zookeeper.stores import ZooKeeperJobGraphStore, ZooKeeperJobResultStore

log = logging.getLogger(__name__)


class ZooKeeperHaServices(HighAvailabilityServices):
    def __init__(self, config: Configuration, owner: str | None = None) -> None:
        self._config = config
        self.layout = ZNodeLayout.from_config(config)
        self.connection = ZooKeeperConnection(config)
        self.connection.start()
        try:
            for path in self.layout.persistent_dirs():
                self.connection.call(f"create {path}", self.connection.client.ensure_path_async, path)
        except BaseException:
            self.connection.close()
            raise
        self._lock = threading.Lock()
        self._election = ZooKeeperLeaderElection(self.connection, self.layout, owner)
        self._retriever = ZooKeeperLeaderRetriever(self.connection, self.layout)
        self._results = ZooKeeperJobResultStore(self.connection, self.layout, self._fence)
        self._graphs: ZooKeeperJobGraphStore | None = None
        self._closed = False

    @property
    def quorum(self) -> str:
        return self.connection.quorum

    def _fence(self) -> str | None:
        """Writes of a process that contends (or contended) are fenced by its latch node; others are not."""
        if not self._election.has_contended:
            return None
        node = self._election.fencing_node()
        if node is None:
            raise FencingTokenError("this JobManager does not hold leadership (leader session revoked or not "
                                    "granted yet); re-resolve the leader and retry there")
        return node

    def leader_election(self) -> ZooKeeperLeaderElection:
        return self._election

    def leader_retriever(self) -> ZooKeeperLeaderRetriever:
        return self._retriever

    def job_graph_store(self) -> JobGraphStore:
        with self._lock:
            if self._graphs is None:
                storage = HaStorageDir.from_config(self._config)   # ConfigurationError if unset
                self._graphs = ZooKeeperJobGraphStore(self.connection, self.layout, storage, self._fence)
            return self._graphs

    def job_result_store(self) -> JobResultStore:
        return self._results

    def close(self) -> None:
        """Leave the election, stop retrieval and end the session; HA data stays."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._election.stop()
        self._retriever.stop()
        self.connection.close()

    def close_and_cleanup_all_data(self) -> None:
        """Delete this cluster's znodes and storageDir files, then close (cluster shutdown, tests)."""
        self._election.stop()
        self._retriever.stop()
        try:
            self.connection.client.delete(self.layout.base, recursive=True)
        except NoNodeError:
            pass
        except (NotEmptyError, KazooException) as e:
            log.warning("Could not delete %s: %s", self.layout.base, e)
        if self._graphs is not None or self._config.get("high-availability.storageDir"):
            HaStorageDir.from_config(self._config).delete_all()
        self.close()
