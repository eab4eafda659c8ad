#!/usr/bin/env python3
"""Throughput of Strom on the shared benchmark workloads, next to a plain-Python loop.

    python benchmarks/run.py --data /tmp/benchdata            # W1, W2 and W3, 3 runs each
    python benchmarks/run.py --data /tmp/benchdata --x10 /tmp/benchdata_x10 --runs 1

Inputs come from ``gen_data.py`` of the shared benchmark kit (words.txt,
bids.csv). Every Strom job runs on one embedded local cluster (a JobManager and
a TaskManager with 2 slot worker processes) at parallelism 2; the cluster is
started once, so start-up is excluded, as in the reference figures. Figures are
input records per second over the job's run time as the JobManager measures it
(submission to FINISHED), median of ``--runs``. The plain-Python loop is the
single-process per-record reference measured in the same run. Every output is
checked against it: a benchmark that computes the wrong result is not a result.
"""

from __future__ import annotations

import argparse
import csv
import glob
import heapq
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from strom import RuntimeExecutionMode, StreamExecutionEnvironment
from strom.client.api import aggregations
from strom.client.api.connectors import FileSink
from strom.client.api.state import AggregateFunction
from strom.client.api.time import Duration, Time, WatermarkStrategy
from strom.client.api.window_functions import ProcessWindowFunction
from strom.client.api.windowing import TumblingEventTimeWindows
from strom.client.execution.context import ExecutionTarget, set_current_target
from strom.client.local.cluster import LocalCluster
from strom.common.config import Configuration

PARALLELISM = 2
BIDS = pa.schema([("auction", pa.int64()), ("bidder", pa.int64()), ("price", pa.int64()), ("event_ms", pa.int64())])
WIN_MS = 10_000
OOO_MS = 500


# ---- the plain-Python single-process reference (same loops as the shared kit) -------------

def plain_w1(path: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(path) as f:
        for line in f:
            for w in line.rstrip("\n").split(" "):
                counts[w] = counts.get(w, 0) + 1
    return counts


def plain_w2(path: str) -> set[tuple[int, int, int, int, int]]:
    """Tumbling 10 s event-time windows with a 500 ms bounded-out-of-orderness watermark (the
    kit's loop): rows ``(auction, window_start, window_end, count, max_price)``."""
    windows: dict[int, dict[int, list[int]]] = {}
    heap: list[int] = []
    wm = max_ts = -(1 << 62)
    rows: list[tuple[int, int, int, int, int]] = []

    def fire(ws: int) -> None:
        for auction, (c, m) in windows.pop(ws).items():
            rows.append((auction, ws, ws + WIN_MS, c, m))

    with open(path) as f:
        for line in f:
            a, _b, p, t = line.split(",")
            auction = int(a)
            price = int(p)
            ts = int(t)
            if ts > max_ts:
                max_ts = ts
                wm = ts - OOO_MS - 1
                while heap and heap[0] + WIN_MS - 1 <= wm:
                    fire(heapq.heappop(heap))
            ws = ts - ts % WIN_MS
            if ws + WIN_MS - 1 <= wm:
                continue  # late: dropped
            win = windows.get(ws)
            if win is None:
                win = windows[ws] = {}
                heapq.heappush(heap, ws)
            st = win.get(auction)
            if st is None:
                win[auction] = [1, price]
            else:
                st[0] += 1
                if price > st[1]:
                    st[1] = price
    while heap:
        fire(heapq.heappop(heap))
    return set(rows)


def plain_w3(path: str) -> int:
    rows = 0
    with open(path) as f:
        for line in f:
            a, b, p, t = line.split(",")
            auction = int(a)
            _bidder = int(b)
            _price_eur = int(p) * 0.908
            _ts = int(t)
            if auction % 123 == 0:
                rows += 1
    return rows


# ---- Strom jobs ---------------------------------------------------------------------------------

def w1_records(env: StreamExecutionEnvironment, inp: str, out: str) -> None:
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    (env.read_text_file(inp)
        .flat_map(lambda line: [(w, 1) for w in line.split(" ")])
        .key_by(lambda t: t[0])
        .sum(1)
        .sink_to(FileSink.csv(out)))


def split_words(batch: pa.RecordBatch) -> pa.RecordBatch:
    words = pc.list_flatten(pc.split_pattern(batch.column(0), " "))
    return pa.record_batch([words, pa.array(np.ones(len(words), dtype=np.int64))], names=["word", "count"])


def w1_batches(env: StreamExecutionEnvironment, inp: str, out: str) -> None:
    env.set_runtime_mode(RuntimeExecutionMode.BATCH)
    (env.read_text_file(inp)
        .map_batches(split_words)
        .key_by("word")
        .sum("count")
        .sink_to(FileSink.csv(out)))


def parse_bid(line: str) -> tuple[int, int, int, int]:
    a, b, p, t = line.split(",")
    return int(a), int(b), int(p), int(t)


def w3_records(env: StreamExecutionEnvironment, inp: str, out: str) -> None:
    (env.read_text_file(inp)
        .map(parse_bid)
        .filter(lambda bid: bid[0] % 123 == 0)
        .map(lambda bid: (bid[0], bid[1], bid[2] * 0.908, bid[3]))
        .sink_to(FileSink.csv(out)))


class CountMaxPrice(AggregateFunction):
    """W2 per record: the count and the highest price of a window's bids."""

    def create_accumulator(self) -> tuple[int, int]:
        return 0, 0

    def add(self, value: tuple[int, int, int, int], accumulator: tuple[int, int]) -> tuple[int, int]:
        n, top = accumulator
        return n + 1, value[2] if value[2] > top else top

    def get_result(self, accumulator: tuple[int, int]) -> tuple[int, int]:
        return accumulator

    def merge(self, acc_a: tuple[int, int], acc_b: tuple[int, int]) -> tuple[int, int]:
        return acc_a[0] + acc_b[0], max(acc_a[1], acc_b[1])


class WithAuctionAndWindow(ProcessWindowFunction):
    def process(self, key, context, elements):  # type: ignore[no-untyped-def]
        window = context.window()
        for n, top in elements:
            yield key, window.start, window.end, n, top


def w2_records(env: StreamExecutionEnvironment, inp: str, out: str) -> None:
    (env.read_text_file(inp)
        .map(parse_bid)
        .assign_timestamps_and_watermarks(WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(OOO_MS))
                                          .with_timestamp_assigner(lambda bid, _ts: bid[3]))
        .key_by(lambda bid: bid[0])
        .window(TumblingEventTimeWindows.of(Time.milliseconds(WIN_MS)))
        .aggregate(CountMaxPrice(), window_function=WithAuctionAndWindow())
        .sink_to(FileSink.csv(out)))


def w2_vectorized(env: StreamExecutionEnvironment, inp: str, out: str) -> None:
    (env.read_csv(inp, column_names=["auction", "bidder", "price", "event_ms"], schema=BIDS)
        .assign_timestamps_and_watermarks(WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(OOO_MS))
                                          .with_timestamp_column("event_ms"))
        .key_by("auction")
        .window(TumblingEventTimeWindows.of(Time.milliseconds(WIN_MS)))
        .aggregate(aggregations.count(), aggregations.max("price"))
        .sink_to(FileSink.csv(out)))


def euro_bids(batch: pa.RecordBatch) -> pa.RecordBatch:
    kept = batch.filter(pc.equal(pc.remainder(batch["auction"], 123), 0))
    return kept.set_column(2, "price_eur", pc.multiply(kept["price"], 0.908))


def w3_batches(env: StreamExecutionEnvironment, inp: str, out: str) -> None:
    (env.read_csv(inp, column_names=["auction", "bidder", "price", "event_ms"], schema=BIDS)
        .map_batches(euro_bids)
        .sink_to(FileSink.csv(out)))


# ---- checks -------------------------------------------------------------------------------------

def read_counts(out: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part in glob.glob(os.path.join(out, "part-*")):
        with open(part, newline="") as f:
            for w, c in csv.reader(f):
                if w in counts:
                    raise AssertionError(f"duplicate key {w!r} in the output")
                counts[w] = int(c)
    return counts


def read_window_rows(out: str) -> list[tuple[int, ...]]:
    rows: list[tuple[int, ...]] = []
    for part in glob.glob(os.path.join(out, "part-*")):
        with open(part, newline="") as f:
            rows.extend(tuple(map(int, row)) for row in csv.reader(f))
    return rows


def check_w2(label: str, out: str, reference: set[tuple[int, int, int, int, int]], bids: int) -> None:
    rows = read_window_rows(out)
    counted = sum(r[3] for r in rows)
    if counted != bids:
        raise AssertionError(f"W2 {label}: the windows count {counted} bids, the input has {bids}")
    if len(rows) != len(set(rows)) or set(rows) != reference:
        raise AssertionError(f"W2 {label}: rows differ from the plain-Python reference "
                             f"({len(rows)} rows, reference {len(reference)})")


def count_rows(out: str) -> int:
    return sum(sum(1 for _ in open(p)) for p in glob.glob(os.path.join(out, "part-*")))


# ---- driver -------------------------------------------------------------------------------------

def run_strom(build: Callable[[StreamExecutionEnvironment, str, str], None], inp: str, name: str) -> tuple[float, str]:
    out = tempfile.mkdtemp(prefix=f"strom-bench-{name}-")
    shutil.rmtree(out)
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(PARALLELISM)
    build(env, inp, out)
    t0 = time.perf_counter()
    result = env.execute(name)
    wall = time.perf_counter() - t0
    runtime_ms = result.get_net_runtime()
    return (runtime_ms / 1000.0 if runtime_ms else wall), out


def median_of(runs: int, fn: Callable[[], tuple[float, object]]) -> tuple[float, object]:
    times, last = [], None
    for _ in range(runs):
        if isinstance(last, str):
            shutil.rmtree(last, ignore_errors=True)  # the output of the previous run (checked: the last)
        t, last = fn()
        times.append(t)
    return statistics.median(times), last


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="directory with words.txt and bids.csv (gen_data.py defaults)")
    ap.add_argument("--x10", help="directory with the 10x inputs (W1 only)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=["w1", "w2", "w3"], help="run one workload")
    args = ap.parse_args()

    words = os.path.join(args.data, "words.txt")
    bids = os.path.join(args.data, "bids.csv")
    rows: list[tuple[str, str, int, float]] = []

    def timed_plain(fn: Callable[[str], object], path: str) -> tuple[float, object]:
        t0 = time.perf_counter()
        r = fn(path)
        return time.perf_counter() - t0, r

    with LocalCluster(num_slots=PARALLELISM, config=Configuration(), inherit_taskmanager_stdout=False) as cluster:
        set_current_target(ExecutionTarget(cluster.rpc_address, detached=False, parallelism=None,
                                           config=cluster.config))
        if args.only in (None, "w1"):
            inputs = [("D", words)] + ([("X10", os.path.join(args.x10, "words.txt"))] if args.x10 else [])
            for size, path in inputs:
                t, ref = median_of(args.runs, lambda path=path: timed_plain(plain_w1, path))
                n = sum(ref.values())  # type: ignore[union-attr]
                rows.append(("W1", f"plain Python, 1 process ({size})", n, n / t))
                for label, build in (("per-record functions", w1_records), ("map_batches", w1_batches)):
                    t, out = median_of(args.runs, lambda b=build, p=path: run_strom(b, p, "w1"))
                    if read_counts(str(out)) != ref:
                        raise AssertionError(f"W1 {label}: counts differ from the plain-Python reference")
                    rows.append(("W1", f"Strom p=2, {label} ({size})", n, n / t))
                    shutil.rmtree(str(out), ignore_errors=True)
        if args.only in (None, "w2"):
            t, ref = median_of(args.runs, lambda: timed_plain(plain_w2, bids))
            n = sum(1 for _ in open(bids))
            if sum(r[3] for r in ref) != n:  # type: ignore[union-attr]
                raise AssertionError("W2 plain Python: some bids were late; the reference assumes none are")
            rows.append(("W2", "plain Python, 1 process (D)", n, n / t))
            for label, build in (("per-record functions", w2_records), ("vectorized built-ins", w2_vectorized)):
                t, out = median_of(args.runs, lambda b=build: run_strom(b, bids, "w2"))
                check_w2(label, str(out), ref, n)  # type: ignore[arg-type]
                rows.append(("W2", f"Strom p=2, {label} (D)", n, n / t))
                shutil.rmtree(str(out), ignore_errors=True)
        if args.only in (None, "w3"):
            t, ref_rows = median_of(args.runs, lambda: timed_plain(plain_w3, bids))
            n = sum(1 for _ in open(bids))
            rows.append(("W3", "plain Python, 1 process (D)", n, n / t))
            for label, build in (("per-record functions", w3_records), ("map_batches", w3_batches)):
                t, out = median_of(args.runs, lambda b=build: run_strom(b, bids, "w3"))
                if count_rows(str(out)) != ref_rows:
                    raise AssertionError(f"W3 {label}: {count_rows(str(out))} rows, reference {ref_rows}")
                rows.append(("W3", f"Strom p=2, {label} (D)", n, n / t))
                shutil.rmtree(str(out), ignore_errors=True)

    print(f"\n{'workload':8} {'configuration':45} {'records':>10} {'records/s':>12}")
    for wl, label, n, rate in rows:
        print(f"{wl:8} {label:45} {n:>10} {rate:>12,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
