"""PyFlink's state API: state descriptors, time-to-live, AggregateFunction and the state interfaces.

    from strom.client.api.state import StateTtlConfig, Time, ValueStateDescriptor

    class CountPerKey(KeyedProcessFunction):
        def open(self, runtime_context):
            descriptor = ValueStateDescriptor("count")
            descriptor.enable_time_to_live(StateTtlConfig.new_builder(Time.minutes(10)).build())
            self.count = runtime_context.get_state(descriptor)

        def process_element(self, value, ctx):
            self.count.update((self.count.value() or 0) + 1)
            yield value, self.count.value()

A descriptor names a piece of state; the runtime creates the state from it
(per key, and per window for window state). The interfaces below
(``ValueState``, ``ListState``, ...) are Protocols: the runtime's state
objects satisfy them by shape, so this module does not import the runtime.
Descriptors are plain values shipped with the job; the state objects belong to
the subtask's task thread and must not be shared with other threads.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable

from strom.client.api.time import Time
from strom.common.errors import ConfigurationError

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
IN = TypeVar("IN")
ACC = TypeVar("ACC")
OUT = TypeVar("OUT")
IN_contra = TypeVar("IN_contra", contravariant=True)
OUT_co = TypeVar("OUT_co", covariant=True)
V_co = TypeVar("V_co", covariant=True)


class _Span(Protocol):
    """A ``Time`` or ``Duration``: anything that knows its length in milliseconds."""

    def to_milliseconds(self) -> int: ...


# -- time-to-live ------------------------------------------------------------------------------------


class StateTtlConfig:
    """When keyed state expires. Build it with ``new_builder``::

        ttl = (StateTtlConfig.new_builder(Time.seconds(1))
               .set_update_type(StateTtlConfig.UpdateType.OnReadAndWrite)
               .set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
               .build())
        descriptor.enable_time_to_live(ttl)

    An entry expires ``ttl`` after it was last written (``OnCreateAndWrite``,
    the default) or last read or written (``OnReadAndWrite``). Expired entries
    are never returned (``NeverReturnExpired``, the default) or returned until
    cleaned up (``ReturnExpiredIfNotCleanedUp``: the access that finds them
    returns them once and removes them). List elements and map entries expire
    one by one. Time is processing time.
    """

    class UpdateType(StrEnum):
        Disabled = "Disabled"
        OnCreateAndWrite = "OnCreateAndWrite"
        OnReadAndWrite = "OnReadAndWrite"

    class StateVisibility(StrEnum):
        ReturnExpiredIfNotCleanedUp = "ReturnExpiredIfNotCleanedUp"
        NeverReturnExpired = "NeverReturnExpired"

    class TtlTimeCharacteristic(StrEnum):
        ProcessingTime = "ProcessingTime"

    def __init__(self, update_type: StateTtlConfig.UpdateType, state_visibility: StateTtlConfig.StateVisibility,
                 ttl_time_characteristic: StateTtlConfig.TtlTimeCharacteristic, ttl: _Span,
                 cleanup_full_snapshot: bool = False) -> None:
        self._update_type = update_type
        self._state_visibility = state_visibility
        self._ttl_time_characteristic = ttl_time_characteristic
        self._ttl = ttl
        self._cleanup_full_snapshot = cleanup_full_snapshot

    @staticmethod
    def new_builder(ttl: _Span) -> StateTtlConfig.Builder:
        return StateTtlConfig.Builder(ttl)

    def get_update_type(self) -> StateTtlConfig.UpdateType:
        return self._update_type

    def get_state_visibility(self) -> StateTtlConfig.StateVisibility:
        return self._state_visibility

    def get_ttl_time_characteristic(self) -> StateTtlConfig.TtlTimeCharacteristic:
        return self._ttl_time_characteristic

    def get_ttl(self) -> _Span:
        return self._ttl

    def is_enabled(self) -> bool:
        return self._update_type is not StateTtlConfig.UpdateType.Disabled

    # what the state backends read (strom.taskmanager.state.descriptor.TtlSpec)
    @property
    def ttl_ms(self) -> int:
        return self._ttl.to_milliseconds()

    @property
    def update_type(self) -> str:
        return self._update_type.value

    @property
    def state_visibility(self) -> str:
        return self._state_visibility.value

    @property
    def cleanup_full_snapshot(self) -> bool:
        return self._cleanup_full_snapshot

    def __repr__(self) -> str:
        return (f"StateTtlConfig(ttl={self._ttl!r}, update_type={self._update_type.value}, "
                f"state_visibility={self._state_visibility.value})")

    class Builder:
        """Collects TTL settings; ``build()`` checks them."""

        def __init__(self, ttl: _Span) -> None:
            self._ttl = ttl
            self._update_type = StateTtlConfig.UpdateType.OnCreateAndWrite
            self._state_visibility = StateTtlConfig.StateVisibility.NeverReturnExpired
            self._time_characteristic = StateTtlConfig.TtlTimeCharacteristic.ProcessingTime
            self._cleanup_full_snapshot = False

        def set_update_type(self, update_type: StateTtlConfig.UpdateType | str) -> StateTtlConfig.Builder:
            self._update_type = _member(StateTtlConfig.UpdateType, update_type, "update type")
            return self

        def update_ttl_on_create_and_write(self) -> StateTtlConfig.Builder:
            return self.set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)

        def update_ttl_on_read_and_write(self) -> StateTtlConfig.Builder:
            return self.set_update_type(StateTtlConfig.UpdateType.OnReadAndWrite)

        def set_state_visibility(self, visibility: StateTtlConfig.StateVisibility | str) -> StateTtlConfig.Builder:
            self._state_visibility = _member(StateTtlConfig.StateVisibility, visibility, "state visibility")
            return self

        def return_expired_if_not_cleaned_up(self) -> StateTtlConfig.Builder:
            return self.set_state_visibility(StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)

        def never_return_expired(self) -> StateTtlConfig.Builder:
            return self.set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)

        def set_ttl_time_characteristic(self, characteristic: StateTtlConfig.TtlTimeCharacteristic | str
                                        ) -> StateTtlConfig.Builder:
            self._time_characteristic = _member(StateTtlConfig.TtlTimeCharacteristic, characteristic,
                                                "TTL time characteristic")
            return self

        def use_processing_time(self) -> StateTtlConfig.Builder:
            return self.set_ttl_time_characteristic(StateTtlConfig.TtlTimeCharacteristic.ProcessingTime)

        def cleanup_full_snapshot(self) -> StateTtlConfig.Builder:
            """Leave expired entries out of checkpoints and savepoints."""
            self._cleanup_full_snapshot = True
            return self

        def set_ttl(self, ttl: _Span) -> StateTtlConfig.Builder:
            self._ttl = ttl
            return self

        def build(self) -> StateTtlConfig:
            if not callable(getattr(self._ttl, "to_milliseconds", None)):
                raise ConfigurationError(
                    f"StateTtlConfig needs a Time for its TTL (e.g. Time.seconds(10)), got {self._ttl!r}")
            if self._ttl.to_milliseconds() <= 0 and self._update_type is not StateTtlConfig.UpdateType.Disabled:
                raise ConfigurationError(f"a state TTL must be positive, got {self._ttl!r}")
            return StateTtlConfig(self._update_type, self._state_visibility, self._time_characteristic,
                                  self._ttl, self._cleanup_full_snapshot)


_E = TypeVar("_E", bound=StrEnum)


def _member(enum: type[_E], value: _E | str, what: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(m.value for m in enum)
        raise ConfigurationError(f"unknown TTL {what} {value!r}; expected one of: {choices}") from None


# -- AggregateFunction -------------------------------------------------------------------------------


class AggregateFunction(abc.ABC, Generic[IN, ACC, OUT]):
    """Aggregates values into an accumulator (AggregatingState, window ``aggregate``)::

        class Average(AggregateFunction):
            def create_accumulator(self):
                return (0, 0)

            def add(self, value, accumulator):
                return accumulator[0] + value, accumulator[1] + 1

            def get_result(self, accumulator):
                return accumulator[0] / accumulator[1]

            def merge(self, acc_a, acc_b):
                return acc_a[0] + acc_b[0], acc_a[1] + acc_b[1]

    ``merge`` is needed only where accumulators merge (session windows).
    """

    def open(self, runtime_context: Any) -> None:
        """Called once per parallel instance before the first record."""

    def close(self) -> None:
        """Called once per parallel instance after the last record."""

    @abc.abstractmethod
    def create_accumulator(self) -> ACC: ...

    @abc.abstractmethod
    def add(self, value: IN, accumulator: ACC) -> ACC: ...

    @abc.abstractmethod
    def get_result(self, accumulator: ACC) -> OUT: ...

    def merge(self, acc_a: ACC, acc_b: ACC) -> ACC:
        raise NotImplementedError(
            f"{type(self).__name__}.merge(acc_a, acc_b) is not implemented: merging windows (session "
            f"windows) combine accumulators, so an AggregateFunction used on them must implement merge")


# -- descriptors -------------------------------------------------------------------------------------


class StateDescriptor:
    """Names a piece of state and says what kind it is; ``state_kind`` tells the runtime which."""

    state_kind: ClassVar[str]

    def __init__(self, name: str, type_info: Any = None) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"a state descriptor needs a non-empty name, got {name!r}")
        self._name = name
        self.type_info = type_info
        self._ttl_config: StateTtlConfig | None = None

    @property
    def name(self) -> str:
        return self._name

    def get_name(self) -> str:
        return self._name

    @property
    def ttl_config(self) -> StateTtlConfig | None:
        """The TTL settings, or None when the state never expires."""
        return self._ttl_config

    def get_ttl_config(self) -> StateTtlConfig | None:
        return self._ttl_config

    def enable_time_to_live(self, ttl_config: StateTtlConfig) -> None:
        """Let entries of this state expire (call before the state is first obtained)."""
        if not isinstance(ttl_config, StateTtlConfig):
            raise ConfigurationError(
                f"enable_time_to_live needs a StateTtlConfig (StateTtlConfig.new_builder(...).build()), "
                f"got {ttl_config!r}")
        self._ttl_config = ttl_config if ttl_config.is_enabled() else None

    def __repr__(self) -> str:
        ttl = f", ttl={self._ttl_config!r}" if self._ttl_config is not None else ""
        return f"{type(self).__name__}({self._name!r}{ttl})"


class ValueStateDescriptor(StateDescriptor):
    """One value per key: ``ValueStateDescriptor("last-seen")`` -> ``ValueState``."""

    state_kind = "value"


class ListStateDescriptor(StateDescriptor):
    """A list per key: ``ListStateDescriptor("buffer")`` -> ``ListState`` (also operator list state)."""

    state_kind = "list"


class MapStateDescriptor(StateDescriptor):
    """A map per key: ``MapStateDescriptor("by-item", key_type, value_type)`` -> ``MapState``."""

    state_kind = "map"

    def __init__(self, name: str, key_type: Any = None, value_type: Any = None) -> None:
        super().__init__(name, (key_type, value_type))
        self.key_type = key_type
        self.value_type = value_type


class ReducingStateDescriptor(StateDescriptor):
    """A value per key folded with ``reduce_function`` (a ReduceFunction or ``lambda a, b: ...``)."""

    state_kind = "reducing"

    def __init__(self, name: str, reduce_function: Any, type_info: Any = None) -> None:
        super().__init__(name, type_info)
        if not callable(getattr(reduce_function, "reduce", None)) and not callable(reduce_function):
            raise ConfigurationError(
                f"ReducingStateDescriptor '{name}' needs a ReduceFunction or a callable taking two values, "
                f"got {reduce_function!r}")
        self.reduce_function = reduce_function

    def get_reduce_function(self) -> Any:
        return self.reduce_function


class AggregatingStateDescriptor(StateDescriptor):
    """An accumulator per key driven by an ``AggregateFunction``."""

    state_kind = "aggregating"

    def __init__(self, name: str, agg_function: AggregateFunction[Any, Any, Any], type_info: Any = None) -> None:
        super().__init__(name, type_info)
        missing = [m for m in ("create_accumulator", "add", "get_result")
                   if not callable(getattr(agg_function, m, None))]
        if missing:
            raise ConfigurationError(
                f"AggregatingStateDescriptor '{name}' needs an AggregateFunction, got {agg_function!r} "
                f"(missing {', '.join(missing)})")
        self.agg_function = agg_function

    def get_agg_function(self) -> AggregateFunction[Any, Any, Any]:
        return self.agg_function


# -- the state interfaces ----------------------------------------------------------------------------


@runtime_checkable
class State(Protocol):
    def clear(self) -> None:
        """Remove the value of the current key (and window)."""
        ...


@runtime_checkable
class ValueState(State, Protocol[T]):
    """One value: ``value()`` (None if unset), ``update(v)`` (``update(None)`` clears)."""

    def value(self) -> T | None: ...

    def update(self, value: T | None) -> None: ...


@runtime_checkable
class AppendingState(State, Protocol[IN_contra, OUT_co]):
    def get(self) -> OUT_co: ...

    def add(self, value: IN_contra) -> None: ...


@runtime_checkable
class MergingState(AppendingState[IN_contra, OUT_co], Protocol[IN_contra, OUT_co]):
    """State whose windows' contents merge (session windows)."""


@runtime_checkable
class ListState(MergingState[T, Iterable[T]], Protocol[T]):
    """A list: ``get()`` (an iterable copy), ``add``, ``add_all``, ``update(values)``, ``clear()``."""

    def add_all(self, values: Iterable[T]) -> None: ...

    def update(self, values: Iterable[T] | None) -> None: ...


@runtime_checkable
class ReducingState(MergingState[T, T], Protocol[T]):
    """``add(v)`` reduces ``v`` into the value; ``get()`` returns it (None if empty)."""


@runtime_checkable
class AggregatingState(MergingState[IN_contra, OUT_co], Protocol[IN_contra, OUT_co]):
    """``add(v)`` adds ``v`` to the accumulator; ``get()`` returns the AggregateFunction's result."""


@runtime_checkable
class ReadOnlyBroadcastState(Protocol[K, V_co]):
    def get(self, key: K) -> V_co | None: ...

    def contains(self, key: K) -> bool: ...

    def keys(self) -> Iterable[K]: ...

    def values(self) -> Iterable[V_co]: ...

    def items(self) -> Iterable[tuple[K, V_co]]: ...

    def is_empty(self) -> bool: ...

    def __iter__(self) -> Iterator[K]: ...

    def __contains__(self, key: object) -> bool: ...


@runtime_checkable
class MapState(ReadOnlyBroadcastState[K, V], State, Protocol[K, V]):
    """A map: ``get``, ``put``, ``put_all``, ``remove``, ``contains``, ``keys``, ``values``, ``items``,
    ``is_empty``, ``clear`` (iteration works on a copy, so the state may change meanwhile)."""

    def put(self, key: K, value: V) -> None: ...

    def put_all(self, entries: Mapping[K, V] | Iterable[tuple[K, V]]) -> None: ...

    def remove(self, key: K) -> None: ...


@runtime_checkable
class BroadcastState(MapState[K, V], Protocol[K, V]):
    """The broadcast side's map, the same on every subtask."""


__all__ = [
    "AggregateFunction",
    "AggregatingState",
    "AggregatingStateDescriptor",
    "AppendingState",
    "BroadcastState",
    "ListState",
    "ListStateDescriptor",
    "MapState",
    "MapStateDescriptor",
    "MergingState",
    "ReadOnlyBroadcastState",
    "ReducingState",
    "ReducingStateDescriptor",
    "State",
    "StateDescriptor",
    "StateTtlConfig",
    "Time",
    "ValueState",
    "ValueStateDescriptor",
]
