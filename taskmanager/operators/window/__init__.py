"""The window operator: windows on keyed streams, window_all, and (through them) window joins.

    operator.py     WindowOperator: assign, merge (sessions), trigger, evict, fire, clean up
    aligned.py      its fast path for tumbling/sliding windows with the default trigger
    sessions.py     its fast path for session windows with the default trigger
    functions.py    internal window functions: fired contents -> output records
    context.py      the ProcessWindowFunction context and its per-window / global state stores
    fields.py       sum/min/max of one field, as a reduce function

The decision logic it composes (assigners, triggers, evictors, merging window
sets, lateness) lives in ``strom.taskmanager.windowing``; the user API that
builds it in ``strom.client.api.windowed`` and ``strom.client.api.joins``.
"""

from strom.taskmanager.operators.window.context import WindowProcessContext
from strom.taskmanager.operators.window.fields import FieldAggregator
from strom.taskmanager.operators.window.functions import (
    AggregateApply,
    ApplyWindow,
    CompositeAggregate,
    CountAggregate,
    InternalWindowFunction,
    PassThrough,
    ProcessWindow,
    ReduceApply,
    WindowFields,
)
from strom.taskmanager.operators.window.operator import ALL_KEY, WindowMergeError, WindowOperator

__all__ = [
    "ALL_KEY", "AggregateApply", "ApplyWindow", "CompositeAggregate", "CountAggregate", "FieldAggregator",
    "InternalWindowFunction", "PassThrough", "ProcessWindow", "ReduceApply", "WindowFields",
    "WindowMergeError", "WindowOperator", "WindowProcessContext",
]
