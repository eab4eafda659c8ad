"""RuntimeContext: what a user function's ``open(runtime_context)`` receives (PyFlink's names).

Keyed state (``get_state`` and friends) exists on keyed streams only; the
states follow the key of the element or timer being processed. Operator
state (``get_list_state`` of the operator, ``get_union_list_state``) exists
everywhere, through ``get_operator_state_store()``.

    class Count(KeyedProcessFunction):
        def open(self, runtime_context):
            self.count = runtime_context.get_state(ValueStateDescriptor("count"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from strom.taskmanager.state.descriptor import StateKind, kind_of
from strom.taskmanager.state.errors import StateAccessError

if TYPE_CHECKING:
    from strom.taskmanager.operators.base import OperatorContext
    from strom.taskmanager.state.keyed_backend import KeyedStateBackend
    from strom.taskmanager.state.operator_backend import OperatorStateBackend


class RuntimeContext:
    def __init__(self, ctx: OperatorContext, step: str, keyed_backend: KeyedStateBackend | None = None,
                 operator_backend: OperatorStateBackend | None = None) -> None:
        self._ctx = ctx
        self._step = step
        self._keyed = keyed_backend
        self._operator = operator_backend

    def __getattr__(self, name: str) -> Any:
        """The operator context's attributes too (``subtask_index``, ``parallelism``, ``attempt``...)."""
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._ctx, name)

    # ---- where the function runs -------------------------------------------------

    def get_task_name(self) -> str:
        return self._ctx.vertex_name

    def get_task_name_with_subtasks(self) -> str:
        return self._ctx.task_name_with_subtask

    def get_number_of_parallel_subtasks(self) -> int:
        return self._ctx.parallelism

    def get_max_number_of_parallel_subtasks(self) -> int:
        return self._ctx.max_parallelism

    def get_index_of_this_subtask(self) -> int:
        return self._ctx.subtask_index

    def get_attempt_number(self) -> int:
        return self._ctx.attempt

    def get_job_parameter(self, key: str, default_value: str | None = None) -> str | None:
        return self._ctx.config.get(key, default_value)

    # ---- keyed state ---------------------------------------------------------------

    def get_state(self, state_descriptor: Any) -> Any:
        return self._keyed_state(state_descriptor, StateKind.VALUE, "get_state")

    def get_list_state(self, state_descriptor: Any) -> Any:
        return self._keyed_state(state_descriptor, StateKind.LIST, "get_list_state")

    def get_map_state(self, state_descriptor: Any) -> Any:
        return self._keyed_state(state_descriptor, StateKind.MAP, "get_map_state")

    def get_reducing_state(self, state_descriptor: Any) -> Any:
        return self._keyed_state(state_descriptor, StateKind.REDUCING, "get_reducing_state")

    def get_aggregating_state(self, state_descriptor: Any) -> Any:
        return self._keyed_state(state_descriptor, StateKind.AGGREGATING, "get_aggregating_state")

    def get_operator_state_store(self) -> OperatorStateBackend:
        """Non-keyed operator state: ``get_list_state``, ``get_union_list_state``, ``get_broadcast_state``."""
        if self._operator is None:
            from strom.taskmanager.state.operator_backend import OperatorStateBackend

            self._operator = OperatorStateBackend(self._ctx.task_name_with_subtask)
        return self._operator

    def _keyed_state(self, descriptor: Any, kind: StateKind, method: str) -> Any:
        name = getattr(descriptor, "name", None)
        if self._keyed is None:
            raise StateAccessError(
                f"{self._step}: {method}({name!r}) needs keyed state, which exists only on a keyed stream; "
                f"call key_by() before this step, or use get_operator_state_store() for non-keyed state")
        try:
            actual = kind_of(descriptor)
        except Exception as exc:  # noqa: BLE001 - reported with the step's name
            raise StateAccessError(f"{self._step}: {method} expects a state descriptor, got {descriptor!r}: "
                                   f"{exc}") from None
        if actual is not kind:
            raise StateAccessError(f"{self._step}: {method} expects a {kind.value} state descriptor, "
                                   f"got {type(descriptor).__name__} {name!r}")
        return self._keyed.get_state(descriptor)
