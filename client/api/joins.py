"""Window join and co-group of two streams (Flink's JoinedStreams and CoGroupedStreams).

    pairs = (bids.join(auctions)
                 .where(lambda bid: bid[0])
                 .equal_to(lambda auction: auction[0])
                 .window(TumblingEventTimeWindows.of(Time.seconds(10)))
                 .apply(lambda bid, auction: (bid[0], auction[1], bid[2])))

    counts = (bids.co_group(auctions)
                  .where(lambda bid: bid[0]).equal_to(lambda a: a[0])
                  .window(TumblingEventTimeWindows.of(Time.seconds(10)))
                  .apply(lambda bids, auctions: [(len(bids), len(auctions))]))

A join emits ``join(left, right)`` for every pair of a left and a right
element with equal keys in the same window (an inner join); a co-group calls
``co_group(lefts, rights)`` once per key and window with both sides' elements
(one side may be empty). Results carry the window's ``max_timestamp()``.

Built as Flink builds it: each side is tagged (``(0, left)``, ``(1, right)``),
the two are unioned and keyed by the side's own key selector, and one window
operator collects both sides per key and window. So triggers, evictors and
allowed lateness work exactly as on any window, and the two inputs' watermarks
combine like any union's (the operator's watermark is their minimum). A
dedicated two-input operator would save the tag per record, but would have to
repeat every window rule for two kinds of contents.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter
from typing import Any

from strom.client.api.datastream import DataStream
from strom.client.api.windowed import WindowedStream
from strom.taskmanager.operators.stateless import MapOperator
from strom.taskmanager.operators.window import ApplyWindow
from strom.taskmanager.operators.window.functions import close_function, method_or_callable, open_function
from strom.taskmanager.time.durations import DurationLike
from strom.taskmanager.windowing.evictors import Evictor
from strom.taskmanager.windowing.triggers import Trigger

__all__ = ["CoGroupedStreams", "JoinedStreams"]

_LEFT, _RIGHT = 0, 1


def _key_function(key_selector: Any, step: str) -> Any:
    """A key selector as a function of the record: a function, a KeySelector, or a position/field."""
    get_key = getattr(key_selector, "get_key", None)
    if callable(get_key):
        return get_key
    if callable(key_selector):
        return key_selector
    if isinstance(key_selector, (int, str)) and not isinstance(key_selector, bool):
        return itemgetter(key_selector)
    raise TypeError(f"{step} expects a key selector: a function, a KeySelector, or a tuple position, "
                    f"got {type(key_selector).__name__}")


class _Tag:
    """Marks the elements of one side: ``value -> (side, value)``."""

    def __init__(self, side: int) -> None:
        self.side = side

    def __call__(self, value: Any) -> tuple[int, Any]:
        return (self.side, value)


class _TaggedKey:
    """The key of a tagged element, by its side's key selector."""

    def __init__(self, first: Any, second: Any) -> None:
        self.first = first
        self.second = second

    def __call__(self, tagged: tuple[int, Any]) -> Any:
        side, value = tagged
        return self.first(value) if side == _LEFT else self.second(value)


class _CoGroupWindowFunction:
    """A WindowFunction over tagged elements: splits them by side and joins or co-groups them."""

    def __init__(self, function: Any, join: bool) -> None:
        self.function = function
        self.join = join

    def open(self, runtime_context: Any) -> None:
        open_function(self.function, runtime_context)
        self._call = method_or_callable(self.function, "join" if self.join else "co_group")

    def close(self) -> None:
        close_function(self.function)

    def apply(self, key: Any, window: Any, inputs: Iterable[tuple[int, Any]]) -> Iterable[Any]:
        left = [v for side, v in inputs if side == _LEFT]
        right = [v for side, v in inputs if side == _RIGHT]
        call = self._call
        if self.join:
            return [call(a, b) for a in left for b in right]
        return call(left, right) or ()


class _TwoStreams:
    """``where(key).equal_to(key).window(assigner)`` for join and co_group."""

    _join: bool
    _method: str

    def __init__(self, first: DataStream, second: DataStream) -> None:
        for stream in (first, second):
            if not isinstance(stream, DataStream):
                raise TypeError(f"{self._method}() expects a DataStream, got {type(stream).__name__}")
        self._first = first
        self._second = second

    def where(self, key_selector: Any) -> _Where:
        return _Where(self, _key_function(key_selector, f"{self._method}(...).where"))


class _Where:
    def __init__(self, streams: _TwoStreams, first_key: Any) -> None:
        self._streams = streams
        self._first_key = first_key

    def equal_to(self, key_selector: Any) -> _EqualTo:
        return _EqualTo(self._streams, self._first_key,
                        _key_function(key_selector, f"{self._streams._method}(...).equal_to"))


class _EqualTo:
    def __init__(self, streams: _TwoStreams, first_key: Any, second_key: Any) -> None:
        self._streams = streams
        self._first_key = first_key
        self._second_key = second_key

    def window(self, window_assigner: Any) -> WithWindow:
        return WithWindow(self._streams, self._first_key, self._second_key, window_assigner)


class WithWindow:
    """A windowed join or co-group: optionally ``trigger``, ``evictor``, ``allowed_lateness``,
    then ``apply(function)``."""

    def __init__(self, streams: _TwoStreams, first_key: Any, second_key: Any, window_assigner: Any) -> None:
        self._streams = streams
        self._first_key = first_key
        self._second_key = second_key
        # configured (and checked) now; the graph nodes are added by apply()
        self._windowed = WindowedStream(None, window_assigner)  # type: ignore[arg-type]

    def trigger(self, trigger: Trigger) -> WithWindow:
        self._windowed.trigger(trigger)
        return self

    def evictor(self, evictor: Evictor) -> WithWindow:
        self._windowed.evictor(evictor)
        return self

    def allowed_lateness(self, time: DurationLike) -> WithWindow:
        self._windowed.allowed_lateness(time)
        return self

    def apply(self, function: Any) -> DataStream:
        """Join: a JoinFunction or ``fn(left, right) -> result``. Co-group: a CoGroupFunction or
        ``fn(lefts, rights) -> iterable of results``."""
        method = "join" if self._streams._join else "co_group"
        if isinstance(function, type):
            raise TypeError(f"{self._streams._method}(...).apply expects an instance, got the class "
                            f"{function.__name__}: write {function.__name__}()")
        if not (callable(function) or callable(getattr(function, method, None))):
            kind = "JoinFunction" if self._streams._join else "CoGroupFunction"
            raise TypeError(f"{self._streams._method}(...).apply expects a {kind} or a function, "
                            f"got {type(function).__name__}")
        label = "Window Join" if self._streams._join else "Window CoGroup"
        first, second = self._streams._first, self._streams._second
        left = first._then(MapOperator(_Tag(_LEFT), "Tag Left"), "Tag Left")
        right = second._then(MapOperator(_Tag(_RIGHT), "Tag Right"), "Tag Right")
        self._windowed._keyed = left.union(right).key_by(_TaggedKey(self._first_key, self._second_key))
        wrapped = _CoGroupWindowFunction(function, self._streams._join)
        return self._windowed._window(ApplyWindow(wrapped, single_value=False, keyed=True),
                                      f"{method} {getattr(function, '__qualname__', type(function).__name__)}",
                                      label=label)


class JoinedStreams(_TwoStreams):
    """``a.join(b)``: pairs of elements with equal keys in the same window."""

    _join = True
    _method = "join"


class CoGroupedStreams(_TwoStreams):
    """``a.co_group(b)``: both sides' elements per key and window."""

    _join = False
    _method = "co_group"
