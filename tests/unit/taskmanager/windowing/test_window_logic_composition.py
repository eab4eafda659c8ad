"""The pieces composed the way the window operator will compose them (one key, event time):
assigner -> MergingWindowSet -> trigger over the timer service -> lateness and cleanup.
Expected rows are worked out by hand in the comments."""

from strom.client.api.windowing import EventTimeSessionWindows, TumblingEventTimeWindows
from strom.taskmanager.time import InternalTimerService
from strom.taskmanager.windowing import (
    Lateness,
    MergingWindowAssigner,
    MergingWindowSet,
    TimeWindow,
    WindowTriggerContext,
)
from tests.unit.taskmanager.windowing.fakes import FakeTriggerStateStore

KEY = "k"


class MiniWindowOperator:
    """Just enough of Flink's WindowOperator.processElement/onEventTime for one key."""

    def __init__(self, assigner, allowed_lateness=0):
        self.assigner = assigner
        self.trigger = assigner.get_default_trigger()
        self.lateness = Lateness(allowed_lateness, assigner.is_event_time())
        self.timers = InternalTimerService()
        self.ctx = WindowTriggerContext(self.timers, FakeTriggerStateStore(), processing_time=lambda: 0)
        self.ctx.key = KEY
        self.merging = MergingWindowSet(assigner) if isinstance(assigner, MergingWindowAssigner) else None
        self.contents = {}
        self.fired, self.late = [], []

    def _merge(self, merge_result, merged_windows, state_window_result, merged_state_windows):
        assert not self.lateness.is_window_late(merge_result, self.timers.current_watermark)
        self.ctx.window, self.ctx.merged_windows = merge_result, merged_windows
        self.trigger.on_merge(merge_result, self.ctx)
        self.ctx.merged_windows = ()
        for m in merged_windows:
            self.ctx.window = m
            self.trigger.clear(m, self.ctx)
            self.timers.delete_event_time_timer(KEY, m, self.lateness.cleanup_time(m))
        for sw in merged_state_windows:
            self.contents.setdefault(state_window_result, []).extend(self.contents.pop(sw, []))

    def element(self, value, ts):
        accepted = False
        for window in self.assigner.assign_windows(value, ts, None):
            if self.merging is not None:
                window = self.merging.add_window(window, self._merge)
            if self.lateness.is_window_late(window, self.timers.current_watermark):
                if self.merging is not None:
                    self.merging.retire_window(window)
                continue
            accepted = True
            state_window = self.merging.get_state_window(window) if self.merging is not None else window
            self.contents.setdefault(state_window, []).append(value)
            self.ctx.window = window
            result = self.trigger.on_element(value, ts, window, self.ctx)
            self._act(window, state_window, result)
            if self.lateness.needs_cleanup_timer(window):
                self.timers.register_event_time_timer(KEY, window, self.lateness.cleanup_time(window))
        if not accepted and self.lateness.is_element_late(ts, self.timers.current_watermark):
            self.late.append(value)

    def watermark(self, wm):
        for timer in self.timers.advance_watermark(wm):
            window = timer.namespace
            state_window = window if self.merging is None else self.merging.get_state_window(window)
            if state_window is None:
                continue
            self.ctx.window = window
            self._act(window, state_window, self.trigger.on_event_time(timer.timestamp, window, self.ctx))
            if self.lateness.is_cleanup_time(window, timer.timestamp):
                self.contents.pop(state_window, None)
                self.trigger.clear(window, self.ctx)
                if self.merging is not None:
                    self.merging.retire_window(window)

    def _act(self, window, state_window, result):
        if result.is_fire and self.contents.get(state_window):
            self.fired.append((window, sorted(self.contents[state_window])))
        if result.is_purge:
            self.contents.pop(state_window, None)


def test_event_time_sessions_out_of_order_with_a_late_element():
    op = MiniWindowOperator(EventTimeSessionWindows.with_gap(10))
    for value, ts in (("a", 1), ("b", 25), ("c", 12)):
        op.element(value, ts)         # [1,11) [25,35) [12,22): three sessions, none touching
    op.element("d", 21)               # [21,31) bridges [12,22) and [25,35) -> [12,35)
    assert sorted(op.merging.windows()) == [TimeWindow(1, 11), TimeWindow(12, 35)]
    op.watermark(20)                  # passes 10, the end of [1,11)
    assert op.fired == [(TimeWindow(1, 11), ["a"])]
    op.element("e", 0)                # [0,10) ends at 9 <= watermark 20 and touches nothing: late
    assert op.late == ["e"]
    op.element("f", 5)                # [5,15) is behind the watermark too, but it touches [12,35):
    assert op.late == ["e"]           # the merged [5,35) ends at 34 > 20, so "f" is on time
    assert op.merging.windows() == [TimeWindow(5, 35)]
    op.watermark(33)
    assert len(op.fired) == 1
    op.watermark(34)                  # the end of [5,35) is 34
    assert op.fired[1:] == [(TimeWindow(5, 35), ["b", "c", "d", "f"])]
    assert op.merging.windows() == [] and op.contents == {} and op.timers.num_event_time_timers() == 0


def test_tumbling_windows_with_allowed_lateness_fire_again_then_drop():
    op = MiniWindowOperator(TumblingEventTimeWindows.of(10), allowed_lateness=5)
    op.element("a", 3)
    op.element("b", 12)
    op.watermark(9)                   # [0,10) fires at 9; its state lives until 9 + 5 = 14
    assert op.fired == [(TimeWindow(0, 10), ["a"])]
    op.element("c", 7)                # late but within the allowed lateness: fires again at once
    assert op.fired[1:] == [(TimeWindow(0, 10), ["a", "c"])]
    op.watermark(14)                  # cleanup of [0,10)
    op.element("d", 8)                # now too late: dropped to the side output
    assert op.late == ["d"]
    op.watermark(19)
    assert op.fired[2:] == [(TimeWindow(10, 20), ["b"])]
