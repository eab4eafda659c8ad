"""The ResourceManager: TaskManager registry, heartbeats, slot matching and allocation."""

from strom.jobmanager.resourcemanager.resource_manager import (
    ResourceManager,
    SlotAssignment,
    SlotOwner,
    TaskExecutorRegistrationRequest,
)

__all__ = ["ResourceManager", "SlotAssignment", "SlotOwner", "TaskExecutorRegistrationRequest"]
