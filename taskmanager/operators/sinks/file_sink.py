"""File sinks: text, CSV and Parquet, one part file per subtask.

Each subtask writes ``.part-<subtask>-0.<ext>.inprogress`` in the output
directory and renames it to ``part-<subtask>-0.<ext>`` when its input ends, so
readers never see half-written files; a cancelled or failed subtask removes its
in-progress file. Paths are local paths or ``pyarrow.fs`` URIs.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from strom.taskmanager.operators.base import Operator, OperatorContext
from strom.taskmanager.operators.sources.files import filesystem_and_path, resolve_path
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.records import KIND, is_pickled

FORMATS = ("text", "csv", "parquet")
_EXT = {"text": "txt", "csv": "csv", "parquet": "parquet"}


class FileSinkOperator(Operator):
    def __init__(self, path: str, fmt: str = "text", delimiter: str = ",",
                 encoder: Any = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"file sink format must be one of {FORMATS}, got {fmt!r}")
        self.path = resolve_path(path)
        self.fmt = fmt
        self.delimiter = delimiter
        self.encoder = encoder
        self.name = f"File Sink ({fmt}: {self.path})"

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self.fs, base = filesystem_and_path(self.path)
        self.fs.create_dir(base, recursive=True)
        name = f"part-{ctx.subtask_index}-0.{_EXT[self.fmt]}"
        self.final_path = f"{base.rstrip('/')}/{name}"
        self.tmp_path = f"{base.rstrip('/')}/.{name}.inprogress"
        self.stream = self.fs.open_output_stream(self.tmp_path)
        self.parquet: pq.ParquetWriter | None = None
        self.finished = False

    def process(self, batch: Batch, input_index: int = 0) -> None:
        if self.fmt == "text":
            encode = self.encoder.encode if self.encoder is not None else str
            self.stream.write("".join(f"{encode(r)}\n" for r in batch.records).encode("utf-8"))
        elif self.fmt == "csv":
            self._write_csv(batch)
        else:
            arrow = batch.arrow
            if self.parquet is None:
                self.parquet = pq.ParquetWriter(self.stream, arrow.schema)
            elif arrow.schema != self.parquet.schema_arrow:
                arrow = arrow.cast(self.parquet.schema_arrow)
            self.parquet.write_batch(arrow)

    def _write_csv(self, batch: Batch) -> None:
        arrow = batch.arrow
        typed = not any(is_pickled(f) for f in arrow.schema) and all(
            pa.types.is_primitive(f.type) or pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
            for f in arrow.schema)
        if typed and arrow.num_rows:
            buf = io.BytesIO()
            try:
                pacsv.write_csv(arrow, buf, pacsv.WriteOptions(include_header=False, delimiter=self.delimiter,
                                                              quoting_style="none"))
            except pa.ArrowInvalid:
                pass  # a value needs quotes: the csv module quotes just those
            else:
                self.stream.write(buf.getvalue())
                return
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.delimiter, lineterminator="\n")
        single = (arrow.schema.metadata or {}).get(KIND) == b"value"
        for r in batch.records:
            writer.writerow([r] if single or not isinstance(r, (tuple, list)) else r)
        self.stream.write(out.getvalue().encode("utf-8"))

    def finish(self) -> None:
        if self.parquet is not None:
            self.parquet.close()
        self.stream.close()
        if self.fmt == "parquet" and self.parquet is None:
            # no rows and so no schema: a 0-byte file would break readers of the directory
            self.fs.delete_file(self.tmp_path)
        else:
            self.fs.move(self.tmp_path, self.final_path)
        self.finished = True

    def close(self) -> None:
        if not getattr(self, "finished", True):
            try:
                self.stream.close()
            finally:
                try:
                    self.fs.delete_file(self.tmp_path)
                except OSError:
                    pass
