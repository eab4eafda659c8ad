"""Sources and sinks a job can name (PyFlink's names where they exist).

    env.from_source(NumberSequenceSource(1, 1000))
    ds.sink_to(FileSink.for_row_format("/tmp/out", Encoder.simple_string_encoder()).build())
    ds.sink_to(FileSink.csv("/tmp/out"))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strom.taskmanager.operators.sinks.file_sink import FileSinkOperator
from strom.taskmanager.operators.sources.collection import (
    CollectionSource,
    DataGeneratorSource,
    NumberSequenceSource,
)
from strom.taskmanager.operators.sources.files import CsvFileSource, TextFileSource

__all__ = ["CollectionSource", "CsvFileSource", "DataGeneratorSource", "Encoder", "FileSink",
           "NumberSequenceSource", "TextFileSource"]


class Encoder:
    """How a row-format file sink turns a record into a line."""

    def __init__(self, fn: Any = str) -> None:
        self.fn = fn

    def encode(self, record: Any) -> str:
        return str(self.fn(record))

    @staticmethod
    def simple_string_encoder(charset: str = "UTF-8") -> Encoder:
        return Encoder(str)


@dataclass
class FileSink:
    """A file sink: one part file per subtask in ``path`` (text, csv or parquet)."""

    path: str
    fmt: str = "text"
    delimiter: str = ","
    encoder: Encoder | None = None

    @staticmethod
    def text(path: str) -> FileSink:
        return FileSink(path, "text")

    @staticmethod
    def csv(path: str, delimiter: str = ",") -> FileSink:
        return FileSink(path, "csv", delimiter)

    @staticmethod
    def parquet(path: str) -> FileSink:
        return FileSink(path, "parquet")

    @staticmethod
    def for_row_format(base_path: str, encoder: Encoder | None = None) -> _Builder:
        return _Builder(FileSink(base_path, "text", encoder=encoder))

    def build(self) -> FileSink:
        return self

    def create_operator(self) -> FileSinkOperator:
        return FileSinkOperator(self.path, self.fmt, self.delimiter, self.encoder)


@dataclass
class _Builder:
    sink: FileSink

    def build(self) -> FileSink:
        return self.sink
