"""PyFlink's function interfaces. Plain callables work everywhere too:

    ds.map(lambda x: x * 2)          # a callable
    ds.map(Doubler())                # a MapFunction with open()/close()
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any


class Function(abc.ABC):  # noqa: B024 - a marker base with optional lifecycle hooks
    def open(self, runtime_context: Any) -> None:
        """Called once per parallel instance before the first record."""

    def close(self) -> None:
        """Called once per parallel instance after the last record."""


class MapFunction(Function):
    @abc.abstractmethod
    def map(self, value: Any) -> Any: ...


class FlatMapFunction(Function):
    @abc.abstractmethod
    def flat_map(self, value: Any) -> Iterable[Any]: ...


class FilterFunction(Function):
    @abc.abstractmethod
    def filter(self, value: Any) -> bool: ...


class ReduceFunction(Function):
    @abc.abstractmethod
    def reduce(self, value1: Any, value2: Any) -> Any: ...


class KeySelector(Function):
    @abc.abstractmethod
    def get_key(self, value: Any) -> Any: ...
