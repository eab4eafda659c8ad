"""Task: one execution attempt of one subtask, on its own thread in a slot worker.

    task = Task(tdd, network, on_state)
    threading.Thread(target=task.run).start()
    ...
    task.cancel()   # from any thread

State: everything below belongs to the task's thread, except ``_cancelled``
(an Event) which ``cancel()`` sets from other threads. Reports INITIALIZING,
RUNNING and then exactly one of FINISHED, CANCELED, FAILED through
``on_state(state, error, error_name)``.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import cloudpickle

from strom.common.config import BUFFER_SIZE_ROWS, BUFFER_TIMEOUT, Configuration
from strom.common.rpc import common_pb2
from strom.taskmanager.network.events import EndOfPartition, Watermark, WatermarkStatusEvent
from strom.taskmanager.operators.base import Discard, FanOut, Operator, OperatorContext, OperatorInput, Output
from strom.taskmanager.operators.sources.base import END_OF_INPUT, EndOfInput, SourceReader
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.chain import ChainSpec, KeyExtractor
from strom.taskmanager.runtime.records import with_timestamps
from strom.taskmanager.time.processing_time import ProcessingTimeService
from strom.taskmanager.time.valve import WatermarkValve
from strom.taskmanager.time.watermarks import MAX_WATERMARK, WatermarkStatus

log = logging.getLogger(__name__)

StateCallback = Callable[[str, str, str], None]

_gc_tuned = False
_UNPICKLE_LOCK = threading.Lock()


def _tune_gc_once() -> None:
    """Batches allocate many short-lived tuples; the default gen-0 threshold (700)
    makes the cyclic GC run constantly. Freeze what is loaded and collect less often."""
    global _gc_tuned
    if not _gc_tuned:
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        _gc_tuned = True


class TaskCancelled(Exception):
    pass


class ExchangeOutput:
    """The end of a chain towards one JobEdge: key extraction, timestamps and the record writer.
    Watermarks and idleness go to every channel, after the data before them."""

    __slots__ = ("writer", "key")

    def __init__(self, writer: Any, key: KeyExtractor | None) -> None:
        self.writer = writer
        self.key = key

    def emit(self, batch: Batch) -> None:
        if not len(batch):
            return
        arrow = self.key.to_arrow(batch) if self.key is not None else batch.arrow
        ts = batch.timestamps
        if ts is not None:
            arrow = with_timestamps(arrow, ts)
        self.writer.emit(arrow)

    def emit_watermark(self, watermark: int) -> None:
        self.writer.broadcast_event(Watermark(watermark))

    def emit_watermark_status(self, idle: bool) -> None:
        self.writer.broadcast_event(WatermarkStatusEvent(idle))


class Task:
    def __init__(self, tdd: common_pb2.TaskDeploymentDescriptor, network: Any, on_state: StateCallback) -> None:
        self.tdd = tdd
        self.network = network
        self.on_state = on_state
        self._cancelled = threading.Event()
        self.name = f"{tdd.vertex_name} ({tdd.subtask_index + 1}/{tdd.parallelism})"
        self.execution_id = f"{tdd.job_id}:{tdd.vertex_id}:{tdd.subtask_index}:{tdd.attempt}"
        self._operators: list[Operator] = []
        self._partitions: list[Any] = []
        self._writers: list[Any] = []
        self._gate: Any = None
        self._head: Operator | None = None
        self._pts = ProcessingTimeService()

    # ---- control (any thread) ----------------------------------------------

    def cancel(self) -> None:
        if self._cancelled.is_set():
            return
        self._cancelled.set()
        for p in list(self._partitions):
            try:
                p.release()
            except Exception:  # noqa: BLE001 - best effort wake-up of a blocked producer
                log.debug("release on cancel failed", exc_info=True)
        gate = self._gate
        if gate is not None:
            try:
                gate.close()
            except Exception:  # noqa: BLE001
                log.debug("gate close on cancel failed", exc_info=True)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    # ---- the task thread -----------------------------------------------------

    def run(self) -> None:
        _tune_gc_once()
        state = "FAILED"
        error = name = ""
        try:
            self.on_state("INITIALIZING", "", "")
            with _UNPICKLE_LOCK:   # unpickling imports modules; two tasks importing at once can deadlock
                spec: ChainSpec = cloudpickle.loads(self.tdd.operators)
            reader = self._build(spec)
            self.on_state("RUNNING", "", "")
            if reader is not None:
                self._run_source(reader)
            else:
                self._run_inputs()
            self._check_cancelled()
            head = self._head if reader is None else None
            for op in self._operators:
                if op is not head:          # chained operators learn that their one input ended (Flink)
                    op.end_input(0)
                op.finish()
                self._check_cancelled()
            for w in self._writers:
                w.finish()
            state = "FINISHED"
        except TaskCancelled:
            state = "CANCELED"
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, never swallowed
            if self.cancelled:
                state = "CANCELED"
            else:
                state, name = "FAILED", type(exc).__name__
                error = "".join(traceback.format_exception(exc))
                log.warning("%s failed: %s", self.name, error)
        finally:
            self._pts.shutdown()
            self._close(cancelled=state != "FINISHED")
        self.on_state(state, error, name)

    def _check_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise TaskCancelled()

    def _build(self, spec: ChainSpec) -> SourceReader | None:
        tdd = self.tdd
        conf = Configuration(dict(tdd.config))
        batch_rows = conf.get_int(BUFFER_SIZE_ROWS)
        timeout_ms = conf.get_duration_ms(BUFFER_TIMEOUT)
        from strom.taskmanager.network.partitioner import create_partitioner
        from strom.taskmanager.network.record_writer import RecordWriter

        exits: list[Output] = []
        for desc, exit_spec in zip(tdd.outputs, spec.exits, strict=True):
            partition = self.network.create_result_partition(desc.partition_id, desc.num_subpartitions)
            self._partitions.append(partition)
            kind = exit_spec.partitioner
            part = create_partitioner(kind, max_parallelism=tdd.max_parallelism, subtask_index=tdd.subtask_index)
            writer = RecordWriter(partition, part, batch_rows=batch_rows, buffer_timeout_ms=timeout_ms)
            self._writers.append(writer)
            key = KeyExtractor(exit_spec.key) if kind == "hash" and exit_spec.key is not None else None
            exits.append(ExchangeOutput(writer, key))

        def context(op_name: str) -> OperatorContext:
            return OperatorContext(
                job_id=tdd.job_id, job_name=tdd.job_name, vertex_name=tdd.vertex_name, operator_name=op_name,
                subtask_index=tdd.subtask_index, parallelism=tdd.parallelism,
                max_parallelism=tdd.max_parallelism, attempt=tdd.attempt, config=dict(tdd.config),
                is_cancelled=self._cancelled.is_set, processing_time_service=self._pts)

        def output_of(successors: list[tuple[int, int]], exit_indices: list[int]) -> Output:
            targets: list[Output] = [OperatorInput(spec.nodes[i].operator, inp)  # type: ignore[arg-type]
                                     for i, inp in successors]
            targets += [exits[i] for i in exit_indices]
            return targets[0] if len(targets) == 1 else (FanOut(targets) if targets else Discard())

        # wire outputs from the leaves up, then open successors before predecessors
        for node in spec.nodes:
            out = output_of(node.successors, node.exits)
            if node.operator is not None:
                node.operator.output = out
                tags = set(node.side_successors) | set(node.side_exits)
                node.operator.side_outputs = {
                    tag: output_of(node.side_successors.get(tag, []), node.side_exits.get(tag, [])) for tag in tags}
            else:
                self._source_output = out
        self._operators = [n.operator for n in spec.nodes if n.operator is not None]
        for op in reversed(self._operators):
            op.open(context(op.name))

        if spec.source is not None:
            return spec.source.create_reader(context(spec.source.name))
        self._head = spec.head.operator
        channels = []
        self._channel_input: list[int] = []
        for gate in tdd.inputs:
            for ch in gate.channels:
                channels.append(ch)
                self._channel_input.append(gate.input_index)
        self._gate = self.network.create_input_gate(channels)
        if self.cancelled:
            self._gate.close()
        return None

    def _flush_due(self) -> float:
        """Run due processing-time callbacks, flush writers whose buffer timeout passed; seconds
        until the next deadline of either."""
        pts = self._pts
        if pts.next_timer_time() is not None:
            pts.run_due()
        now = time.monotonic()
        wait = 0.1
        for w in self._writers:
            w.flush_if_due(now)
            deadline = w.next_flush_deadline()
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - now))
        timer_ms = pts.time_until_next_ms()
        if timer_ms is not None:
            wait = min(wait, timer_ms / 1000.0)
        return wait

    def _run_source(self, reader: SourceReader) -> None:
        out = self._source_output
        try:
            while True:
                self._check_cancelled()
                item = reader.poll()
                if isinstance(item, EndOfInput) or item is END_OF_INPUT:
                    # a bounded source ends event time, so that every event-time window fires
                    out.emit_watermark(MAX_WATERMARK)
                    return
                if item is None:
                    wait = min(self._flush_due(), reader.wait_hint())
                    self._cancelled.wait(wait)
                    continue
                if len(item):
                    out.emit(item)
                self._flush_due()
        finally:
            reader.close()

    def _run_inputs(self) -> None:
        head = self._head
        assert head is not None
        channel_input = self._channel_input
        remaining: dict[int, int] = {}
        for inp in channel_input:
            remaining[inp] = remaining.get(inp, 0) + 1
        gate = self._gate
        # the operator's watermark: the minimum over all channels of all inputs, idle ones aside
        valve = WatermarkValve(len(channel_input)) if channel_input else None

        def forward(changes: list[Any]) -> None:
            for change in changes:
                if isinstance(change, Watermark):
                    head.process_watermark(change.timestamp)
                else:
                    head.process_watermark_status(change is WatermarkStatus.IDLE)

        while remaining:
            self._check_cancelled()
            item = gate.poll(self._flush_due())
            if item is None:
                continue
            channel, payload = item
            if hasattr(payload, "num_rows"):
                if payload.num_rows:
                    head.process(Batch.of_arrow(payload), channel_input[channel])
                self._flush_due()
            elif isinstance(payload, Watermark):
                forward(valve.input_watermark(channel, payload.timestamp))  # type: ignore[union-attr]
            elif isinstance(payload, WatermarkStatusEvent):
                status = WatermarkStatus.IDLE if payload.idle else WatermarkStatus.ACTIVE
                forward(valve.input_watermark_status(channel, status))  # type: ignore[union-attr]
            elif isinstance(payload, EndOfPartition):
                forward(valve.end_of_input(channel))  # type: ignore[union-attr]
                inp = channel_input[channel]
                remaining[inp] -= 1
                if remaining[inp] == 0:
                    del remaining[inp]
                    head.end_input(inp)
            # other events (checkpoint barriers) are not used yet

    def _close(self, cancelled: bool) -> None:
        for op in self._operators:
            try:
                if cancelled:
                    op.cancel()
                op.close()
            except Exception:  # noqa: BLE001
                log.warning("%s: closing operator %s failed", self.name, op.name, exc_info=True)
        if self._gate is not None:
            try:
                self._gate.close()
            except Exception:  # noqa: BLE001
                log.debug("gate close failed", exc_info=True)
        if cancelled:
            for p in self._partitions:
                try:
                    p.release()
                except Exception:  # noqa: BLE001
                    log.debug("partition release failed", exc_info=True)
