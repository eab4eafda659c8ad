"""Measure JobManager failover: time from SIGKILL of the leader to the job RUNNING again under the new leader.

    python3 tests/integration/ha/failover_benchmark.py --session-timeout "2 s" --runs 5
    python3 tests/integration/ha/failover_benchmark.py --session-timeout "60 s" --runs 1    # the default

Each run starts a fresh cluster (a real ZooKeeper with tickTime 250 ms, 2 JobManagers, 1 TaskManager with 2
slots, the production heartbeat settings: 10 s interval, 50 s timeout), submits the rate-limited generator job
of ``cluster_support`` (4 tasks), waits until all 4 tasks run, waits a little more, SIGKILLs the leader and
then polls the standby every 10 ms:

- ``granted``: the standby's ``GET /jobmanager/leader`` says it leads and has published itself;
- ``job RUNNING``: its ``/jobs/overview`` shows the recovered job RUNNING (the JobMaster is up, slots asked for);
- ``tasks RUNNING``: all 4 tasks RUNNING again (TaskManager re-registered, slots allocated, tasks deployed).

Prints one line per run and a summary (min / median / max); ``--json`` writes the raw figures.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from strom.common.config import parse_duration_ms  # noqa: E402
from tests.harness.cluster import StromCluster, ha_config  # noqa: E402
from tests.harness.zookeeper import ZooKeeperServer  # noqa: E402
from tests.integration.ha.cluster_support import (  # noqa: E402
    find_job,
    is_running,
    job_args,
    wait_for,
    write_job,
)

PRODUCTION_HEARTBEATS = {"heartbeat.interval": "10 s", "heartbeat.timeout": "50 s",
                         "taskmanager.registration.timeout": "5 min"}


def one_run(zk: ZooKeeperServer, work: Path, session_timeout: str) -> dict[str, float]:
    timeout_s = parse_duration_ms(session_timeout, "session timeout") / 1000
    config = {**ha_config(zk.connect_string, work / "ha", session_timeout=session_timeout), **PRODUCTION_HEARTBEATS}
    with StromCluster(work / "c", num_jobmanagers=2, num_taskmanagers=1, slots_per_taskmanager=2, config=config,
                      echo_logs_on_stop=False) as cluster:
        leader = cluster.wait_for_leader()
        standby = 1 - leader
        wait_for(lambda: cluster.leader_status(standby)["leaderRestAddress"], 10, "the standby to know the leader")
        script = write_job(work)
        count = int(2000 * (timeout_s + 120))          # runs well past the failover at 2000 records/s
        submitted = cluster.cli("run", "-d", *cluster.ha_cli_args(),
                                *job_args(script, work / "out", "bench", count, 2000))
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        wait_for(lambda: is_running(find_job(cluster, leader, "bench")), 60, "job RUNNING")
        time.sleep(2.0)

        killed = time.monotonic()
        cluster.kill_jobmanager(leader)
        figures: dict[str, float] = {}
        deadline = killed + timeout_s + 60
        while "tasks_running" not in figures:
            if time.monotonic() > deadline:
                raise AssertionError(f"no failover within {timeout_s + 60:g} s: {figures}\n{cluster.dump_logs()}")
            now = time.monotonic() - killed
            if "granted" not in figures:
                try:
                    status = cluster.leader_status(standby, timeout_s=1)
                except OSError:
                    status = {}
                if status.get("leader") and status.get("leaderRestAddress") == status.get("restAddress"):
                    figures["granted"] = now
            else:
                job = find_job(cluster, standby, "bench")
                if job is not None and job["state"] == "RUNNING" and "job_running" not in figures:
                    figures["job_running"] = now
                if is_running(job):
                    figures["tasks_running"] = now
            time.sleep(0.01)
        cluster.cli("cancel", *cluster.ha_cli_args(), submitted.stdout.split("JobID ")[1].split()[0])
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--session-timeout", default="2 s",
                        help="high-availability.zookeeper.client.session-timeout (default: 2 s)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="write the raw figures to this file")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="strom-failover-"))
    results = []
    zk = ZooKeeperServer(root / "zk")
    zk.start()
    try:
        for run in range(args.runs):
            figures = one_run(zk, root / f"run{run}", args.session_timeout)
            results.append(figures)
            print(f"session timeout {args.session_timeout}, run {run + 1}: " +
                  ", ".join(f"{k} {v:.2f} s" for k, v in figures.items()), flush=True)
    finally:
        zk.stop(kill=True)
        shutil.rmtree(root, ignore_errors=True)
    for key in ("granted", "job_running", "tasks_running"):
        values = [r[key] for r in results]
        print(f"{key:>13}: min {min(values):.2f} s, median {statistics.median(values):.2f} s, "
              f"max {max(values):.2f} s ({len(values)} runs)")
    if args.json:
        Path(args.json).write_text(json.dumps({"session_timeout": args.session_timeout, "runs": results}, indent=1))


if __name__ == "__main__":
    main()
