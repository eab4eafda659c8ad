"""The source contract: a Source describes the data; each subtask opens a SourceReader."""

from __future__ import annotations

import abc

from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.runtime.batch import Batch


class EndOfInput:
    """Returned by ``SourceReader.poll`` when a bounded reader has no more data."""


END_OF_INPUT = EndOfInput()


class SourceReader(abc.ABC):
    @abc.abstractmethod
    def poll(self) -> Batch | EndOfInput | None:
        """The next batch, END_OF_INPUT, or None when nothing is available right now."""

    def wait_hint(self) -> float:
        """Seconds until data may be available when poll() returned None."""
        return 0.01

    def close(self) -> None:
        pass


class Source(abc.ABC):
    name: str = "Source"
    bounded: bool = True
    #: sources that cannot be split run with parallelism 1 (Flink: from_collection)
    max_parallelism: int | None = None

    @abc.abstractmethod
    def create_reader(self, ctx: OperatorContext) -> SourceReader: ...

    def validate(self) -> None:
        """Checks on the client before submission (e.g. the input file exists)."""
