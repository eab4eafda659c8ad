"""Jobs on a real cluster: a JobManager and two TaskManagers (2 slots each) as processes.

Word counts must equal a single-process reference exactly at every parallelism;
REST answers with Flink's shapes; failures surface with the user's traceback.
"""

from __future__ import annotations

import json
import random
import textwrap
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.harness.cluster import StromCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StromCluster(tmp_path_factory.mktemp("cluster"), num_taskmanagers=2, slots_per_taskmanager=2) as c:
        yield c


@pytest.fixture(scope="module")
def words_file(tmp_path_factory) -> Path:
    rng = random.Random(11)
    vocab = [f"w{i}" for i in range(3000)] + ["ünï", "a,b", "\"q\""]
    path = tmp_path_factory.mktemp("data") / "words.txt"
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(30_000):
            f.write(" ".join(rng.choices(vocab, k=rng.randint(0, 9))) + "\n")
    return path


def read_counts(out_dir: Path) -> dict[str, int]:
    import csv

    counts: dict[str, int] = {}
    parts = sorted(out_dir.glob("part-*"))
    assert parts, f"no part files in {out_dir}"
    for part in parts:
        with open(part, newline="", encoding="utf-8") as f:
            for word, count in csv.reader(f):
                assert word not in counts, f"duplicate word {word!r}"
                counts[word] = int(count)
    return counts


def rest(cluster: StromCluster, path: str, method: str = "GET") -> tuple[int, dict]:
    req = urllib.request.Request(cluster.rest_url + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.mark.parametrize("parallelism", [1, 2, 4])
def test_wordcount_exact_at_every_parallelism(cluster, words_file, tmp_path, parallelism):
    out = tmp_path / "out"
    r = cluster.cli("run", "-m", cluster.rpc_address, "-p", str(parallelism), str(EXAMPLES / "wordcount.py"),
                    "--input", str(words_file), "--output", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    reference = Counter(w for line in words_file.read_text(encoding="utf-8").splitlines() for w in line.split())
    assert read_counts(out) == dict(reference)
    assert len(list(out.glob("part-*"))) == parallelism


def test_detached_run_list_info_and_rest(cluster, words_file, tmp_path):
    out = tmp_path / "out"
    r = cluster.cli("run", "-d", "-m", cluster.rpc_address, "-p", "2", str(EXAMPLES / "wordcount.py"),
                    "--input", str(words_file), "--output", str(out))
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip().split()[-1]
    assert len(job_id) == 32

    import time
    deadline = time.monotonic() + 60
    while True:
        status, job = rest(cluster, f"/jobs/{job_id}")
        assert status == 200
        if job["state"] in ("FINISHED", "FAILED", "CANCELED") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["state"] == "FINISHED"
    assert job["jid"] == job_id and job["name"] == "wordcount"
    assert {v["status"] for v in job["vertices"]} == {"FINISHED"}
    assert sorted(v["parallelism"] for v in job["vertices"]) == [2, 2]

    status, overview = rest(cluster, "/overview")
    assert status == 200
    assert overview["taskmanagers"] == 2 and overview["slots-total"] == 4
    assert overview["jobs-finished"] >= 1
    for key in ("slots-available", "jobs-running", "jobs-cancelled", "jobs-failed"):
        assert key in overview
    status, jobs = rest(cluster, "/jobs")
    assert {"id": job_id, "status": "FINISHED"} in jobs["jobs"]
    status, tms = rest(cluster, "/taskmanagers")
    assert len(tms["taskmanagers"]) == 2 and all(tm["slotsNumber"] == 2 for tm in tms["taskmanagers"])

    listing = cluster.cli("list", "-m", cluster.rpc_address)
    assert listing.returncode == 0 and job_id in listing.stdout
    info = cluster.cli("info", "-m", cluster.rpc_address, job_id)
    assert info.returncode == 0 and "FINISHED" in info.stdout
    assert read_counts(out) == dict(Counter(
        w for line in words_file.read_text(encoding="utf-8").splitlines() for w in line.split()))


def test_unknown_ids_and_malformed_requests(cluster):
    assert rest(cluster, "/jobs/" + "0" * 32)[0] == 404
    status, body = rest(cluster, "/jobs/not-a-job/exceptions")
    assert status in (400, 404) and body["errors"]
    assert rest(cluster, "/no/such/path")[0] == 404
    assert rest(cluster, "/jobs/" + "0" * 32 + "?mode=cancel", method="PATCH")[0] == 404
    r = cluster.cli("info", "-m", cluster.rpc_address, "f" * 32)
    assert r.returncode != 0 and "f" * 32 in (r.stdout + r.stderr)


def test_user_function_error_fails_the_job_with_its_traceback(cluster, tmp_path):
    script = tmp_path / "boom.py"
    script.write_text(textwrap.dedent("""
        from strom import StreamExecutionEnvironment

        def explode(x):
            if x == 7:
                raise ValueError(f"bad record {x}")
            return x

        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_sequence(1, 100).map(explode).print()
        env.execute("boom")
    """))
    r = cluster.cli("run", "-m", cluster.rpc_address, "-p", "2", str(script))
    assert r.returncode != 0
    output = r.stdout + r.stderr
    assert "ValueError: bad record 7" in output and "explode" in output

    status, jobs = rest(cluster, "/jobs/overview")
    failed = [j for j in jobs["jobs"] if j["name"] == "boom"]
    assert failed and failed[0]["state"] == "FAILED"
    status, exc = rest(cluster, f"/jobs/{failed[0]['jid']}/exceptions")
    assert status == 200
    assert "ValueError: bad record 7" in exc["root-exception"]
    entries = exc["exceptionHistory"]["entries"]
    assert entries and "explode" in entries[0]["stacktrace"]
    info = cluster.cli("info", "-m", cluster.rpc_address, failed[0]["jid"])
    assert "ValueError: bad record 7" in info.stdout + info.stderr


def test_not_enough_slots_fails_with_needed_and_available(cluster, tmp_path):
    script = tmp_path / "wide.py"
    script.write_text(textwrap.dedent("""
        from strom import StreamExecutionEnvironment

        env = StreamExecutionEnvironment.get_execution_environment()
        env.configure({"slot.request.timeout": "2 s"})
        env.from_sequence(1, 10).set_parallelism(9).print()
        env.execute("too wide")
    """))
    r = cluster.cli("run", "-m", cluster.rpc_address, str(script))
    assert r.returncode != 0
    output = r.stdout + r.stderr
    assert "job needs 9 slots but only 4 are available" in output


def test_missing_input_file_fails_on_the_client_naming_it(cluster, tmp_path):
    missing = tmp_path / "nope.txt"
    r = cluster.cli("run", "-m", cluster.rpc_address, str(EXAMPLES / "wordcount.py"),
                    "--input", str(missing), "--output", str(tmp_path / "out"))
    assert r.returncode != 0
    assert str(missing) in r.stdout + r.stderr and "does not exist" in r.stdout + r.stderr
    assert not (tmp_path / "out").exists()
