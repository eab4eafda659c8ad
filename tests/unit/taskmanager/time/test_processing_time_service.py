"""ProcessingTimeService with a manual clock: order, the 1 ms rule, cancel, shutdown."""

import pickle

import pytest

from strom.taskmanager.time import VOID_NAMESPACE, ManualClock, ProcessingTimeService, SystemClock


def test_callbacks_run_in_time_order_once_time_is_past_them():
    clock = ManualClock(0)
    pts = ProcessingTimeService(clock)
    out = []
    for ts, name in ((30, "c"), (10, "a"), (30, "d"), (20, "b")):
        pts.register_timer(ts, lambda t, name=name: out.append((t, name)))
    assert pts.next_timer_time() == 10
    assert pts.time_until_next_ms() == 11
    clock.set(30)
    assert pts.run_due() == 2
    clock.set(31)
    assert pts.run_due() == 2
    assert out == [(10, "a"), (20, "b"), (30, "c"), (30, "d")]
    assert pts.time_until_next_ms() is None


def test_cancelled_callbacks_do_not_run():
    clock = ManualClock(0)
    pts = ProcessingTimeService(clock)
    out = []
    handle = pts.register_timer(5, out.append)
    pts.register_timer(6, out.append)
    handle.cancel()
    assert len(pts) == 1
    clock.set(100)
    pts.run_due()
    assert out == [6]


def test_a_callback_may_register_one_that_is_already_due():
    clock = ManualClock(50)
    pts = ProcessingTimeService(clock)
    out = []

    def first(t):
        out.append(t)
        pts.register_timer(40, out.append)

    pts.register_timer(10, first)
    assert pts.run_due() == 2
    assert out == [10, 40]


def test_shutdown_cancels_everything():
    clock = ManualClock(0)
    pts = ProcessingTimeService(clock)
    out = []
    pts.register_timer(1, out.append)
    pts.shutdown()
    late = pts.register_timer(2, out.append)
    clock.set(10)
    assert pts.run_due() == 0 and out == [] and late.cancelled


def test_clocks():
    clock = ManualClock(5)
    clock.advance(5)
    assert clock.now_ms() == clock.relative_ms() == 10
    with pytest.raises(ValueError):
        clock.set(9)
    with pytest.raises(ValueError):
        clock.advance(-1)
    system = SystemClock()
    assert system.now_ms() > 1_600_000_000_000
    assert system.relative_ms() <= system.relative_ms()


def test_the_void_namespace_is_one_value_even_after_pickling():
    assert pickle.loads(pickle.dumps(VOID_NAMESPACE)) is VOID_NAMESPACE
