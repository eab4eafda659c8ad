"""The operator contract inside a chain.

An operator receives batches (``process``), may emit batches to its
``output``, learns that an input ended (``end_input``) and, once every input
ended, flushes what it still holds (``finish``). All calls for one subtask
happen on that subtask's thread.

Event time flows through the same path: ``process_watermark`` receives the
operator's input watermark (the minimum over its input channels, computed by
the task), ``process_watermark_status`` learns that the input went idle or
active. The defaults forward both to every output, main and side outputs, as
Flink does; time-aware operators fire their timers before forwarding.

Side outputs: ``side_outputs`` maps an ``OutputTag``'s id to the output of the
operators that consume it (the task wires it; tags nobody consumes are
absent, and ``side_output`` drops their records).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from strom.taskmanager.runtime.batch import Batch

if TYPE_CHECKING:
    from strom.taskmanager.state.hashmap_backend import HashMapKeyedStateBackend
    from strom.taskmanager.state.operator_backend import OperatorStateBackend
    from strom.taskmanager.time.processing_time import ProcessingTimeService
    from strom.taskmanager.time.timers import InternalTimer, InternalTimerService


class Output(Protocol):
    def emit(self, batch: Batch) -> None: ...

    def emit_watermark(self, watermark: int) -> None: ...

    def emit_watermark_status(self, idle: bool) -> None: ...


@dataclass
class OperatorContext:
    """What an operator knows about where it runs, and the services of its task."""

    job_id: str
    job_name: str
    vertex_name: str
    operator_name: str
    subtask_index: int
    parallelism: int
    max_parallelism: int
    attempt: int
    config: dict[str, str] = field(default_factory=dict)
    is_cancelled: Callable[[], bool] = lambda: False
    processing_time_service: ProcessingTimeService | None = None

    @property
    def task_name_with_subtask(self) -> str:
        return f"{self.operator_name} ({self.subtask_index + 1}/{self.parallelism})"

    @property
    def batch_mode(self) -> bool:
        return self.config.get("execution.runtime-mode", "STREAMING").upper() == "BATCH"

    @property
    def key_group_range(self) -> range:
        from strom.common.keygroups import key_group_range

        return key_group_range(self.subtask_index, self.parallelism, self.max_parallelism)

    def get_current_processing_time(self) -> int:
        return self._pts().get_current_processing_time()

    def create_keyed_state_backend(self) -> HashMapKeyedStateBackend:
        """The keyed state of one operator instance ('hashmap': in memory, by key group)."""
        from strom.taskmanager.state.hashmap_backend import HashMapKeyedStateBackend

        return HashMapKeyedStateBackend.from_context(self)

    def create_operator_state_backend(self) -> OperatorStateBackend:
        from strom.taskmanager.state.operator_backend import OperatorStateBackend

        return OperatorStateBackend(self.task_name_with_subtask)

    def create_timer_service(self, on_processing_timer: Callable[[InternalTimer], None],
                             after_processing_timers: Callable[[], None] | None = None
                             ) -> InternalTimerService:
        """Event- and processing-time timers of one keyed operator instance; due processing-time
        timers are handed to ``on_processing_timer`` on the task thread, then
        ``after_processing_timers()`` runs once per firing pass."""
        from strom.taskmanager.time.timers import InternalTimerService

        return InternalTimerService(self.max_parallelism, self.key_group_range,
                                    processing_time_service=self._pts(), on_processing_timer=on_processing_timer,
                                    after_processing_timers=after_processing_timers)

    def _pts(self) -> ProcessingTimeService:
        if self.processing_time_service is None:
            from strom.taskmanager.time.processing_time import ProcessingTimeService

            self.processing_time_service = ProcessingTimeService()
        return self.processing_time_service


class Operator:
    """Base class: override what you need. ``name`` is shown in logs and REST."""

    name: str = "Operator"
    output: Output
    side_outputs: dict[str, Output] = {}  # noqa: RUF012 - replaced per instance by the task

    def open(self, ctx: OperatorContext) -> None:
        self.ctx = ctx

    def process(self, batch: Batch, input_index: int = 0) -> None:
        raise NotImplementedError

    def process_watermark(self, watermark: int) -> None:
        """The input watermark advanced to ``watermark`` (ms): nothing earlier will arrive."""
        self.emit_watermark(watermark)

    def process_watermark_status(self, idle: bool) -> None:
        """The input became idle (no watermark progress expected) or active again."""
        self.output.emit_watermark_status(idle)
        for side in self.side_outputs.values():
            side.emit_watermark_status(idle)

    def end_input(self, input_index: int = 0) -> None:
        """All channels of one logical input delivered end-of-partition."""

    def finish(self) -> None:
        """Every input ended: emit what is still held (final aggregates, file footers)."""

    def close(self) -> None:
        """Release resources; called after finish, cancel and failure alike."""

    def cancel(self) -> None:
        """Called once when the task is cancelled, before close."""

    # ---- helpers for subclasses --------------------------------------------------

    def emit_watermark(self, watermark: int) -> None:
        """Forward a watermark to the main output and every side output."""
        self.output.emit_watermark(watermark)
        for side in self.side_outputs.values():
            side.emit_watermark(watermark)

    def side_output(self, tag_id: str, batch: Batch) -> None:
        """Records for the side output ``tag_id``; dropped when nothing consumes it."""
        out = self.side_outputs.get(tag_id)
        if out is not None and len(batch):
            out.emit(batch)


class FanOut:
    """Output of an operator with several successors (chained operators and/or exchanges)."""

    __slots__ = ("targets",)

    def __init__(self, targets: list[Output]) -> None:
        self.targets = targets

    def emit(self, batch: Batch) -> None:
        for t in self.targets:
            t.emit(batch)

    def emit_watermark(self, watermark: int) -> None:
        for t in self.targets:
            t.emit_watermark(watermark)

    def emit_watermark_status(self, idle: bool) -> None:
        for t in self.targets:
            t.emit_watermark_status(idle)


class OperatorInput:
    """Adapts a chained successor operator to the Output interface."""

    __slots__ = ("operator", "input_index")

    def __init__(self, operator: Operator, input_index: int = 0) -> None:
        self.operator = operator
        self.input_index = input_index

    def emit(self, batch: Batch) -> None:
        if len(batch):
            self.operator.process(batch, self.input_index)

    def emit_watermark(self, watermark: int) -> None:
        self.operator.process_watermark(watermark)

    def emit_watermark_status(self, idle: bool) -> None:
        self.operator.process_watermark_status(idle)


class Discard:
    def emit(self, batch: Batch) -> None:
        pass

    def emit_watermark(self, watermark: int) -> None:
        pass

    def emit_watermark_status(self, idle: bool) -> None:
        pass


def describe_function(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return str(name)
