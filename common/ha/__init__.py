"""High-availability services: leader election, leader retrieval, job-graph and
job-result stores, behind one interface (``HighAvailabilityServices``).

Implementations: ``standalone`` (fixed JobManager address, no failover),
``embedded`` (in-memory, explicit grant/revoke, for tests) and ``zookeeper``
(kazoo; the only package that imports kazoo). ``create_ha_services(config)``
picks one from ``high-availability.type``.
"""

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
    create_ha_services,
)

__all__ = [
    "HighAvailabilityServices", "JobGraphStore", "JobResultEntry", "JobResultStore", "LeaderContender",
    "LeaderElection", "LeaderInformation", "LeaderRetrievalListener", "LeaderRetriever", "create_ha_services",
]
