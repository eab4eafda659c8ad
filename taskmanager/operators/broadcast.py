"""The broadcast state pattern: Flink's CoBroadcastWithNonKeyedOperator and CoBroadcastWithKeyedOperator.

    rules = rule_stream.broadcast(MapStateDescriptor("rules"))
    items.key_by(color).connect(rules).process(KeyedBroadcastProcessFunction)   # KeyedBroadcastProcessOperator
    items.connect(rules).process(BroadcastProcessFunction)                       # BroadcastProcessOperator

Input 0 is the non-broadcast stream (``process_element(value, ctx)``), input 1 the broadcast stream, whose
every record reaches every parallel instance (``process_broadcast_element(value, ctx)``). The broadcast
state is one map per MapStateDescriptor given to ``broadcast(...)``, held in operator state
(``OperatorStateBackend.get_broadcast_state``, redistributed as a copy per subtask). Every instance holds
the same broadcast state only if it changes it the same way for the same broadcast records: that is why
only ``process_broadcast_element`` may write it. ``process_element`` and ``on_timer`` get a read-only view
whose writes raise.

The keyed variant adds keyed state and timers for the non-broadcast side (the current key is set per
record and per timer), and ``ctx.apply_to_keyed_state(descriptor, fn(key, state))`` on the broadcast side:
``fn`` runs once for every key of this instance holding that state, with the key current. There is no
current key otherwise while a broadcast record is processed; keyed state access raises there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from strom.taskmanager.operators.base import OperatorContext
from strom.taskmanager.operators.co_process import UserFunctionOperator, UserTimerService, keys_of, stamps_of
from strom.taskmanager.operators.process import TimeDomain
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.state import VOID_NAMESPACE, StateAccessError, StateKind, StateSpec
from strom.taskmanager.state.operator_backend import HeapBroadcastState
from strom.taskmanager.time.timers import InternalTimer


class ReadOnlyBroadcastState:
    """The view of a broadcast state that ``process_element`` and ``on_timer`` get: reads only."""

    __slots__ = ("_state", "_step")

    def __init__(self, state: HeapBroadcastState, step: str) -> None:
        self._state = state
        self._step = step

    def get(self, key: Any) -> Any:
        return self._state.get(key)

    def contains(self, key: Any) -> bool:
        return self._state.contains(key)

    def keys(self) -> list[Any]:
        return self._state.keys()

    def values(self) -> list[Any]:
        return self._state.values()

    def items(self) -> list[tuple[Any, Any]]:
        return self._state.items()

    def is_empty(self) -> bool:
        return self._state.is_empty()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._state.keys())

    def __contains__(self, key: Any) -> bool:
        return self._state.contains(key)

    def _read_only(self, method: str) -> StateAccessError:
        return StateAccessError(
            f"{self._step}: {method}() on broadcast state '{self._state.name}' in process_element/on_timer: "
            f"the broadcast state is read-only there; change it in process_broadcast_element, so that every "
            f"parallel instance holds the same broadcast state")

    def put(self, key: Any, value: Any) -> None:
        raise self._read_only("put")

    def put_all(self, entries: Any) -> None:
        raise self._read_only("put_all")

    def remove(self, key: Any) -> None:
        raise self._read_only("remove")

    def clear(self) -> None:
        raise self._read_only("clear")


class _BroadcastContextBase:
    __slots__ = ("_op", "_timestamp")

    def __init__(self, op: BroadcastProcessOperator) -> None:
        self._op = op
        self._timestamp: int | None = None

    def timestamp(self) -> int | None:
        """Event time of the record being processed (None when the stream has none)."""
        return self._timestamp

    def current_processing_time(self) -> int:
        return self._op.ctx.get_current_processing_time()

    def current_watermark(self) -> int:
        return self._op.current_watermark

    def output(self, output_tag: OutputTag, value: Any) -> None:
        """Send ``value`` to the side output ``output_tag``."""
        self._op.out.side(output_tag, value, self._timestamp)


class BroadcastContext(_BroadcastContextBase):
    """The ``ctx`` of ``process_broadcast_element``: writable broadcast state, keyed state of every key."""

    __slots__ = ()

    def get_broadcast_state(self, state_descriptor: StateSpec) -> HeapBroadcastState:
        return self._op.broadcast_state(state_descriptor)

    def apply_to_keyed_state(self, state_descriptor: StateSpec, function: Callable[[Any, Any], Any]) -> None:
        """Call ``function(key, state)`` for every key (of this parallel instance) that holds the keyed
        state ``state_descriptor``, with that key current; ``function`` may read, update or clear it."""
        self._op.apply_to_keyed_state(state_descriptor, function)


class ReadOnlyBroadcastContext(_BroadcastContextBase):
    """The ``ctx`` of ``process_element`` and ``on_timer``: read-only broadcast state; when keyed, the
    current key, timers and (in ``on_timer``) the time domain."""

    __slots__ = ("_domain",)

    def __init__(self, op: BroadcastProcessOperator) -> None:
        super().__init__(op)
        self._domain: TimeDomain | None = None

    def get_broadcast_state(self, state_descriptor: StateSpec) -> ReadOnlyBroadcastState:
        return self._op.read_only_broadcast_state(state_descriptor)

    def timer_service(self) -> UserTimerService:
        return self._op.timer_service

    def get_current_key(self) -> Any:
        backend = self._op.backend
        if backend is None:
            raise StateAccessError(f"{self._op.step}: get_current_key() exists only when the non-broadcast "
                                   f"stream is keyed (KeyedBroadcastProcessFunction)")
        return backend.current_key

    def time_domain(self) -> TimeDomain:
        if self._domain is None:
            raise StateAccessError(f"{self._op.step}: time_domain() is only available in on_timer")
        return self._domain

    def output(self, output_tag: OutputTag, value: Any) -> None:
        self._op.out.side(output_tag, value,
                          None if self._domain is TimeDomain.PROCESSING_TIME else self._timestamp)


class BroadcastProcessOperator(UserFunctionOperator):
    """A non-keyed stream (input 0) connected with a broadcast stream (input 1): BroadcastProcessFunction."""

    kind = "BroadcastProcessFunction"

    def __init__(self, fn: Any, descriptors: Sequence[StateSpec], name: str = "Co-Process-Broadcast") -> None:
        super().__init__(fn, name)
        self.descriptors = list(descriptors)
        for d in self.descriptors:
            if getattr(d, "state_kind", None) != StateKind.MAP.value:
                raise TypeError(f"{name}: broadcast state is map state; got {type(d).__name__} "
                                f"{getattr(d, 'name', d)!r} (use a MapStateDescriptor)")

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._states = {d.name: self.operator_state.get_broadcast_state(d) for d in self.descriptors}
        self._views = {name: ReadOnlyBroadcastState(s, self.step) for name, s in self._states.items()}
        self._element = self.method("process_element")
        self._broadcast = self.method("process_broadcast_element")
        self._read_only_context = ReadOnlyBroadcastContext(self)
        self._context = BroadcastContext(self)

    # ---- broadcast state ------------------------------------------------------------------------------------

    def broadcast_state(self, descriptor: StateSpec) -> HeapBroadcastState:
        name = getattr(descriptor, "name", None)
        state = self._states.get(name)  # type: ignore[arg-type]
        if state is None:
            declared = ", ".join(repr(n) for n in self._states) or "none"
            raise StateAccessError(
                f"{self.step}: there is no broadcast state {name!r} (declared: {declared}); pass its "
                f"MapStateDescriptor to broadcast(...) on the broadcast stream")
        return state

    def read_only_broadcast_state(self, descriptor: StateSpec) -> ReadOnlyBroadcastState:
        self.broadcast_state(descriptor)
        return self._views[descriptor.name]

    def apply_to_keyed_state(self, descriptor: StateSpec, function: Callable[[Any, Any], Any]) -> None:
        raise StateAccessError(f"{self.step}: apply_to_keyed_state() needs keyed state: key the non-broadcast "
                               f"stream (key_by) and use a KeyedBroadcastProcessFunction")

    # ---- records ----------------------------------------------------------------------------------------------

    def process(self, batch: Batch, input_index: int = 0) -> None:
        if input_index == 0:
            self._process_elements(batch)
        else:
            self._process_broadcast(batch)
        self.out.flush(self)

    def _process_elements(self, batch: Batch) -> None:
        call, context, collect = self._element, self._read_only_context, self.out.collect
        for value, ts in zip(batch.records, stamps_of(batch), strict=True):
            context._timestamp = ts
            collect(call(value, context), ts, "process_element")

    def _process_broadcast(self, batch: Batch) -> None:
        call, context, collect = self._broadcast, self._context, self.out.collect
        for value, ts in zip(batch.records, stamps_of(batch), strict=True):
            context._timestamp = ts
            collect(call(value, context), ts, "process_broadcast_element")


class KeyedBroadcastProcessOperator(BroadcastProcessOperator):
    """A keyed stream (input 0) connected with a broadcast stream (input 1): KeyedBroadcastProcessFunction."""

    keyed = True
    kind = "KeyedBroadcastProcessFunction"

    def __init__(self, fn: Any, descriptors: Sequence[StateSpec],
                 name: str = "Co-Process-Broadcast-Keyed") -> None:
        super().__init__(fn, descriptors, name)

    def _process_elements(self, batch: Batch) -> None:
        assert self.backend is not None
        call, context, collect = self._element, self._read_only_context, self.out.collect
        set_key = self.backend.set_current_key
        for key, value, ts in zip(keys_of(batch, self.step, 0), batch.records, stamps_of(batch), strict=True):
            set_key(key)
            context._timestamp = ts
            collect(call(value, context), ts, "process_element")

    def _process_broadcast(self, batch: Batch) -> None:
        assert self.backend is not None
        self.backend.clear_current_key()  # no key here: keyed state only through apply_to_keyed_state
        try:
            super()._process_broadcast(batch)
        except StateAccessError as exc:
            if self.backend.has_current_key or str(exc).startswith(self.step):  # not keyed state access
                raise
            raise StateAccessError(
                f"{self.step}: process_broadcast_element has no current key, so it cannot use keyed state "
                f"directly ({exc}); reach the keyed state of every key with "
                f"ctx.apply_to_keyed_state(descriptor, function(key, state))") from exc

    def apply_to_keyed_state(self, descriptor: StateSpec, function: Callable[[Any, Any], Any]) -> None:
        if not callable(function):
            raise TypeError(f"{self.step}: apply_to_keyed_state expects a function(key, state), "
                            f"got {type(function).__name__}")
        assert self.backend is not None
        self.backend.apply_to_all_keys(VOID_NAMESPACE, descriptor, function)

    def on_timer(self, timer: InternalTimer, domain: TimeDomain) -> None:
        self.call_user_on_timer(timer, domain, self._read_only_context)
