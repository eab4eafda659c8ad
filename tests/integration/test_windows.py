"""Windows on a real cluster (a JobManager and two TaskManagers with 2 slots each).

One job (tests/integration/jobs/window_jobs.py) runs every case at parallelism 1 and 4; each
output must equal, as a multiset (so: no duplicates, no loss), what a plain-Python computation of
Flink's window semantics gives for the same records. Window results carry
``window.max_timestamp()``, checked where the job stamps it onto the rows.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.harness.cluster import StromCluster
from tests.integration.jobs import window_jobs
from tests.integration.jobs.window_jobs import (
    GAP,
    KEYS,
    LATENESS,
    MARK,
    PROC_COUNT,
    PROC_WINDOW,
    SIZE,
    SLIDE,
    punctuated_records,
    records,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

JOB = Path(window_jobs.__file__)
RECORDS = records()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StromCluster(tmp_path_factory.mktemp("cluster"), num_taskmanagers=2, slots_per_taskmanager=2) as c:
        yield c


@pytest.fixture(scope="module", params=[1, 4], ids=["p1", "p4"])
def output(request, cluster, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp(f"windows-p{request.param}")
    r = cluster.cli("run", "-m", cluster.rpc_address, "-p", str(request.param), str(JOB), "--output", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def rows(out: Path, case: str) -> list[tuple]:
    """Every row of a case's part files, numbers as ints, sorted."""
    parts = sorted((out / case).glob("part-*"))
    assert parts, f"no part files in {out / case}"
    found = []
    for part in parts:
        with open(part, newline="", encoding="utf-8") as f:
            found.extend(tuple(int(c) if c.lstrip("-").isdigit() else c for c in row) for row in csv.reader(f))
    return sorted(found)


# ---- the reference: Flink's window semantics, computed directly -------------------------------------


def start_of(ts: int, size: int = SIZE) -> int:
    return ts - ts % size


def tumbling_groups(recs) -> dict[tuple[str, int], list[tuple[str, int, int]]]:
    """Records per (key, tumbling window start), in arrival order."""
    groups: dict[tuple[str, int], list] = defaultdict(list)
    for r in recs:
        groups[r[0], start_of(r[2])].append(r)
    return groups


def per_key(recs) -> dict[str, list[tuple[str, int, int]]]:
    keys: dict[str, list] = defaultdict(list)
    for r in recs:
        keys[r[0]].append(r)
    return keys


def sessions() -> list[tuple]:
    """(key, start, end, count, sum): windows [t, t + GAP) that overlap or touch are one session."""
    out = []
    for key, recs in per_key(RECORDS).items():
        current: list = []
        end = None
        for r in sorted(recs, key=lambda r: r[2]):
            if current and r[2] > end:
                out.append((key, current[0][2], end, len(current), sum(x[1] for x in current)))
                current = []
            current.append(r)
            end = r[2] + GAP if len(current) == 1 else max(end, r[2] + GAP)
        out.append((key, current[0][2], end, len(current), sum(x[1] for x in current)))
    return sorted(out)


def joined(values) -> str:
    return "[" + " ".join(str(v) for v in values) + "]"


def simulate_tumbling_with_watermarks(lateness: int) -> tuple[list[tuple], list[tuple]]:
    """The punctuated stream through tumbling windows: firings (key, start, end, count, sum),
    re-firings of late-but-allowed elements included, and the late elements."""
    watermark = -(1 << 63)
    contents: dict[tuple[str, int], list[int]] = {}
    fired, late = [], []

    def fire(key, start):
        values = contents[key, start]
        fired.append((key, start, start + SIZE, len(values), sum(values)))

    for key, value, ts in punctuated_records():
        if key == MARK:
            for k, s in list(contents):
                if watermark < s + SIZE - 1 <= ts:
                    fire(k, s)
            for k, s in list(contents):
                if s + SIZE - 1 + lateness <= ts:
                    del contents[k, s]
            watermark = ts
            continue
        s = start_of(ts)
        if s + SIZE - 1 + lateness <= watermark:
            late.append((key, value, ts))
            continue
        contents.setdefault((key, s), []).append(value)
        if s + SIZE - 1 <= watermark:
            fire(key, s)
    for k, s in contents:
        if s + SIZE - 1 > watermark:
            fire(k, s)
    return sorted(fired), sorted(late)


# ---- cases ------------------------------------------------------------------------------------------


def test_tumbling_reduce_with_the_window_timestamp(output):
    expected = [(k, sum(r[1] for r in rs), max(r[2] for r in rs), s + SIZE - 1)
                for (k, s), rs in tumbling_groups(RECORDS).items()]
    assert rows(output, "tumbling") == sorted(expected)


def test_sliding_process_window_function(output):
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for key, value, ts in RECORDS:
        last = start_of(ts, SLIDE)
        for s in range(last, ts - SIZE, -SLIDE):
            groups[key, s].append(value)
    expected = [(k, s, s + SIZE, len(vs), sum(vs)) for (k, s), vs in groups.items()]
    assert rows(output, "sliding") == sorted(expected)


@pytest.mark.parametrize("case", ["sessions", "sessions_aggregate", "sessions_builtin"])
def test_sessions_merge_across_out_of_order_arrivals(output, case):
    assert rows(output, case) == sessions()


def test_count_window_tumbling_and_sliding(output):
    tumbling, sliding = [], []
    for key, recs in per_key(RECORDS).items():
        values = [r[1] for r in recs]
        tumbling += [(key, joined(values[i:i + 5])) for i in range(0, len(values) - 4, 5)]
        sliding += [(key, joined(values[max(0, n - 4):n])) for n in range(3, len(values) + 1, 3)]
    assert rows(output, "count") == sorted(tumbling)
    assert rows(output, "count_sliding") == sorted(sliding)


def test_purging_count_trigger_on_event_time_windows(output):
    expected = []
    for (k, s), rs in tumbling_groups(RECORDS).items():
        values = [r[1] for r in rs]
        expected += [(k, s, joined(values[i:i + 3])) for i in range(0, len(values) - 2, 3)]
    assert rows(output, "purging") == sorted(expected)


def test_evictors(output):
    last_two = [(k, s, joined(r[1] for r in rs[-2:])) for (k, s), rs in tumbling_groups(RECORDS).items()]
    assert rows(output, "count_evictor") == sorted(last_two)
    recent = []
    for (k, s), rs in tumbling_groups(RECORDS).items():
        newest = max(r[2] for r in rs)
        kept = [r for r in rs if r[2] > newest - 2_000]
        recent.append((k, sum(r[1] for r in kept), kept[0][2], s + SIZE - 1))
    assert rows(output, "time_evictor") == sorted(recent)


def test_max_of_a_field_keeps_the_first_element(output):
    expected = [(k, max(r[1] for r in rs), rs[0][2], s + SIZE - 1) for (k, s), rs in tumbling_groups(RECORDS).items()]
    assert rows(output, "max_field") == sorted(expected)


def test_window_all(output):
    groups: dict[int, list[int]] = defaultdict(list)
    for _, value, ts in RECORDS:
        groups[start_of(ts)].append(value)
    assert rows(output, "window_all") == sorted((s, len(vs), sum(vs)) for s, vs in groups.items())


def test_window_join_and_co_group(output):
    left = tumbling_groups(r for r in RECORDS if r[1] % 3 == 0)
    right = tumbling_groups(r for r in RECORDS if r[1] % 3 == 1)
    pairs = [(k, a[1], b[1], s + SIZE - 1) for (k, s), ls in left.items() for a in ls for b in right.get((k, s), [])]
    assert rows(output, "join") == sorted(pairs)
    groups = []
    for k, s in set(left) | set(right):
        ls, rs = left.get((k, s), []), right.get((k, s), [])
        groups.append((k, len(ls), len(rs), sum(r[1] for r in ls), sum(r[1] for r in rs), s + SIZE - 1))
    assert rows(output, "cogroup") == sorted(groups)


def test_allowed_lateness_refires_and_late_side_output(output):
    fired, late = simulate_tumbling_with_watermarks(LATENESS)
    firings = Counter((key, start) for key, start, *_ in fired)
    assert max(firings.values()) > 1, "the data must contain late-but-allowed elements"
    assert late, "the data must contain elements too late for the allowed lateness"
    assert rows(output, "lateness") == fired
    assert rows(output, "lateness_late") == sorted((k, v, ts, ts) for k, v, ts in late)


def test_late_side_output_without_allowed_lateness(output):
    fired, late = simulate_tumbling_with_watermarks(0)
    assert rows(output, "no_lateness") == fired
    assert rows(output, "no_lateness_late") == late
    assert len(late) > len(simulate_tumbling_with_watermarks(LATENESS)[1])


def test_processing_time_windows_hold_each_element_at_most_once(output):
    found = rows(output, "proc")
    assert found, "no processing-time window fired while the source ran"
    seen: set[int] = set()
    for key, start, end, values in found:
        assert end - start == PROC_WINDOW and start % PROC_WINDOW == 0
        ids = [int(v) for v in values.strip("[]").split()]
        assert ids and all(KEYS[i % 3] == key and 0 <= i < PROC_COUNT for i in ids)
        assert seen.isdisjoint(ids)
        seen.update(ids)
    assert len({(r[0], r[1]) for r in found}) == len(found)


def test_event_time_window_without_timestamps_fails_naming_the_step(cluster, tmp_path):
    r = cluster.cli("run", "-m", cluster.rpc_address, "-p", "1", str(JOB), "--output", str(tmp_path / "out"),
                    "--case", "missing-timestamps")
    assert r.returncode != 0
    assert "MissingTimestampError" in r.stderr and "bids per 10 s" in r.stderr
    assert "assign_timestamps_and_watermarks" in r.stderr
