"""ZooKeeper HA with real processes: JobManagers, TaskManagers and the CLI started through the ``strom``
command against a real ZooKeeper (tickTime 250 ms, session timeout 2 s).

- election among 3 JobManagers, standbys redirecting REST, leader discovery by TaskManagers and the CLI;
- SIGKILL of the leader mid-job: a standby takes over, the job is recovered from the job graph store and
  its output is exact; a FINISHED job is not run again; HA data of ended jobs is cleaned up;
- SIGSTOP/SIGCONT of the leader: the deposed leader suspends, is fenced by the TaskManagers, and never
  drives the job again.
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path

import pytest

from strom.common.errors import FencingTokenError
from strom.common.gateway.dispatcher import DispatcherGateway
from strom.common.gateway.task_executor import TaskExecutorGateway
from tests.harness.cluster import StromCluster, ha_config

from .cluster_support import (
    expected_counts,
    find_job,
    finish_cli,
    http_json,
    is_running,
    job_args,
    open_ha,
    properties_env,
    read_counts,
    start_cli,
    storage_files,
    wait_for,
    wait_job,
    write_job,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]

SESSION_TIMEOUT_S = 2.0
# Takeover after a crash: the session timeout, plus recovery and redeployment on a loaded 2-core machine.
TAKEOVER_BUDGET_S = SESSION_TIMEOUT_S + 10.0


def raw_get(url_base: str, path: str) -> tuple[int, str | None, bytes]:
    """GET without following redirects: (status, Location, body)."""
    host, port = url_base.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Location"), response.read()
    finally:
        conn.close()


def early_job_graph_bytes(job_id: str, out: Path, count: int) -> bytes:
    """The same job as ``cluster_support.JOB``, built here, so a stale job graph can be planted in the store."""
    from strom import RuntimeExecutionMode, StreamExecutionEnvironment
    from strom.client.api.connectors import DataGeneratorSource, FileSink

    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    (env.from_source(DataGeneratorSource(lambda i: (i % 50, 1), count=count))
        .key_by(lambda t: t[0]).sum(1).sink_to(FileSink.csv(str(out))))
    graph = env.get_job_graph("early")
    graph.job_id = job_id
    return graph.to_bytes()


def test_three_jobmanagers_elect_one_leader_and_a_killed_leader_is_replaced(zk_server, tmp_path):
    storage = tmp_path / "ha"
    config = ha_config(zk_server.connect_string, storage, session_timeout=f"{SESSION_TIMEOUT_S:g} s")
    with StromCluster(tmp_path / "c", num_jobmanagers=3, num_taskmanagers=1, slots_per_taskmanager=2,
                      config=config) as cluster:
        # -- election: exactly one leader; standbys know it and redirect REST to it ----------------------
        leader = cluster.wait_for_leader()
        statuses = [cluster.leader_status(i) for i in range(3)]
        assert [s["leader"] for s in statuses].count(True) == 1 and statuses[leader]["leader"]
        leader_rest = statuses[leader]["restAddress"]
        for i in range(3):
            wait_for(lambda i=i: cluster.leader_status(i)["leaderRestAddress"] == leader_rest, 10,
                     f"JobManager {i} to learn the leader")
        standby = next(i for i in range(3) if i != leader)
        status, location, _ = raw_get(cluster.jobmanager_rest_url(standby), "/overview")
        assert (status, location) == (307, f"http://{leader_rest}/overview")
        overview = http_json(f"{cluster.jobmanager_rest_url(standby)}/overview")   # urllib follows the redirect
        assert overview["taskmanagers"] == 1 and overview["slots-total"] == 2

        # -- the CLI finds the leader through ZooKeeper alone (STROM_PROPERTIES, no -m) --------------------
        listed = cluster.cli("list", env=properties_env(cluster.ha_config()))
        assert listed.returncode == 0 and "No jobs." in listed.stdout, listed.stderr

        script = write_job(tmp_path)
        early_out = tmp_path / "early"
        done = cluster.cli("run", *cluster.ha_cli_args(), *job_args(script, early_out, "early", 1000))
        assert done.returncode == 0, done.stdout + done.stderr
        early_id = done.stdout.split("JobID ")[1].split()[0]
        assert read_counts(early_out) == expected_counts(1000)

        ha = open_ha(cluster)
        try:
            # a FINISHED job's HA data is cleaned up: no job graph znode, no payload file; its result stays
            wait_for(lambda: early_id not in ha.job_graph_store().job_ids(), 10, "clean-up of the early job")
            assert ha.connection.client.exists(ha.layout.job_graph(early_id)) is None
            assert storage_files(storage) == []
            assert ha.job_result_store().get(early_id).state == "FINISHED"
            # A leader that died between writing the result and removing the graph leaves both behind:
            # plant such a leftover; the next leader must clean it up and not run the job again.
            ha.job_graph_store().put(early_id, early_job_graph_bytes(early_id, early_out, 1000))
        finally:
            ha.close()
        early_mtime = {p.name: p.stat().st_mtime_ns for p in early_out.iterdir()}

        # -- SIGKILL the leader mid-job: a standby takes over and runs the job again --------------------
        out = tmp_path / "out"
        client = start_cli(cluster, ["run", *cluster.ha_cli_args(), *job_args(script, out, "failover", 16000, 2000)],
                           tmp_path)
        try:
            wait_for(lambda: is_running(find_job(cluster, leader, "failover")), 60, "job RUNNING on the leader")
            time.sleep(1.5)                       # mid-job: about 3000 of 16000 records generated
            killed_at = time.monotonic()
            cluster.kill_jobmanager(leader)
            new_leader = cluster.wait_for_leader(timeout_s=TAKEOVER_BUDGET_S, exclude=[leader])
            granted_s = time.monotonic() - killed_at
            wait_for(lambda: is_running(find_job(cluster, new_leader, "failover")), TAKEOVER_BUDGET_S,
                     "the job RUNNING again under the new leader")
            running_s = time.monotonic() - killed_at
            output = finish_cli(client, 90)
        finally:
            if client.poll() is None:
                client.kill()
        print(f"SIGKILL -> new leader {granted_s:.2f} s, -> job RUNNING again {running_s:.2f} s")
        assert running_s < TAKEOVER_BUDGET_S
        assert client.returncode == 0, output          # the attached client followed the leader
        assert read_counts(out) == expected_counts(16000)

        # the TaskManager re-registered with the new leader
        new_rpc = cluster.jobmanager_rpc_address(new_leader)
        tms = http_json(f"{cluster.jobmanager_rest_url(new_leader)}/taskmanagers")["taskmanagers"]
        assert len(tms) == 1
        assert f"with the JobManager at {new_rpc}" in cluster.log_text("taskmanager-0")

        # the job was recovered from the job graph store; the finished one was not run again
        new_log = cluster.log_text(f"jobmanager-{new_leader}")
        assert "Recovering job 'failover'" in new_log
        assert f"Not recovering job {early_id}: it already reached FINISHED" in new_log
        assert "Recovering job 'early'" not in new_log
        assert {p.name: p.stat().st_mtime_ns for p in early_out.iterdir()} == early_mtime

        # strom list against the new leader (found through ZooKeeper) shows both jobs
        listed = cluster.cli("list", *cluster.ha_cli_args())
        assert listed.returncode == 0, listed.stderr
        rows = {line.split()[1]: line.split()[2] for line in listed.stdout.splitlines()[1:]}
        assert rows == {"failover": "FINISHED", "early": "FINISHED"}, listed.stdout

        ha = open_ha(cluster)
        try:
            wait_for(lambda: ha.job_graph_store().job_ids() == [], 10, "clean-up of every job graph")
            assert storage_files(storage) == []
            assert {e.state for e in ha.job_result_store().entries()} == {"FINISHED"}
        finally:
            ha.close()


def test_paused_leader_is_deposed_fenced_and_never_drives_the_job_again(zk_server, tmp_path):
    # heartbeat timeout well above the pause: the old leader must notice through ZooKeeper, not heartbeats
    config = ha_config(zk_server.connect_string, tmp_path / "ha", session_timeout=f"{SESSION_TIMEOUT_S:g} s",
                       **{"heartbeat.timeout": "15 s"})
    with StromCluster(tmp_path / "c", num_jobmanagers=2, num_taskmanagers=1, slots_per_taskmanager=2,
                      config=config) as cluster:
        old = cluster.wait_for_leader()
        old_session = cluster.leader_status(old)["leaderSessionId"]
        script = write_job(tmp_path)
        out = tmp_path / "out"
        submitted = cluster.cli("run", "-d", *cluster.ha_cli_args(), *job_args(script, out, "fenced", 16000, 2000))
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        wait_for(lambda: is_running(find_job(cluster, old, "fenced")), 60, "job RUNNING on the leader")
        time.sleep(1.0)

        cluster.pause_jobmanager(old)               # frozen past its session timeout
        new = cluster.wait_for_leader(timeout_s=TAKEOVER_BUDGET_S, exclude=[old])
        new_session = cluster.leader_status(new)["leaderSessionId"]
        assert new_session != old_session
        wait_for(lambda: is_running(find_job(cluster, new, "fenced")), TAKEOVER_BUDGET_S,
                 "the job RUNNING under the new leader")
        time.sleep(0.5)
        cluster.resume_jobmanager(old)              # it wakes up believing it leads

        # it notices (SUSPENDED/LOST), stops leading, suspends its copy of the job and follows the new leader
        wait_for(lambda: "Suspending job fenced" in cluster.log_text(f"jobmanager-{old}"), 15,
                 "the old leader to suspend its job")
        old_log = cluster.log_text(f"jobmanager-{old}")
        assert f"lost leadership (leader session id {old_session})" in old_log
        wait_for(lambda: cluster.leader_status(old)["leaderRestAddress"] ==
                 cluster.leader_status(new)["restAddress"], 15, "the old leader to follow the new one")
        assert cluster.leader_status(old)["leader"] is False

        # fencing: its last act, cancelling the tasks it had deployed, is refused by the TaskManager ...
        refusal = f"carries leader session {old_session}, but TaskManager"
        wait_for(lambda: refusal in cluster.log_text("taskmanager-0"), 15, "the TaskManager to refuse the old leader")
        # ... and so is any other call under the old leader session, by the TaskManager and both JobManagers
        tm_address = http_json(f"{cluster.jobmanager_rest_url(new)}/taskmanagers")["taskmanagers"][0]["path"]
        tm = TaskExecutorGateway(tm_address.removeprefix("grpc://"))
        try:
            with pytest.raises(FencingTokenError, match="leader session") as refused:
                tm.cancel_task(f"{'0' * 32}:v:0:0", old_session)
            assert new_session in str(refused.value)
        finally:
            tm.close()
        for index in (old, new):
            stale = DispatcherGateway(cluster.jobmanager_rpc_address(index), session_id=old_session,
                                      retry_deadline_s=0)
            try:
                with pytest.raises(FencingTokenError, match="leader session"):
                    stale.list_jobs()
            finally:
                stale.close()

        job = wait_job(cluster, new, "fenced", ["FINISHED", "FAILED", "CANCELED"], 60)
        assert job["state"] == "FINISHED"
        assert read_counts(out) == expected_counts(16000)
        # never two drivers: 4 tasks deployed under the old leader, 4 under the new one, nothing else
        deployed = cluster.log_text("taskmanager-0").count("Deploying ")
        assert deployed == 8, cluster.log_text("taskmanager-0")
