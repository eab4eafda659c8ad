"""``sum``/``min``/``max`` of one field in a window: a reduce function over records.

Flink's ``SumAggregator``/``ComparableAggregator`` on windowed streams: the
result is the window's first element with the field replaced by the
aggregate. A field is a tuple position, a dict key, an attribute name, or the
column name of an Arrow source (resolved against the columns of the batches
the operator receives, which ``bind_columns`` hands over):

    >>> agg = FieldAggregator("sum", 1)
    >>> agg.reduce(("a", 1, "first"), ("a", 2, "second"))
    ('a', 3, 'first')
"""

from __future__ import annotations

from typing import Any

_COMBINE = {
    "sum": lambda a, b: a + b,
    "min": lambda a, b: b if b < a else a,
    "max": lambda a, b: b if b > a else a,
}


class FieldAggregator:
    """A reduce function aggregating field ``field`` with ``kind`` (sum, min or max)."""

    def __init__(self, kind: str, field: int | str) -> None:
        if kind not in _COMBINE:
            raise ValueError(f"unknown field aggregation {kind!r}; expected sum, min or max")
        if isinstance(field, bool) or not isinstance(field, (int, str)):
            raise TypeError(f"{kind}() takes a tuple position or a field name, got {field!r}")
        if isinstance(field, int) and field < 0:
            raise ValueError(f"{kind}() takes a non-negative tuple position, got {field}")
        self.kind = kind
        self.field = field
        self._combine = _COMBINE[kind]
        self._position: int | None = field if isinstance(field, int) else _positional_name(field)

    def bind_columns(self, names: list[str]) -> None:
        """The column names of tuple records (an Arrow source's schema): names become positions."""
        if isinstance(self.field, str) and self.field in names:
            self._position = names.index(self.field)

    def reduce(self, first: Any, second: Any) -> Any:
        a, b = self._get(first), self._get(second)
        combined = self._combine(a, b)
        return first if combined is a else self._replace(first, combined)

    def _get(self, record: Any) -> Any:
        field = self.field
        if isinstance(record, dict):
            return record[field]
        if isinstance(record, (tuple, list)):
            if self._position is None:
                raise TypeError(f"{self.kind}({field!r}): the records are tuples without a column named "
                                f"{field!r}; use a tuple position, e.g. {self.kind}(1)")
            return record[self._position]
        if field in (0, "f0"):
            return record
        if isinstance(field, str) and hasattr(record, field):
            return getattr(record, field)
        raise TypeError(f"{self.kind}({field!r}) cannot read that field of a {type(record).__name__}: "
                        f"{record!r:.120}")

    def _replace(self, record: Any, value: Any) -> Any:
        if isinstance(record, dict):
            return {**record, self.field: value}
        if isinstance(record, (tuple, list)):
            pos = self._position
            assert pos is not None
            if isinstance(record, list):
                return [*record[:pos], value, *record[pos + 1:]]
            return (*record[:pos], value, *record[pos + 1:])
        if self.field in (0, "f0"):
            return value
        import copy

        out = copy.copy(record)
        setattr(out, str(self.field), value)
        return out

    def __repr__(self) -> str:
        return f"{self.kind}({self.field!r})"


def _positional_name(name: str) -> int | None:
    """``"f2"`` -> 2: the names Strom gives tuple columns."""
    if len(name) > 1 and name[0] == "f" and name[1:].isdigit():
        return int(name[1:])
    return None
