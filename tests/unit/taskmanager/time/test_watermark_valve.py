"""WatermarkValve: min over active channels, idle channels, all idle, re-activation, end of input."""

import random

import pytest

from strom.taskmanager.network.events import Watermark
from strom.taskmanager.time import MAX_WATERMARK, MIN_WATERMARK, WatermarkStatus, WatermarkValve

IDLE, ACTIVE = WatermarkStatus.IDLE, WatermarkStatus.ACTIVE
W = Watermark


def test_the_operator_watermark_is_the_minimum_and_is_sent_only_when_it_advances():
    v = WatermarkValve(3)
    assert v.input_watermark(0, 10) == []            # others still at MIN
    assert v.input_watermark(1, 20) == []
    assert v.input_watermark(2, 5) == [W(5)]
    assert v.input_watermark(2, 30) == [W(10)]
    assert v.input_watermark(0, 15) == [W(15)]
    assert v.input_watermark(1, 25) == []            # min is still channel 0 at 15
    assert v.input_watermark(0, 14) == []            # a channel never goes back
    assert v.channel_watermark(0) == 15
    assert v.current_watermark == 15


def test_an_idle_channel_does_not_hold_the_watermark_back():
    v = WatermarkValve(2)
    assert v.input_watermark(0, 100) == []
    assert v.input_watermark_status(1, IDLE) == [W(100)]
    assert v.input_watermark(0, 200) == [W(200)]
    assert v.input_watermark(1, 50) == []            # watermarks of an idle channel are ignored
    assert v.status is ACTIVE


def test_all_idle_flushes_the_highest_watermark_and_goes_idle():
    v = WatermarkValve(2)
    v.input_watermark(0, 10)
    assert v.input_watermark(1, 40) == [W(10)]
    assert v.input_watermark_status(1, IDLE) == []     # channel 1 was not the minimum
    assert v.input_watermark_status(0, IDLE) == [W(40), IDLE]
    assert v.status is IDLE
    assert v.input_watermark(0, 500) == []            # the valve is idle: ignored
    assert v.input_watermark_status(0, IDLE) == []    # no change, no output


def test_a_returning_channel_behind_the_output_does_not_pull_it_back():
    v = WatermarkValve(2)
    v.input_watermark(0, 100)
    v.input_watermark(1, 100)
    assert v.current_watermark == 100
    v.input_watermark_status(1, IDLE)
    assert v.input_watermark(0, 300) == [W(300)]
    assert v.input_watermark_status(1, ACTIVE) == []  # back at 100 < 300: not aligned yet
    assert v.input_watermark(0, 400) == [W(400)]     # only channel 0 counts
    assert v.input_watermark(1, 350) == []           # still behind
    assert v.input_watermark(1, 450) == [] and v.current_watermark == 400
    assert v.input_watermark(0, 500) == [W(450)]     # now channel 1 (450) is aligned and the minimum


def test_becoming_active_after_all_idle_announces_it():
    v = WatermarkValve(2)
    v.input_watermark_status(0, IDLE)
    assert v.input_watermark_status(1, IDLE) == [IDLE]
    assert v.input_watermark_status(1, ACTIVE) == [ACTIVE]
    assert v.input_watermark(1, 7) == [W(7)]


def test_end_of_input_is_the_end_of_event_time_per_channel():
    v = WatermarkValve(2)
    v.input_watermark(0, 10)
    v.input_watermark(1, 20)
    assert v.end_of_input(0) == [W(20)]
    assert not v.all_ended
    assert v.end_of_input(1) == [W(MAX_WATERMARK)]
    assert v.end_of_input(1) == []
    assert v.all_ended


def test_end_of_an_idle_channel_reactivates_it_first():
    v = WatermarkValve(2)
    v.input_watermark_status(0, IDLE)
    v.input_watermark_status(1, IDLE)
    assert v.end_of_input(0) == [ACTIVE, W(MAX_WATERMARK)]


def test_one_channel():
    v = WatermarkValve(1)
    assert v.input_watermark(0, MIN_WATERMARK) == []
    assert v.input_watermark(0, -5) == [W(-5)]
    assert v.input_watermark_status(0, IDLE) == [IDLE]


def test_needs_a_channel():
    with pytest.raises(ValueError):
        WatermarkValve(0)


@pytest.mark.parametrize("seed", range(20))
def test_without_idleness_the_output_is_exactly_the_running_minimum(seed):
    """Against an independent model: per-channel maxima, output = min when it grows."""
    rng = random.Random(seed)
    n = rng.randint(1, 5)
    v = WatermarkValve(n)
    channel_max = [MIN_WATERMARK] * n
    last = MIN_WATERMARK
    for _ in range(200):
        ch, wm = rng.randrange(n), rng.randint(-1_000, 1_000)
        channel_max[ch] = max(channel_max[ch], wm)
        expected = [W(min(channel_max))] if min(channel_max) > last else []
        last = max(last, min(channel_max))
        assert v.input_watermark(ch, wm) == expected


@pytest.mark.parametrize("seed", range(20))
def test_with_idleness_outputs_only_grow_and_never_pass_a_channel_watermark(seed):
    rng = random.Random(seed)
    n = rng.randint(2, 4)
    v = WatermarkValve(n)
    outputs = []
    for _ in range(300):
        ch = rng.randrange(n)
        roll = rng.random()
        if roll < 0.15:
            out = v.input_watermark_status(ch, IDLE)
        elif roll < 0.3:
            out = v.input_watermark_status(ch, ACTIVE)
        else:
            out = v.input_watermark(ch, rng.randint(0, 10_000))
        for event in out:
            if isinstance(event, Watermark):
                assert not outputs or event.timestamp > outputs[-1]
                assert event.timestamp <= max(v.channel_watermark(i) for i in range(n))
                outputs.append(event.timestamp)
        statuses = [e for e in out if isinstance(e, WatermarkStatus)]
        assert statuses in ([], [v.status])
        assert (v.status is IDLE) == all(v.is_channel_idle(i) for i in range(n))
