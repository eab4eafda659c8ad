"""The ResourceManager's table of registered TaskManagers and their slots.

Plain data plus pure queries (which slots are free, whose heartbeat is
overdue); the ``ResourceManager`` owns one instance and does the effects.

State owner: the JobManager's event loop (through the ResourceManager).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from strom.jobmanager.resourcemanager.slot_matching import TaskManagerSlots


@dataclass
class SlotAllocation:
    """A slot taken by a job. ``pending`` until the TaskManager confirmed it with a data address."""

    allocation_id: str
    job_id: str
    data_address: str = ""
    pending: bool = True


@dataclass
class TaskExecutorRegistration:
    resource_id: str
    rpc_address: str
    num_slots: int
    registration_id: str
    registration_order: int
    hostname: str = ""
    memory_bytes: int = 0
    cpu_cores: int = 0
    registered_at_ms: int = 0
    last_heartbeat_ms: int = 0        # wall clock, for display
    last_heartbeat_mono: float = 0.0  # monotonic, for the timeout
    allocations: dict[int, SlotAllocation] = field(default_factory=dict)

    def free_slot_indices(self) -> tuple[int, ...]:
        return tuple(i for i in range(self.num_slots) if i not in self.allocations)

    def describe(self) -> str:
        return f"TaskManager {self.resource_id} at {self.rpc_address}"


@dataclass(frozen=True)
class SlotInfo:
    slot_index: int
    allocation_id: str
    job_id: str
    data_address: str


@dataclass(frozen=True)
class TaskManagerInfo:
    """A snapshot of one TaskManager for REST and the overview."""

    resource_id: str
    rpc_address: str
    hostname: str
    num_slots: int
    free_slots: int
    last_heartbeat_ms: int
    cpu_cores: int
    memory_bytes: int
    slots: tuple[SlotInfo, ...]


class TaskExecutorRegistry:
    """Registered TaskManagers by resource id, in registration order."""

    def __init__(self) -> None:
        self._by_id: dict[str, TaskExecutorRegistration] = {}
        self._next_order = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, resource_id: object) -> bool:
        return resource_id in self._by_id

    def next_order(self) -> int:
        self._next_order += 1
        return self._next_order

    def add(self, registration: TaskExecutorRegistration) -> None:
        self._by_id[registration.resource_id] = registration

    def remove(self, resource_id: str) -> TaskExecutorRegistration | None:
        return self._by_id.pop(resource_id, None)

    def get(self, resource_id: str) -> TaskExecutorRegistration | None:
        return self._by_id.get(resource_id)

    def all(self) -> list[TaskExecutorRegistration]:
        return sorted(self._by_id.values(), key=lambda r: r.registration_order)

    # ---- slots ------------------------------------------------------------

    def total_slots(self) -> int:
        return sum(r.num_slots for r in self._by_id.values())

    def free_slots(self) -> int:
        return sum(len(r.free_slot_indices()) for r in self._by_id.values())

    def matching_view(self) -> list[TaskManagerSlots]:
        return [TaskManagerSlots(r.resource_id, r.registration_order, r.num_slots, r.free_slot_indices())
                for r in self.all()]

    def find_allocation(self, allocation_id: str) -> tuple[TaskExecutorRegistration, int] | None:
        for registration in self._by_id.values():
            for index, allocation in registration.allocations.items():
                if allocation.allocation_id == allocation_id:
                    return registration, index
        return None

    def known_allocation_ids(self) -> set[str]:
        return {a.allocation_id for r in self._by_id.values() for a in r.allocations.values()}

    # ---- heartbeats -------------------------------------------------------

    def overdue(self, now_mono: float, timeout_s: float) -> list[TaskExecutorRegistration]:
        """TaskManagers whose last heartbeat (or registration) is older than ``timeout_s``."""
        return [r for r in self.all() if now_mono - r.last_heartbeat_mono > timeout_s]

    def infos(self) -> list[TaskManagerInfo]:
        return [TaskManagerInfo(
            r.resource_id, r.rpc_address, r.hostname, r.num_slots, len(r.free_slot_indices()),
            r.last_heartbeat_ms, r.cpu_cores, r.memory_bytes,
            tuple(SlotInfo(i, a.allocation_id, a.job_id, a.data_address)
                  for i, a in sorted(r.allocations.items()))) for r in self.all()]
