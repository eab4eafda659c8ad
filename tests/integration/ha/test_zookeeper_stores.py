"""Job graph store (pointer in ZooKeeper, payload in storageDir) and job result store against a real ZooKeeper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from strom.common.errors import FencingTokenError, StromError
from strom.common.ha import JobResultEntry

from .conftest import RecordingContender, make_config, wait_until

pytestmark = pytest.mark.timeout(60)


def payload_files(storage: Path, cluster_id: str) -> list[Path]:
    folder = storage / cluster_id / "jobgraphs"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_job_graph_round_trip_pointer_in_zookeeper_payload_in_storage_dir(zk_server, tmp_path, open_services):
    storage = tmp_path / "ha"
    config = make_config(zk_server.connect_string, storage)
    cluster_id = config.get("high-availability.cluster-id")
    ha = open_services(config)
    store = ha.job_graph_store()
    graph = b"\x80\x05 cloudpickled job graph " * 1000

    store.put("job-a", graph)
    assert store.job_ids() == ["job-a"]
    assert store.get("job-a") == graph
    assert store.get("job-unknown") is None

    # ZooKeeper holds only the pointer; the bytes live in storageDir/<cluster-id>/jobgraphs/
    zk = ha.connection.client
    pointer = json.loads(zk.get(f"/strom/{cluster_id}/jobgraphs/job-a")[0])
    files = payload_files(storage, cluster_id)
    assert len(files) == 1 and files[0].read_bytes() == graph
    assert pointer["path"] == files[0].as_uri() and pointer["size"] == len(graph)
    assert len(zk.get(f"/strom/{cluster_id}/jobgraphs/job-a")[0]) < 400

    # a second process (a new leader) reads the same graph
    other = open_services(config)
    assert other.job_graph_store().get("job-a") == graph

    # replacing writes a new file and deletes the old one
    store.put("job-a", b"v2")
    assert other.job_graph_store().get("job-a") == b"v2"
    assert [f.read_bytes() for f in payload_files(storage, cluster_id)] == [b"v2"]

    store.put("job-b", b"b")
    assert other.job_graph_store().job_ids() == ["job-a", "job-b"]
    other.cleanup_job("job-a")
    store.remove("job-a")   # removing twice is fine
    assert store.job_ids() == ["job-b"]
    assert zk.exists(f"/strom/{cluster_id}/jobgraphs/job-a") is None
    assert [f.read_bytes() for f in payload_files(storage, cluster_id)] == [b"b"]


def test_corrupt_or_missing_payload_is_reported(zk_server, tmp_path, open_services):
    storage = tmp_path / "ha"
    config = make_config(zk_server.connect_string, storage)
    store = open_services(config).job_graph_store()
    store.put("j", b"graph")
    (file,) = payload_files(storage, config.get("high-availability.cluster-id"))
    file.write_bytes(b"grap!")
    with pytest.raises(StromError, match="corrupt"):
        store.get("j")
    file.unlink()
    with pytest.raises(StromError, match="missing"):
        store.get("j")
    store.remove("j")   # a missing payload does not block removal
    assert store.job_ids() == []


def test_writes_are_fenced_by_leadership(zk_server, tmp_path, open_services):
    config = make_config(zk_server.connect_string, tmp_path / "ha")
    leader_ha, standby_ha = open_services(config), open_services(config)
    leader, standby = RecordingContender("a"), RecordingContender("b")
    leader_ha.leader_election().start(leader)
    wait_until(lambda: leader.is_leader)
    standby_ha.leader_election().start(standby)
    wait_until(lambda: standby_ha.leader_election().latch_node is not None)

    leader_ha.job_graph_store().put("j", b"g")
    with pytest.raises(FencingTokenError):
        standby_ha.job_graph_store().put("j", b"stale")
    with pytest.raises(FencingTokenError):
        standby_ha.job_graph_store().remove("j")
    with pytest.raises(FencingTokenError):
        standby_ha.job_result_store().put(JobResultEntry("j", "FINISHED"))
    assert standby_ha.job_graph_store().get("j") == b"g"   # reads are never fenced

    leader_ha.leader_election().stop()
    wait_until(lambda: standby.is_leader)
    standby_ha.job_result_store().put(JobResultEntry("j", "FINISHED"))
    standby_ha.job_graph_store().remove("j")
    with pytest.raises(FencingTokenError):   # the old leader left the election: its writes are refused
        leader_ha.job_graph_store().put("j", b"zombie")
    assert standby_ha.job_graph_store().job_ids() == []


def test_job_result_store(zk_server, tmp_path, open_services):
    config = make_config(zk_server.connect_string, tmp_path / "ha")
    ha = open_services(config)
    results = ha.job_result_store()
    assert results.entries() == [] and results.get("j1") is None
    finished = JobResultEntry("j1", "FINISHED", "wordcount", 1_700_000_000_000)
    failed = JobResultEntry("j2", "FAILED", "bids", 1_700_000_000_500, "ValueError: bad row")
    results.put(finished)
    results.put(failed)
    results.put(failed)   # idempotent
    assert results.get("j1") == finished
    data = json.loads(ha.connection.client.get(ha.layout.job_result("j2"))[0])
    assert data["state"] == "FAILED" and data["end_time_ms"] == 1_700_000_000_500

    # survives this process's session: a new leader sees them
    ha.close()
    later = open_services(config).job_result_store()
    assert later.entries() == [finished, failed]


def test_cleanup_all_data(zk_server, tmp_path, open_services):
    storage = tmp_path / "ha"
    config = make_config(zk_server.connect_string, storage)
    ha = open_services(config)
    ha.job_graph_store().put("j", b"g")
    ha.job_result_store().put(JobResultEntry("j", "FINISHED"))
    probe = open_services(config)
    ha.close_and_cleanup_all_data()
    assert probe.connection.client.exists(probe.layout.base) is None
    assert not (storage / config.get("high-availability.cluster-id")).exists()


def test_stores_recreate_their_folders_if_deleted_underneath(zk_server, tmp_path, open_services):
    config = make_config(zk_server.connect_string, tmp_path / "ha")
    ha = open_services(config)
    zk = ha.connection.client
    zk.delete(ha.layout.job_graphs, recursive=True)
    zk.delete(ha.layout.job_results, recursive=True)
    assert ha.job_graph_store().job_ids() == [] and ha.job_result_store().entries() == []
    ha.job_graph_store().put("j", b"g")
    ha.job_result_store().put(JobResultEntry("j", "CANCELED"))
    assert ha.job_graph_store().get("j") == b"g"
    assert ha.job_result_store().get("j") == JobResultEntry("j", "CANCELED")
