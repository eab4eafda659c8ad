"""The operator contract inside a chain.

An operator receives batches (``process``), may emit batches to its
``output``, learns that an input ended (``end_input``) and, once every input
ended, flushes what it still holds (``finish``). All calls for one subtask
happen on that subtask's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from strom.taskmanager.runtime.batch import Batch


class Output(Protocol):
    def emit(self, batch: Batch) -> None: ...


@dataclass
class OperatorContext:
    """What an operator knows about where it runs."""

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

    @property
    def task_name_with_subtask(self) -> str:
        return f"{self.operator_name} ({self.subtask_index + 1}/{self.parallelism})"

    @property
    def batch_mode(self) -> bool:
        return self.config.get("execution.runtime-mode", "STREAMING").upper() == "BATCH"


class Operator:
    """Base class: override what you need. ``name`` is shown in logs and REST."""

    name: str = "Operator"
    output: Output

    def open(self, ctx: OperatorContext) -> None:
        self.ctx = ctx

    def process(self, batch: Batch, input_index: int = 0) -> None:
        raise NotImplementedError

    def end_input(self, input_index: int = 0) -> None:
        """All channels of one logical input delivered end-of-partition."""

    def finish(self) -> None:
        """Every input ended: emit what is still held (final aggregates, file footers)."""

    def close(self) -> None:
        """Release resources; called after finish, cancel and failure alike."""

    def cancel(self) -> None:
        """Called once when the task is cancelled, before close."""


class FanOut:
    """Output of an operator with several successors (chained operators and/or exchanges)."""

    __slots__ = ("targets",)

    def __init__(self, targets: list[Output]) -> None:
        self.targets = targets

    def emit(self, batch: Batch) -> None:
        for t in self.targets:
            t.emit(batch)


class OperatorInput:
    """Adapts a chained successor operator to the Output interface."""

    __slots__ = ("operator", "input_index")

    def __init__(self, operator: Operator, input_index: int = 0) -> None:
        self.operator = operator
        self.input_index = input_index

    def emit(self, batch: Batch) -> None:
        if len(batch):
            self.operator.process(batch, self.input_index)


class Discard:
    def emit(self, batch: Batch) -> None:
        pass


def describe_function(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return str(name)
