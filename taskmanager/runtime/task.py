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
from strom.taskmanager.operators.base import Discard, FanOut, Operator, OperatorContext, OperatorInput, Output
from strom.taskmanager.operators.sources.base import END_OF_INPUT, EndOfInput, SourceReader
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.chain import ChainSpec, KeyExtractor

log = logging.getLogger(__name__)

StateCallback = Callable[[str, str, str], None]

_gc_tuned = False


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
    """The end of a chain towards one JobEdge: key extraction and the record writer."""

    __slots__ = ("writer", "key")

    def __init__(self, writer: Any, key: KeyExtractor | None) -> None:
        self.writer = writer
        self.key = key

    def emit(self, batch: Batch) -> None:
        if not len(batch):
            return
        arrow = self.key.to_arrow(batch) if self.key is not None else batch.arrow
        self.writer.emit(arrow)


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
            spec: ChainSpec = cloudpickle.loads(self.tdd.operators)
            reader = self._build(spec)
            self.on_state("RUNNING", "", "")
            if reader is not None:
                self._run_source(reader)
            else:
                self._run_inputs()
            self._check_cancelled()
            for op in self._operators:
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
                is_cancelled=self._cancelled.is_set)

        # wire outputs from the leaves up, then open successors before predecessors
        for node in spec.nodes:
            targets: list[Output] = [OperatorInput(spec.nodes[i].operator, inp)  # type: ignore[arg-type]
                                     for i, inp in node.successors]
            targets += [exits[i] for i in node.exits]
            out: Output = targets[0] if len(targets) == 1 else (FanOut(targets) if targets else Discard())
            if node.operator is not None:
                node.operator.output = out
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
        """Flush writers whose buffer timeout passed; seconds until the next deadline."""
        now = time.monotonic()
        wait = 0.1
        for w in self._writers:
            w.flush_if_due(now)
            deadline = w.next_flush_deadline()
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - now))
        return wait

    def _run_source(self, reader: SourceReader) -> None:
        out = self._source_output
        try:
            while True:
                self._check_cancelled()
                item = reader.poll()
                if isinstance(item, EndOfInput) or item is END_OF_INPUT:
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
        from strom.taskmanager.network.events import EndOfPartition

        head = self._head
        assert head is not None
        channel_input = self._channel_input
        remaining: dict[int, int] = {}
        for inp in channel_input:
            remaining[inp] = remaining.get(inp, 0) + 1
        gate = self._gate
        while remaining:
            self._check_cancelled()
            item = gate.poll(self._flush_due())
            if item is None:
                continue
            channel, payload = item
            inp = channel_input[channel]
            if isinstance(payload, EndOfPartition):
                remaining[inp] -= 1
                if remaining[inp] == 0:
                    del remaining[inp]
                    head.end_input(inp)
                continue
            if hasattr(payload, "num_rows"):
                if payload.num_rows:
                    head.process(Batch.of_arrow(payload), inp)
                self._flush_due()
            # other events (schema changes are handled inside the gate; watermarks come later)

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
