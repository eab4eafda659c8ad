"""The TaskManager's slot table: which slot belongs to which allocation of which job.

Pure logic, no I/O. Owned by the TaskExecutor's asyncio loop (one writer).

Slots are indexed ``0..N-1``. A slot is FREE or ALLOCATED; ``allocate`` is
idempotent for the same allocation (the ResourceManager may retry a
RequestSlot), and refuses a slot held by another allocation, like Flink's
``SlotOccupiedException``.

    table = SlotTable(2)
    table.allocate(0, "alloc-1", "job-1")   # -> True (newly allocated)
    table.allocate(0, "alloc-1", "job-1")   # -> False (already ours)
    table.free("alloc-1")

Rows of the report are the gateway's ``SlotStatus`` (empty ids: free), the
shape the ResourceManager receives.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from strom.common.errors import IllegalStateTransitionError, StromError
from strom.common.gateway.resource_manager import SlotStatus

log = logging.getLogger(__name__)


class SlotState(StrEnum):
    FREE = "FREE"
    ALLOCATED = "ALLOCATED"


SLOT_TRANSITIONS: dict[SlotState, frozenset[SlotState]] = {
    SlotState.FREE: frozenset({SlotState.ALLOCATED}),
    SlotState.ALLOCATED: frozenset({SlotState.FREE}),
}


class SlotAllocationError(StromError):
    """A RequestSlot that cannot be honoured: unknown slot index, or the slot is taken."""


@dataclass
class _Slot:
    index: int
    state: SlotState = SlotState.FREE
    allocation_id: str = ""
    job_id: str = ""

    def transition_to(self, target: SlotState, cause: str) -> None:
        if target not in SLOT_TRANSITIONS[self.state]:
            raise IllegalStateTransitionError(f"slot {self.index} cannot switch from {self.state} to {target}")
        log.info("Slot %d switched from %s to %s (%s)", self.index, self.state, target, cause)
        self.state = target


class SlotTable:
    """Slots of one TaskManager. Not thread-safe: the TaskExecutor's loop owns it."""

    def __init__(self, num_slots: int) -> None:
        if num_slots < 1:
            raise ValueError(f"a TaskManager needs at least one slot, got {num_slots}")
        self._slots = [_Slot(i) for i in range(num_slots)]
        self._by_allocation: dict[str, _Slot] = {}

    @property
    def num_slots(self) -> int:
        return len(self._slots)

    def allocate(self, slot_index: int, allocation_id: str, job_id: str) -> bool:
        """Give slot ``slot_index`` to ``allocation_id``; True if newly allocated, False if it already was.

        Raises ``SlotAllocationError`` for an unknown index, a slot held by another
        allocation, or an allocation already holding a different slot.
        """
        if not allocation_id or not job_id:
            raise SlotAllocationError("a slot request needs an allocation id and a job id")
        if not 0 <= slot_index < len(self._slots):
            raise SlotAllocationError(
                f"slot index {slot_index} does not exist: this TaskManager has slots 0..{len(self._slots) - 1}")
        slot = self._slots[slot_index]
        held = self._by_allocation.get(allocation_id)
        if held is not None and held is not slot:
            raise SlotAllocationError(
                f"allocation {allocation_id} already holds slot {held.index}, cannot also take slot {slot_index}")
        if slot.state is SlotState.ALLOCATED:
            if slot.allocation_id == allocation_id and slot.job_id == job_id:
                return False
            raise SlotAllocationError(
                f"slot {slot_index} is taken by allocation {slot.allocation_id} of job {slot.job_id}; "
                f"cannot give it to allocation {allocation_id} of job {job_id}")
        slot.transition_to(SlotState.ALLOCATED, f"allocation {allocation_id} of job {job_id}")
        slot.allocation_id, slot.job_id = allocation_id, job_id
        self._by_allocation[allocation_id] = slot
        return True

    def free(self, allocation_id: str, cause: str = "freed") -> SlotStatus | None:
        """Release the slot of ``allocation_id``; returns what it held, or None if unknown (idempotent)."""
        slot = self._by_allocation.pop(allocation_id, None)
        if slot is None:
            return None
        freed = SlotStatus(slot.index, slot.allocation_id, slot.job_id)
        slot.transition_to(SlotState.FREE, cause)
        slot.allocation_id = slot.job_id = ""
        return freed

    def get(self, allocation_id: str) -> SlotStatus | None:
        slot = self._by_allocation.get(allocation_id)
        return None if slot is None else SlotStatus(slot.index, slot.allocation_id, slot.job_id)

    def allocations(self) -> list[SlotStatus]:
        """The allocated slots, by index."""
        return [s for s in self.report() if s.allocation_id]

    def allocations_of_job(self, job_id: str) -> list[SlotStatus]:
        return [s for s in self.allocations() if s.job_id == job_id]

    def report(self) -> list[SlotStatus]:
        """Every slot, by index: what the ResourceManager receives with each heartbeat."""
        return [SlotStatus(s.index, s.allocation_id, s.job_id) for s in self._slots]

    def num_free(self) -> int:
        return sum(1 for s in self._slots if s.state is SlotState.FREE)
