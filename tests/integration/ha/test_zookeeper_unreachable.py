"""Starting ZooKeeper HA services without a reachable quorum fails fast and clearly."""

from __future__ import annotations

import time

import pytest

from strom.common.config import Configuration
from strom.common.errors import ClusterUnreachableError, ConfigurationError
from strom.common.ha import create_ha_services
from strom.common.ha.zookeeper import ZooKeeperHaServices
from tests.harness.zookeeper import free_port

pytestmark = pytest.mark.timeout(30)


def test_unreachable_quorum_raises_within_the_connection_timeout():
    quorum = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"   # nothing listens there
    config = Configuration({"high-availability.type": "zookeeper", "high-availability.zookeeper.quorum": quorum,
                            "high-availability.zookeeper.client.connection-timeout": "1 s"})
    t0 = time.monotonic()
    with pytest.raises(ClusterUnreachableError) as info:
        create_ha_services(config)
    took = time.monotonic() - t0
    assert quorum in str(info.value) and "high-availability.zookeeper.quorum" in str(info.value)
    assert info.value.retryable
    assert 0.9 < took < 4.0, took


def test_missing_or_malformed_quorum_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="high-availability.zookeeper.quorum"):
        ZooKeeperHaServices(Configuration({"high-availability.type": "zookeeper"}))
    with pytest.raises(ConfigurationError, match="duration"):
        ZooKeeperHaServices(Configuration({"high-availability.zookeeper.quorum": "127.0.0.1:1",
                                           "high-availability.zookeeper.client.session-timeout": "soon"}))


def test_storage_dir_is_required_only_by_the_job_graph_store(zk_server, open_services):
    config = Configuration({"high-availability.zookeeper.quorum": zk_server.connect_string,
                            "high-availability.cluster-id": "no-storage"})
    ha = open_services(config)   # a TaskManager or client needs no storageDir
    with pytest.raises(ConfigurationError, match="high-availability.storageDir"):
        ha.job_graph_store()
