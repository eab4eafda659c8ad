"""print(): one line per record on the TaskManager's stdout, prefixed with the
subtask number when the sink runs in parallel (``2> record``), as in Flink."""

from __future__ import annotations

import sys

from strom.taskmanager.operators.base import Operator, OperatorContext
from strom.taskmanager.runtime.batch import Batch


class PrintSink(Operator):
    def __init__(self, sink_identifier: str | None = None, to_stderr: bool = False) -> None:
        self.identifier = sink_identifier
        self.to_stderr = to_stderr
        self.name = "Print to Std. Err" if to_stderr else "Print to Std. Out"

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        parts = []
        if self.identifier:
            parts.append(self.identifier)
        if ctx.parallelism > 1:
            parts.append(str(ctx.subtask_index + 1))
        self.prefix = (":".join(parts) + "> ") if parts else ""

    def process(self, batch: Batch, input_index: int = 0) -> None:
        stream = sys.stderr if self.to_stderr else sys.stdout
        prefix = self.prefix
        stream.write("".join(f"{prefix}{r}\n" for r in batch.records))
        stream.flush()
