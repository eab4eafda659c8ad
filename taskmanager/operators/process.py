"""Process functions at runtime: Flink's ``ProcessOperator`` and ``KeyedProcessOperator``.

``DataStream.process(fn)`` runs a ``ProcessOperator``; ``KeyedStream.process(fn)``
a ``KeyedProcessOperator``, which adds keyed state and timers. Per input batch
the operator calls ``fn.process_element(value, ctx)`` for every record and
emits what the calls yielded as one batch (``(OutputTag, value)`` pairs and
``ctx.output(tag, value)`` go to side outputs instead). Timers fire through
``fn.on_timer(timestamp, ctx)``:

- event-time timers when the watermark passes them, in timestamp order (equal
  timestamps in registration order), all before the watermark is forwarded;
  a timer registered while firing fires in the same pass when already due;
- processing-time timers once the task's processing time is past them, on the
  task thread between batches; those not due when the input ends are dropped.

A timer is one per (key, timestamp): registering it again changes nothing.

Timestamps of outputs follow Flink: outputs of ``process_element`` carry the
element's timestamp (none when the stream has no event time), outputs of an
event-time timer the timer's timestamp, outputs of a processing-time timer
none. ``ctx.timestamp()`` is the element's timestamp, or the firing timer's.

Per-record cost is kept to the user's call: the context objects are reused,
the backend's current key is set only when the key changes, and outputs are
collected into one list per batch (or per firing pass).

Errors (all name the step)::

    StromError
    └── ProcessFunctionError    timers on a non-keyed stream, timers without on_timer
    TypeError                   process_element/on_timer returned a non-iterable; a bad timer time or tag

Owned by the subtask's task thread, like every operator: the contexts handed
to user functions are valid only during the call.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from strom.common.errors import StromError
from strom.taskmanager.operators.base import Operator, OperatorContext, describe_function
from strom.taskmanager.operators.runtime_context import RuntimeContext
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.state.descriptor import VOID_NAMESPACE
from strom.taskmanager.state.errors import StateAccessError
from strom.taskmanager.time.watermarks import MIN_WATERMARK

if TYPE_CHECKING:
    from strom.taskmanager.state.hashmap_backend import HashMapKeyedStateBackend
    from strom.taskmanager.time.timers import InternalTimer, InternalTimerService


class TimeDomain(Enum):
    """The time of a firing timer (PyFlink's ``TimeDomain``)."""

    EVENT_TIME = 0
    PROCESSING_TIME = 1


class ProcessFunctionError(StromError):
    """A process function asked for something its stream cannot give (timers without a key,
    timers without ``on_timer``)."""


_NO_KEY = object()
# iterable, but returning one of these is a mistake: a str would be emitted character by character
_NOT_RESULTS = frozenset({str, bytes, bytearray, dict})


def _timer_time(timestamp: Any, step: str, method: str) -> int:
    """A timer's time as int milliseconds (integral floats and numpy ints accepted)."""
    if isinstance(timestamp, bool):
        raise TypeError(f"{step}: {method} expects int milliseconds, got {timestamp!r}")
    try:
        value = int(timestamp)
    except (TypeError, ValueError):
        raise TypeError(f"{step}: {method} expects int milliseconds, got {timestamp!r} "
                        f"({type(timestamp).__name__})") from None
    if value != timestamp:
        raise TypeError(f"{step}: {method} expects whole milliseconds, got {timestamp!r}")
    return value


# ---- what user functions receive --------------------------------------------------------------


class ProcessTimerService:
    """``ctx.timer_service()`` of a non-keyed ``ProcessFunction``: the time, but no timers."""

    __slots__ = ("_op",)

    def __init__(self, op: ProcessOperator) -> None:
        self._op = op

    def current_processing_time(self) -> int:
        return self._op.ctx.get_current_processing_time()

    def current_watermark(self) -> int:
        return self._op._watermark

    def _unsupported(self, method: str) -> ProcessFunctionError:
        return ProcessFunctionError(
            f"{self._op._step}: {method}: Setting timers is only supported on keyed streams. Timers belong "
            f"to a key: call key_by(...) before process(), and use a KeyedProcessFunction")

    def register_processing_time_timer(self, timestamp: int) -> None:
        raise self._unsupported("register_processing_time_timer")

    def register_event_time_timer(self, timestamp: int) -> None:
        raise self._unsupported("register_event_time_timer")

    def delete_processing_time_timer(self, timestamp: int) -> None:
        raise self._unsupported("delete_processing_time_timer")

    def delete_event_time_timer(self, timestamp: int) -> None:
        raise self._unsupported("delete_event_time_timer")


class KeyedTimerService:
    """``ctx.timer_service()`` of a keyed process function: timers of the current key."""

    __slots__ = ("_op",)

    def __init__(self, op: KeyedProcessOperator) -> None:
        self._op = op

    def current_processing_time(self) -> int:
        return self._op._timers.current_processing_time()

    def current_watermark(self) -> int:
        return self._op._timers.current_watermark

    def register_processing_time_timer(self, timestamp: int) -> None:
        op = self._op
        if type(timestamp) is not int:
            timestamp = _timer_time(timestamp, op._step, "register_processing_time_timer")
        op._check_on_timer("register_processing_time_timer")
        op._timers.register_processing_time_timer(op._key, VOID_NAMESPACE, timestamp)

    def register_event_time_timer(self, timestamp: int) -> None:
        op = self._op
        if type(timestamp) is not int:
            timestamp = _timer_time(timestamp, op._step, "register_event_time_timer")
        op._check_on_timer("register_event_time_timer")
        op._timers.register_event_time_timer(op._key, VOID_NAMESPACE, timestamp)

    def delete_processing_time_timer(self, timestamp: int) -> None:
        op = self._op
        if type(timestamp) is not int:
            timestamp = _timer_time(timestamp, op._step, "delete_processing_time_timer")
        op._timers.delete_processing_time_timer(op._key, VOID_NAMESPACE, timestamp)

    def delete_event_time_timer(self, timestamp: int) -> None:
        op = self._op
        if type(timestamp) is not int:
            timestamp = _timer_time(timestamp, op._step, "delete_event_time_timer")
        op._timers.delete_event_time_timer(op._key, VOID_NAMESPACE, timestamp)


class ProcessContext:
    """``ProcessFunction.Context``: the element's timestamp, the timer service, side outputs."""

    __slots__ = ("_op", "_timestamp", "_timer_service")

    def __init__(self, op: _ProcessOperatorBase, timer_service: Any) -> None:
        self._op = op
        self._timestamp: int | None = None
        self._timer_service = timer_service

    def timestamp(self) -> int | None:
        """Event time of the element being processed (or of the firing timer); None without event time."""
        return self._timestamp

    def timer_service(self) -> Any:
        return self._timer_service

    def output(self, output_tag: OutputTag, value: Any) -> None:
        """Send ``value`` to the side output ``output_tag`` (same as ``yield output_tag, value``)."""
        if not isinstance(output_tag, OutputTag):
            raise TypeError(f"{self._op._step}: ctx.output expects an OutputTag, got "
                            f"{type(output_tag).__name__} ({output_tag!r})")
        self._op._out.append((output_tag, value))


class KeyedProcessContext(ProcessContext):
    """``KeyedProcessFunction.Context``: adds the current key."""

    __slots__ = ()

    def get_current_key(self) -> Any:
        return self._op._key  # type: ignore[attr-defined]


class KeyedOnTimerContext(KeyedProcessContext):
    """``KeyedProcessFunction.OnTimerContext``: adds the firing timer's time domain."""

    __slots__ = ("_time_domain",)

    def __init__(self, op: _ProcessOperatorBase, timer_service: Any) -> None:
        super().__init__(op, timer_service)
        self._time_domain = TimeDomain.EVENT_TIME

    def time_domain(self) -> TimeDomain:
        return self._time_domain


# ---- the operators -----------------------------------------------------------------------------


class _ProcessOperatorBase(Operator):
    """Calling the user function per record, collecting outputs, emitting one batch per call site."""

    fn: Any
    _step: str
    _out: list[Any]
    _key: Any = None     # the current key (keyed operators), as the contexts report it

    def __init__(self, fn: Any, name: str) -> None:
        self.fn = fn
        self.name = name

    def _open_function(self, ctx: OperatorContext, keyed_backend: HashMapKeyedStateBackend | None) -> None:
        self._step = f"{self.name} ({describe_function(self.fn)})"
        self._out = []
        self.runtime_context = RuntimeContext(ctx, self._step, keyed_backend)
        self._process_element = getattr(self.fn, "process_element", self.fn)
        opener = getattr(self.fn, "open", None)
        if callable(opener) and not isinstance(self.fn, type):
            self._call_naming_step(opener, self.runtime_context)

    def close(self) -> None:
        closer = getattr(self.fn, "close", None)
        if callable(closer) and not isinstance(self.fn, type) and hasattr(type(self.fn), "close"):
            self._call_naming_step(closer)

    def _call_naming_step(self, method: Callable[..., Any], *args: Any) -> None:
        """open()/close(): keyed state used there (no current key) fails with the step's name."""
        try:
            method(*args)
        except StateAccessError as exc:
            if str(exc).startswith(self._step):
                raise
            raise StateAccessError(f"{self._step}: {exc}") from None

    def _bad_result(self, produced: Any, method: str) -> TypeError:
        shown = repr(produced)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        hint = (" (to emit one value, `yield value` or return [value])"
                if type(produced) in _NOT_RESULTS else "")
        return TypeError(f"{self._step}: {method} returned {shown} of type {type(produced).__name__}; it must "
                         f"yield its outputs or return an iterable of them (or None){hint}")

    def _collect(self, produced: Any, method: str) -> None:
        """Add what one call produced to the current output list (not the hot path)."""
        if type(produced) in _NOT_RESULTS:
            raise self._bad_result(produced, method)
        try:
            self._out.extend(produced)
        except TypeError:
            self._raise_if_not_iterable(produced, method)
            raise

    def _process_records(self, records: list[Any], ts: np.ndarray | None, ctx: ProcessContext,
                         keys: Any = None, set_key: Callable[[Any], None] | None = None) -> None:
        """process_element for every record; with ``keys``, ``set_key`` makes each record's key
        current (called only when the key changes)."""
        call = self._process_element
        out: list[Any] = []
        self._out = out
        extend = out.extend
        not_results = _NOT_RESULTS
        last: Any = _NO_KEY
        counts: list[int] | None = None
        if ts is None:
            ctx._timestamp = None
            if set_key is None:
                for value in records:
                    produced = call(value, ctx)
                    if produced is not None:
                        if type(produced) in not_results:
                            raise self._bad_result(produced, "process_element")
                        try:
                            extend(produced)
                        except TypeError:
                            self._raise_if_not_iterable(produced)
                            raise
            else:
                for key, value in zip(keys, records, strict=True):
                    if key != last:
                        set_key(key)
                        self._key = last = key
                    produced = call(value, ctx)
                    if produced is not None:
                        if type(produced) in not_results:
                            raise self._bad_result(produced, "process_element")
                        try:
                            extend(produced)
                        except TypeError:
                            self._raise_if_not_iterable(produced)
                            raise
        else:
            counts = [0] * len(records)
            stamps = ts.tolist()
            for i, value in enumerate(records):
                if set_key is not None:
                    key = keys[i]
                    if key != last:
                        set_key(key)
                        self._key = last = key
                ctx._timestamp = stamps[i]
                before = len(out)
                produced = call(value, ctx)
                if produced is not None:
                    if type(produced) in not_results:
                        raise self._bad_result(produced, "process_element")
                    try:
                        extend(produced)
                    except TypeError:
                        self._raise_if_not_iterable(produced)
                        raise
                counts[i] = len(out) - before
        if out:
            self._emit(out, None if ts is None or counts is None else np.repeat(ts, counts))

    def _raise_if_not_iterable(self, produced: Any, method: str = "process_element") -> None:
        try:
            iter(produced)
        except TypeError:
            raise self._bad_result(produced, method) from None

    def _emit(self, out: list[Any], ts: np.ndarray | None) -> None:
        """One batch to the main output, one per side output; ``ts`` aligned with ``out``."""
        tagged = [i for i, item in enumerate(out)
                  if type(item) is tuple and len(item) == 2 and isinstance(item[0], OutputTag)]
        if not tagged:
            self.output.emit(Batch.of_records(out, ts))
            return
        side: dict[str, list[int]] = {}
        for i in tagged:
            side.setdefault(out[i][0].tag_id, []).append(i)
        if len(tagged) < len(out):
            is_side = set(tagged)
            main = [i for i in range(len(out)) if i not in is_side]
            self.output.emit(Batch.of_records([out[i] for i in main], None if ts is None else ts[main]))
        for tag_id, idx in side.items():
            if tag_id in self.side_outputs:
                self.side_output(tag_id, Batch.of_records([out[i][1] for i in idx],
                                                          None if ts is None else ts[idx]))


class ProcessOperator(_ProcessOperatorBase):
    """``DataStream.process(ProcessFunction)``: per-record calls, no keyed state, no timers."""

    def __init__(self, fn: Any, name: str = "Process") -> None:
        super().__init__(fn, name)

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._watermark = MIN_WATERMARK
        self._context = ProcessContext(self, ProcessTimerService(self))
        self._open_function(ctx, None)

    def process(self, batch: Batch, input_index: int = 0) -> None:
        self._process_records(batch.records, batch.timestamps, self._context)

    def process_watermark(self, watermark: int) -> None:
        if watermark > self._watermark:
            self._watermark = watermark
        self.emit_watermark(watermark)


class KeyedProcessOperator(_ProcessOperatorBase):
    """``KeyedStream.process(KeyedProcessFunction)``: keyed state and timers of the current key.

    ``has_on_timer`` says whether the function handles timers (the client knows whether
    ``on_timer`` was overridden); registering a timer without it fails at once, naming the step.
    """

    def __init__(self, fn: Any, name: str = "KeyedProcess", has_on_timer: bool | None = None) -> None:
        super().__init__(fn, name)
        self.has_on_timer = callable(getattr(fn, "on_timer", None)) if has_on_timer is None else has_on_timer

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        self._key: Any = None
        self.backend = ctx.create_keyed_state_backend()
        self._timers: InternalTimerService = ctx.create_timer_service(self._on_processing_timer,
                                                                     self._emit_processing_output)
        service = KeyedTimerService(self)
        self._context = KeyedProcessContext(self, service)
        self._timer_context = KeyedOnTimerContext(self, service)
        self._pending_processing_output: list[Any] | None = None
        self._open_function(ctx, self.backend)
        on_timer = getattr(self.fn, "on_timer", None)
        self._on_timer: Callable[[int, Any], Any] | None = on_timer if self.has_on_timer else None

    def _check_on_timer(self, method: str) -> None:
        if self._on_timer is None:
            raise ProcessFunctionError(
                f"{self._step}: {method} was called, but {describe_function(self.fn)} has no "
                f"on_timer(timestamp, ctx) to call when the timer fires; implement on_timer in your "
                f"KeyedProcessFunction")

    def process(self, batch: Batch, input_index: int = 0) -> None:
        keys = batch.keys
        if keys is None:
            raise RuntimeError(f"{self._step}: received a batch without keys; a keyed process function "
                               f"must follow key_by()")
        self._process_records(batch.records, batch.timestamps, self._context, keys, self.backend.set_current_key)

    # ---- timers ------------------------------------------------------------------------------

    def _fire(self, timer: InternalTimer, domain: TimeDomain) -> None:
        timestamp, key = timer[0], timer[1]
        self.backend.set_current_key(key)
        self._key = key
        ctx = self._timer_context
        ctx._timestamp = timestamp
        ctx._time_domain = domain
        assert self._on_timer is not None  # no timer is registered without on_timer
        produced = self._on_timer(timestamp, ctx)
        if produced is not None:
            self._collect(produced, "on_timer")

    def process_watermark(self, watermark: int) -> None:
        """Fire every event-time timer the watermark passed, then forward the watermark."""
        out: list[Any] = []
        self._out = out
        stamps: list[int] = []
        counts: list[int] = []
        for timer in self._timers.advance_watermark(watermark):
            before = len(out)
            self._fire(timer, TimeDomain.EVENT_TIME)
            if len(out) > before:
                stamps.append(timer[0])
                counts.append(len(out) - before)
        if out:
            self._emit(out, np.repeat(np.array(stamps, dtype=np.int64), counts))
        self.emit_watermark(watermark)

    def _on_processing_timer(self, timer: InternalTimer) -> None:
        """A due processing-time timer (run by the task between batches). Outputs of all timers
        due at once are emitted together, after the firing pass."""
        pending = self._pending_processing_output
        if pending is None:
            pending = self._pending_processing_output = []
        self._out = pending
        self._fire(timer, TimeDomain.PROCESSING_TIME)

    def _emit_processing_output(self) -> None:
        out, self._pending_processing_output = self._pending_processing_output, None
        if out:
            self._emit(out, None)
