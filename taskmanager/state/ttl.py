"""State time-to-live: stamped values, the expiry policy and the full-sweep purge.

With TTL, a backend stores each value wrapped as ``TtlValue(value, timestamp)``
(list elements and map entries each carry their own stamp, like Flink). An
entry written at ``t`` with a TTL of ``ttl`` ms is expired from ``t + ttl`` on.
``OnCreateAndWrite`` stamps on writes, ``OnReadAndWrite`` also on reads.
Expired entries are removed lazily when they are accessed, by
``cleanup_expired()`` sweeps and (if configured) left out of full snapshots.
With ``NeverReturnExpired`` an expired entry is never returned; with
``ReturnExpiredIfNotCleanedUp`` the access that finds it still returns it
(and removes it), as in Flink.

Time is the backend's injected clock (milliseconds), read on the subtask's
task thread, which owns all keyed state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from strom.taskmanager.state.descriptor import StateKind, TtlSpec
from strom.taskmanager.state.errors import IncompatibleStateError
from strom.taskmanager.state.table import MISSING


class TtlValue(NamedTuple):
    """A user value with the time (ms) it was last written (or read, with OnReadAndWrite)."""

    value: Any
    timestamp: int


_UPDATE_TYPES = {"Disabled", "OnCreateAndWrite", "OnReadAndWrite"}
_VISIBILITIES = {"NeverReturnExpired", "ReturnExpiredIfNotCleanedUp"}


@dataclass(frozen=True)
class TtlPolicy:
    """A descriptor's TTL settings, checked and reduced to what the state objects test."""

    ttl_ms: int
    update_on_read: bool
    return_expired: bool
    cleanup_full_snapshot: bool

    @classmethod
    def from_spec(cls, name: str, spec: TtlSpec | None) -> TtlPolicy | None:
        """None when the descriptor has no TTL (or its update type is ``Disabled``)."""
        if spec is None:
            return None
        update, visibility = str(spec.update_type), str(spec.state_visibility)
        if update not in _UPDATE_TYPES:
            raise IncompatibleStateError(
                f"state '{name}': unknown TTL update type {update!r}; expected one of {sorted(_UPDATE_TYPES)}")
        if visibility not in _VISIBILITIES:
            raise IncompatibleStateError(
                f"state '{name}': unknown TTL visibility {visibility!r}; expected one of {sorted(_VISIBILITIES)}")
        if update == "Disabled":
            return None
        if int(spec.ttl_ms) <= 0:
            raise IncompatibleStateError(f"state '{name}': TTL must be positive, got {spec.ttl_ms} ms")
        return cls(int(spec.ttl_ms), update == "OnReadAndWrite",
                   visibility == "ReturnExpiredIfNotCleanedUp", bool(spec.cleanup_full_snapshot))

    def is_expired(self, timestamp: int, now: int) -> bool:
        return timestamp + self.ttl_ms <= now


def purge(kind: StateKind, stored: Any, policy: TtlPolicy, now: int) -> Any:
    """``stored`` without its expired parts: the same object if nothing expired, MISSING if all did.

    Never mutates ``stored`` (snapshots purge copies while the live state stays as is).
    """
    expired = policy.is_expired
    if kind is StateKind.LIST:
        live = [e for e in stored if not expired(e.timestamp, now)]
        if len(live) == len(stored):
            return stored
        return live or MISSING
    if kind is StateKind.MAP:
        live_map = {k: e for k, e in stored.items() if not expired(e.timestamp, now)}
        if len(live_map) == len(stored):
            return stored
        return live_map or MISSING
    return MISSING if expired(stored.timestamp, now) else stored


def has_live(kind: StateKind, stored: Any, policy: TtlPolicy, now: int) -> bool:
    """Whether any part of ``stored`` is unexpired."""
    expired = policy.is_expired
    if kind is StateKind.LIST:
        return any(not expired(e.timestamp, now) for e in stored)
    if kind is StateKind.MAP:
        return any(not expired(e.timestamp, now) for e in stored.values())
    return not expired(stored.timestamp, now)
