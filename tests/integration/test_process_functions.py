"""Process functions on a real cluster (a JobManager and two TaskManagers with 2 slots each).

One job (tests/integration/jobs/process_jobs.py) runs every case at parallelism 1 and 4; each
output is compared with a plain-Python computation of what Flink's semantics give: exact rows,
per key in order, no duplicates, no loss.
"""

from __future__ import annotations

import csv
import heapq
import textwrap
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.harness.cluster import StromCluster
from tests.integration.jobs import process_jobs
from tests.integration.jobs.process_jobs import keyed_values, timed_events

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

JOB = Path(process_jobs.__file__)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with StromCluster(tmp_path_factory.mktemp("cluster"), num_taskmanagers=2, slots_per_taskmanager=2) as c:
        yield c


@pytest.fixture(scope="module", params=[1, 4], ids=["p1", "p4"])
def output(request, cluster, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp(f"process-p{request.param}")
    r = cluster.cli("run", "-m", cluster.rpc_address, "-p", str(request.param), str(JOB), "--output", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    return out


def read_parts(directory: Path) -> list[list[list[str]]]:
    """The rows of each part file, in file order."""
    parts = sorted(directory.glob("part-*"))
    assert parts, f"no part files in {directory}"
    out = []
    for part in parts:
        with open(part, newline="", encoding="utf-8") as f:
            out.append(list(csv.reader(f)))
    return out


def rows_by_key(parts: list[list[list[str]]]) -> dict[str, list[list[str]]]:
    """Rows per key (the first column) in emission order; a key's rows all come from one subtask."""
    by_key: dict[str, list[list[str]]] = {}
    for rows in parts:
        here: dict[str, list[list[str]]] = defaultdict(list)
        for row in rows:
            here[row[0]].append(row[1:])
        for key, key_rows in here.items():
            assert key not in by_key, f"key {key} was processed by two subtasks"
            by_key[key] = key_rows
    return by_key


# ---- references ------------------------------------------------------------------------------


def expected_timers() -> dict[str, list[int]]:
    """Timers per key in firing order: ts+10 and ts+1001 per element (even ids delete their
    +1001), each once; a timer at a multiple of 3 sets another 7 ms later."""
    pending: dict[str, set[int]] = defaultdict(set)
    for key, ts, ident in timed_events():
        pending[key] |= {ts + 10, ts + 1001}
        if ident % 2 == 0:
            pending[key].discard(ts + 1001)
    fired: dict[str, list[int]] = {}
    for key, timers in pending.items():
        heap = sorted(timers)
        known = set(timers)
        order = []
        while heap:
            t = heapq.heappop(heap)
            order.append(t)
            if t % 3 == 0 and t + 7 not in known:
                known.add(t + 7)
                heapq.heappush(heap, t + 7)
        fired[key] = order
    return fired


def expected_states() -> tuple[dict[str, list[tuple]], dict[str, list[tuple]], dict[str, list[tuple]]]:
    main: dict[str, list[tuple]] = defaultdict(list)
    five: dict[str, list[tuple]] = defaultdict(list)
    seven: dict[str, list[tuple]] = defaultdict(list)
    values: dict[str, list[int]] = defaultdict(list)
    for key, v in keyed_values():
        values[key].append(v)
        seen = values[key]
        same_rest = sum(1 for x in seen if x % 3 == v % 3)
        main[key].append((v, len(seen), len(seen), sum(seen), same_rest, sum(seen), f"{sum(seen)}/{len(seen)}"))
        if v % 5 == 0:
            five[key].append((v,))
        if v % 7 == 0:
            seven[key].append((v, len(seen)))
    return main, five, seven


# ---- tests -------------------------------------------------------------------------------------


def test_event_time_timers_fire_once_per_key_and_time_in_timestamp_order(output):
    by_key = rows_by_key(read_parts(output / "timers"))
    events = defaultdict(list)
    for key, ts, ident in timed_events():
        events[key].append((ts, ident))
    assert sorted(by_key) == sorted(events)
    timers = expected_timers()
    for key, rows in by_key.items():
        elements = [(int(ts), int(ident), int(stamp)) for kind, ts, ident, _, stamp in rows if kind == "element"]
        assert elements == [(ts, ident, ts) for ts, ident in events[key]], key
        fired = [(int(t), int(ctx_ts), domain, int(stamp)) for kind, t, ctx_ts, domain, stamp in rows
                 if kind == "timer"]
        assert fired == [(t, t, "EVENT_TIME", t) for t in timers[key]], key


def test_processing_time_timers_hand_every_element_to_on_timer_once(output):
    parts = read_parts(output / "pt")
    rows = [row for part in parts for row in part]
    assert Counter((r[0], int(r[2])) for r in rows) == Counter((key, ident) for key, _, ident in timed_events())
    # on_timer's ctx.timestamp() is the timer's time; outputs of processing-time timers carry no timestamp
    assert {(r[1], r[3], r[4], r[5]) for r in rows} == {("pt", "1", "PROCESSING_TIME", "-1")}
    rows_by_key(parts)  # every key on one subtask


def test_all_kinds_of_keyed_state_per_key_in_order(output):
    main, _, _ = expected_states()
    by_key = rows_by_key(read_parts(output / "state"))
    assert {key: [tuple(int(x) for x in row[:-1]) + (row[-1],) for row in rows] for key, rows in by_key.items()} \
        == dict(main)


def test_side_outputs_from_yield_and_ctx_output(output):
    _, five, seven = expected_states()
    assert {k: [tuple(map(int, r)) for r in rows] for k, rows in rows_by_key(read_parts(output / "five")).items()} \
        == dict(five)
    assert {k: [tuple(map(int, r)) for r in rows] for k, rows in rows_by_key(read_parts(output / "seven")).items()} \
        == dict(seven)


def test_timers_on_a_non_keyed_stream_fail_the_job_with_a_clear_message(cluster, tmp_path):
    script = tmp_path / "non_keyed_timer.py"
    script.write_text(textwrap.dedent("""
        from strom import StreamExecutionEnvironment
        from strom.client.api.functions import ProcessFunction

        class Later(ProcessFunction):
            def process_element(self, value, ctx):
                ctx.timer_service().register_processing_time_timer(0)
                yield value

        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection([1, 2, 3]).process(Later()).print()
        env.execute("non-keyed timer")
    """))
    r = cluster.cli("run", "-m", cluster.rpc_address, "-p", "1", str(script))
    assert r.returncode != 0
    output = r.stdout + r.stderr
    assert "Setting timers is only supported on keyed streams" in output
    assert "Later" in output and "key_by" in output
