"""Event time and processing time: the pure decision logic the time-aware operators use.

- ``timestamps``: checking event times from assigners and Arrow columns
- ``watermarks``: watermark generators (bounded out-of-orderness, idleness)
- ``strategy``: ``WatermarkSpec``, what a user's WatermarkStrategy compiles to
- ``emitter``: ``TimestampsAndWatermarks``, the logic of assign_timestamps_and_watermarks
- ``valve``: ``WatermarkValve``, per-channel watermarks and idleness -> the operator's watermark
- ``timers``: ``InternalTimerService``, deduplicated event/processing-time timers per key
- ``processing_time``: ``ProcessingTimeService``, callbacks at processing times on the task thread
- ``clock``: ``SystemClock`` and ``ManualClock``

All times are int milliseconds. Nothing here starts a thread or reads the
system clock except through a ``Clock``.
"""

from strom.taskmanager.state.descriptor import VOID_NAMESPACE  # one void namespace for state and timers
from strom.taskmanager.time.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock
from strom.taskmanager.time.durations import DurationLike, to_millis
from strom.taskmanager.time.emitter import (
    DEFAULT_WATERMARK_INTERVAL_MS,
    TimestampsAndWatermarks,
    WatermarkEmitter,
    WatermarkOutputEvent,
)
from strom.taskmanager.time.errors import MissingTimestampError, TimestampAssignmentError
from strom.taskmanager.time.processing_time import ProcessingTimeService, ScheduledTimer
from strom.taskmanager.time.strategy import WatermarkSpec
from strom.taskmanager.time.timers import InternalTimer, InternalTimerService, TimerSnapshot
from strom.taskmanager.time.timestamps import (
    MAX_TIMESTAMP,
    MIN_TIMESTAMP,
    NO_TIMESTAMP,
    TimestampAssigner,
    check_timestamp,
    timestamp_function,
    timestamps_from_column,
    to_millis_array,
)
from strom.taskmanager.time.valve import WatermarkValve
from strom.taskmanager.time.watermarks import (
    MAX_WATERMARK,
    MIN_WATERMARK,
    BoundedOutOfOrdernessWatermarks,
    IdlenessTimer,
    NoWatermarksGenerator,
    WatermarkGenerator,
    WatermarkOutput,
    WatermarkStatus,
    WatermarksWithIdleness,
)

__all__ = [
    "DEFAULT_WATERMARK_INTERVAL_MS", "MAX_TIMESTAMP", "MAX_WATERMARK", "MIN_TIMESTAMP", "MIN_WATERMARK",
    "NO_TIMESTAMP", "SYSTEM_CLOCK", "VOID_NAMESPACE",
    "BoundedOutOfOrdernessWatermarks", "Clock", "DurationLike", "IdlenessTimer", "InternalTimer",
    "InternalTimerService", "ManualClock", "MissingTimestampError", "NoWatermarksGenerator",
    "ProcessingTimeService", "ScheduledTimer", "SystemClock", "TimerSnapshot", "TimestampAssigner",
    "TimestampAssignmentError", "TimestampsAndWatermarks", "WatermarkEmitter", "WatermarkGenerator",
    "WatermarkOutput", "WatermarkOutputEvent", "WatermarkSpec", "WatermarkStatus", "WatermarkValve",
    "WatermarksWithIdleness", "check_timestamp", "timestamp_function", "timestamps_from_column",
    "to_millis", "to_millis_array",
]
