"""The keyed state backend contract: what keyed operators, windows and checkpoints call.

One backend per keyed operator per subtask, owning the key groups
``key_group_range`` of ``max_parallelism``. The operator sets the current key
before it runs user code for a record or a timer; state objects obtained from
the backend always act on that key. Implementations: ``hashmap``
(``HashMapKeyedStateBackend``, in memory) now, an on-disk store later.

Owned by the subtask's task thread: no method may be called from another thread.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from strom.taskmanager.state.descriptor import VOID_NAMESPACE, StateSpec
from strom.taskmanager.state.snapshot import KeyGroupsStateSnapshot


class KeyedStateBackend(Protocol):
    @property
    def key_group_range(self) -> range: ...

    @property
    def max_parallelism(self) -> int: ...

    @property
    def has_current_key(self) -> bool: ...

    @property
    def current_key(self) -> Any:
        """The current key; StateAccessError if none is set."""
        ...

    @property
    def current_key_group(self) -> int | None: ...

    def set_current_key(self, key: Any, key_group: int | None = None) -> None:
        """Make ``key`` current. Pass ``key_group`` when the exchange already computed it."""
        ...

    def clear_current_key(self) -> None: ...

    def get_state(self, descriptor: StateSpec) -> Any:
        """The state of ``descriptor`` in the void namespace (what process functions use)."""
        ...

    def get_partitioned_state(self, namespace: Any, descriptor: StateSpec) -> Any:
        """The state of ``descriptor`` in ``namespace`` (a window), bound to the current key."""
        ...

    def merge_namespaces(self, target: Any, sources: Iterable[Any], descriptor: StateSpec) -> None: ...

    def get_keys(self, state_name: str, namespace: Any = VOID_NAMESPACE) -> list[Any]: ...

    def apply_to_all_keys(self, namespace: Any, descriptor: StateSpec,
                          function: Callable[[Any, Any], None]) -> None: ...

    def num_keys(self, state_name: str | None = None) -> int: ...

    def num_entries(self) -> int: ...

    def cleanup_expired(self) -> int: ...

    def snapshot(self, key_group_range: range | None = None) -> bytes: ...

    def restore(self, snapshots: Iterable[bytes | memoryview | KeyGroupsStateSnapshot],
                my_key_group_range: range | None = None) -> None: ...

    def dispose(self) -> None: ...
