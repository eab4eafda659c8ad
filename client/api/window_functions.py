"""Window functions (PyFlink's names): what a window computes when its trigger fires.

    class MaxBid(ProcessWindowFunction):
        def process(self, key, context, elements):
            w = context.window()
            yield key, w.start, w.end, max(b["price"] for b in elements)

    bids.key_by(lambda b: b["auction"]) \\
        .window(TumblingEventTimeWindows.of(Time.seconds(10))) \\
        .process(MaxBid())

- ``ProcessWindowFunction.process(key, context, elements)`` yields results; the
  context gives the window, the watermark, processing time, per-window and
  global keyed state, and side outputs (``context.output(tag, value)``, or
  ``yield tag, value``). Per-window state must be cleared in ``clear(context)``.
- ``WindowFunction.apply(key, window, inputs)`` yields results (no context).
- ``ProcessAllWindowFunction`` / ``AllWindowFunction``: the same for
  ``window_all``, without the key.
- ``JoinFunction.join(first, second)`` returns one result per pair of a window join;
  ``CoGroupFunction.co_group(first, second)`` yields results from both sides'
  element lists of a key and window.

Plain functions work too: ``process(lambda key, ctx, elements: ...)``,
``apply(lambda key, window, inputs: ...)``, ``join(...).apply(lambda l, r: ...)``.
With ``reduce`` or ``aggregate`` a window function receives the single
pre-aggregated value as its only element. Results carry the window's
``max_timestamp()`` as event time.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any

from strom.client.api.functions import Function
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.windowing.windows import Window

__all__ = ["AllWindowFunction", "CoGroupFunction", "JoinFunction", "KeyedStateStore",
           "ProcessAllWindowFunction", "ProcessWindowFunction", "WindowFunction"]


class KeyedStateStore(abc.ABC):
    """Keyed state for a window function: ``context.window_state()`` (this key and window) or
    ``context.global_state()`` (this key, across windows). Takes the descriptors of
    ``strom.client.api.state``."""

    @abc.abstractmethod
    def get_state(self, state_descriptor: Any) -> Any: ...

    @abc.abstractmethod
    def get_list_state(self, state_descriptor: Any) -> Any: ...

    @abc.abstractmethod
    def get_map_state(self, state_descriptor: Any) -> Any: ...

    @abc.abstractmethod
    def get_reducing_state(self, state_descriptor: Any) -> Any: ...

    @abc.abstractmethod
    def get_aggregating_state(self, state_descriptor: Any) -> Any: ...


class ProcessWindowFunction(Function):
    """Evaluates a window of a keyed stream with full access to its context."""

    class Context(abc.ABC):
        """What ``process`` and ``clear`` receive (the runtime implements it)."""

        @abc.abstractmethod
        def window(self) -> Window:
            """The window being evaluated (``TimeWindow`` with ``start``/``end``, or ``GlobalWindow``)."""

        @abc.abstractmethod
        def current_processing_time(self) -> int: ...

        @abc.abstractmethod
        def current_watermark(self) -> int: ...

        @abc.abstractmethod
        def window_state(self) -> KeyedStateStore:
            """State of this key in this window (not on merging windows such as sessions)."""

        @abc.abstractmethod
        def global_state(self) -> KeyedStateStore:
            """State of this key, shared by all its windows."""

        @abc.abstractmethod
        def output(self, output_tag: OutputTag, value: Any) -> None:
            """Emit ``value`` to the side output ``output_tag``."""

    @abc.abstractmethod
    def process(self, key: Any, context: ProcessWindowFunction.Context, elements: Iterable[Any]) -> Iterable[Any]:
        """The results of the window (a generator or an iterable; None for none)."""

    def clear(self, context: ProcessWindowFunction.Context) -> None:
        """The window is being dropped (after its allowed lateness): clear its per-window state."""


class ProcessAllWindowFunction(Function):
    """Evaluates a window of a whole stream (``window_all``) with its context."""

    Context = ProcessWindowFunction.Context

    @abc.abstractmethod
    def process(self, context: ProcessWindowFunction.Context, elements: Iterable[Any]) -> Iterable[Any]: ...

    def clear(self, context: ProcessWindowFunction.Context) -> None:
        """The window is being dropped: clear its per-window state."""


class WindowFunction(Function):
    """Evaluates a window of a keyed stream from its key, window and elements."""

    @abc.abstractmethod
    def apply(self, key: Any, window: Window, inputs: Iterable[Any]) -> Iterable[Any]: ...


class AllWindowFunction(Function):
    """Evaluates a window of a whole stream (``window_all``)."""

    @abc.abstractmethod
    def apply(self, window: Window, inputs: Iterable[Any]) -> Iterable[Any]: ...


class JoinFunction(Function):
    """A window join's result for one pair of elements with equal keys in the same window."""

    @abc.abstractmethod
    def join(self, first: Any, second: Any) -> Any: ...


class CoGroupFunction(Function):
    """A window co-group's results for the elements of both sides with one key in one window
    (either list may be empty, never both)."""

    @abc.abstractmethod
    def co_group(self, first: list[Any], second: list[Any]) -> Iterable[Any]: ...
