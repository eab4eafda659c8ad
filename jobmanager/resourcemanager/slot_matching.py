"""Which free slots serve a slot request. Pure: no I/O, no clock.

Two strategies, as in Flink:

- ``ANY`` (Flink's default, ``cluster.evenly-spread-out-slots: false``): any
  free slot will do. Strom makes "any" deterministic: TaskManagers in
  registration order, slots by index, so a job fills the first TaskManager
  before it touches the next.
- ``SPREAD`` (``cluster.evenly-spread-out-slots: true``): each pick goes to
  the TaskManager with the lowest utilization (allocated / total slots),
  ties broken by registration order, so a job spreads over all TaskManagers.

    >>> tms = [TaskManagerSlots("a", 0, 2, (0, 1)), TaskManagerSlots("b", 1, 2, (0, 1))]
    >>> match_slots(tms, 2)
    [SlotRef(resource_id='a', slot_index=0), SlotRef(resource_id='a', slot_index=1)]
    >>> match_slots(tms, 2, MatchingStrategy.SPREAD)
    [SlotRef(resource_id='a', slot_index=0), SlotRef(resource_id='b', slot_index=0)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

EVENLY_SPREAD_OUT_SLOTS_KEY = "cluster.evenly-spread-out-slots"


class MatchingStrategy(StrEnum):
    ANY = "any"
    SPREAD = "spread"

    @classmethod
    def from_flag(cls, evenly_spread_out: str | None) -> MatchingStrategy:
        """Flink's ``cluster.evenly-spread-out-slots`` flag ("true"/"false", unset = false)."""
        return cls.SPREAD if (evenly_spread_out or "").strip().lower() == "true" else cls.ANY


@dataclass(frozen=True)
class TaskManagerSlots:
    """One TaskManager's slots as the matcher needs them."""

    resource_id: str
    registration_order: int
    num_slots: int
    free_slot_indices: tuple[int, ...]


@dataclass(frozen=True)
class SlotRef:
    resource_id: str
    slot_index: int


def match_slots(task_managers: Sequence[TaskManagerSlots], n: int,
                strategy: MatchingStrategy = MatchingStrategy.ANY) -> list[SlotRef] | None:
    """``n`` distinct free slots, or None when fewer than ``n`` are free (all or nothing)."""
    if n < 0:
        raise ValueError(f"cannot match {n} slots")
    if sum(len(tm.free_slot_indices) for tm in task_managers) < n:
        return None
    ordered = sorted(task_managers, key=lambda tm: (tm.registration_order, tm.resource_id))
    if strategy is MatchingStrategy.ANY:
        return [SlotRef(tm.resource_id, index)
                for tm in ordered for index in sorted(tm.free_slot_indices)][:n]
    return _spread(ordered, n)


def _spread(ordered: Sequence[TaskManagerSlots], n: int) -> list[SlotRef]:
    free = {tm.resource_id: sorted(tm.free_slot_indices) for tm in ordered}
    used = {tm.resource_id: tm.num_slots - len(tm.free_slot_indices) for tm in ordered}
    picked: list[SlotRef] = []
    for _ in range(n):
        candidates = [tm for tm in ordered if free[tm.resource_id]]
        best = min(candidates, key=lambda tm: (used[tm.resource_id] / max(tm.num_slots, 1),
                                               tm.registration_order))
        picked.append(SlotRef(best.resource_id, free[best.resource_id].pop(0)))
        used[best.resource_id] += 1
    return picked
