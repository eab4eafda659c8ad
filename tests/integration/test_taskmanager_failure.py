"""A TaskManager killed with SIGKILL mid-job: the JobMaster notices within the heartbeat
timeout and restarts the job (exact output), or fails it naming the lost TaskManager."""

from __future__ import annotations

import json
import textwrap
import time
import urllib.request

import pytest

from tests.harness.cluster import StromCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

JOB = """
import sys
from strom import StreamExecutionEnvironment, RuntimeExecutionMode
from strom.client.api.connectors import DataGeneratorSource, FileSink

out, restarts = sys.argv[1], int(sys.argv[2])
env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(2)
env.set_runtime_mode(RuntimeExecutionMode.BATCH)
if restarts:
    env.configure({{"restart-strategy.type": "fixed-delay",
                   "restart-strategy.fixed-delay.attempts": str(restarts),
                   "restart-strategy.fixed-delay.delay": "200 ms",
                   "slot.request.timeout": "60 s"}})
(env.from_source(DataGeneratorSource(lambda i: (i % 50, 1), count=40_000, records_per_second=2_500))
    .key_by(lambda t: t[0]).sum(1)
    .sink_to(FileSink.csv(out)))
env.execute("{name}")
"""


def job_state(cluster: StromCluster, name: str) -> dict | None:
    with urllib.request.urlopen(cluster.rest_url + "/jobs/overview", timeout=10) as resp:
        jobs = [j for j in json.loads(resp.read())["jobs"] if j["name"] == name]
    return jobs[0] if jobs else None


def wait_running(cluster: StromCluster, name: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = job_state(cluster, name)
        if job and job["state"] == "RUNNING" and job["tasks"].get("running", 0) >= 2:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {name} not RUNNING in time")


def read_csv_counts(out):
    counts = {}
    for part in sorted(out.glob("part-*")):
        for line in part.read_text().splitlines():
            k, v = line.split(",")
            assert k not in counts
            counts[int(k)] = int(v)
    return counts


def test_killed_taskmanager_restarts_job_with_exact_result(tmp_path):
    with StromCluster(tmp_path / "c", num_taskmanagers=2, slots_per_taskmanager=1) as cluster:
        script = tmp_path / "gen.py"
        script.write_text(textwrap.dedent(JOB.format(name="survivor")))
        out = tmp_path / "out"
        import subprocess

        from strom.client.local.process import strom_command

        proc = subprocess.Popen(strom_command(["run", "-m", cluster.rpc_address, str(script), str(out), "3"]),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=cluster.cli_env(), cwd=tmp_path)
        try:
            wait_running(cluster, "survivor")
            time.sleep(2)                      # mid-job: about 5000 of 40000 records generated
            cluster.kill_taskmanager(0)
            cluster.add_taskmanager(wait=False)  # a replacement, so that the restart finds 2 slots
            output, _ = proc.communicate(timeout=240)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, output
        assert read_csv_counts(out) == {k: 800 for k in range(50)}
        job = job_state(cluster, "survivor")
        assert job["state"] == "FINISHED"


def test_killed_taskmanager_without_restarts_fails_naming_it(tmp_path):
    with StromCluster(tmp_path / "c", num_taskmanagers=2, slots_per_taskmanager=1) as cluster:
        script = tmp_path / "gen.py"
        script.write_text(textwrap.dedent(JOB.format(name="casualty")))
        import subprocess

        from strom.client.local.process import strom_command

        proc = subprocess.Popen(strom_command(["run", "-m", cluster.rpc_address, str(script),
                                               str(tmp_path / "out"), "0"]),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=cluster.cli_env(), cwd=tmp_path)
        try:
            wait_running(cluster, "casualty")
            started = time.monotonic()
            cluster.kill_taskmanager(0)
            output, _ = proc.communicate(timeout=120)
            detected_after = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode != 0
        assert "TaskManager" in output and ("lost" in output.lower() or "heartbeat" in output.lower()), output
        assert detected_after < 60
        assert job_state(cluster, "casualty")["state"] == "FAILED"
