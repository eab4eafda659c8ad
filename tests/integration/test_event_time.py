"""Event time through a real cluster: timestamps cross exchanges with their records, watermarks
travel in-band and only advance, idle inputs do not hold the watermark back, a bounded
source ends event time, side outputs reach their consumers chained and over exchanges."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.harness.cluster import StromCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

JOBS = Path(__file__).resolve().parent / "jobs" / "event_time_jobs.py"
MAX_WATERMARK = (1 << 63) - 1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StromCluster(tmp_path_factory.mktemp("cluster"), num_taskmanagers=2, slots_per_taskmanager=2) as c:
        yield c


def run(cluster: StromCluster, mode: str, out: Path, parallelism: int) -> None:
    r = cluster.cli("run", "-m", cluster.rpc_address, "-p", str(parallelism), str(JOBS), mode, str(out))
    assert r.returncode == 0, r.stdout + r.stderr


def read_probe(directory: Path) -> dict[int, list[tuple]]:
    """Per probe subtask, its rows in arrival order: ('rec', value, ts) or ('wm', watermark)."""
    seen: dict[int, list[tuple]] = {}
    parts = sorted(directory.glob("part-*"))
    assert parts, f"no output in {directory}"
    for part in parts:
        with open(part, newline="") as f:
            for kind, subtask, a, b in csv.reader(f):
                row = ("rec", int(a), int(b)) if kind == "rec" else ("wm", int(a))
                seen.setdefault(int(subtask), []).append(row)
    return seen


def check_watermark_order(rows: list[tuple]) -> list[int]:
    """Watermarks only advance, the last is the end of event time, and no record arrives at or
    below a watermark already seen (in-order or bounded-late input within the bound)."""
    watermarks = [r[1] for r in rows if r[0] == "wm"]
    assert watermarks == sorted(set(watermarks)), "watermarks must strictly increase"
    assert watermarks[-1] == MAX_WATERMARK and rows[-1][0] == "wm"
    current = -(1 << 63)
    for row in rows:
        if row[0] == "wm":
            current = row[1]
        else:
            assert row[2] > current, f"record {row} arrived after watermark {current}"
    return watermarks


@pytest.mark.parametrize("parallelism", [1, 4])
def test_timestamps_travel_with_records_across_a_keyed_exchange(cluster, tmp_path, parallelism):
    run(cluster, "basic", tmp_path, parallelism)
    seen = read_probe(tmp_path / "main")
    records = sorted(r[1:] for rows in seen.values() for r in rows if r[0] == "rec")
    expected = sorted(((i * 7919) % 1000, (i * 7919) % 1000 * 10) for i in range(1000))
    assert records == expected
    for rows in seen.values():
        watermarks = [r[1] for r in rows if r[0] == "wm"]
        assert watermarks[-1] == MAX_WATERMARK


def test_periodic_watermarks_advance_while_records_flow(cluster, tmp_path):
    run(cluster, "periodic", tmp_path, 2)
    seen = read_probe(tmp_path / "main")
    assert sorted(r[1] for rows in seen.values() for r in rows if r[0] == "rec") == list(range(3000))
    for rows in seen.values():
        watermarks = check_watermark_order(rows)
        # ~1.5 s of input at a 50 ms interval: watermarks before the end
        assert len(watermarks) > 3


def test_an_idle_source_subtask_does_not_hold_back_the_watermark(cluster, tmp_path):
    run(cluster, "idle", tmp_path, 2)
    seen = read_probe(tmp_path / "main")
    assert sorted(r[1] for rows in seen.values() for r in rows if r[0] == "rec") == list(range(0, 3000, 2))
    for rows in seen.values():
        watermarks = check_watermark_order(rows)
        # without idleness the filtered-out subtask would keep the watermark at its minimum until the end
        assert [w for w in watermarks if 0 <= w < MAX_WATERMARK], "the watermark never advanced before the end"


@pytest.mark.parametrize("parallelism", [1, 4])
def test_side_output_reaches_its_consumer_with_timestamps(cluster, tmp_path, parallelism):
    run(cluster, "side", tmp_path, parallelism)
    main = read_probe(tmp_path / "main")
    odd = read_probe(tmp_path / "odd")
    assert sorted(r[1:] for rows in main.values() for r in rows if r[0] == "rec") == \
        [(v, v * 10) for v in range(0, 200, 2)]
    assert sorted(r[1:] for rows in odd.values() for r in rows if r[0] == "rec") == \
        sorted((-v, v * 10) for v in range(1, 200, 2))
    for rows in [*main.values(), *odd.values()]:
        assert rows[-1] == ("wm", MAX_WATERMARK)


def test_a_timestamp_assigner_returning_a_non_number_fails_the_job_naming_the_step(cluster, tmp_path):
    r = cluster.cli("run", "-m", cluster.rpc_address, "-p", "1", str(JOBS), "bad_timestamp", str(tmp_path))
    assert r.returncode != 0
    output = r.stdout + r.stderr
    assert "TimestampAssignmentError" in output and "'bid time'" in output and "'12:00'" in output, output
