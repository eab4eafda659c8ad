"""Every file in examples/ runs with `strom run` on the embedded local cluster, and
its output equals what a single-process computation in this test gives."""

from __future__ import annotations

import csv
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from strom.client.local.process import strom_command

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _rows(out: Path) -> list[list[str]]:
    rows = []
    for part in sorted(out.glob("part-*")):
        with open(part, newline="", encoding="utf-8") as f:
            rows.extend(csv.reader(f))
    return rows


def expected_wordcount() -> list[list[str]]:
    text = (EXAMPLES / "data" / "words.txt").read_text(encoding="utf-8")
    return sorted([w, str(c)] for w, c in Counter(text.split()).items())


def expected_bids() -> list[tuple]:
    rows = []
    with open(EXAMPLES / "data" / "bids.csv") as f:
        next(f)
        for line in f:
            a, b, p, t = line.strip().split(",")
            if int(a) % 123 == 0:
                rows.append((int(a), int(b), round(int(p) * 0.908, 6), int(t)))
    return sorted(rows)


def expected_alerts() -> list[tuple]:
    """Per account, a transaction under 1.00 followed (next) by one over 500.00 at most a minute later."""
    flagged_until: dict[str, int] = {}
    alerts = []
    with open(EXAMPLES / "data" / "transactions.csv") as f:
        next(f)
        for line in f:
            account, amount, ms = line.strip().split(",")
            until = flagged_until.pop(account, None)
            if until is not None and float(amount) > 500 and int(ms) <= until:
                alerts.append((account, int(ms), float(amount)))
            if float(amount) < 1:
                flagged_until[account] = int(ms) + 60_000
    return sorted(alerts)


def expected_highest_bids() -> list[tuple]:
    """Nexmark q7: per 10 s window of event time, every bid with the window's highest price."""
    windows: dict[int, list[tuple[int, int, int, int]]] = {}
    with open(EXAMPLES / "data" / "bids.csv") as f:
        next(f)
        for line in f:
            a, b, p, t = map(int, line.strip().split(","))
            windows.setdefault(t - t % 10_000, []).append((a, b, p, t))
    return sorted((start, start + 10_000, *bid) for start, bids in windows.items()
                  for bid in bids if bid[2] == max(b[2] for b in bids))


def expected_windowed_join() -> list[tuple]:
    """Each bid with every listing of its auction in the same 10 s window [k * 10 s, (k + 1) * 10 s)."""
    def read(name: str) -> list[list[str]]:
        with open(EXAMPLES / "data" / name) as f:
            return [line.strip().split(",") for line in f.readlines()[1:]]

    listings: dict[tuple[int, int], list[list[str]]] = {}
    for auction, seller, category, ms in read("auctions.csv"):
        listings.setdefault((int(auction), int(ms) // 10_000), []).append([seller, category])
    return sorted((int(a), int(b), int(p), int(seller), category)
                  for a, b, p, ms in read("bids.csv")
                  for seller, category in listings.get((int(a), int(ms) // 10_000), []))


CHECKS = {
    "wordcount.py": lambda out: sorted(_rows(out)) == expected_wordcount(),
    "bids_filter.py": lambda out: sorted((int(a), int(b), round(float(p), 6), int(t)) for a, b, p, t in _rows(out))
    == expected_bids(),
    "fraud_detection.py": lambda out: sorted((a, int(t), float(x)) for a, t, x in _rows(out)) == expected_alerts(),
    "nexmark_q7.py": lambda out: sorted(tuple(map(int, row)) for row in _rows(out)) == expected_highest_bids(),
    "windowed_join.py": lambda out: sorted((int(a), int(b), int(p), int(s), c) for a, b, p, s, c in _rows(out))
    == expected_windowed_join(),
}


def test_every_example_has_a_check():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_runs_on_the_embedded_cluster(name, tmp_path):
    out = tmp_path / "out"
    env_conf = tmp_path / "conf"
    env_conf.mkdir()
    import os

    env = {k: v for k, v in os.environ.items() if k != "STROM_PROPERTIES"}
    env["STROM_CONF_DIR"] = str(env_conf)
    r = subprocess.run(strom_command(["run", "-p", "2", str(EXAMPLES / name), "--output", str(out)]),
                       capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert CHECKS[name](out), f"{name} produced unexpected output: {_rows(out)[:5]}"
