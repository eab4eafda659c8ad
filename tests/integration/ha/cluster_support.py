"""Shared pieces of the process-level HA tests (and of ``failover_benchmark.py``): a deterministic bounded
job, REST polling, reading its exact output, looking into the HA stores.

The job: a rate-limited ``DataGeneratorSource`` of ``count`` records ``(i % 50, 1)`` (parallelism 2), keyed
sum in BATCH mode, CSV file sink. Its exact output is ``{k: count // 50 for k in range(50)}`` in the
``part-*`` files, with no ``.inprogress`` leftovers, however many times it was started.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from strom.client.local.process import strom_command
from strom.common.config import Configuration
from tests.harness.cluster import StromCluster

KEYS = 50

JOB = textwrap.dedent("""
    import sys
    from strom import StreamExecutionEnvironment, RuntimeExecutionMode
    from strom.client.api.connectors import DataGeneratorSource, FileSink

    out, name, count, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(2)
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    (env.from_source(DataGeneratorSource(lambda i: (i % 50, 1), count=count,
                                         records_per_second=rate if rate > 0 else None))
        .key_by(lambda t: t[0]).sum(1)
        .sink_to(FileSink.csv(out)))
    env.execute(name)
""")


def write_job(directory: Path) -> Path:
    path = directory / "ha_job.py"
    path.write_text(JOB)
    return path


def job_args(script: Path, out: Path, name: str, count: int, rate: float = 0) -> list[str]:
    return [str(script), str(out), name, str(count), str(rate)]


def expected_counts(count: int) -> dict[int, int]:
    return {k: count // KEYS + (1 if k < count % KEYS else 0) for k in range(KEYS)}


def read_counts(out: Path) -> dict[int, int]:
    """The job's output; fails on duplicate keys or leftover in-progress files."""
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".inprogress")]
    assert leftovers == [], f"in-progress files left behind: {leftovers}"
    counts: dict[int, int] = {}
    for part in sorted(out.glob("part-*")):
        for line in part.read_text().splitlines():
            key, value = line.split(",")
            assert int(key) not in counts, f"key {key} written twice"
            counts[int(key)] = int(value)
    return counts


def http_json(url: str, timeout_s: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.load(response)


def jobs_overview(cluster: StromCluster, index: int) -> list[dict[str, Any]]:
    """``/jobs/overview`` answered by JobManager ``index`` itself (a standby redirects to the leader)."""
    return list(http_json(f"{cluster.jobmanager_rest_url(index)}/jobs/overview")["jobs"])


def find_job(cluster: StromCluster, index: int, name: str) -> dict[str, Any] | None:
    try:
        jobs = [j for j in jobs_overview(cluster, index) if j["name"] == name]
    except (OSError, ValueError):
        return None
    return jobs[0] if jobs else None


def is_running(job: dict[str, Any] | None, tasks: int = 4) -> bool:
    """The job is RUNNING and all its ``tasks`` tasks run (deployed and started)."""
    return job is not None and job["state"] == "RUNNING" and job["tasks"].get("running", 0) >= tasks


def wait_for(predicate: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy and return its value; AssertionError naming ``what`` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(poll_s)


def wait_job(cluster: StromCluster, index: int, name: str, states: Sequence[str], timeout_s: float) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job = find_job(cluster, index, name)
        return job if job is not None and job["state"] in states else None

    return wait_for(check, timeout_s, f"job {name} in {states} on JobManager {index}", poll_s=0.05)


def start_cli(cluster: StromCluster, args: Sequence[str], cwd: Path,
              env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """``strom ARGS`` in the background (stdout and stderr together)."""
    return subprocess.Popen(strom_command(list(args)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=cluster.cli_env(env), cwd=cwd, stdin=subprocess.DEVNULL)


def finish_cli(proc: subprocess.Popen[str], timeout_s: float) -> str:
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
    return output


def properties_env(values: Mapping[str, str]) -> dict[str, str]:
    """``STROM_PROPERTIES`` carrying ``values`` (newline-separated ``key: value``)."""
    return {"STROM_PROPERTIES": "\n".join(f"{k}: {v}" for k, v in values.items())}


def open_ha(cluster: StromCluster) -> Any:
    """ZooKeeperHaServices of the cluster for inspection (close it); it never contends, so it may write."""
    from strom.common.ha.zookeeper import ZooKeeperHaServices

    return ZooKeeperHaServices(Configuration(cluster.ha_config()))


def storage_files(storage_dir: Path) -> list[str]:
    return sorted(p.name for p in storage_dir.rglob("*.jobgraph"))
