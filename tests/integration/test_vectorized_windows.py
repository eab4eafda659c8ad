"""Window aggregations on a real cluster: the vectorized fast path and the per-record paths give
exactly the rows of a plain-Python computation, at parallelism 1 and 4.

The bids advance ~7 ms each and are at most 499 ms out of order (as the shared benchmark's
``gen_data.py`` makes them), so with 500 ms bounded out-of-orderness no bid is late at any
parallelism: every bid counts, and the rows are deterministic.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path

import pytest

from tests.harness.cluster import StromCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

JOBS = Path(__file__).resolve().parent / "jobs"
BASE = 1_700_000_000_000
SIZE, SLIDE = 10_000, 5_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StromCluster(tmp_path_factory.mktemp("cluster"), num_taskmanagers=2, slots_per_taskmanager=2) as c:
        yield c


@pytest.fixture(scope="module")
def bids(tmp_path_factory) -> tuple[Path, list[tuple[int, int, int, int]]]:
    rng = random.Random(23)
    rows = []
    for i in range(20_000):
        auction = rng.randrange(300) if rng.random() < 0.8 else rng.randrange(3_000)
        rows.append((auction, rng.randrange(10_000), rng.randrange(1, 100_000), BASE + 7 * i - rng.randrange(500)))
    path = tmp_path_factory.mktemp("data") / "bids.csv"
    path.write_text("".join(f"{a},{b},{p},{t}\n" for a, b, p, t in rows))
    return path, rows


def tumbling_reference(rows) -> set[tuple]:
    windows: dict[tuple[int, int], list[int]] = defaultdict(list)
    for auction, _bidder, price, ts in rows:
        windows[(auction, ts - ts % SIZE)].append(price)
    return {(a, s, s + SIZE, len(p), max(p)) for (a, s), p in windows.items()}


def sliding_reference(rows) -> set[tuple]:
    windows: dict[tuple[int, int], list[int]] = defaultdict(list)
    for auction, _bidder, price, ts in rows:
        start = ts - ts % SLIDE
        while start > ts - SIZE:
            windows[(auction, start)].append(price)
            start -= SLIDE
    return {(a, s, s + SIZE, len(p), sum(p), min(p), max(p), round(sum(p) / len(p), 9))
            for (a, s), p in windows.items()}


def read_rows(out: Path, floats: tuple[int, ...] = ()) -> list[tuple]:
    parts = sorted(out.glob("part-*"))
    assert parts, f"no part files in {out}"
    rows = []
    for part in parts:
        with open(part, newline="") as f:
            for row in csv.reader(f):
                rows.append(tuple(round(float(v), 9) if i in floats else int(v) for i, v in enumerate(row)))
    return rows


def exact(rows: list[tuple], reference: set[tuple]) -> None:
    assert len(rows) == len(set(rows)), "duplicate rows"
    assert set(rows) == reference


@pytest.mark.parametrize("parallelism", [1, 4])
def test_window_aggregations_equal_the_reference(cluster, bids, tmp_path, parallelism):
    path, rows = bids
    out = tmp_path / "out"
    r = cluster.cli("run", "-m", cluster.rpc_address, "-p", str(parallelism), str(JOBS / "vectorized_jobs.py"),
                    "--input", str(path), "--output", str(out))
    assert r.returncode == 0, r.stdout + r.stderr

    tumbling = tumbling_reference(rows)
    vectorized = read_rows(out / "w2_vectorized")
    assert sum(row[3] for row in vectorized) == len(rows), "every bid counted once"
    exact(vectorized, tumbling)
    exact(read_rows(out / "w2_builtins_per_record"), tumbling)
    exact(read_rows(out / "w2_user_function"), tumbling)

    sliding = sliding_reference(rows)
    exact(read_rows(out / "sliding_vectorized", floats=(7,)), sliding)
    exact(read_rows(out / "sliding_per_record", floats=(7,)), sliding)
