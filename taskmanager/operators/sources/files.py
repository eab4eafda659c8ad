"""Text and CSV file sources whose files and byte-range splits are shared among readers.

Every reader lists the same files and cuts them into the same splits
(deterministic), and reads split ``j`` when ``j % parallelism`` is its subtask
index. A line belongs to the split holding its first byte, so each line is read
exactly once whatever the split boundaries. Paths are any ``pyarrow.fs`` URI or
local path (made absolute on the client). Quoted CSV fields spanning lines are
not supported with splits larger than one (as in Flink's CSV format).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs

from strom.common.errors import JobGraphError
from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.sources.base import END_OF_INPUT, EndOfInput, Source, SourceReader
from strom.taskmanager.runtime.batch import Batch

DEFAULT_SPLIT_BYTES = 4 * 1024 * 1024
_BATCH_ROWS = 8192
_SCAN = 64 * 1024


@dataclass(frozen=True)
class FileSplit:
    path: str
    start: int
    end: int   # exclusive
    file_size: int


def resolve_path(path: str) -> str:
    if "://" in path:
        return path
    return os.path.abspath(os.path.expanduser(path))


def filesystem_and_path(path: str) -> tuple[pafs.FileSystem, str]:
    return pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), path)


def list_files(path: str) -> list[tuple[str, int]]:
    """(path, size) of the file, or of every non-hidden file under the directory, sorted."""
    fs, p = filesystem_and_path(path)
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"input path {path!r} does not exist")
    if info.type == pafs.FileType.File:
        return [(p, info.size)]
    selector = pafs.FileSelector(p, recursive=True)
    files = [(f.path, f.size) for f in fs.get_file_info(selector)
             if f.type == pafs.FileType.File and not os.path.basename(f.path).startswith((".", "_"))]
    return sorted(files)


def compute_splits(files: list[tuple[str, int]], split_bytes: int) -> list[FileSplit]:
    splits = []
    for path, size in files:
        if size == 0:
            continue
        for start in range(0, size, split_bytes):
            splits.append(FileSplit(path, start, min(size, start + split_bytes), size))
    return splits


def read_split_bytes(fs: pafs.FileSystem, split: FileSplit) -> bytes:
    """The bytes of every line whose first byte lies in [start, end)."""
    with fs.open_input_file(split.path) as f:
        if split.start == 0:
            begin = 0
        else:
            # the line containing byte start-1 belongs to the previous split
            probe = split.start - 1
            begin = -1
            while probe < split.file_size:
                chunk = f.read_at(min(_SCAN, split.file_size - probe), probe)
                nl = chunk.find(b"\n")
                if nl >= 0:
                    begin = probe + nl + 1
                    break
                probe += len(chunk)
            if begin < 0 or begin >= split.end:
                return b""
        stop = split.end
        tail = b""
        if stop < split.file_size:
            # finish the line that starts before `end`
            probe = stop - 1
            pieces = []
            while probe < split.file_size:
                chunk = f.read_at(min(_SCAN, split.file_size - probe), probe)
                nl = chunk.find(b"\n")
                if nl >= 0:
                    pieces.append(chunk[1:nl + 1] if probe == stop - 1 else chunk[:nl + 1])
                    break
                pieces.append(chunk[1:] if probe == stop - 1 else chunk)
                probe += len(chunk)
            tail = b"".join(pieces)
        return f.read_at(stop - begin, begin) + tail


class _SplitReader(SourceReader):
    def __init__(self, splits: list[FileSplit], fs: pafs.FileSystem) -> None:
        self.splits = splits
        self.fs = fs
        self.pending: list[Batch] = []

    def poll(self) -> Batch | EndOfInput | None:
        while not self.pending:
            if not self.splits:
                return END_OF_INPUT
            self.pending = self.read(self.splits.pop(0))
            self.pending.reverse()
        return self.pending.pop()

    def read(self, split: FileSplit) -> list[Batch]:
        raise NotImplementedError


class _TextReader(_SplitReader):
    def read(self, split: FileSplit) -> list[Batch]:
        data = read_split_bytes(self.fs, split)
        if not data:
            return []
        text = data.decode("utf-8")
        if text.endswith("\n"):
            text = text[:-1]
        lines = text.split("\n")
        if "\r" in text:
            lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
        return [Batch.of_records(lines[i:i + _BATCH_ROWS]) for i in range(0, len(lines), _BATCH_ROWS)]


class _FileSource(Source):
    def __init__(self, path: str, split_bytes: int = DEFAULT_SPLIT_BYTES) -> None:
        self.path = resolve_path(path)
        self.split_bytes = split_bytes

    def validate(self) -> None:
        try:
            list_files(self.path)
        except FileNotFoundError:
            raise JobGraphError(f"{self.name}: input path {self.path!r} does not exist") from None

    def my_splits(self, ctx: OperatorContext) -> tuple[list[FileSplit], pafs.FileSystem]:
        fs, _ = filesystem_and_path(self.path)
        splits = compute_splits(list_files(self.path), self.split_bytes)
        return [s for j, s in enumerate(splits) if j % ctx.parallelism == ctx.subtask_index], fs


class TextFileSource(_FileSource):
    """Lines of text files (without line terminators)."""

    def __init__(self, path: str, split_bytes: int = DEFAULT_SPLIT_BYTES) -> None:
        super().__init__(path, split_bytes)
        self.name = f"Text File Source ({os.path.basename(self.path.rstrip('/'))})"

    def create_reader(self, ctx: OperatorContext) -> SourceReader:
        splits, fs = self.my_splits(ctx)
        return _TextReader(splits, fs)


class _CsvReader(_SplitReader):
    def __init__(self, splits: list[FileSplit], fs: pafs.FileSystem, source: CsvFileSource) -> None:
        super().__init__(splits, fs)
        self.source = source

    def read(self, split: FileSplit) -> list[Batch]:
        data = read_split_bytes(self.fs, split)
        if split.start == 0 and self.source.has_header:
            nl = data.find(b"\n")
            data = b"" if nl < 0 else data[nl + 1:]
        if not data.strip():
            return []
        schema = self.source.schema
        assert schema is not None
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=schema.names, block_size=1 << 22, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=self.source.delimiter),
            convert_options=pacsv.ConvertOptions(column_types=schema))
        table = table.cast(schema)
        return [Batch.of_arrow(b) for b in table.to_batches(max_chunksize=_BATCH_ROWS) if b.num_rows]


class CsvFileSource(_FileSource):
    """Rows of CSV files as Arrow batches (records are tuples in column order).

    The schema is given, or inferred on the client from the start of the first
    file, so every split parses to the same column types. Without a header the
    columns are named f0, f1, ...
    """

    def __init__(self, path: str, schema: pa.Schema | None = None, has_header: bool = False,
                 delimiter: str = ",", column_names: list[str] | None = None,
                 split_bytes: int = DEFAULT_SPLIT_BYTES) -> None:
        super().__init__(path, split_bytes)
        self.schema = schema
        self.has_header = has_header
        self.delimiter = delimiter
        self.column_names = column_names
        self.name = f"CSV File Source ({os.path.basename(self.path.rstrip('/'))})"

    def validate(self) -> None:
        super().validate()
        if self.schema is None:
            self.schema = self._infer_schema()

    def _infer_schema(self) -> pa.Schema:
        files = list_files(self.path)
        fs, _ = filesystem_and_path(self.path)
        first = next((p for p, size in files if size > 0), None)
        if first is None:
            raise JobGraphError(f"{self.name}: no data to infer a schema from; pass schema=")
        with fs.open_input_file(first) as f:
            head = f.read_at(min(1 << 20, f.size()), 0)
        cut = head.rfind(b"\n")
        head = head if cut < 0 else head[:cut + 1]
        read_options = pacsv.ReadOptions(column_names=self.column_names, autogenerate_column_names=False)
        if not self.has_header and self.column_names is None:
            ncols = len(head.split(b"\n", 1)[0].split(self.delimiter.encode()))
            read_options = pacsv.ReadOptions(column_names=[f"f{i}" for i in range(ncols)])
        elif self.has_header and self.column_names is not None:
            read_options = pacsv.ReadOptions(column_names=self.column_names, skip_rows=1)
        try:
            table = pacsv.read_csv(io.BytesIO(head), read_options=read_options,
                                   parse_options=pacsv.ParseOptions(delimiter=self.delimiter))
        except pa.ArrowInvalid as exc:
            raise JobGraphError(f"{self.name}: cannot infer a schema from {first!r}: {exc}") from None
        return table.schema

    def create_reader(self, ctx: OperatorContext) -> SourceReader:
        if self.schema is None:
            self.schema = self._infer_schema()
        splits, fs = self.my_splits(ctx)
        return _CsvReader(splits, fs, self)
