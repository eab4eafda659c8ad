"""Triggers: results for element and timer sequences, over a real timer service and a manual clock."""

import pytest

from strom.client.api.windowing import (
    ContinuousEventTimeTrigger,
    CountTrigger,
    EventTimeTrigger,
    GlobalWindow,
    ProcessingTimeTrigger,
    PurgingTrigger,
    TimeWindow,
    TriggerResult,
)
from strom.taskmanager.windowing import NeverTrigger, Trigger
from tests.unit.taskmanager.windowing.fakes import FakeWindowDriver

CONTINUE, FIRE, PURGE, FIRE_AND_PURGE = (TriggerResult.CONTINUE, TriggerResult.FIRE, TriggerResult.PURGE,
                                         TriggerResult.FIRE_AND_PURGE)
W1, W2 = TimeWindow(0, 10), TimeWindow(10, 20)


def test_trigger_result_flags():
    assert [(r.is_fire, r.is_purge) for r in TriggerResult] == [
        (False, False), (True, False), (False, True), (True, True)]


def test_event_time_trigger_fires_once_the_watermark_passes_the_window_end():
    d = FakeWindowDriver(EventTimeTrigger.create())
    assert d.element("a", 3, W1) == CONTINUE
    assert d.element("b", 15, W2) == CONTINUE
    assert d.element("c", 4, W1) == CONTINUE          # same timer: deduplicated
    assert d.timers.num_event_time_timers() == 2
    assert d.watermark(8) == []
    assert d.watermark(9) == [(9, W1, FIRE)]
    assert d.element("late", 5, W1) == FIRE           # window end already passed: fire at once
    assert d.watermark(100) == [(19, W2, FIRE)]


def test_event_time_trigger_clear_deletes_its_timer():
    d = FakeWindowDriver(EventTimeTrigger())
    d.element("a", 3, W1)
    d.clear(W1)
    assert d.watermark(100) == []


def test_event_time_trigger_on_merge_registers_only_future_ends():
    d = FakeWindowDriver(EventTimeTrigger())
    d.element("a", 1, TimeWindow(0, 5))
    d.element("b", 6, TimeWindow(6, 11))
    d.merge(TimeWindow(0, 11), [TimeWindow(0, 5), TimeWindow(6, 11)])
    assert [(t.timestamp, t.namespace) for t in d.timers.event_time_timers()] == [(10, TimeWindow(0, 11))]
    d.watermark(50)
    d.merge(TimeWindow(0, 30), [TimeWindow(0, 11)])    # the end is already past: nothing registered
    assert d.timers.num_event_time_timers() == 0


def test_processing_time_trigger_fires_after_the_window_end():
    d = FakeWindowDriver(ProcessingTimeTrigger.create(), start_ms=2)
    assert d.element("a", 0, W1) == CONTINUE
    assert d.advance_processing_time(9) == []
    assert d.advance_processing_time(10) == [(9, W1, FIRE)]
    assert d.element("b", 0, W2) == CONTINUE
    d.clear(W2)
    assert d.advance_processing_time(100) == []


def test_count_trigger_fires_every_n_elements_per_window():
    d = FakeWindowDriver(CountTrigger.of(3))
    results = [d.element(i, 0, GlobalWindow.get()) for i in range(7)]
    assert results == [CONTINUE, CONTINUE, FIRE, CONTINUE, CONTINUE, FIRE, CONTINUE]
    assert d.element("x", 0, W1) == CONTINUE   # its own count per window
    assert d.watermark(10**6) == []            # no timers


def test_count_trigger_merges_counts_and_clear_resets():
    d = FakeWindowDriver(CountTrigger.of(4))
    a, b, merged = TimeWindow(0, 5), TimeWindow(6, 11), TimeWindow(0, 11)
    d.element(1, 1, a)
    d.element(2, 2, a)
    d.element(3, 7, b)
    d.merge(merged, [a, b])
    assert d.state.values == {("k", merged, "count"): 3}
    assert d.element(4, 3, merged) == FIRE
    d.element(5, 3, merged)
    d.clear(merged)
    assert d.state.values == {}


def test_purging_trigger_turns_fire_into_fire_and_purge():
    d = FakeWindowDriver(PurgingTrigger.of(CountTrigger.of(2)))
    assert [d.element(i, 0, GlobalWindow()) for i in range(4)] == [CONTINUE, FIRE_AND_PURGE, CONTINUE, FIRE_AND_PURGE]
    e = FakeWindowDriver(PurgingTrigger.of(EventTimeTrigger()))
    e.element("a", 1, W1)
    assert e.watermark(9) == [(9, W1, FIRE_AND_PURGE)]
    assert PurgingTrigger.of(EventTimeTrigger()).can_merge()
    assert repr(PurgingTrigger.of(CountTrigger.of(2))) == "PurgingTrigger(CountTrigger(2))"


def test_continuous_event_time_trigger_fires_every_interval_and_at_the_end():
    d = FakeWindowDriver(ContinuousEventTimeTrigger.of(3))
    window = TimeWindow(0, 10)
    assert d.element("a", 1, window) == CONTINUE       # next fire at 3
    assert d.element("b", 2, window) == CONTINUE
    fired = d.watermark(100)
    # fires at 3, 6, 9 (the window's end is 9: both the end timer and the interval timer are 9)
    assert [(t, r) for t, _, r in fired] == [(3, FIRE), (6, FIRE), (9, FIRE)]


def test_never_trigger_and_merging_support():
    d = FakeWindowDriver(NeverTrigger())
    assert d.element("a", 0, GlobalWindow()) == CONTINUE
    assert d.watermark(10**6) == []
    assert all(t.can_merge() for t in (EventTimeTrigger(), ProcessingTimeTrigger(), CountTrigger.of(1),
                                       ContinuousEventTimeTrigger.of(5), NeverTrigger()))
    assert not Trigger().can_merge()
    with pytest.raises(NotImplementedError, match="does not support merging"):
        Trigger().on_merge(W1, d.ctx)


def test_invalid_trigger_arguments():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive element count"):
            CountTrigger.of(bad)
    with pytest.raises(ValueError, match="interval must be positive"):
        ContinuousEventTimeTrigger.of(0)


def test_trigger_state_lives_in_the_real_keyed_state_backend():
    from strom.taskmanager.state import HashMapKeyedStateBackend
    from strom.taskmanager.time import InternalTimerService
    from strom.taskmanager.windowing import WindowTriggerContext

    backend = HashMapKeyedStateBackend.for_subtask(0, 1)
    ctx = WindowTriggerContext(InternalTimerService(), backend, processing_time=lambda: 0)
    trigger = CountTrigger.of(3)
    a, b, merged = TimeWindow(0, 5), TimeWindow(6, 11), TimeWindow(0, 11)

    def element(key, window):
        backend.set_current_key(key)
        ctx.key, ctx.window = key, window
        return trigger.on_element(None, 0, window, ctx)

    assert [element("x", a), element("y", a), element("x", a), element("x", b)] == [CONTINUE] * 4
    backend.set_current_key("x")
    ctx.key, ctx.window, ctx.merged_windows = "x", merged, [a, b]
    trigger.on_merge(merged, ctx)        # x: 2 in a + 1 in b = 3 in the merged window
    ctx.merged_windows = ()
    assert element("x", merged) == FIRE  # the 4th element of x's merged session
    assert element("y", a) == CONTINUE   # y counts on its own: 2
    assert element("y", a) == FIRE
