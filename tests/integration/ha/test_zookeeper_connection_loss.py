"""SUSPENDED / LOST connections: leadership is revoked at once and regained when ZooKeeper returns."""

from __future__ import annotations

import time

import pytest

from strom.common.errors import ClusterUnreachableError, FencingTokenError
from strom.common.ids import LeaderSessionId

from .conftest import RecordingContender, RecordingListener, make_config, wait_until

pytestmark = pytest.mark.timeout(90)


def test_server_outage_revokes_then_leads_again_with_a_new_session_id(own_zk_server, tmp_path, open_services):
    config = make_config(own_zk_server.connect_string, tmp_path)
    ha = open_services(config)
    contender = RecordingContender("jm", ha, auto_confirm=True)
    ha.leader_election().start(contender)
    observer = open_services(config)
    listener = RecordingListener()
    observer.leader_retriever().start(listener)
    wait_until(lambda: contender.is_leader and listener.last is not None, what="leader published")
    first = LeaderSessionId(contender.session)
    assert listener.last.session_id == first

    t0 = time.monotonic()
    own_zk_server.stop(kill=True)
    revoke_s = wait_until(lambda: contender.revokes, what="revocation on SUSPENDED")
    wait_until(lambda: listener.last is None, what="retrievers told 'no leader'")
    print(f"revoked {revoke_s * 1000:.1f} ms after the ZooKeeper server was killed")
    assert revoke_s < 1.0   # immediate on SUSPENDED, not after the session timeout
    assert not ha.leader_election().has_leadership(first)
    with pytest.raises(FencingTokenError):
        ha.job_graph_store().put("job", b"x")
    with pytest.raises(ClusterUnreachableError):
        observer.job_graph_store().job_ids()

    own_zk_server.restart()
    regain_s = wait_until(lambda: contender.is_leader, timeout=20, what="leadership after the restart")
    print(f"leader again {regain_s * 1000:.0f} ms after the server was serving again "
          f"({(time.monotonic() - t0):.2f} s after the kill)")
    second = contender.session
    assert second != first
    assert len(contender.grants) == 2 and len(contender.revokes) == 1
    wait_until(lambda: listener.last is not None and listener.last.session_id == second,
               what="republished leader address")
    ha.job_graph_store().put("job", b"x")   # leads again: fenced writes pass
    assert observer.job_graph_store().get("job") == b"x"


def test_outage_longer_than_the_session_timeout(own_zk_server, tmp_path, open_services):
    """A second contender waits; whichever session survives the restart, exactly one leads afterwards."""
    config = make_config(own_zk_server.connect_string, tmp_path)
    pairs = []
    for name in ("a", "b"):
        ha = open_services(config)
        c = RecordingContender(name, ha, auto_confirm=True)
        ha.leader_election().start(c)
        pairs.append((ha, c))
    wait_until(lambda: sum(c.is_leader for _, c in pairs) == 1)

    own_zk_server.stop()
    wait_until(lambda: not any(c.is_leader for _, c in pairs), what="both revoked/non-leaders")
    time.sleep(2.5)   # the scenario: stay down longer than the 2 s session timeout
    own_zk_server.restart()
    wait_until(lambda: sum(c.is_leader for _, c in pairs) == 1, timeout=20, what="one leader again")
    (ha, c), = [p for p in pairs if p[1].is_leader]
    wait_until(lambda: ha.connection.client.exists(ha.layout.connection_info) is not None)
    # both contenders are back in the latch, each with exactly one node (no orphans from lost replies)
    def latch_matches_contenders() -> bool:
        nodes = [h.leader_election().latch_node for h, _ in pairs]
        children = ha.connection.client.get_children(ha.layout.latch_dir)
        return None not in nodes and sorted(children) == sorted(n.rsplit("/", 1)[1] for n in nodes if n)

    wait_until(latch_matches_contenders, timeout=20, what="one latch node per contender")
    assert len(ha.connection.client.get_children(ha.layout.latch_dir)) == 2
