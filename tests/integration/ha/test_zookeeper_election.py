"""Leader election and leader retrieval against a real ZooKeeper."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from strom.common.ha import LeaderInformation
from strom.common.ids import LeaderSessionId

from .conftest import RecordingContender, RecordingListener, make_config, wait_until

pytestmark = pytest.mark.timeout(60)


def start_contenders(open_services, config, n=3, auto_confirm=True):
    out = []
    for i in range(n):
        ha = open_services(config)
        c = RecordingContender(f"jm{i}", ha, auto_confirm=auto_confirm)
        ha.leader_election().start(c)
        out.append((ha, c))
    return out


def leaders(pairs):
    return [(ha, c) for ha, c in pairs if c.is_leader]


def test_one_of_three_leads_and_clean_stop_hands_over_fast(zk_server, tmp_path, open_services):
    config = make_config(zk_server.connect_string, tmp_path)
    pairs = start_contenders(open_services, config)
    wait_until(lambda: len(leaders(pairs)) == 1, what="a leader")
    (ha0, c0), = leaders(pairs)
    s0 = LeaderSessionId(c0.session)
    assert ha0.leader_election().has_leadership(s0)
    assert not any(ha.leader_election().has_leadership(s0) for ha, c in pairs if c is not c0)
    wait_until(lambda: len(ha0.connection.client.get_children(ha0.layout.latch_dir)) == 3, what="3 latch nodes")

    t0 = time.monotonic()
    ha0.leader_election().stop()
    others = [p for p in pairs if p[1] is not c0]
    took = wait_until(lambda: len(leaders(others)) == 1, what="a new leader")
    (ha1, c1), = leaders(others)
    assert c1.session != s0
    assert c0.revokes == []   # stop() steps down without calling the contender
    print(f"clean-stop handover took {took * 1000:.1f} ms")
    assert time.monotonic() - t0 < 2.0   # far below the 2 s session timeout: no expiry involved

    # the new leader published its address under its own session id
    zk = ha1.connection.client

    def published_session():
        stat = zk.exists(ha1.layout.connection_info)
        return stat and json.loads(zk.get(ha1.layout.connection_info)[0])["session_id"]

    wait_until(lambda: published_session() == c1.session, what="the new leader's connection_info")
    data, stat = zk.get(ha1.layout.connection_info)
    assert json.loads(data)["session_id"] == c1.session
    assert json.loads(data)["rpc_address"] == f"{c1.name}:6123"
    assert stat.ephemeralOwner == ha1.connection.session_id


def test_only_the_current_session_id_can_publish(zk_server, tmp_path, open_services):
    config = make_config(zk_server.connect_string, tmp_path)
    ha = open_services(config)
    c = RecordingContender("jm", ha)
    election = ha.leader_election()
    election.start(c)
    wait_until(lambda: c.is_leader, what="leadership")
    election.confirm_leadership(LeaderSessionId("f" * 32), "evil:1", "evil:2")   # not our session
    election.confirm_leadership(LeaderSessionId(c.session), "good:1", "good:2")
    zk = ha.connection.client
    wait_until(lambda: zk.exists(ha.layout.connection_info), what="connection_info")
    assert json.loads(zk.get(ha.layout.connection_info)[0])["rpc_address"] == "good:1"


def test_retrieval_follows_leader_changes(zk_server, tmp_path, open_services):
    config = make_config(zk_server.connect_string, tmp_path)
    taskmanager = open_services(config)
    listener = RecordingListener()
    taskmanager.leader_retriever().start(listener)
    wait_until(lambda: listener.snapshot() == [None], what="initial 'no leader'")

    pairs = start_contenders(open_services, config, n=2)
    wait_until(lambda: listener.last is not None, what="first leader address")
    (ha0, c0), = leaders(pairs)
    assert listener.last == LeaderInformation(LeaderSessionId(c0.session), f"{c0.name}:6123", f"{c0.name}:8081")

    ha0.close()   # clean stop: connection_info is deleted with the latch node, then the other one publishes
    wait_until(lambda: listener.last is not None and listener.last.rpc_address != f"{c0.name}:6123",
               what="second leader address")
    (ha1, c1), = [p for p in pairs if p[1] is not c0]
    assert listener.last.session_id == c1.session
    assert None in listener.snapshot()[2:]   # the gap between the two leaders was reported


def test_retrieval_sees_a_leader_that_was_there_before(zk_server, tmp_path, open_services):
    config = make_config(zk_server.connect_string, tmp_path)
    (ha, c), = start_contenders(open_services, config, n=1)
    wait_until(lambda: c.is_leader)
    client = open_services(config)
    listener = RecordingListener()
    client.leader_retriever().start(listener)
    wait_until(lambda: listener.last is not None, what="leader address")
    assert listener.snapshot()[0].session_id == c.session


def test_session_expiry_revokes_and_the_other_contender_takes_over(zk_server, tmp_path, open_services):
    config = make_config(zk_server.connect_string, tmp_path)
    pairs = start_contenders(open_services, config, n=2)
    wait_until(lambda: len(leaders(pairs)) == 1)
    (ha0, c0), = leaders(pairs)
    (ha1, c1), = [p for p in pairs if p[1] is not c0]
    old_session = ha0.connection.session_id

    # expire the leader's session from outside (a second client with the same id and password closes it)
    killer = KazooClient(hosts=zk_server.connect_string, client_id=ha0.connection.client.client_id)
    killer.start(timeout=5)
    killer.stop()
    killer.close()

    wait_until(lambda: c0.revokes, what="revocation of the expired leader")
    wait_until(lambda: c1.is_leader, what="takeover")
    # the expired contender rejoined with a new session, behind the new leader
    wait_until(lambda: ha0.connection.session_id not in (None, old_session), what="new session")
    latch = ha1.connection.client.get_children(ha1.layout.latch_dir)
    wait_until(lambda: len(ha1.connection.client.get_children(ha1.layout.latch_dir)) == 2, what="rejoin")
    assert not c0.is_leader and len(latch) >= 1

    # and it takes over again when the new leader stops
    ha1.leader_election().stop()
    wait_until(lambda: c0.is_leader, what="leadership back to the first contender")
    assert c0.session not in {s for _, s in c1.grants}


def test_sigkilled_leader_is_replaced_after_the_session_timeout(zk_server, tmp_path, open_services):
    config = make_config(zk_server.connect_string, tmp_path)
    cluster_id = config.get("high-availability.cluster-id")
    script = Path(__file__).with_name("contender_process.py")
    proc = subprocess.Popen([sys.executable, str(script), zk_server.connect_string, cluster_id,
                             tmp_path.as_uri(), "2 s", "victim"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        assert proc.stdout.readline().startswith("GRANTED ")
        standby = open_services(config)
        c = RecordingContender("standby", standby, auto_confirm=True)
        standby.leader_election().start(c)
        listener = RecordingListener()
        standby.leader_retriever().start(listener)
        wait_until(lambda: listener.last is not None and listener.last.rpc_address == "victim:6123")
        time.sleep(0.2)   # let the standby's predecessor watch settle (not a synchronization point)
        assert not c.is_leader

        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        took = wait_until(lambda: c.is_leader, timeout=15, what="takeover after session expiry")
        print(f"SIGKILL handover took {took * 1000:.0f} ms (session timeout 2 s, tickTime 250 ms)")
        assert 1.0 < time.monotonic() - t0 < 8.0   # bounded by the session timeout, not immediate
        wait_until(lambda: listener.last is not None and listener.last.rpc_address == "standby:6123")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
