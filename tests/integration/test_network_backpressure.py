"""Backpressure across processes: a fast producer and a slow consumer over real Flight on
127.0.0.1. The producer must be slowed down to the consumer's pace with its queue within the
configured budget and its memory flat, while every row arrives once and in order.

This file doubles as the child script (``python test_network_backpressure.py ROLE JSON``).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

from strom.taskmanager.network import Channel, EndOfPartition, ForwardPartitioner, NetworkEnvironment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

MiB = 1024 * 1024
ROWS = 8192                         # 8192 rows x 4 int64 columns = 256 KiB per batch
BATCHES = 1200                      # 300 MiB in total
BUDGET = 1 * MiB                    # taskmanager.network.channel-buffer-bytes
CONSUMER_SLEEP_S = 0.002            # per batch: the consumer takes >= 2.4 s, the producer alone ~0.3 s
CONFIG = {"taskmanager.network.channel-buffer-bytes": str(BUDGET),
          "taskmanager.network.flight-window-bytes": str(BUDGET),
          "taskmanager.network.batch-rows": str(ROWS),
          "taskmanager.network.connect-timeout": "30 s",
          "taskmanager.network.partition-request-timeout": "30 s"}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _spawn(role: str, args: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, role, json.dumps(args)], stdout=subprocess.PIPE,
                            stdin=subprocess.PIPE, text=True)


def _read_json_line(proc: subprocess.Popen, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"process {proc.pid} printed nothing within {timeout} s")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"process {proc.pid} exited with {proc.wait(5)} before answering")
            if line.startswith("{"):
                return json.loads(line)


def test_slow_consumer_slows_the_producer_with_bounded_memory():
    procs: list[subprocess.Popen] = []
    try:
        producer = _spawn("producer", {})
        procs.append(producer)
        address = _read_json_line(producer, 60)["address"]
        consumer = _spawn("consumer", {"address": address})
        procs.append(consumer)
        received = _read_json_line(consumer, 150)
        sent = _read_json_line(producer, 60)
        assert producer.wait(30) == 0 and consumer.wait(30) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
    print(f"\nproducer: {sent}\nconsumer: {received}")
    total = BATCHES * ROWS * 32
    # every row, once, in order
    assert received["in_order"] and received["rows"] == BATCHES * ROWS and received["ends"] == 1
    # the queue filled up to, and never beyond, its budget
    assert sent["max_buffered"] <= BUDGET
    assert received["max_gate_bytes"] <= BUDGET
    assert sent["max_buffered"] >= BUDGET - 2 * ROWS * 32
    # the producer ran at the consumer's pace, not its own
    assert sent["elapsed_s"] >= 0.5 * BATCHES * CONSUMER_SLEEP_S
    # memory stayed flat on both sides while 300 MiB went through
    assert sent["rss_growth"] < 48 * MiB < total / 6, sent
    assert received["rss_growth"] < 48 * MiB, received


def test_a_consumer_that_stops_reading_stops_the_producer_within_the_buffers():
    """What is in flight when a consumer stops: the producer's queue, the Flight stream window,
    the gate's channel buffer and a batch held by each thread; nothing else (no unbounded
    gRPC buffering)."""
    procs: list[subprocess.Popen] = []
    read_before_pause = 10
    try:
        producer = _spawn("producer", {"report_stall": True})
        procs.append(producer)
        address = _read_json_line(producer, 60)["address"]
        consumer = _spawn("consumer", {"address": address, "pause_after": read_before_pause})
        procs.append(consumer)
        assert _read_json_line(consumer, 60)["paused"] == read_before_pause
        stall = _read_json_line(producer, 60)
        assert consumer.stdin is not None
        consumer.stdin.write("resume\n")
        consumer.stdin.flush()
        received = _read_json_line(consumer, 150)
        sent = _read_json_line(producer, 60)
        assert producer.wait(30) == 0 and consumer.wait(30) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)
    batch_bytes = ROWS * 32
    in_flight = (stall["stalled_at"] - read_before_pause) * batch_bytes
    print(f"\nstalled with {in_flight / MiB:.2f} MiB in flight: {stall}")
    assert stall["buffered"] >= BUDGET - batch_bytes
    # producer queue + stream window + gate buffer, plus slack for batches held by threads and framing
    assert in_flight <= 3 * BUDGET + 4 * batch_bytes
    assert received["in_order"] and received["rows"] == BATCHES * ROWS and sent["consumed"]


def _producer_main(args: dict) -> None:
    with NetworkEnvironment("127.0.0.1", CONFIG) as env:
        partition = env.create_result_partition("bp", 1)
        writer = env.create_record_writer(partition, ForwardPartitioner())
        print(json.dumps({"address": env.address}), flush=True)
        peak = [0]
        done = threading.Event()

        def sample() -> None:  # the budget must hold at every moment, not only after emits
            while not done.is_set():
                peak[0] = max(peak[0], partition.buffered_bytes())
                time.sleep(0.0005)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        emitted = [0]
        if args.get("report_stall"):
            threading.Thread(target=_report_stall, args=(emitted, partition, done), daemon=True).start()
        baseline = rss_max = 0
        t0 = time.monotonic()
        for i in range(BATCHES):
            seq = np.arange(i * ROWS, (i + 1) * ROWS, dtype=np.int64)   # fresh buffers every batch
            writer.emit(pa.record_batch({"seq": seq, "a": seq * 2, "b": seq * 3, "c": seq * 5}))
            peak[0] = max(peak[0], partition.buffered_bytes())
            emitted[0] = writer.batches_out
            if i == 40:
                baseline = _rss()
            elif i > 40 and i % 10 == 0:
                rss_max = max(rss_max, _rss())
        writer.finish()
        elapsed = time.monotonic() - t0
        consumed = partition.wait_consumed(120)
        done.set()
        sampler.join(5)
        print(json.dumps({"max_buffered": peak[0], "rss_growth": rss_max - baseline, "elapsed_s": elapsed,
                          "consumed": consumed, "bytes": writer.bytes_out}), flush=True)


def _report_stall(emitted: list[int], partition, done: threading.Event) -> None:
    """Print how far the producer got once it has made no progress for 1 s."""
    last, since = -1, time.monotonic()
    while not done.is_set():
        if emitted[0] != last:
            last, since = emitted[0], time.monotonic()
        elif time.monotonic() - since >= 1.0:
            print(json.dumps({"stalled_at": last, "buffered": partition.buffered_bytes()}), flush=True)
            return
        time.sleep(0.01)


def _consumer_main(args: dict) -> None:
    with NetworkEnvironment("127.0.0.1", CONFIG) as env:
        gate = env.create_input_gate([Channel("bp", 0, args["address"])])
        expected, rows, ends, in_order, n = 0, 0, 0, True, 0
        baseline = rss_max = gate_peak = 0
        deadline = time.monotonic() + 150
        while not gate.is_finished():
            got = gate.poll(max(0.0, deadline - time.monotonic()))
            if got is None:
                break
            gate_peak = max(gate_peak, gate.buffered_bytes())
            item = got[1]
            if isinstance(item, EndOfPartition):
                ends += 1
                continue
            seq = item.column("seq").to_numpy()
            in_order &= bool(len(seq) and seq[0] == expected and (np.diff(seq) == 1).all())
            expected = int(seq[-1]) + 1 if len(seq) else expected
            rows += item.num_rows
            n += 1
            if n == args.get("pause_after"):
                print(json.dumps({"paused": n}), flush=True)
                sys.stdin.readline()
            if n == 40:
                baseline = _rss()
            elif n > 40 and n % 10 == 0:
                rss_max = max(rss_max, _rss())
            time.sleep(CONSUMER_SLEEP_S)  # the deliberately slow operator
        gate.close()
        print(json.dumps({"rows": rows, "ends": ends, "in_order": in_order,
                          "rss_growth": rss_max - baseline, "max_gate_bytes": gate_peak}), flush=True)


if __name__ == "__main__":
    {"producer": _producer_main, "consumer": _consumer_main}[sys.argv[1]](json.loads(sys.argv[2]))
