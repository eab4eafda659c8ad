"""Windows on keyed streams: the pure decision logic the window operator uses.

- ``windows``: ``TimeWindow``, ``GlobalWindow``, Flink's window-start and merge rules
- ``assigners``: tumbling, sliding, session and global window assigners
- ``vectorized``: window starts for whole timestamp arrays (the Arrow fast path)
- ``triggers``: ``Trigger``, ``TriggerResult`` and the built-in triggers
- ``evictors``: ``CountEvictor``, ``TimeEvictor``, ``DeltaEvictor``
- ``merging``: ``MergingWindowSet``, the per-key bookkeeping of session windows
- ``lateness``: allowed lateness and cleanup times
- ``context``: ``WindowTriggerContext``, triggers over the timer service and a state store

All times are int milliseconds.
"""

from strom.taskmanager.windowing.assigners import (
    AlignedWindowAssigner,
    EventTimeSessionWindows,
    GlobalWindows,
    MergingWindowAssigner,
    ProcessingTimeSessionWindows,
    SessionWindowTimeGapExtractor,
    SlidingEventTimeWindows,
    SlidingProcessingTimeWindows,
    TumblingEventTimeWindows,
    TumblingProcessingTimeWindows,
    WindowAssigner,
    WindowAssignerContext,
)
from strom.taskmanager.windowing.context import TriggerStateStore, WindowTriggerContext
from strom.taskmanager.windowing.evictors import (
    CountEvictor,
    DeltaEvictor,
    Evictor,
    EvictorContext,
    TimeEvictor,
    TimestampedValue,
)
from strom.taskmanager.windowing.lateness import (
    Lateness,
    cleanup_time,
    is_cleanup_time,
    is_element_late,
    is_late,
)
from strom.taskmanager.windowing.merging import MergeFunction, MergingWindowSet
from strom.taskmanager.windowing.triggers import (
    ContinuousEventTimeTrigger,
    CountTrigger,
    EventTimeTrigger,
    NeverTrigger,
    OnMergeContext,
    ProcessingTimeTrigger,
    PurgingTrigger,
    ReducingStateView,
    Trigger,
    TriggerContext,
    TriggerResult,
    TriggerStateDescriptor,
)
from strom.taskmanager.windowing.vectorized import sliding_window_starts, tumbling_window_starts
from strom.taskmanager.windowing.windows import GlobalWindow, MergeCallback, TimeWindow, Window, merge_windows

__all__ = [
    "AlignedWindowAssigner", "ContinuousEventTimeTrigger", "CountEvictor", "CountTrigger", "DeltaEvictor",
    "EventTimeSessionWindows", "EventTimeTrigger", "Evictor", "EvictorContext", "GlobalWindow", "GlobalWindows",
    "Lateness", "MergeCallback", "MergeFunction", "MergingWindowAssigner", "MergingWindowSet", "NeverTrigger",
    "OnMergeContext", "ProcessingTimeSessionWindows", "ProcessingTimeTrigger", "PurgingTrigger",
    "ReducingStateView", "SessionWindowTimeGapExtractor", "SlidingEventTimeWindows",
    "SlidingProcessingTimeWindows", "TimeEvictor", "TimeWindow", "TimestampedValue", "Trigger",
    "TriggerContext", "TriggerResult", "TriggerStateDescriptor", "TriggerStateStore",
    "TumblingEventTimeWindows", "TumblingProcessingTimeWindows", "Window", "WindowAssigner",
    "WindowAssignerContext", "WindowTriggerContext", "cleanup_time", "is_cleanup_time", "is_element_late",
    "is_late", "merge_windows", "sliding_window_starts", "tumbling_window_starts",
]
