"""ZooKeeper trouble under a real Strom cluster (processes started through the ``strom`` command):

- ZooKeeper unreachable when a JobManager starts: a clear error after the connection timeout, exit code 1;
- ZooKeeper restarted under a running cluster: leadership is suspended and regained, the running job is
  recovered, and jobs submitted afterwards run (and a cancelled one's HA data is cleaned up);
- a 3-node ensemble losing its quorum leader mid-job: the cluster keeps working.
"""

from __future__ import annotations

import time

import pytest

from tests.harness.cluster import HOST, StromCluster, ha_config, run_cli
from tests.harness.zookeeper import ZooKeeperEnsemble, free_port

from .cluster_support import (
    expected_counts,
    find_job,
    http_json,
    is_running,
    job_args,
    open_ha,
    read_counts,
    storage_files,
    wait_for,
    wait_job,
    write_job,
)

pytestmark = [pytest.mark.integration]

ENDED = ["FINISHED", "FAILED", "CANCELED"]


@pytest.mark.timeout(60)
def test_jobmanager_without_zookeeper_fails_clearly_after_the_connection_timeout(tmp_path):
    quorum = f"{HOST}:{free_port()}"             # nothing listens there
    config = ha_config(quorum, tmp_path / "ha", **{"high-availability.zookeeper.client.connection-timeout": "2 s"})
    args = ["jobmanager", "start", "--host", HOST, "--rpc-port", "0", "--rest-port", "0",
            *[a for k, v in config.items() for a in ("-D", f"{k}={v}")]]
    started = time.monotonic()
    result = run_cli(args, timeout_s=45, cwd=tmp_path)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot reach ZooKeeper quorum '{quorum}' within 2000 ms" in result.stderr
    assert "high-availability.zookeeper.quorum" in result.stderr
    assert 2.0 <= took < 30, took

    # the client, too, names the quorum instead of hanging
    listed = run_cli(["list", *[a for k, v in config.items() for a in ("-D", f"{k}={v}")]], timeout_s=45,
                     cwd=tmp_path)
    assert listed.returncode != 0 and quorum in listed.stdout + listed.stderr


@pytest.mark.timeout(150)
def test_zookeeper_restart_suspends_and_regains_leadership_and_jobs_go_on(own_zk_server, tmp_path):
    storage = tmp_path / "ha"
    config = ha_config(own_zk_server.connect_string, storage, session_timeout="4 s")
    with StromCluster(tmp_path / "c", num_taskmanagers=1, slots_per_taskmanager=2, config=config) as cluster:
        leader = cluster.wait_for_leader()
        first_session = cluster.leader_status(leader)["leaderSessionId"]
        script = write_job(tmp_path)
        out = tmp_path / "during"
        submitted = cluster.cli("run", "-d", *cluster.ha_cli_args(), *job_args(script, out, "during", 12000, 2000))
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        wait_for(lambda: is_running(find_job(cluster, leader, "during")), 60, "job RUNNING")

        own_zk_server.stop()                        # SIGTERM: every client goes SUSPENDED
        wait_for(lambda: not cluster.leader_status(leader)["leader"], 10, "leadership to be suspended")
        wait_for(lambda: "Suspending job during" in cluster.log_text("jobmanager-0"), 10, "the job to be suspended")
        time.sleep(0.5)
        own_zk_server.restart()                     # same port and data: the sessions survive

        assert cluster.wait_for_leader(timeout_s=30) == leader                     # leadership regained
        assert cluster.leader_status(leader)["leaderSessionId"] != first_session   # a new leader session
        cluster.wait_until_ready(1, 2, timeout_s=30)                               # the TaskManager is back
        job = wait_job(cluster, leader, "during", ENDED, 60)
        assert job["state"] == "FINISHED"
        assert read_counts(out) == expected_counts(12000)

        # a job submitted after the restart, through ZooKeeper only, runs to its exact result
        after = tmp_path / "after"
        done = cluster.cli("run", *cluster.ha_cli_args(), *job_args(script, after, "after", 3000))
        assert done.returncode == 0, done.stdout + done.stderr
        assert read_counts(after) == expected_counts(3000)

        # a cancelled job is globally terminal too: its HA data goes, its result stays
        submitted = cluster.cli("run", "-d", *cluster.ha_cli_args(),
                                *job_args(script, tmp_path / "cancelled", "cancelled", 100000, 1000))
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        job_id = submitted.stdout.split("JobID ")[1].split()[0]
        wait_for(lambda: is_running(find_job(cluster, leader, "cancelled")), 60, "job RUNNING")
        cancelled = cluster.cli("cancel", *cluster.ha_cli_args(), job_id)
        assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
        assert wait_job(cluster, leader, "cancelled", ENDED, 30)["state"] == "CANCELED"
        ha = open_ha(cluster)
        try:
            wait_for(lambda: ha.job_graph_store().job_ids() == [], 10, "clean-up of every job graph")
            assert ha.connection.client.exists(ha.layout.job_graph(job_id)) is None
            assert ha.job_result_store().get(job_id).state == "CANCELED"
            assert storage_files(storage) == []
        finally:
            ha.close()


@pytest.mark.timeout(150)
def test_cluster_keeps_working_when_one_of_three_zookeeper_nodes_is_killed(tmp_path):
    ensemble = ZooKeeperEnsemble(tmp_path / "zks", size=3)
    ensemble.start()
    try:
        config = ha_config(ensemble.connect_string, tmp_path / "ha", session_timeout="4 s")
        with StromCluster(tmp_path / "c", num_jobmanagers=2, num_taskmanagers=1, slots_per_taskmanager=2,
                          config=config) as cluster:
            cluster.wait_for_leader()
            script = write_job(tmp_path)
            out = tmp_path / "out"
            submitted = cluster.cli("run", "-d", *cluster.ha_cli_args(), *job_args(script, out, "ens", 12000, 2000))
            assert submitted.returncode == 0, submitted.stdout + submitted.stderr
            wait_for(lambda: is_running(find_job(cluster, cluster.wait_for_leader(), "ens")), 60, "job RUNNING")

            victim = ensemble.leader_index()        # the quorum leader: every client is cut off for a moment
            assert victim is not None
            ensemble.kill(victim)
            wait_for(lambda: ensemble.leader_index() is not None, 30, "a new ZooKeeper quorum leader")

            leader = cluster.wait_for_leader(timeout_s=30)
            job = wait_job(cluster, leader, "ens", ENDED, 90)
            assert job["state"] == "FINISHED"
            assert read_counts(out) == expected_counts(12000)

            after = tmp_path / "after"
            done = cluster.cli("run", *cluster.ha_cli_args(), *job_args(script, after, "ens-after", 3000))
            assert done.returncode == 0, done.stdout + done.stderr
            assert read_counts(after) == expected_counts(3000)
            overview = http_json(f"{cluster.jobmanager_rest_url(cluster.wait_for_leader())}/overview")
            assert overview["taskmanagers"] == 1
    finally:
        ensemble.stop()
