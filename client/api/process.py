"""``DataStream.process`` and ``KeyedStream.process``: process functions in the job graph.

    alerts = (transactions
              .key_by(lambda t: t[0])
              .process(FraudDetector())
              .name("fraud-detector").uid("fraud-detector"))

A ``ProcessFunction`` (or a plain ``fn(value, ctx)``) works on any stream; a
``KeyedProcessFunction`` needs a keyed stream, where it gets keyed state and
timers. The keyed step holds state, so it needs a ``uid`` when the job sets
``pipeline.auto-generate-uids: false``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strom.client.api.functions import KeyedProcessFunction, implements_on_timer
from strom.taskmanager.operators.process import KeyedProcessOperator, ProcessOperator

if TYPE_CHECKING:
    from strom.client.api.datastream import DataStream, KeyedStream


def _check_function(fn: Any, method: str) -> None:
    if isinstance(fn, type):
        raise TypeError(f"{method} expects an instance, got the class {fn.__name__}: write {fn.__name__}()")
    if not (callable(getattr(fn, "process_element", None)) or callable(fn)):
        raise TypeError(f"{method} expects a ProcessFunction (an object with process_element(value, ctx)) or a "
                        f"function of (value, ctx), got {type(fn).__name__}")


def process_stream(stream: DataStream, fn: Any) -> DataStream:
    """``stream.process(fn)`` on a non-keyed stream: per-element calls, side outputs, no timers."""
    _check_function(fn, "process")
    if isinstance(fn, KeyedProcessFunction):
        raise TypeError(f"process: {type(fn).__name__} is a KeyedProcessFunction, which needs a keyed stream: "
                        f"call key_by(...) before process(), or make it a ProcessFunction")
    return stream._then(ProcessOperator(fn, "Process"), "Process")


def process_keyed_stream(keyed: KeyedStream, fn: Any) -> DataStream:
    """``keyed.process(fn)``: keyed state and timers of each element's key."""
    _check_function(fn, "process")
    operator = KeyedProcessOperator(fn, "KeyedProcess", has_on_timer=implements_on_timer(fn))
    return keyed._then(operator, "KeyedProcess", stateful=True)
