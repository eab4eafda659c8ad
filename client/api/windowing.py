"""Windows in the user API: assigners, triggers, evictors and windows (PyFlink's names).

    from strom.client.api.time import Time
    from strom.client.api.windowing import TumblingEventTimeWindows, CountTrigger, GlobalWindows

    bids.key_by(lambda b: b["auction"]) \\
        .window(TumblingEventTimeWindows.of(Time.seconds(10))) \\
        .reduce(lambda a, b: a if a["price"] >= b["price"] else b)

    clicks.key_by(lambda c: c[0]).window(GlobalWindows.create()).trigger(CountTrigger.of(100))

These are the runtime's own classes (``strom.taskmanager.windowing``), so what
a job builds is exactly what its tasks run. Sizes, slides, offsets and gaps
take a ``Duration`` or ``Time`` (``strom.client.api.time``), a
``datetime.timedelta`` or int milliseconds.
"""

from __future__ import annotations

from strom.taskmanager.windowing.assigners import (
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
)
from strom.taskmanager.windowing.evictors import (
    CountEvictor,
    DeltaEvictor,
    Evictor,
    TimeEvictor,
    TimestampedValue,
)
from strom.taskmanager.windowing.triggers import (
    ContinuousEventTimeTrigger,
    CountTrigger,
    EventTimeTrigger,
    ProcessingTimeTrigger,
    PurgingTrigger,
    Trigger,
    TriggerContext,
    TriggerResult,
    TriggerStateDescriptor,
)
from strom.taskmanager.windowing.windows import GlobalWindow, TimeWindow, Window

__all__ = [
    "ContinuousEventTimeTrigger", "CountEvictor", "CountTrigger", "DeltaEvictor", "EventTimeSessionWindows",
    "EventTimeTrigger", "Evictor", "GlobalWindow", "GlobalWindows", "MergingWindowAssigner",
    "ProcessingTimeSessionWindows", "ProcessingTimeTrigger", "PurgingTrigger", "SessionWindowTimeGapExtractor",
    "SlidingEventTimeWindows", "SlidingProcessingTimeWindows", "TimeEvictor", "TimeWindow", "TimestampedValue",
    "Trigger", "TriggerContext", "TriggerResult", "TriggerStateDescriptor", "TumblingEventTimeWindows",
    "TumblingProcessingTimeWindows", "Window", "WindowAssigner",
]
