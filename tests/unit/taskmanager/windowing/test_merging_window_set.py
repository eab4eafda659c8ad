"""MergingWindowSet: Flink's merge-callback semantics, state-window bookkeeping, out-of-order
arrivals against independently computed sessions, snapshot/restore."""

import random

import pytest

from strom.client.api.windowing import EventTimeSessionWindows, TimeWindow
from strom.taskmanager.windowing import MergingWindowSet

T = TimeWindow


class Recorder:
    """A merge function that records its calls, like the window operator would receive them."""

    def __init__(self):
        self.calls = []

    def __call__(self, merge_result, merged_windows, state_window_result, merged_state_windows):
        self.calls.append((merge_result, list(merged_windows), state_window_result, list(merged_state_windows)))


def test_flink_merge_semantics_step_by_step():
    ws = MergingWindowSet(EventTimeSessionWindows.with_gap(10))
    rec = Recorder()
    assert ws.add_window(T(0, 10), rec) == T(0, 10)
    assert ws.add_window(T(20, 30), rec) == T(20, 30)
    assert rec.calls == []
    # a window bridging both: all three merge; the new window is never among the merged ones
    assert ws.add_window(T(5, 25), rec) == T(0, 30)
    assert rec.calls == [(T(0, 30), [T(0, 10), T(20, 30)], T(0, 10), [T(20, 30)])]
    assert ws.snapshot() == [(T(0, 30), T(0, 10))]
    # a window inside an existing one: no merge callback, the existing window is the result
    rec.calls.clear()
    assert ws.add_window(T(2, 8), rec) == T(0, 30)
    assert rec.calls == []
    # touching the end extends the window: the old window is merged into the new one's cover
    assert ws.add_window(T(30, 40), rec) == T(0, 40)
    assert rec.calls == [(T(0, 40), [T(0, 30)], T(0, 10), [])]
    assert ws.get_state_window(T(0, 40)) == T(0, 10)
    assert ws.windows() == [T(0, 40)]


def test_a_new_window_covering_an_existing_one_keeps_the_existing_state_window():
    ws = MergingWindowSet(EventTimeSessionWindows.with_gap(10))
    rec = Recorder()
    ws.add_window(T(5, 10), rec)
    assert ws.add_window(T(3, 12), rec) == T(3, 12)
    assert rec.calls == [(T(3, 12), [T(5, 10)], T(5, 10), [])]
    assert ws.get_state_window(T(3, 12)) == T(5, 10)


def test_a_new_window_equal_to_a_merged_one_keeps_its_state_window():
    ws = MergingWindowSet(EventTimeSessionWindows.with_dynamic_gap(lambda e: e))
    rec = Recorder()
    ws.add_window(T(5, 15), rec)
    ws.add_window(T(3, 13), rec)            # -> [3, 15), state window [5, 15)
    rec.calls.clear()
    assert ws.add_window(T(3, 15), rec) == T(3, 15)
    assert rec.calls == []
    assert ws.get_state_window(T(3, 15)) == T(5, 15)


def test_retire_window():
    ws = MergingWindowSet(EventTimeSessionWindows.with_gap(10))
    ws.add_window(T(0, 10), Recorder())
    ws.retire_window(T(0, 10))
    assert len(ws) == 0 and T(0, 10) not in ws
    with pytest.raises(ValueError, match="not in the in-flight window set"):
        ws.retire_window(T(0, 10))


def expected_sessions(elements, gap_of):
    """Sessions computed independently: union-find over all pairs of element windows that
    overlap or touch, each component's window the cover of its members."""
    windows = [(ts, ts + gap_of(value)) for value, ts in elements]
    parent = list(range(len(windows)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (s1, e1) in enumerate(windows):
        for j, (s2, e2) in enumerate(windows):
            if s1 <= e2 and e1 >= s2:
                parent[find(i)] = find(j)
    groups = {}
    for i in range(len(elements)):
        groups.setdefault(find(i), []).append(i)
    out = {}
    for members in groups.values():
        start = min(windows[i][0] for i in members)
        end = max(windows[i][1] for i in members)
        out[T(start, end)] = sorted(elements[i] for i in members)
    return out


def run_sessions(assigner, elements, snapshot_every=None):
    """Feed elements like the window operator: add the window, merge window contents through the
    merge function, append the element to the state window of the window it ended up in."""
    ws = MergingWindowSet(assigner)
    contents = {}

    def merge(merge_result, merged_windows, state_window_result, merged_state_windows):
        assert merge_result not in merged_windows or len(merged_windows) > 1
        for sw in merged_state_windows:
            contents.setdefault(state_window_result, []).extend(contents.pop(sw, []))

    for n, (value, ts) in enumerate(elements):
        (window,) = assigner.assign_windows(value, ts, None)
        actual = ws.add_window(window, merge)
        contents.setdefault(ws.get_state_window(actual), []).append((value, ts))
        if snapshot_every and n % snapshot_every == 0:
            ws = MergingWindowSet(assigner, ws.snapshot())  # a restore in the middle changes nothing
            assert not ws.changed
    # every state window belongs to exactly one in-flight window
    state_windows = [ws.get_state_window(w) for w in ws.windows()]
    assert sorted(state_windows) == sorted(contents)
    return {w: sorted(contents[ws.get_state_window(w)]) for w in ws.windows()}


@pytest.mark.parametrize("seed", range(25))
def test_sessions_with_out_of_order_arrivals_equal_the_independent_sessions(seed):
    rng = random.Random(seed)
    gap = rng.choice([1, 5, 10])
    timestamps = [rng.randint(-60, 200) for _ in range(rng.randint(1, 40))]
    elements = [(f"e{i}", ts) for i, ts in enumerate(timestamps)]
    expected = expected_sessions(elements, lambda v: gap)
    for order in range(3):
        shuffled = elements[:]
        random.Random(seed * 10 + order).shuffle(shuffled)
        assert run_sessions(EventTimeSessionWindows.with_gap(gap), shuffled, snapshot_every=order + 3) == expected


@pytest.mark.parametrize("seed", range(15))
def test_dynamic_gap_sessions_with_out_of_order_arrivals(seed):
    rng = random.Random(100 + seed)
    elements = [(rng.randint(1, 15), rng.randint(0, 150)) for _ in range(rng.randint(1, 30))]
    elements = [(f"{gap}:{i}", ts) for i, (gap, ts) in enumerate(elements)]

    def gap_of(value):
        return int(value.split(":")[0])

    expected = expected_sessions(elements, gap_of)
    assigner = EventTimeSessionWindows.with_dynamic_gap(gap_of)
    rng.shuffle(elements)
    assert run_sessions(assigner, elements) == expected


def test_exactly_gap_apart_merges_like_flink():
    # Flink: [0, 10) and [10, 20) touch, so elements at 0 and 10 with gap 10 form one session [0, 20)
    got = run_sessions(EventTimeSessionWindows.with_gap(10), [("a", 10), ("b", 0), ("c", 21)])
    assert got == {T(0, 20): [("a", 10), ("b", 0)], T(21, 31): [("c", 21)]}


def test_snapshot_restore_and_change_tracking():
    assigner = EventTimeSessionWindows.with_gap(5)
    ws = MergingWindowSet(assigner)
    assert not ws.changed
    ws.add_window(T(10, 15), Recorder())
    ws.add_window(T(0, 5), Recorder())
    assert ws.changed
    assert ws.snapshot() == [(T(0, 5), T(0, 5)), (T(10, 15), T(10, 15))]
    ws.mark_persisted()
    assert not ws.changed
    restored = MergingWindowSet(assigner, ws.snapshot())
    rec = Recorder()
    assert restored.add_window(T(4, 9), rec) == T(0, 9)
    assert rec.calls == [(T(0, 9), [T(0, 5)], T(0, 5), [])]
    assert restored.changed
