"""Strom: a stateful, distributed stream processor for Python.

    from strom import StreamExecutionEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection(["a b", "b"]).flat_map(str.split).print()
    env.execute("hello")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "StreamExecutionEnvironment": "strom.client.api.environment",
    "RuntimeExecutionMode": "strom.client.api.environment",
    "DataStream": "strom.client.api.datastream",
    "KeyedStream": "strom.client.api.datastream",
    "JobExecutionResult": "strom.client.api.environment",
    "JobClient": "strom.client.api.environment",
}


def _names(module: str, *names: str) -> None:
    _PUBLIC.update(dict.fromkeys(names, module))


# PyFlink spreads these over pyflink.common and pyflink.datastream(.window, .state, .functions);
# the same names are importable from ``strom`` directly.
_names("strom.client.api.time", "WatermarkStrategy", "Duration", "Time", "TimestampAssigner")
_names("strom.client.api.state", "ValueStateDescriptor", "ListStateDescriptor", "MapStateDescriptor",
       "ReducingStateDescriptor", "AggregatingStateDescriptor", "StateTtlConfig", "AggregateFunction")
_names("strom.client.api.functions", "MapFunction", "FlatMapFunction", "FilterFunction", "ReduceFunction",
       "KeySelector", "ProcessFunction", "KeyedProcessFunction", "RuntimeContext", "TimeDomain", "TimerService",
       "OutputTag")
_names("strom.client.api.co_functions", "CoMapFunction", "CoFlatMapFunction", "CoProcessFunction",
       "KeyedCoProcessFunction", "BroadcastProcessFunction", "KeyedBroadcastProcessFunction", "ProcessJoinFunction")
_names("strom.client.api.window_functions", "ProcessWindowFunction", "ProcessAllWindowFunction", "WindowFunction",
       "AllWindowFunction", "JoinFunction", "CoGroupFunction")
_names("strom.client.api.windowing", "TumblingEventTimeWindows", "TumblingProcessingTimeWindows",
       "SlidingEventTimeWindows", "SlidingProcessingTimeWindows", "EventTimeSessionWindows",
       "ProcessingTimeSessionWindows", "GlobalWindows", "TimeWindow", "GlobalWindow", "CountTrigger",
       "EventTimeTrigger", "ProcessingTimeTrigger", "PurgingTrigger", "ContinuousEventTimeTrigger", "Trigger",
       "TriggerResult", "CountEvictor", "TimeEvictor", "DeltaEvictor")
_names("strom.client.api.connectors", "FileSink", "DataGeneratorSource")

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'strom' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
