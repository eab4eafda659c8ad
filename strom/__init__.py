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

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'strom' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
