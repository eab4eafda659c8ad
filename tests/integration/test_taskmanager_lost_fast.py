"""A TaskManager killed with SIGKILL under a long heartbeat timeout: the JobManager notices the dead
TaskManager on the first RPC that cannot reach it (connection refused), drops it at once, and the
job gets its slots from the surviving TaskManager instead of burning its restart attempts on the dead
one's slots. The job finishes with exact output long before ``heartbeat.timeout``."""

from __future__ import annotations

import subprocess
import textwrap
import time

import pytest

from strom.client.local.process import strom_command
from tests.harness.cluster import StromCluster
from tests.integration.test_taskmanager_failure import job_state, read_csv_counts, wait_running

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

HEARTBEAT_TIMEOUT_S = 60
# Spread slots: the job gets one slot on each TaskManager (so the survivor notices the dead producer
# at once) and, on restart, the matcher still prefers the dead TaskManager's free slots.
CLUSTER_CONFIG = {"heartbeat.timeout": f"{HEARTBEAT_TIMEOUT_S} s", "cluster.evenly-spread-out-slots": "true"}

JOB = """
import sys
from strom import StreamExecutionEnvironment, RuntimeExecutionMode
from strom.client.api.connectors import DataGeneratorSource, FileSink

out, count, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.set_runtime_mode(RuntimeExecutionMode.BATCH)
env.configure({"restart-strategy.type": "fixed-delay",
               "restart-strategy.fixed-delay.attempts": "2",
               "restart-strategy.fixed-delay.delay": "200 ms",
               "slot.request.timeout": "30 s"})
(env.from_source(DataGeneratorSource(lambda i: (i % 50, 1), count=count, records_per_second=rate))
    .key_by(lambda t: t[0]).sum(1)
    .sink_to(FileSink.csv(out)))
env.execute("lost-fast")
"""


def submit(cluster: StromCluster, tmp_path, count: int, rate: int) -> subprocess.Popen:
    script = tmp_path / "gen.py"
    script.write_text(textwrap.dedent(JOB))
    return subprocess.Popen(strom_command(["run", "-m", cluster.rpc_address, str(script), str(tmp_path / "out"),
                                           str(count), str(rate)]),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=cluster.cli_env(), cwd=tmp_path)


def finish(proc: subprocess.Popen) -> str:
    """The job's output; well below the 60 s heartbeat timeout, so only the fast path can finish it in time."""
    try:
        output, _ = proc.communicate(timeout=HEARTBEAT_TIMEOUT_S - 20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return output


def assert_finished_on_the_survivor(cluster: StromCluster, tmp_path, count: int) -> None:
    assert read_csv_counts(tmp_path / "out") == {k: count // 50 for k in range(50)}
    assert job_state(cluster, "lost-fast")["state"] == "FINISHED"
    overview = cluster.overview()
    assert (overview["taskmanagers"], overview["slots-total"]) == (1, 2)   # the dead one is gone


def test_killed_taskmanager_mid_job_is_dropped_on_connection_refused_and_the_job_finishes(tmp_path):
    with StromCluster(tmp_path / "c", num_taskmanagers=2, slots_per_taskmanager=2,
                      config=CLUSTER_CONFIG) as cluster:
        proc = submit(cluster, tmp_path, 20_000, 2_500)
        try:
            wait_running(cluster, "lost-fast")
            time.sleep(1)                      # mid-job: about 2500 of 20000 records generated
            cluster.kill_taskmanager(0)
        finally:
            output = finish(proc)
        assert proc.returncode == 0, output
        assert_finished_on_the_survivor(cluster, tmp_path, 20_000)


def test_idle_killed_taskmanager_is_dropped_on_the_refused_slot_request(tmp_path):
    """Nothing runs on the TaskManager when it dies: the next job's RequestSlot is the first call to find out."""
    with StromCluster(tmp_path / "c", num_taskmanagers=2, slots_per_taskmanager=2,
                      config=CLUSTER_CONFIG) as cluster:
        cluster.kill_taskmanager(0)
        assert cluster.overview()["taskmanagers"] == 2          # the JobManager has not noticed
        proc = submit(cluster, tmp_path, 5_000, 50_000)
        output = finish(proc)
        assert proc.returncode == 0, output
        assert_finished_on_the_survivor(cluster, tmp_path, 5_000)
        assert job_state(cluster, "lost-fast")["tasks"]["finished"] == 4
        log = cluster.log_text("jobmanager")
        assert "RequestSlot could not connect to it" in log
        assert "to RESTARTING" not in log                       # the slot request moved on; no restart spent
