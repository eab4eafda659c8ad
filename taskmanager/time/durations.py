"""Durations at the edge of the runtime: everything internal is an int of milliseconds.

User code passes ``Duration``/``Time`` from ``strom.client.api.time`` (anything
with ``to_milliseconds()``), a ``datetime.timedelta``, or plain int milliseconds.
``to_millis`` turns each into an int and names the argument when it cannot:

    >>> import datetime
    >>> to_millis(datetime.timedelta(seconds=2), "size")
    2000
"""

from __future__ import annotations

import datetime
from typing import Protocol, TypeAlias, runtime_checkable


@runtime_checkable
class SupportsMillis(Protocol):
    def to_milliseconds(self) -> int: ...


DurationLike: TypeAlias = SupportsMillis | datetime.timedelta | int


def to_millis(value: DurationLike, what: str) -> int:
    """``value`` in whole milliseconds; ``what`` names the argument in the error."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be a Duration or int milliseconds, not a bool ({value!r})")
    if isinstance(value, int):
        return value
    if isinstance(value, datetime.timedelta):
        return (value.days * 86_400 + value.seconds) * 1000 + value.microseconds // 1000
    to_ms = getattr(value, "to_milliseconds", None)
    if callable(to_ms):
        ms = to_ms()
        if isinstance(ms, int) and not isinstance(ms, bool):
            return ms
    raise TypeError(f"{what} must be a Duration (e.g. Duration.of_seconds(10)) or int milliseconds, "
                    f"not {type(value).__name__} ({value!r})")


def positive_millis(value: DurationLike, what: str) -> int:
    ms = to_millis(value, what)
    if ms <= 0:
        raise ValueError(f"{what} must be positive, got {ms} ms")
    return ms


def non_negative_millis(value: DurationLike, what: str) -> int:
    ms = to_millis(value, what)
    if ms < 0:
        raise ValueError(f"{what} must not be negative, got {ms} ms")
    return ms
