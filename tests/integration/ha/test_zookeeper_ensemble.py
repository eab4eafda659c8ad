"""A 3-node ZooKeeper ensemble keeps serving leader election with one node killed."""

from __future__ import annotations

import pytest

from strom.common.ha import JobResultEntry
from tests.harness.zookeeper import ZooKeeperEnsemble

from .conftest import RecordingContender, RecordingListener, make_config, wait_until

pytestmark = pytest.mark.timeout(120)


def connected_server(ha, ensemble) -> int:
    """Index of the ZooKeeper node a client is connected to (kazoo internals; the quorum leader if unknown)."""
    try:
        port = ha.connection.client._connection._socket.getpeername()[1]
        return next(i for i, s in enumerate(ensemble.servers) if s.port == port)
    except (AttributeError, OSError, StopIteration):
        index = ensemble.leader_index()
        assert index is not None
        return index


@pytest.fixture
def ensemble(tmp_path):
    ens = ZooKeeperEnsemble(tmp_path / "ensemble", size=3)
    ens.start()
    try:
        yield ens
    finally:
        ens.stop()
        assert not any(s.is_running() for s in ens.servers)


def test_election_survives_losing_one_of_three_nodes(ensemble, tmp_path, open_services):
    config = make_config(ensemble.connect_string, tmp_path / "ha")
    pairs = []
    for name in ("a", "b"):
        ha = open_services(config)
        c = RecordingContender(name, ha, auto_confirm=True)
        ha.leader_election().start(c)
        pairs.append((ha, c))
    observer = open_services(config)
    listener = RecordingListener()
    observer.leader_retriever().start(listener)
    wait_until(lambda: sum(c.is_leader for _, c in pairs) == 1 and listener.last is not None)

    # kill the ZooKeeper node the leader is connected to: it reconnects to another one (session kept)
    (leader_ha, leader), = [p for p in pairs if p[1].is_leader]
    victim = connected_server(leader_ha, ensemble)
    ensemble.kill(victim)
    wait_until(lambda: ensemble.leader_index() is not None, timeout=30, what="a ZooKeeper quorum leader")
    wait_until(lambda: sum(c.is_leader for _, c in pairs) == 1, timeout=30, what="one JobManager leader")
    wait_until(lambda: listener.last is not None and listener.last.session_id in
               {c.session for _, c in pairs}, timeout=30, what="published address of the current leader")

    # the two remaining nodes still run a full election and store round trip
    (leader_ha, leader), = [p for p in pairs if p[1].is_leader]
    (other_ha, other), = [p for p in pairs if not p[1].is_leader]
    leader_ha.job_result_store().put(JobResultEntry("j", "FINISHED"))
    leader_ha.leader_election().stop()
    wait_until(lambda: other.is_leader, timeout=30, what="handover on the degraded ensemble")
    wait_until(lambda: listener.last is not None and listener.last.session_id == other.session, timeout=30)
    assert other_ha.job_result_store().get("j") == JobResultEntry("j", "FINISHED")
