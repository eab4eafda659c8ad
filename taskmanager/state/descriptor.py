"""What the state backends read from a state descriptor: structural contracts, no user API.

The user-facing descriptors (``strom.client.api.state.ValueStateDescriptor``
and friends) satisfy these Protocols by shape; the runtime never imports the
client. Runtime operators that need state of their own (window contents,
timers' bookkeeping) build a :class:`RuntimeStateDescriptor` instead::

    contents = RuntimeStateDescriptor("window-contents", StateKind.REDUCING, reduce_function=max)

Descriptors are immutable values shared across threads; the states they
describe are owned by the subtask's task thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol, cast

from strom.taskmanager.state.errors import IncompatibleStateError


class StateKind(StrEnum):
    """The five kinds of keyed state (Flink's names, lower case)."""

    VALUE = "value"
    LIST = "list"
    MAP = "map"
    REDUCING = "reducing"
    AGGREGATING = "aggregating"

    @property
    def is_merging(self) -> bool:
        """Can merge namespaces (session windows): Flink's InternalMergingState."""
        return self in _MERGING


_MERGING: Final = frozenset({StateKind.LIST, StateKind.REDUCING, StateKind.AGGREGATING})


class TtlSpec(Protocol):
    """Time-to-live settings, as the user's ``StateTtlConfig`` exposes them.

    ``update_type`` is ``"Disabled"``, ``"OnCreateAndWrite"`` or ``"OnReadAndWrite"``;
    ``state_visibility`` is ``"NeverReturnExpired"`` or ``"ReturnExpiredIfNotCleanedUp"``
    (``StrEnum`` members compare equal to these strings).
    """

    @property
    def ttl_ms(self) -> int: ...

    @property
    def update_type(self) -> str: ...

    @property
    def state_visibility(self) -> str: ...

    @property
    def cleanup_full_snapshot(self) -> bool: ...


class StateSpec(Protocol):
    """A state descriptor as the backends see it: a name, a kind, optionally TTL."""

    @property
    def name(self) -> str: ...

    @property
    def state_kind(self) -> str: ...

    @property
    def ttl_config(self) -> TtlSpec | None: ...


class AggregateFunctionLike(Protocol):
    """Flink's AggregateFunction: an accumulator per key (and window)."""

    def create_accumulator(self) -> Any: ...

    def add(self, value: Any, accumulator: Any) -> Any: ...

    def get_result(self, accumulator: Any) -> Any: ...

    def merge(self, acc_a: Any, acc_b: Any) -> Any: ...


@dataclass(frozen=True)
class TtlSettings:
    """A plain :class:`TtlSpec` for runtime-built descriptors and tests."""

    ttl_ms: int
    update_type: str = "OnCreateAndWrite"
    state_visibility: str = "NeverReturnExpired"
    cleanup_full_snapshot: bool = False


@dataclass(frozen=True)
class RuntimeStateDescriptor:
    """A :class:`StateSpec` built by runtime operators (they cannot import the client's descriptors)."""

    name: str
    state_kind: str
    reduce_function: Any = None
    agg_function: Any = None
    ttl_config: TtlSpec | None = None


class _VoidNamespace:
    """The namespace of state that is not scoped (everything but windows); a picklable singleton."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "VOID_NAMESPACE"

    def __reduce__(self) -> str:
        return "VOID_NAMESPACE"


VOID_NAMESPACE: Final = _VoidNamespace()


def kind_of(spec: StateSpec) -> StateKind:
    try:
        return StateKind(spec.state_kind)
    except ValueError:
        kinds = ", ".join(k.value for k in StateKind)
        raise IncompatibleStateError(
            f"state '{spec.name}' has unknown kind {spec.state_kind!r}; expected one of: {kinds}") from None


def reducer_of(spec: StateSpec) -> Callable[[Any, Any], Any]:
    """The reduce callable of reducing state: a ReduceFunction's ``reduce`` or a plain callable."""
    fn = getattr(spec, "reduce_function", None)
    reduce = getattr(fn, "reduce", None)
    if callable(reduce):
        return cast(Callable[[Any, Any], Any], reduce)
    if callable(fn):
        return cast(Callable[[Any, Any], Any], fn)
    raise IncompatibleStateError(
        f"reducing state '{spec.name}' needs a reduce_function (a ReduceFunction or a callable "
        f"taking two values), got {fn!r}")


def aggregate_function_of(spec: StateSpec) -> AggregateFunctionLike:
    fn = getattr(spec, "agg_function", None)
    missing = [m for m in ("create_accumulator", "add", "get_result") if not callable(getattr(fn, m, None))]
    if missing:
        raise IncompatibleStateError(
            f"aggregating state '{spec.name}' needs an AggregateFunction, got {fn!r} "
            f"(missing {', '.join(missing)})")
    return cast(AggregateFunctionLike, fn)
