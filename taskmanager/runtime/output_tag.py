"""OutputTag: names a side output of an operator (PyFlink's ``OutputTag``).

    late = OutputTag("late-bids")
    result = bids.key_by(...).window(...).side_output_late_data(late).reduce(...)
    result.get_side_output(late).print()

Inside process functions, ``yield late, value`` (or ``ctx.output(late, value)``)
sends ``value`` to the side output. Two tags are the same side output when
their ids are equal.
"""

from __future__ import annotations

from typing import Any


class OutputTag:
    __slots__ = ("tag_id", "type_info")

    def __init__(self, tag_id: str, type_info: Any = None) -> None:
        if not isinstance(tag_id, str) or not tag_id:
            raise ValueError(f"an OutputTag needs a non-empty string id, got {tag_id!r}")
        self.tag_id = tag_id
        self.type_info = type_info

    def get_id(self) -> str:
        return self.tag_id

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutputTag) and other.tag_id == self.tag_id

    def __hash__(self) -> int:
        return hash(("OutputTag", self.tag_id))

    def __repr__(self) -> str:
        return f"OutputTag({self.tag_id!r})"


def split_side_outputs(items: Any) -> tuple[list[Any], dict[str, list[Any]]]:
    """Separate ``(OutputTag, value)`` pairs from main-output values."""
    main: list[Any] = []
    sides: dict[str, list[Any]] = {}
    for item in items:
        if type(item) is tuple and len(item) == 2 and isinstance(item[0], OutputTag):
            sides.setdefault(item[0].tag_id, []).append(item[1])
        else:
            main.append(item)
    return main, sides
