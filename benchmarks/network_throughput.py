#!/usr/bin/env python3
"""Data-plane throughput: batches/s and MB/s through Strom's exchange with 8192-row batches.

    python benchmarks/network_throughput.py [--batches 4000] [--rows 8192] [--reps 3]

Cases (median of --reps runs, MB = 1e6 bytes of Arrow buffers):
  local         producer thread -> ResultPartition -> InputGate in the same process (by reference)
  local+hash    RecordWriter with HashPartitioner (2 channels) -> 2 local channels: the
                partitioning cost included
  flight        producer process -> Flight DoGet on 127.0.0.1 -> InputGate in this process
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow as pa

from strom.taskmanager.network import (
    Channel,
    EndOfPartition,
    HashPartitioner,
    NetworkEnvironment,
    RecordWriter,
)

CONFIG = {"taskmanager.network.connect-timeout": "30 s"}


def make_batches(rows: int, distinct: int = 16) -> list[pa.RecordBatch]:
    out = []
    for i in range(distinct):
        base = np.arange(i * rows, (i + 1) * rows, dtype=np.int64)
        out.append(pa.record_batch({"__key__": base % 10_007, "a": base, "b": base * 2, "c": base * 3}))
    return out


def drain(gate) -> tuple[int, int]:
    batches = nbytes = 0
    while not gate.is_finished():
        got = gate.poll(60)
        if got is None:
            raise RuntimeError("gate stalled for 60 s")
        item = got[1]
        if not isinstance(item, EndOfPartition):
            batches += 1
            nbytes += item.nbytes
    return batches, nbytes


def run_local(env: NetworkEnvironment, n: int, rows: int, run: int, hashed: bool) -> tuple[float, int, int]:
    channels = 2 if hashed else 1
    partition = env.create_result_partition(f"local-{hashed}-{run}", channels)
    template = make_batches(rows)

    def produce() -> None:
        if hashed:
            writer = RecordWriter(partition, HashPartitioner(max_parallelism=128), batch_rows=rows)
            for i in range(n):
                writer.emit(template[i % len(template)])
            writer.finish()
        else:
            for i in range(n):
                partition.emit(0, template[i % len(template)])
            partition.finish()

    gate = env.create_input_gate([Channel(partition.partition_id, c, env.address) for c in range(channels)])
    t0 = time.perf_counter()
    producer = threading.Thread(target=produce)
    producer.start()
    batches, nbytes = drain(gate)
    elapsed = time.perf_counter() - t0
    producer.join()
    gate.close()
    return elapsed, batches, nbytes


def run_flight(env: NetworkEnvironment, producer_address: str, control, n: int, run: int) -> tuple[float, int, int]:
    pid = f"flight-{run}"
    gate = env.create_input_gate([Channel(pid, 0, producer_address)])
    t0 = time.perf_counter()
    control.write(json.dumps({"partition": pid, "batches": n}) + "\n")
    control.flush()
    batches, nbytes = drain(gate)
    elapsed = time.perf_counter() - t0
    gate.close()
    return elapsed, batches, nbytes


def serve(rows: int) -> None:
    """Child process: produce into a fresh partition per request read from stdin."""
    template = make_batches(rows)
    with NetworkEnvironment("127.0.0.1", CONFIG) as env:
        print(json.dumps({"address": env.address}), flush=True)
        for line in sys.stdin:
            request = json.loads(line)
            partition = env.create_result_partition(request["partition"], 1)
            for i in range(request["batches"]):
                partition.emit(0, template[i % len(template)])
            partition.finish()
            partition.wait_consumed(120)


def report(label: str, results: list[tuple[float, int, int]]) -> None:
    times = [r[0] for r in results]
    med = statistics.median(times)
    batches, nbytes = results[0][1], results[0][2]
    print(f"{label:<11} batches={batches} bytes/batch={nbytes // batches} median_s={med:.3f} "
          f"batches/s={batches / med:,.0f} MB/s={nbytes / med / 1e6:,.0f} "
          f"[{min(nbytes / t / 1e6 for t in times):,.0f}-{max(nbytes / t / 1e6 for t in times):,.0f}]",
          flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=4000)
    ap.add_argument("--rows", type=int, default=8192)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve:
        serve(a.rows)
        return
    child = subprocess.Popen([sys.executable, __file__, "--serve", "--rows", str(a.rows)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdin is not None
        producer_address = json.loads(child.stdout.readline())["address"]
        with NetworkEnvironment("127.0.0.1", CONFIG) as env:
            print(f"pyarrow={pa.__version__} rows/batch={a.rows} batches/run={a.batches} reps={a.reps}")
            run_local(env, max(1, a.batches // 10), a.rows, -1, False)  # warm-up
            report("local", [run_local(env, a.batches, a.rows, r, False) for r in range(a.reps)])
            report("local+hash", [run_local(env, a.batches, a.rows, r, True) for r in range(a.reps)])
            run_flight(env, producer_address, child.stdin, max(1, a.batches // 10), -1)  # warm-up
            report("flight", [run_flight(env, producer_address, child.stdin, a.batches, r)
                              for r in range(a.reps)])
    finally:
        if child.stdin:
            child.stdin.close()
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


if __name__ == "__main__":
    main()
