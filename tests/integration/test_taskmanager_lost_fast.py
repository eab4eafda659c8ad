"""A TaskManager killed with SIGKILL under a long heartbeat timeout: the JobManager notices the dead
TaskManager on the first RPC that cannot reach it (connection refused), drops it at once, and the
restarted job gets its slots from the surviving TaskManager instead of burning its restart attempts
on the dead one's slots. The job finishes with exact output long before ``heartbeat.timeout``."""

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

out = sys.argv[1]
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.set_runtime_mode(RuntimeExecutionMode.BATCH)
env.configure({"restart-strategy.type": "fixed-delay",
               "restart-strategy.fixed-delay.attempts": "2",
               "restart-strategy.fixed-delay.delay": "200 ms",
               "slot.request.timeout": "30 s"})
(env.from_source(DataGeneratorSource(lambda i: (i % 50, 1), count=20_000, records_per_second=2_500))
    .key_by(lambda t: t[0]).sum(1)
    .sink_to(FileSink.csv(out)))
env.execute("lost-fast")
"""


def test_killed_taskmanager_is_dropped_on_connection_refused_and_the_job_finishes(tmp_path):
    with StromCluster(tmp_path / "c", num_taskmanagers=2, slots_per_taskmanager=2,
                      config=CLUSTER_CONFIG) as cluster:
        script = tmp_path / "gen.py"
        script.write_text(textwrap.dedent(JOB))
        out = tmp_path / "out"
        proc = subprocess.Popen(strom_command(["run", "-m", cluster.rpc_address, str(script), str(out)]),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=cluster.cli_env(), cwd=tmp_path)
        try:
            wait_running(cluster, "lost-fast")
            time.sleep(1)                      # mid-job: about 2500 of 20000 records generated
            cluster.kill_taskmanager(0)
            # Well below the 60 s heartbeat timeout: only the fast path can make the job finish in time.
            output, _ = proc.communicate(timeout=HEARTBEAT_TIMEOUT_S - 20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, output
        assert read_csv_counts(out) == {k: 400 for k in range(50)}
        assert job_state(cluster, "lost-fast")["state"] == "FINISHED"
        overview = cluster.overview()
        assert (overview["taskmanagers"], overview["slots-total"]) == (1, 2)   # the dead one is gone
