#!/usr/bin/env python3
"""The window operator driven directly (no cluster, no exchange), next to a plain-Python dict loop.

    python benchmarks/window_micro.py                       # 1M synthetic W2-like bids, every case
    python benchmarks/window_micro.py --bids 300000 --cases w2 session --profile w2

Input: bids ``(auction, bidder, price, event_ms)`` drawn like the shared kit's
``gen_data.py`` (80% of the bids on 1,000 hot auctions out of 10,000, event time
~1 ms per bid with up to 500 ms of disorder), or the first ``--bids`` rows of a
``--csv`` file. They reach the operator keyed by auction, in batches of
``--batch`` records, with a bounded-out-of-orderness watermark (500 ms) after
every 8,192 records and ``MAX_WATERMARK`` at the end: one subtask's view of W2.

Cases (each computes, per key and window, the number of bids and the highest price):

    w2         10 s tumbling event-time windows, aggregate(AggregateFunction) with a
               ProcessWindowFunction adding auction and window bounds (benchmarks/run.py's W2 job)
    aggregate  the same AggregateFunction without a window function
    reduce     reduce(fn) keeping the highest bid and counting
    process    a ProcessWindowFunction over the window's list of bids
    sliding    10 s windows sliding by 5 s, aggregate
    session    event-time session windows (gap 2 s), aggregate

Each case runs the window operator's fast path (``fast``), its generic
per-element path (``generic``, Flink's WindowOperator step by step) and the plain
loop, and prints records/s and the ratio to the plain loop measured in the same
run. Every output is checked against the plain loop's rows.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import heapq
import inspect
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.window import PassThrough, ProcessWindow, WindowOperator
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.time import MAX_WATERMARK
from strom.taskmanager.windowing import (
    EventTimeSessionWindows,
    SlidingEventTimeWindows,
    TumblingEventTimeWindows,
)

WIN_MS = 10_000
SLIDE_MS = 5_000
GAP_MS = 2_000
OOO_MS = 500
WATERMARK_EVERY = 8_192

Bid = tuple[int, int, int, int]
Row = tuple[int, int, int, int, int]  # (auction, window_start, window_end, count, max_price)


# ---- input ------------------------------------------------------------------------------------------

def synthetic_bids(n: int, seed: int = 43) -> list[Bid]:
    rng = random.Random(seed)
    base = 1_700_000_000_000
    out = []
    for i in range(n):
        auction = rng.randrange(1_000) if rng.random() < 0.8 else rng.randrange(10_000)
        out.append((auction, rng.randrange(100_000), rng.randrange(1, 100_000), base + i - rng.randrange(500)))
    return out


def csv_bids(path: str, n: int) -> list[Bid]:
    out: list[Bid] = []
    with open(path) as f:
        for row in csv.reader(f):
            out.append((int(row[0]), int(row[1]), int(row[2]), int(row[3])))
            if len(out) == n:
                break
    return out


Step = tuple[list[Any], list[Bid], np.ndarray, list[int]] | int  # a batch, or a watermark


def steps(bids: list[Bid], batch: int) -> list[Step]:
    """Keyed batches and the watermarks between them, as the operator receives them."""
    out: list[Step] = []
    max_ts = -(1 << 62)
    since = 0
    for i in range(0, len(bids), batch):
        chunk = bids[i:i + batch]
        stamps = [b[3] for b in chunk]
        out.append(([b[0] for b in chunk], chunk, np.array(stamps, dtype=np.int64), stamps))
        max_ts = max(max_ts, *stamps)
        since += len(chunk)
        if since >= WATERMARK_EVERY:
            out.append(max_ts - OOO_MS - 1)
            since = 0
    out.append(MAX_WATERMARK)
    return out


# ---- user functions ---------------------------------------------------------------------------------

class CountMaxPrice:
    """An AggregateFunction (by shape): (count, max price)."""

    def create_accumulator(self) -> tuple[int, int]:
        return 0, 0

    def add(self, value: Bid, accumulator: tuple[int, int]) -> tuple[int, int]:
        n, top = accumulator
        return n + 1, value[2] if value[2] > top else top

    def get_result(self, accumulator: tuple[int, int]) -> tuple[int, int]:
        return accumulator

    def merge(self, a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
        return a[0] + b[0], max(a[1], b[1])


class WithAuctionAndWindow:
    """A ProcessWindowFunction (by shape) over the single aggregate."""

    def process(self, key: int, context: Any, elements: Any) -> Iterator[Row]:
        window = context.window()
        for n, top in elements:
            yield key, window.start, window.end, n, top


class CountMaxOfList:
    """A ProcessWindowFunction over every bid of the window."""

    def process(self, key: int, context: Any, elements: list[Bid]) -> Iterator[Row]:
        window = context.window()
        yield key, window.start, window.end, len(elements), max(b[2] for b in elements)


def count_max_reduce(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    """Reduce over (auction, count, max price) records (the input is mapped to that shape first)."""
    return a[0], a[1] + b[1], a[2] if a[2] >= b[2] else b[2]


# ---- the operator -----------------------------------------------------------------------------------

class CollectingOutput:
    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def emit(self, batch: Batch) -> None:
        self.batches.append(batch)

    def emit_watermark(self, watermark: int) -> None:
        pass

    def emit_watermark_status(self, idle: bool) -> None:
        pass


def make_operator(case: str, fast: bool) -> WindowOperator:
    tumbling = TumblingEventTimeWindows.of(WIN_MS)
    assigner: Any = tumbling
    kwargs: dict[str, Any] = {}
    function: Any = PassThrough()
    if case == "w2":
        kwargs["aggregate_function"] = CountMaxPrice()
        function = ProcessWindow(WithAuctionAndWindow(), single_value=True, keyed=True)
    elif case in ("aggregate", "sliding", "session"):
        kwargs["aggregate_function"] = CountMaxPrice()
        assigner = {"aggregate": tumbling, "sliding": SlidingEventTimeWindows.of(WIN_MS, SLIDE_MS),
                    "session": EventTimeSessionWindows.with_gap(GAP_MS)}[case]
    elif case == "reduce":
        kwargs["reduce_function"] = count_max_reduce
    elif case == "process":
        function = ProcessWindow(CountMaxOfList(), single_value=False, keyed=True)
    else:
        raise ValueError(case)
    if "fast_path" in inspect.signature(WindowOperator).parameters:
        kwargs["fast_path"] = fast
    elif fast:
        raise SystemExit("this WindowOperator has no fast path")
    return WindowOperator(assigner, assigner.get_default_trigger(), function, name=case, **kwargs)


def run_operator(case: str, fast: bool, plan: list[Step]) -> tuple[float, list[Row]]:
    op = make_operator(case, fast)
    out = op.output = CollectingOutput()
    op.open(OperatorContext("job", "job", "vertex", case, 0, 1, 128, 0, {}))
    reduce_input = case == "reduce"
    prepared: list[Any] = []
    for step in plan:  # input conversion outside the timed loop
        if isinstance(step, int):
            prepared.append(step)
        else:
            keys, bids, ts, _ = step
            records = [(b[0], 1, b[2]) for b in bids] if reduce_input else bids
            prepared.append(Batch(records=records, keys=keys, timestamps=ts))
    process, watermark = op.process, op.process_watermark
    t0 = time.perf_counter()
    for step in prepared:
        if isinstance(step, int):
            watermark(step)
        else:
            process(step)
    op.finish()
    elapsed = time.perf_counter() - t0
    return elapsed, rows_of(case, out.batches)


def rows_of(case: str, batches: list[Batch]) -> list[Row]:
    rows: list[Row] = []
    for batch in batches:
        for record, ts in zip(batch.records, batch.timestamps.tolist(), strict=True):
            if case in ("w2", "process"):
                rows.append(record)
            elif case == "reduce":
                rows.append((record[0], ts + 1 - WIN_MS, ts + 1, record[1], record[2]))
            else:  # (count, max): the window end is the timestamp + 1; its start is not in the row
                rows.append((-1, -1, ts + 1, record[0], record[1]))
    return rows


# ---- the plain-Python loops ---------------------------------------------------------------------------

def plain_tumbling(plan: list[Step], size: int) -> list[Row]:
    """Tumbling windows: dicts of [count, max] per window start and key (the kit's W2 loop)."""
    windows: dict[int, dict[int, list[int]]] = {}
    heap: list[int] = []
    wm = -(1 << 62)
    rows: list[Row] = []
    for step in plan:
        if isinstance(step, int):
            wm = step
            while heap and heap[0] + size - 1 <= wm:
                start = heapq.heappop(heap)
                for key, (c, m) in windows.pop(start).items():
                    rows.append((key, start, start + size, c, m))
            continue
        keys, bids, _, stamps = step
        for key, bid, t in zip(keys, bids, stamps, strict=True):
            start = t - t % size
            if start + size - 1 <= wm:
                continue  # late
            win = windows.get(start)
            if win is None:
                win = windows[start] = {}
                heapq.heappush(heap, start)
            st = win.get(key)
            price = bid[2]
            if st is None:
                win[key] = [1, price]
            else:
                st[0] += 1
                if price > st[1]:
                    st[1] = price
    return rows


def plain_aligned(plan: list[Step], size: int, slide: int) -> list[Row]:
    """Sliding windows: dicts of [count, max] per window start and key."""
    windows: dict[int, dict[int, list[int]]] = {}
    heap: list[int] = []
    wm = -(1 << 62)
    rows: list[Row] = []
    for step in plan:
        if isinstance(step, int):
            wm = step
            while heap and heap[0] + size - 1 <= wm:
                start = heapq.heappop(heap)
                for key, (c, m) in windows.pop(start).items():
                    rows.append((key, start, start + size, c, m))
            continue
        keys, bids, _, stamps = step
        for key, bid, t in zip(keys, bids, stamps, strict=True):
            last = t - t % slide
            for start in range(last, t - size, -slide):
                if start + size - 1 <= wm:
                    continue  # late
                win = windows.get(start)
                if win is None:
                    win = windows[start] = {}
                    heapq.heappush(heap, start)
                st = win.get(key)
                price = bid[2]
                if st is None:
                    win[key] = [1, price]
                else:
                    st[0] += 1
                    if price > st[1]:
                        st[1] = price
    return rows


def plain_sessions(plan: list[Step], gap: int) -> list[Row]:
    """Per key a list of open sessions [start, end, count, max]; a bid's [t, t + gap) merges
    with every session it overlaps or touches. Sessions fire when the watermark passes their end."""
    sessions: dict[int, list[list[int]]] = {}
    wm = -(1 << 62)
    rows: list[Row] = []
    for step in plan:
        if isinstance(step, int):
            wm = step
            for key in list(sessions):
                live = []
                for s in sessions[key]:
                    if s[1] - 1 <= wm:
                        rows.append((key, s[0], s[1], s[2], s[3]))
                    else:
                        live.append(s)
                if live:
                    sessions[key] = live
                else:
                    del sessions[key]
            continue
        keys, bids, _, stamps = step
        for key, bid, t in zip(keys, bids, stamps, strict=True):
            start, end, n, top = t, t + gap, 1, bid[2]
            mine = sessions.get(key)
            if mine is None:
                if end - 1 <= wm:
                    continue
                sessions[key] = [[start, end, n, top]]
                continue
            keep = []
            for s in mine:
                if s[0] <= end and s[1] >= start:
                    start, end, n, top = min(start, s[0]), max(end, s[1]), n + s[2], max(top, s[3])
                else:
                    keep.append(s)
            if end - 1 <= wm:
                continue  # late: the merged window would be behind the watermark
            keep.append([start, end, n, top])
            sessions[key] = keep
    return rows


def run_plain(case: str, plan: list[Step]) -> tuple[float, list[Row]]:
    t0 = time.perf_counter()
    if case == "session":
        rows = plain_sessions(plan, GAP_MS)
    elif case == "sliding":
        rows = plain_aligned(plan, WIN_MS, SLIDE_MS)
    else:
        rows = plain_tumbling(plan, WIN_MS)
    return time.perf_counter() - t0, rows


def comparable(case: str, rows: list[Row]) -> list[tuple[int, ...]]:
    if case in ("aggregate", "sliding", "session"):
        return sorted((end, c, m) for _, _, end, c, m in rows)
    return sorted(rows)


# ---- main ---------------------------------------------------------------------------------------------

def median_time(runs: int, fn: Callable[[], tuple[float, list[Row]]]) -> tuple[float, list[Row]]:
    results = [fn() for _ in range(runs)]
    return statistics.median(t for t, _ in results), results[0][1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bids", type=int, default=1_000_000)
    ap.add_argument("--csv", help="read bids from this file (e.g. /tmp/benchdata/bids.csv) instead")
    ap.add_argument("--batch", type=int, default=4_096, help="records per input batch")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cases", nargs="+", default=["w2", "aggregate", "reduce", "process", "sliding", "session"])
    ap.add_argument("--paths", nargs="+", default=["fast", "generic"], choices=["fast", "generic"])
    ap.add_argument("--profile", metavar="CASE", help="cProfile one fast-path run of CASE instead")
    args = ap.parse_args()

    bids = csv_bids(args.csv, args.bids) if args.csv else synthetic_bids(args.bids)
    plan = steps(bids, args.batch)
    n = len(bids)
    if args.profile:
        fast = "fast" in args.paths
        profiler = cProfile.Profile()
        profiler.runcall(run_operator, args.profile, fast, plan)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return

    print(f"{n:,} bids, batches of {args.batch}, a watermark every {WATERMARK_EVERY} records; "
          f"median of {args.runs} runs", file=sys.stderr)
    print(f"{'case':<10} {'path':<8} {'records/s':>12} {'plain loop':>12} {'ratio':>7}")
    for case in args.cases:
        t_plain, reference = median_time(args.runs, lambda c=case: run_plain(c, plan))  # type: ignore[misc]
        expected = comparable(case, reference)
        for path in args.paths:
            t_op, rows = median_time(args.runs, lambda c=case, p=path: run_operator(c, p == "fast", plan))  # type: ignore[misc]
            if comparable(case, rows) != expected:
                raise AssertionError(f"{case}/{path}: the operator's rows differ from the plain loop's "
                                     f"({len(rows)} vs {len(reference)} rows)")
            print(f"{case:<10} {path:<8} {n / t_op:>12,.0f} {n / t_plain:>12,.0f} {t_plain / t_op:>7.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
