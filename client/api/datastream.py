"""DataStream and KeyedStream: PyFlink's transformation names, plus Arrow-native ``map_batches``.

    counts = (env.read_text_file("words.txt")
              .flat_map(lambda line: [(w, 1) for w in line.split()])
              .key_by(lambda t: t[0])
              .sum(1))
    counts.sink_to(FileSink.csv("out/"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from strom.client.api.connectors import FileSink
from strom.client.graph.stream_graph import StreamEdge, StreamNode
from strom.taskmanager.operators.base import Operator
from strom.taskmanager.operators.keyed import AggregationOperator, ReduceOperator
from strom.taskmanager.operators.sinks.print_sink import PrintSink
from strom.taskmanager.operators.stateless import (
    FilterOperator,
    FlatMapOperator,
    MapBatchesOperator,
    MapOperator,
)
from strom.taskmanager.runtime.output_tag import OutputTag

if TYPE_CHECKING:
    from strom.client.api.environment import StreamExecutionEnvironment
    from strom.client.api.time import WatermarkStrategy


def _check_callable(fn: Any, method: str, what: str) -> None:
    if not (callable(fn) or callable(getattr(fn, method, None))):
        raise TypeError(f"{what} expects a function or an object with a {method}() method, got {type(fn).__name__}")


class DataStream:
    """A stream of records produced by one operator (node) of the job."""

    def __init__(self, env: StreamExecutionEnvironment, node: StreamNode,
                 partitioner: str | None = None, key: Any = None, side_output: str | None = None) -> None:
        self._env = env
        self._node = node
        self._partitioner = partitioner
        self._key = key
        self._side_output = side_output   # OutputTag id: this stream is a side output of ``node``

    def _with(self, partitioner: str | None, key: Any = None, cls: type[DataStream] | None = None) -> Any:
        return (cls or DataStream)(self._env, self._node, partitioner, key, self._side_output)

    # ---- operator properties (apply to the operator that produced this stream) ----

    def name(self, name: str) -> DataStream:
        self._node.name = name
        return self

    def uid(self, uid: str) -> DataStream:
        self._node.uid = uid
        return self

    def set_parallelism(self, parallelism: int) -> DataStream:
        if not isinstance(parallelism, int) or parallelism < 1:
            raise ValueError(f"parallelism must be a positive integer, got {parallelism!r}")
        self._node.parallelism = parallelism
        return self

    def set_max_parallelism(self, max_parallelism: int) -> DataStream:
        self._node.max_parallelism = max_parallelism
        return self

    def disable_chaining(self) -> DataStream:
        self._node.chaining = False
        return self

    def get_name(self) -> str:
        return self._node.name

    # ---- partitioning -----------------------------------------------------------

    def rebalance(self) -> DataStream:
        return self._with("rebalance")

    def shuffle(self) -> DataStream:
        return self.rebalance()

    def broadcast(self, *broadcast_state_descriptors: Any) -> Any:
        """Every record to every parallel instance downstream. With MapStateDescriptors, a
        ``BroadcastStream`` for the broadcast state pattern (``keyed.connect(rules.broadcast(desc))``)."""
        if broadcast_state_descriptors:
            from strom.client.api.connected import BroadcastStream

            return BroadcastStream(self._with("broadcast"), list(broadcast_state_descriptors))
        return self._with("broadcast")

    def forward(self) -> DataStream:
        return self._with("forward")

    def key_by(self, key_selector: Callable[[Any], Any] | int | str) -> KeyedStream:
        """Partition by key: a function of the record, a tuple position, or a column name."""
        if not (callable(key_selector) or isinstance(key_selector, (int, str))
                or callable(getattr(key_selector, "get_key", None))):
            raise TypeError("key_by expects a function, a KeySelector, a tuple position or a column name")
        return self._with("hash", key_selector, KeyedStream)  # type: ignore[no-any-return]

    # ---- transformations ----------------------------------------------------------

    def _then(self, operator: Operator, name: str, stateful: bool = False, is_sink: bool = False,
              others: Iterable[DataStream] = ()) -> DataStream:
        return self._then_multi(operator, name, [(s, 0) for s in (self, *others)], stateful, is_sink)

    def _connect_to(self, env: StreamExecutionEnvironment, node: StreamNode, input_index: int) -> None:
        """An edge from this stream into input ``input_index`` of ``node`` (a node of ``env``)."""
        if self._env is not env:
            raise ValueError("cannot combine streams of different environments")
        self._env._graph.add_edge(StreamEdge(self._node.id, node.id, self._partitioner, self._key,
                                             input_index=input_index, side_output=self._side_output))

    def _then_multi(self, operator: Operator, name: str, inputs: list[tuple[DataStream, int]],
                    stateful: bool = False, is_sink: bool = False) -> DataStream:
        """A node reading several inputs (connect, joins): ``(stream, input_index)`` pairs."""
        node = self._env._graph.add_node(name, operator=operator, stateful=stateful, is_sink=is_sink)
        for stream, index in inputs:
            stream._connect_to(self._env, node, index)
        return DataStream(self._env, node)

    def map(self, func: Callable[[Any], Any]) -> DataStream:
        _check_callable(func, "map", "map")
        return self._then(MapOperator(func, "Map"), "Map")

    def flat_map(self, func: Callable[[Any], Iterable[Any]]) -> DataStream:
        _check_callable(func, "flat_map", "flat_map")
        return self._then(FlatMapOperator(func, "Flat Map"), "Flat Map")

    def filter(self, func: Callable[[Any], bool]) -> DataStream:
        _check_callable(func, "filter", "filter")
        return self._then(FilterOperator(func, "Filter"), "Filter")

    def map_batches(self, func: Callable[[pa.RecordBatch], pa.RecordBatch | pa.Table]) -> DataStream:
        """The Arrow fast path: ``func`` maps a pyarrow.RecordBatch to a RecordBatch (or Table).

            ds.map_batches(lambda b: b.filter(pc.equal(pc.bit_wise_and(b["auction"], 1), 0)))
        """
        if not callable(func):
            raise TypeError("map_batches expects a function from pyarrow.RecordBatch to RecordBatch")
        return self._then(MapBatchesOperator(func, "Map Batches"), "Map Batches")

    def union(self, *streams: DataStream) -> DataStream:
        """All records of this stream and the others (no order between them)."""
        if not streams:
            return self
        from strom.taskmanager.operators.stateless import MapOperator as _Identity

        return self._then(_Identity(_identity, "Union"), "Union", others=streams)

    # ---- event time, side outputs ----------------------------------------------------

    def assign_timestamps_and_watermarks(self, watermark_strategy: WatermarkStrategy) -> DataStream:
        """Give records event time (from the strategy's timestamp assigner or column) and the
        stream watermarks, generated per parallel instance of this step."""
        to_spec = getattr(watermark_strategy, "to_spec", None)
        if not callable(to_spec):
            raise TypeError("assign_timestamps_and_watermarks expects a WatermarkStrategy, "
                            f"got {type(watermark_strategy).__name__}")
        from strom.taskmanager.operators.timestamps import TimestampsAndWatermarksOperator

        name = "Timestamps/Watermarks"
        return self._then(TimestampsAndWatermarksOperator(to_spec(), name), name)

    def get_side_output(self, output_tag: OutputTag) -> DataStream:
        """The records the operator of this stream sent to ``output_tag``."""
        if not isinstance(output_tag, OutputTag):
            raise TypeError(f"get_side_output expects an OutputTag, got {type(output_tag).__name__}")
        return DataStream(self._env, self._node, None, None, output_tag.tag_id)

    # ---- process functions, windows, connect (their own modules) -------------------

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        """A ``ProcessFunction``: ``process_element(value, ctx)`` yields outputs (and
        ``(OutputTag, value)`` side outputs); ``ctx.timestamp()`` is the event time."""
        from strom.client.api.process import process_stream

        return process_stream(self, func)

    def window_all(self, window_assigner: Any) -> Any:
        """Windows over the whole (non-keyed) stream, evaluated by one parallel instance."""
        from strom.client.api.windowed import AllWindowedStream

        return AllWindowedStream(self, window_assigner)

    def window(self, window_assigner: Any) -> Any:
        raise TypeError("window() needs a keyed stream: call key_by(...) before window(), or use "
                        "window_all() for windows over the whole stream")

    def connect(self, other: Any) -> Any:
        """Two streams into one operator (CoMap/CoFlatMap/CoProcess functions); with a
        ``BroadcastStream``, the broadcast state pattern."""
        from strom.client.api.connected import connect

        return connect(self, other)

    def join(self, other: DataStream) -> Any:
        """Window join: ``a.join(b).where(ka).equal_to(kb).window(assigner).apply(fn)``."""
        from strom.client.api.joins import JoinedStreams

        return JoinedStreams(self, other)

    def co_group(self, other: DataStream) -> Any:
        from strom.client.api.joins import CoGroupedStreams

        return CoGroupedStreams(self, other)

    # ---- sinks ------------------------------------------------------------------------

    def print(self, sink_identifier: str | None = None) -> DataStreamSink:
        op = PrintSink(sink_identifier)
        return DataStreamSink(self._then(op, "Print to Std. Out", is_sink=True))

    def print_to_err(self, sink_identifier: str | None = None) -> DataStreamSink:
        return DataStreamSink(self._then(PrintSink(sink_identifier, True), "Print to Std. Err", is_sink=True))

    def sink_to(self, sink: FileSink) -> DataStreamSink:
        if not hasattr(sink, "create_operator"):
            raise TypeError(f"sink_to expects a sink such as FileSink, got {type(sink).__name__}")
        op = sink.create_operator()
        return DataStreamSink(self._then(op, "File Sink", is_sink=True))

    def write_as_text(self, path: str) -> DataStreamSink:
        return self.sink_to(FileSink.text(path))

    def write_as_csv(self, path: str, delimiter: str = ",") -> DataStreamSink:
        return self.sink_to(FileSink.csv(path, delimiter))


def _identity(x: Any) -> Any:
    return x


class KeyedStream(DataStream):
    """A stream partitioned by key; aggregations keep state per key."""

    def _keyed(self, operator: Operator, name: str) -> DataStream:
        return self._then(operator, name, stateful=True)

    def reduce(self, func: Callable[[Any, Any], Any]) -> DataStream:
        _check_callable(func, "reduce", "reduce")
        return self._keyed(ReduceOperator(func, "Keyed Reduce"), "Keyed Reduce")

    def sum(self, position_to_sum: int | str = 0) -> DataStream:
        return self._keyed(AggregationOperator("sum", position_to_sum), "Keyed Aggregation")

    def min(self, position_to_min: int | str = 0) -> DataStream:
        return self._keyed(AggregationOperator("min", position_to_min), "Keyed Aggregation")

    def max(self, position_to_max: int | str = 0) -> DataStream:
        return self._keyed(AggregationOperator("max", position_to_max), "Keyed Aggregation")

    def process(self, func: Any, output_type: Any = None) -> DataStream:
        """A ``KeyedProcessFunction``: keyed state, event- and processing-time timers, side outputs."""
        from strom.client.api.process import process_keyed_stream

        return process_keyed_stream(self, func)

    def window(self, window_assigner: Any) -> Any:
        """Windows per key: ``.window(TumblingEventTimeWindows.of(Time.seconds(10))).reduce(...)``."""
        from strom.client.api.windowed import WindowedStream

        return WindowedStream(self, window_assigner)

    def count_window(self, size: int, slide: int | None = None) -> Any:
        """Windows of ``size`` elements per key (sliding by ``slide`` elements when given)."""
        from strom.client.api.windowed import count_window

        return count_window(self, size, slide)

    def interval_join(self, other: KeyedStream) -> Any:
        """``a.interval_join(b).between(lower, upper).process(ProcessJoinFunction)``."""
        from strom.client.api.interval_join import IntervalJoin

        return IntervalJoin(self, other)


class DataStreamSink:
    def __init__(self, stream: DataStream) -> None:
        self._stream = stream

    def name(self, name: str) -> DataStreamSink:
        self._stream.name(name)
        return self

    def uid(self, uid: str) -> DataStreamSink:
        self._stream.uid(uid)
        return self

    def set_parallelism(self, parallelism: int) -> DataStreamSink:
        self._stream.set_parallelism(parallelism)
        return self
