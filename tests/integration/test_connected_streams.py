"""Connected streams on a real cluster: co-map/flat-map, keyed co-process with shared state and timers,
the broadcast state pattern, interval joins, unions of streams of different parallelism.

Each mode of tests/integration/jobs/connected_jobs.py runs once at parallelism 1 and once at 4; every
case's rows must equal a plain-Python reference computed here from the same input data: no record lost,
none duplicated, the same at both parallelisms. Timers and interval joins run in event time with
watermarks advancing during the job (rate-limited sources), so results depend on watermarks being the
minimum over all inputs (of the union, of both connected inputs) and on no on-time element being late.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from tests.harness.cluster import StromCluster
from tests.integration.jobs import connected_jobs as jobs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

JOBS = Path(__file__).resolve().parent / "jobs" / "connected_jobs.py"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StromCluster(tmp_path_factory.mktemp("cluster"), num_taskmanagers=2, slots_per_taskmanager=2) as c:
        yield c


def run(cluster: StromCluster, mode: str, out: Path, parallelism: int) -> dict[str, Counter]:
    """The job's rows, as a multiset per case (the first field of each row)."""
    r = cluster.cli("run", "-m", cluster.rpc_address, "-p", str(parallelism), str(JOBS), mode, str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    parts = sorted(out.glob("part-*"))
    assert len(parts) == parallelism, parts
    cases: dict[str, Counter] = {}
    for part in parts:
        for line in part.read_text(encoding="utf-8").splitlines():
            row = ast.literal_eval(line)
            cases.setdefault(row[0], Counter())[row] += 1
    return cases


# ---- references -------------------------------------------------------------------------------------------


def expected_co_map() -> Counter:
    return Counter([("comap", "n", 2 * n) for n in jobs.numbers()]
                   + [("comap", "s", len(s)) for s in jobs.sentences()])


def expected_co_flat_map() -> Counter:
    rows = []
    for n in jobs.numbers():
        if n % 3 == 0:
            rows += [("coflat", "n", n), ("coflat", "n", -n)]
    for s in jobs.sentences():
        rows += [("coflat", "w", w) for w in s.split()]
    return Counter(rows)


def expected_ledger() -> Counter:
    """Per user and timer time T (the next multiple of 100 after each of the user's orders, once): the
    user's orders (from both order streams) and payments at or before T."""
    orders = jobs.orders(0) + jobs.orders(1)
    rows = []
    for user in {o[0] for o in orders}:
        mine = [o for o in orders if o[0] == user]
        paid = [p for p in jobs.payments() if p[0] == user]
        for t in sorted({(o[2] // jobs.TIMER_STEP + 1) * jobs.TIMER_STEP for o in mine}):
            rows.append(("ledger", user, t, t, sum(1 for o in mine if o[2] <= t),
                         sum(p[1] for p in paid if p[2] <= t)))
    return Counter(rows)


def expected_matches() -> Counter:
    return Counter(("match", name, k, n) for name, d in jobs.rules() for k, n in jobs.items() if n % d == 0)


def expected_union() -> Counter:
    values = [*range(jobs.SEQ_A[0], jobs.SEQ_A[1] + 1), *range(jobs.SEQ_B[0], jobs.SEQ_B[1] + 1), *jobs.numbers()]
    return Counter(("union", v) for v in values)


def expected_join(name: str, late_left: set[str], late_right: set[str]) -> Counter:
    """Every pair of on-time elements with equal keys whose timestamps are within the bounds."""
    lower, upper, lower_exclusive, upper_exclusive = jobs.JOINS[name]
    lower += lower_exclusive
    upper -= upper_exclusive
    left, right = jobs.join_sides()
    return Counter(("join", name, lid, rid, lts, rts, max(lts, rts))
                   for lk, lid, lts in left if lid not in late_left
                   for rk, rid, rts in right if rid not in late_right
                   if lk == rk and lts + lower <= rts <= lts + upper)


# ---- tests ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("parallelism", [1, 4])
def test_co_functions_keyed_co_process_broadcast_state_and_union(cluster, tmp_path, parallelism):
    cases = run(cluster, "connect", tmp_path / "out", parallelism)
    assert cases.pop("comap") == expected_co_map()
    assert cases.pop("coflat") == expected_co_flat_map()
    # state shared by both keyed inputs, timers deduplicated per key and time, fired only once the
    # watermark of both inputs (one of them a union of two streams) passed them
    assert cases.pop("ledger") == expected_ledger()
    # every (rule, element) match exactly once, whichever arrived first at whichever parallel instance
    assert cases.pop("match") == expected_matches()
    # non-keyed broadcast: every instance sees every rule once; elements pass once
    assert cases.pop("seen") == Counter(("seen", s, name) for s in range(parallelism) for name, _ in jobs.rules())
    assert cases.pop("plain") == Counter(("plain", k, n * 10) for k, n in jobs.items())
    # a union of streams at parallelism 3, 2 and 1
    assert cases.pop("union") == expected_union()
    assert cases == {}


@pytest.mark.parametrize("parallelism", [1, 4])
def test_interval_joins_with_out_of_order_and_late_data(cluster, tmp_path, parallelism):
    cases = run(cluster, "join", tmp_path / "out", parallelism)
    late = cases.pop("late", Counter())
    assert max(late.values(), default=1) == 1, "a late element was reported twice"
    joins = cases.pop("join")
    assert cases == {}
    for name in jobs.JOINS:
        late_left = {row[3] for row in late if row[1] == name and row[2] == "left"}
        late_right = {row[3] for row in late if row[1] == name and row[2] == "right"}
        # only the elements far behind their stream can be late; which of them are depends on how far
        # the watermark got when they arrived: everything else must join exactly as the reference says
        assert all(i.startswith("lateL") for i in late_left), late_left
        assert all(i.startswith("lateR") for i in late_right), late_right
        actual = Counter({row: n for row, n in joins.items() if row[1] == name})
        assert actual == expected_join(name, late_left, late_right), name
