"""Connected streams and the broadcast state pattern (PyFlink's ConnectedStreams, BroadcastStream,
BroadcastConnectedStream).

    both = orders.connect(payments)                          # ConnectedStreams: two inputs, one operator
    both.map(MyCoMap())                                      # map1 for orders, map2 for payments
    both.key_by(lambda o: o.id, lambda p: p.order_id).process(MyKeyedCoProcess())

    rules = rule_updates.broadcast(MapStateDescriptor("rules"))          # BroadcastStream
    events.key_by(lambda e: e.user).connect(rules).process(MyKeyedBroadcastProcess())

The first stream is input 0, the second input 1. Connected streams are keyed when both are KeyedStreams
(``ConnectedStreams.key_by`` keys both); then the function may use keyed state, shared by both inputs for
the same key, and timers. The two keys must be equal values for records that belong together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strom.client.api.co_functions import (
    BroadcastProcessFunction,
    CoFlatMapFunction,
    CoMapFunction,
    CoProcessFunction,
    KeyedBroadcastProcessFunction,
    KeyedCoProcessFunction,
)
from strom.client.api.datastream import DataStream, KeyedStream
from strom.taskmanager.operators.broadcast import BroadcastProcessOperator, KeyedBroadcastProcessOperator
from strom.taskmanager.operators.co_process import (
    CoFlatMapOperator,
    CoMapOperator,
    CoProcessOperator,
    KeyedCoProcessOperator,
)


def connect(stream: DataStream, other: Any) -> ConnectedStreams | BroadcastConnectedStream:
    """``stream.connect(other)``: with a BroadcastStream the broadcast state pattern, else ConnectedStreams."""
    if isinstance(other, BroadcastStream):
        return BroadcastConnectedStream(stream, other)
    if not isinstance(other, DataStream):
        raise TypeError(f"connect() expects a DataStream or a BroadcastStream, got {type(other).__name__}")
    return ConnectedStreams(stream, other)


def _check_methods(fn: Any, methods: Sequence[str], what: str, expected: str) -> None:
    missing = [m for m in methods if not callable(getattr(fn, m, None))]
    if missing:
        raise TypeError(f"{what} expects a {expected} (with {', '.join(methods)}), got {type(fn).__name__} "
                        f"without {', '.join(missing)}")


class ConnectedStreams:
    """Two streams feeding one operator; each keeps its type. Built by ``DataStream.connect``."""

    def __init__(self, stream1: DataStream, stream2: DataStream) -> None:
        self.stream1 = stream1
        self.stream2 = stream2

    @property
    def is_keyed(self) -> bool:
        """Both inputs are KeyedStreams: keyed state and timers are available to the function."""
        return isinstance(self.stream1, KeyedStream) and isinstance(self.stream2, KeyedStream)

    def key_by(self, key_selector1: Any, key_selector2: Any) -> ConnectedStreams:
        """Key both inputs: records of either input with equal keys meet in the same parallel instance."""
        return ConnectedStreams(self.stream1.key_by(key_selector1), self.stream2.key_by(key_selector2))

    def _then(self, operator: Any, name: str, stateful: bool) -> DataStream:
        return self.stream1._then_multi(operator, name, [(self.stream1, 0), (self.stream2, 1)],
                                        stateful=stateful)

    def map(self, func: CoMapFunction, output_type: Any = None) -> DataStream:
        """``func.map1`` for the first stream's elements, ``func.map2`` for the second's: one output each."""
        _check_methods(func, ("map1", "map2"), "ConnectedStreams.map", "CoMapFunction")
        keyed = self.is_keyed
        return self._then(CoMapOperator(func, "Co-Map", keyed=keyed), "Co-Map", stateful=keyed)

    def flat_map(self, func: CoFlatMapFunction, output_type: Any = None) -> DataStream:
        """``func.flat_map1``/``flat_map2`` yield zero or more outputs per element."""
        _check_methods(func, ("flat_map1", "flat_map2"), "ConnectedStreams.flat_map", "CoFlatMapFunction")
        keyed = self.is_keyed
        return self._then(CoFlatMapOperator(func, "Co-Flat Map", keyed=keyed), "Co-Flat Map", stateful=keyed)

    def process(self, func: CoProcessFunction | KeyedCoProcessFunction, output_type: Any = None) -> DataStream:
        """``process_element1/2(value, ctx)`` yield outputs; on keyed connected streams also keyed state,
        timers and ``on_timer(timestamp, ctx)``."""
        _check_methods(func, ("process_element1", "process_element2"), "ConnectedStreams.process",
                       "CoProcessFunction or KeyedCoProcessFunction")
        if self.is_keyed:
            return self._then(KeyedCoProcessOperator(func, "Co-Keyed-Process"), "Co-Keyed-Process", stateful=True)
        if isinstance(func, KeyedCoProcessFunction):
            raise TypeError("a KeyedCoProcessFunction needs keyed connected streams: key both inputs "
                            "(connect(...).key_by(key1, key2), or connect two KeyedStreams)")
        return self._then(CoProcessOperator(func, "Co-Process"), "Co-Process", stateful=True)


class BroadcastStream:
    """A stream every parallel instance of the connected operator receives completely, with the broadcast
    state it fills (one map per MapStateDescriptor). Built by ``DataStream.broadcast(descriptor, ...)``."""

    def __init__(self, stream: DataStream, broadcast_state_descriptors: Sequence[Any]) -> None:
        if not broadcast_state_descriptors:
            raise ValueError("a BroadcastStream needs at least one MapStateDescriptor for its broadcast state")
        names: set[str] = set()
        for d in broadcast_state_descriptors:
            if getattr(d, "state_kind", None) != "map":
                raise TypeError(f"broadcast() takes MapStateDescriptors (broadcast state is a map), got "
                                f"{type(d).__name__} {getattr(d, 'name', d)!r}")
            if d.name in names:
                raise ValueError(f"broadcast(): two broadcast state descriptors are named {d.name!r}")
            names.add(d.name)
        self._stream = stream
        self.broadcast_state_descriptors = list(broadcast_state_descriptors)


class BroadcastConnectedStream:
    """A (keyed or non-keyed) stream connected with a BroadcastStream. Built by ``connect``."""

    def __init__(self, non_broadcast_stream: DataStream, broadcast_stream: BroadcastStream) -> None:
        self.non_broadcast_stream = non_broadcast_stream
        self.broadcast_stream = broadcast_stream

    def process(self, func: BroadcastProcessFunction | KeyedBroadcastProcessFunction,
                output_type: Any = None) -> DataStream:
        """``process_element(value, ctx)`` for the stream's elements (read-only broadcast state),
        ``process_broadcast_element(value, ctx)`` for the broadcast elements (writable broadcast state)."""
        stream = self.non_broadcast_stream
        keyed = isinstance(stream, KeyedStream)
        _check_methods(func, ("process_element", "process_broadcast_element"), "BroadcastConnectedStream.process",
                       "KeyedBroadcastProcessFunction" if keyed else "BroadcastProcessFunction")
        descriptors = self.broadcast_stream.broadcast_state_descriptors
        if keyed:
            if isinstance(func, BroadcastProcessFunction):
                raise TypeError("a BroadcastProcessFunction works on a non-keyed stream; on a keyed stream "
                                "use a KeyedBroadcastProcessFunction")
            name = "Co-Process-Broadcast-Keyed"
            op: BroadcastProcessOperator = KeyedBroadcastProcessOperator(func, descriptors, name)
        else:
            if isinstance(func, KeyedBroadcastProcessFunction):
                raise TypeError("a KeyedBroadcastProcessFunction needs a keyed stream: call key_by(...) before "
                                "connect(broadcast_stream), or use a BroadcastProcessFunction")
            name = "Co-Process-Broadcast"
            op = BroadcastProcessOperator(func, descriptors, name)
        return stream._then_multi(op, name, [(stream, 0), (self.broadcast_stream._stream, 1)], stateful=True)
