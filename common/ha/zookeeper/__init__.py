"""ZooKeeper HA services (kazoo). The only package in Strom that imports kazoo.

Modules, one concept each:

    layout.py       znode paths and JSON codecs (pure)
    connection.py   the kazoo session, bounded calls, the per-driver worker thread
    election.py     leader latch, grant/revoke, fenced publication of connection_info
    retrieval.py    watching connection_info for TaskManagers and clients
    stores.py       job graph store (pointers to storageDir) and job result store
    services.py     ZooKeeperHaServices tying them to one session

See docs/high-availability.md for the znode layout and the failover timeline.
"""

from strom.common.ha.zookeeper.election import ZooKeeperLeaderElection
from strom.common.ha.zookeeper.layout import ZNodeLayout
from strom.common.ha.zookeeper.retrieval import ZooKeeperLeaderRetriever
from strom.common.ha.zookeeper.services import ZooKeeperHaServices
from strom.common.ha.zookeeper.stores import ZooKeeperJobGraphStore, ZooKeeperJobResultStore

__all__ = [
    "ZNodeLayout", "ZooKeeperHaServices", "ZooKeeperJobGraphStore", "ZooKeeperJobResultStore",
    "ZooKeeperLeaderElection", "ZooKeeperLeaderRetriever",
]
