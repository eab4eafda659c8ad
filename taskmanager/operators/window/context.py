"""The context a ProcessWindowFunction receives, and its keyed state stores.

``WindowProcessContext`` implements PyFlink's ``ProcessWindowFunction.Context``
(and ``ProcessAllWindowFunction.Context``) by shape:

    window()                    the window being evaluated
    current_watermark()         the operator's event-time clock
    current_processing_time()
    window_state()              state of this key *and window*; clear it in ``clear(context)``
    global_state()              state of this key across windows
    output(tag, value)          a side output, stamped with the window's max timestamp

One object is reused: the window operator sets the window before every call.
Per-window state is refused on merging (session) windows, as in Flink: a
merged window has no single namespace to keep it in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strom.taskmanager.state.descriptor import StateKind, kind_of
from strom.taskmanager.state.errors import StateAccessError
from strom.taskmanager.state.hashmap_backend import HashMapKeyedStateBackend

_METHOD_KIND = {
    "get_state": StateKind.VALUE,
    "get_list_state": StateKind.LIST,
    "get_map_state": StateKind.MAP,
    "get_reducing_state": StateKind.REDUCING,
    "get_aggregating_state": StateKind.AGGREGATING,
}


class _KeyedStateStore:
    """PyFlink's KeyedStateStore: ``get_state``, ``get_list_state``, ``get_map_state``,
    ``get_reducing_state``, ``get_aggregating_state``."""

    def __init__(self, step: str) -> None:
        self._step = step

    def _state(self, descriptor: Any, method: str) -> Any:
        raise NotImplementedError

    def _checked(self, descriptor: Any, method: str) -> None:
        name = getattr(descriptor, "name", None)
        try:
            actual = kind_of(descriptor)
        except Exception as exc:  # noqa: BLE001 - reported with the step's name
            raise StateAccessError(f"{self._step}: {method} expects a state descriptor, got {descriptor!r}: "
                                   f"{exc}") from None
        expected = _METHOD_KIND[method]
        if actual is not expected:
            raise StateAccessError(f"{self._step}: {method} expects a {expected.value} state descriptor, "
                                   f"got {type(descriptor).__name__} {name!r}")

    def get_state(self, state_descriptor: Any) -> Any:
        return self._state(state_descriptor, "get_state")

    def get_list_state(self, state_descriptor: Any) -> Any:
        return self._state(state_descriptor, "get_list_state")

    def get_map_state(self, state_descriptor: Any) -> Any:
        return self._state(state_descriptor, "get_map_state")

    def get_reducing_state(self, state_descriptor: Any) -> Any:
        return self._state(state_descriptor, "get_reducing_state")

    def get_aggregating_state(self, state_descriptor: Any) -> Any:
        return self._state(state_descriptor, "get_aggregating_state")


class GlobalStateStore(_KeyedStateStore):
    """State of the current key, shared by all its windows (the void namespace)."""

    def __init__(self, step: str, backend: HashMapKeyedStateBackend) -> None:
        super().__init__(step)
        self._backend = backend

    def _state(self, descriptor: Any, method: str) -> Any:
        self._checked(descriptor, method)
        return self._backend.get_state(descriptor)


class PerWindowStateStore(_KeyedStateStore):
    """State of the current key in the current window (the window is the namespace)."""

    def __init__(self, step: str, backend: HashMapKeyedStateBackend, merging: bool) -> None:
        super().__init__(step)
        self._backend = backend
        self._merging = merging
        self.window: Any = None

    def _state(self, descriptor: Any, method: str) -> Any:
        if self._merging:
            raise StateAccessError(
                f"{self._step}: per-window state (context.window_state().{method}) is not allowed with "
                f"merging windows such as session windows, whose windows merge; use "
                f"context.global_state() instead")
        self._checked(descriptor, method)
        return self._backend.get_partitioned_state(self.window, descriptor)


class WindowProcessContext:
    """``ProcessWindowFunction.Context``; owned by the window operator's task thread."""

    def __init__(self, step: str, backend: HashMapKeyedStateBackend, merging: bool,
                 watermark: Callable[[], int], processing_time: Callable[[], int],
                 side_output: Callable[[Any, Any, int], None]) -> None:
        self._window: Any = None
        self._watermark = watermark
        self._processing_time = processing_time
        self._side_output = side_output
        self._window_state = PerWindowStateStore(step, backend, merging)
        self._global_state = GlobalStateStore(step, backend)

    def set_window(self, window: Any) -> None:
        self._window = window
        self._window_state.window = window

    def window(self) -> Any:
        return self._window

    def current_watermark(self) -> int:
        return self._watermark()

    def current_processing_time(self) -> int:
        return self._processing_time()

    def window_state(self) -> PerWindowStateStore:
        return self._window_state

    def global_state(self) -> GlobalStateStore:
        return self._global_state

    def output(self, output_tag: Any, value: Any) -> None:
        """Send ``value`` to the side output ``output_tag`` (an ``OutputTag``)."""
        tag_id = getattr(output_tag, "tag_id", None)
        if not isinstance(tag_id, str):
            raise TypeError(f"context.output expects an OutputTag, got {type(output_tag).__name__}")
        self._side_output(tag_id, value, self._window.max_timestamp())
