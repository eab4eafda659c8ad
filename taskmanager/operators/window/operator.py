"""WindowOperator: Flink's WindowOperator and EvictingWindowOperator, per record.

Per element (its key is current in the keyed state backend):

1. the assigner gives its windows; a merging assigner (sessions) adds each to
   the key's ``MergingWindowSet``, which merges it with in-flight windows (their
   contents, trigger state and timers merge too) and says which *state window*
   holds the merged contents;
2. a window that is late (event time: the watermark passed its end plus the
   allowed lateness) is skipped; an element no window took is late data: it
   goes to the late side output when one is set, else it is dropped;
3. otherwise the element is added to the window's contents, the trigger sees it
   (FIRE evaluates the window, PURGE drops its contents) and a cleanup timer is
   registered at the window's end plus the allowed lateness.

Timers (namespace = window) call the trigger again: event-time timers when a
watermark passes them (fired in time order before the watermark is
forwarded), processing-time timers by themselves on the task thread. The
cleanup timer drops the window's contents, its trigger state and the user's
per-window state (``ProcessWindowFunction.clear``). A late-but-allowed element
re-fires its window at once (``EventTimeTrigger``), as in Flink.

Contents are kept as one accumulator (``aggregate_function``: AggregatingState),
one reduced value (``reduce_function``: ReducingState) or the list of elements
(ListState: process/apply, and always with an evictor, which then keeps each
element's timestamp and evicts before and/or after the function runs).

Window results carry the timestamp ``window.max_timestamp()``; the results of
one input batch, one watermark or one processing-time firing go out as one
batch. Owned by the subtask's task thread, like all operators.

Windows with their assigner's default trigger and no evictor take a fast path
with the same results in the same order: tumbling and sliding windows
``aligned.py`` (per batch, no per-element trigger calls or timers), session
windows ``sessions.py`` (the steps above inline, same state and timers).
``fast_path=False`` keeps every window on the generic path described above.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from strom.taskmanager.operators.base import Operator, OperatorContext
from strom.taskmanager.operators.runtime_context import RuntimeContext
from strom.taskmanager.operators.window.aligned import AlignedFastPath
from strom.taskmanager.operators.window.aligned import applies as aligned_applies
from strom.taskmanager.operators.window.context import WindowProcessContext
from strom.taskmanager.operators.window.functions import (
    AggregateApply,
    InternalWindowFunction,
    ReduceApply,
    close_function,
    open_function,
)
from strom.taskmanager.operators.window.sessions import SessionFastPath
from strom.taskmanager.operators.window.sessions import applies as sessions_apply
from strom.taskmanager.runtime.batch import Batch
from strom.taskmanager.runtime.output_tag import OutputTag
from strom.taskmanager.state.descriptor import VOID_NAMESPACE, RuntimeStateDescriptor, StateKind
from strom.taskmanager.time.errors import MissingTimestampError
from strom.taskmanager.time.timers import InternalTimer
from strom.taskmanager.time.timestamps import MAX_TIMESTAMP, NO_TIMESTAMP
from strom.taskmanager.windowing.assigners import (
    MergingWindowAssigner,
    TumblingEventTimeWindows,
    WindowAssigner,
)
from strom.taskmanager.windowing.context import WindowTriggerContext
from strom.taskmanager.windowing.evictors import Evictor, TimestampedValue
from strom.taskmanager.windowing.lateness import Lateness
from strom.taskmanager.windowing.merging import MergingWindowSet
from strom.taskmanager.windowing.triggers import Trigger, TriggerResult
from strom.taskmanager.windowing.vectorized import tumbling_window_starts
from strom.taskmanager.windowing.windows import TimeWindow

ALL_KEY = 0
"""The one key of a non-keyed (``window_all``) window operator."""

_CONTENTS = "__window/contents"
_MERGING_SET = "__window/merging-window-set"
_CONTINUE = TriggerResult.CONTINUE


class WindowMergeError(RuntimeError):
    """Merging windows produced a window that is already behind the watermark (Flink refuses it)."""


class _TriggerStateStore:
    """Trigger state under names of its own (``trigger/<name>``), so that a trigger's
    ``count`` never collides with a user's state of that name in the same backend."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        # by (name, kind): triggers often build their descriptor anew per call, so bounded by names
        self._renamed: dict[tuple[str, str], RuntimeStateDescriptor] = {}

    def _descriptor(self, descriptor: Any) -> RuntimeStateDescriptor:
        key = (descriptor.name, descriptor.state_kind)
        renamed = self._renamed.get(key)
        if renamed is None:
            renamed = self._renamed[key] = RuntimeStateDescriptor(
                f"trigger/{descriptor.name}", descriptor.state_kind,
                reduce_function=getattr(descriptor, "reduce_function", None),
                agg_function=getattr(descriptor, "agg_function", None),
                ttl_config=getattr(descriptor, "ttl_config", None))
        return renamed

    def get_partitioned_state(self, namespace: Any, descriptor: Any) -> Any:
        return self._backend.get_partitioned_state(namespace, self._descriptor(descriptor))

    def merge_namespaces(self, target: Any, sources: Any, descriptor: Any) -> None:
        self._backend.merge_namespaces(target, sources, self._descriptor(descriptor))


class _BoxedAggregate:
    """An AggregateFunction whose result comes boxed in a 1-tuple, so that an empty window
    (no accumulator: None) differs from a result that is None."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def create_accumulator(self) -> Any:
        return self.fn.create_accumulator()

    def add(self, value: Any, accumulator: Any) -> Any:
        return self.fn.add(value, accumulator)

    def get_result(self, accumulator: Any) -> tuple[Any]:
        return (self.fn.get_result(accumulator),)

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        return self.fn.merge(acc_a, acc_b)


class WindowOperator(Operator):
    """Windows of a keyed stream (``keyed=False``: of a whole stream, at parallelism 1).

    ``function`` turns fired contents into records (``strom.taskmanager.operators.window.functions``).
    At most one of ``reduce_function`` and ``aggregate_function`` pre-aggregates the contents.
    ``fast_path=False`` runs aligned windows through the generic path too (the reference the fast
    path is tested against).
    """

    def __init__(self, assigner: WindowAssigner, trigger: Trigger, function: InternalWindowFunction, *,
                 reduce_function: Any = None, aggregate_function: Any = None, evictor: Evictor | None = None,
                 allowed_lateness: int = 0, late_tag: str | None = None, keyed: bool = True,
                 name: str = "Window", fast_path: bool = True) -> None:
        if reduce_function is not None and aggregate_function is not None:
            raise ValueError(f"{name}: a window pre-aggregates with a reduce function or an aggregate "
                             f"function, not both")
        if isinstance(assigner, MergingWindowAssigner) and not trigger.can_merge():
            raise ValueError(f"{name}: the merging window assigner {assigner!r} cannot be used with "
                             f"{trigger!r}, which does not support merging windows")
        self.assigner = assigner
        self.trigger = trigger
        self.function = function
        self.reduce_function = reduce_function
        self.aggregate_function = aggregate_function
        self.evictor = evictor
        self.lateness = Lateness(allowed_lateness, assigner.is_event_time())
        self.late_tag = late_tag
        self.keyed = keyed
        self.name = name
        self.fast_path = fast_path
        self.num_late_records_dropped = 0

    # ---- lifecycle -----------------------------------------------------------------

    def open(self, ctx: OperatorContext) -> None:
        super().open(ctx)
        backend = self._backend = ctx.create_keyed_state_backend()
        self._timers = ctx.create_timer_service(self._on_processing_timer, self._flush)
        self._event_time = self.assigner.is_event_time()
        self._merging = isinstance(self.assigner, MergingWindowAssigner)
        self._tctx = WindowTriggerContext(self._timers, _TriggerStateStore(backend), ctx.get_current_processing_time)
        self._descriptor = self._contents_descriptor()
        self._state = backend.get_partitioned_state(VOID_NAMESPACE, self._descriptor)
        if self._merging:
            self._merging_state = backend.get_state(RuntimeStateDescriptor(_MERGING_SET, StateKind.VALUE))
        self._fn = self.function
        if self.evictor is not None and self.reduce_function is not None:
            self._fn = ReduceApply(self.reduce_function, self.function)
        elif self.evictor is not None and self.aggregate_function is not None:
            self._fn = AggregateApply(self.aggregate_function, self.function)
        self._out: list[Any] = []
        self._out_ts: list[int] = []
        self._sides: dict[str, tuple[list[Any], list[int]]] = {}
        self._pctx = WindowProcessContext(self.name, backend, self._merging,
                                          lambda: self._timers.current_watermark,
                                          ctx.get_current_processing_time, self._side)
        self._fast_tumbling = type(self.assigner) is TumblingEventTimeWindows
        binds = [getattr(fn, "bind_columns", None) for fn in (self.reduce_function, self.aggregate_function)]
        self._bind_columns = [bind for bind in binds if callable(bind)]
        runtime_context = RuntimeContext(ctx, self.name, backend)
        if self.evictor is None:
            open_function(self.reduce_function, runtime_context)
            open_function(self.aggregate_function, runtime_context)
        self._fn.open(runtime_context)
        self._aligned = (AlignedFastPath(self) if self.fast_path
                         and aligned_applies(self.assigner, self.trigger, self.evictor, backend) else None)
        self._sessions = (SessionFastPath(self) if self.fast_path
                          and sessions_apply(self.assigner, self.trigger, self.evictor) else None)

    def _contents_descriptor(self) -> RuntimeStateDescriptor:
        if self.evictor is not None:
            return RuntimeStateDescriptor(_CONTENTS, StateKind.LIST)  # (value, timestamp) pairs
        if self.reduce_function is not None:
            return RuntimeStateDescriptor(_CONTENTS, StateKind.REDUCING, reduce_function=self.reduce_function)
        if self.aggregate_function is not None:
            return RuntimeStateDescriptor(_CONTENTS, StateKind.AGGREGATING,
                                          agg_function=_BoxedAggregate(self.aggregate_function))
        return RuntimeStateDescriptor(_CONTENTS, StateKind.LIST)

    def finish(self) -> None:
        self._flush()

    def close(self) -> None:
        fn = getattr(self, "_fn", None)
        if fn is None:
            return
        try:
            fn.close()
            if self.evictor is None:
                close_function(self.reduce_function)
                close_function(self.aggregate_function)
        finally:
            self._backend.dispose()

    # ---- elements ------------------------------------------------------------------

    def process(self, batch: Batch, input_index: int = 0) -> None:
        records = batch.records
        if self._bind_columns:  # field names of tuple records: the columns of the first batch
            names = list(batch.arrow.schema.names)
            for bind in self._bind_columns:
                bind(names)
            self._bind_columns = []
        keys: Any
        if self.keyed:
            keys = batch.keys
            if keys is None:
                raise RuntimeError(f"{self.name}: received records without keys; a window on a keyed "
                                   f"stream must follow key_by()")
        else:
            keys = [ALL_KEY] * len(records)
        ts = batch.timestamps
        if ts is None and self._event_time:
            raise MissingTimestampError(
                f"{self.name}: the event-time window assigner {self.assigner!r} got records without event "
                f"timestamps; call assign_timestamps_and_watermarks(WatermarkStrategy...) on the stream "
                f"before key_by()/window(), or use a processing-time window")
        if self._aligned is not None:
            self._aligned.process(keys, records, ts)
            self._flush()
            return
        if self._sessions is not None:
            self._sessions.process(keys, records, ts)
            self._flush()
            return
        stamps: list[int] = [NO_TIMESTAMP] * len(records) if ts is None else ts.tolist()
        set_key = self._backend.set_current_key
        tctx = self._tctx
        if self._fast_tumbling:
            size = self.assigner.size  # type: ignore[attr-defined]
            starts = tumbling_window_starts(ts, size, self.assigner.offset).tolist()  # type: ignore[attr-defined]
            add = self._add
            for key, value, timestamp, start in zip(keys, records, stamps, starts, strict=True):
                set_key(key)
                tctx.key = key
                window = TimeWindow(start, start + size)
                if not add(value, timestamp, window, window):
                    self._late(value, timestamp)
        else:
            process_element = self._process_element
            for key, value, timestamp in zip(keys, records, stamps, strict=True):
                set_key(key)
                tctx.key = key
                process_element(value, timestamp)
        self._flush()

    def _process_element(self, value: Any, timestamp: int) -> None:
        windows = self.assigner.assign_windows(value, timestamp, self._tctx)
        accepted = False
        if self._merging:
            accepted = self._add_to_merging_windows(value, timestamp, windows)
        else:
            for window in windows:
                if self._add(value, timestamp, window, window):
                    accepted = True
        if not accepted:
            self._late(value, timestamp)

    def _add_to_merging_windows(self, value: Any, timestamp: int, windows: list[Any]) -> bool:
        merging = self._merging_set()
        accepted = False
        for window in windows:
            actual = merging.add_window(window, self._merge)
            if self._is_window_late(actual):
                merging.retire_window(actual)
                continue
            state_window = merging.get_state_window(actual)
            if state_window is None:
                raise RuntimeError(f"{self.name}: window {actual!r} has no state window in {merging!r}")
            self._add(value, timestamp, actual, state_window)
            accepted = True
        self._persist(merging)
        return accepted

    def _is_window_late(self, window: Any) -> bool:
        return self._event_time and self.lateness.cleanup_time(window) <= self._timers.current_watermark

    def _add(self, value: Any, timestamp: int, window: Any, state_window: Any) -> bool:
        """Add one element to one window (``state_window`` holds its contents); False if late."""
        if not self._merging and self._is_window_late(window):
            return False  # (merging windows were checked after merging)
        state = self._state
        state.set_current_namespace(state_window)
        if self.evictor is not None:
            state.add((value, None if timestamp == NO_TIMESTAMP else timestamp))
        else:
            state.add(value)
        tctx = self._tctx
        tctx.window = window
        result = self.trigger.on_element(value, timestamp, window, tctx)
        if result is not _CONTINUE:
            self._act(result, window)
        self._register_cleanup_timer(window)
        return True

    def _late(self, value: Any, timestamp: int) -> None:
        """An element no window accepted: late data when the watermark passed it (event time)."""
        if not (self._event_time and self.lateness.is_element_late(timestamp, self._timers.current_watermark)):
            return
        if self.late_tag is None:
            self.num_late_records_dropped += 1
        else:
            self._side(self.late_tag, value, timestamp)

    # ---- merging windows --------------------------------------------------------------

    def _merging_set(self) -> MergingWindowSet:
        return MergingWindowSet(self.assigner, self._merging_state.value() or ())  # type: ignore[arg-type]

    def _persist(self, merging: MergingWindowSet) -> None:
        if merging.changed:
            self._merging_state.update(merging.snapshot() or None)

    def _merge(self, merge_result: Any, merged_windows: Any, state_window_result: Any,
               merged_state_windows: Any) -> None:
        tctx = self._tctx
        error = self._merge_error(merge_result)
        if error is not None:
            raise error
        tctx.window, tctx.merged_windows = merge_result, merged_windows
        self.trigger.on_merge(merge_result, tctx)
        tctx.merged_windows = ()
        for window in merged_windows:
            tctx.window = window
            self.trigger.clear(window, tctx)
            self._delete_cleanup_timer(window)
        if merged_state_windows:
            self._backend.merge_namespaces(state_window_result, merged_state_windows, self._descriptor)

    def _merge_error(self, merge_result: Any) -> WindowMergeError | None:
        """Flink refuses a merge whose result is already late (event time) or over (processing time)."""
        if self._event_time:
            if self.lateness.cleanup_time(merge_result) <= self._timers.current_watermark:
                return WindowMergeError(
                    f"{self.name}: merging produced {merge_result!r}, whose end is behind the watermark "
                    f"{self._timers.current_watermark}; the end of an event-time window cannot move before "
                    f"the watermark by merging")
        elif merge_result.max_timestamp() <= self._tctx.get_current_processing_time():
            return WindowMergeError(f"{self.name}: merging produced {merge_result!r}, which ends before the "
                                    f"current processing time")
        return None

    # ---- timers ----------------------------------------------------------------------

    def process_watermark(self, watermark: int) -> None:
        on_timer = self._on_timer
        for timer in self._timers.advance_watermark(watermark):
            on_timer(timer, True)
        if self._aligned is not None:
            self._aligned.advance_watermark(self._timers.current_watermark)
        self._flush()
        self.emit_watermark(watermark)

    def _on_processing_timer(self, timer: InternalTimer) -> None:
        self._on_timer(timer, False)   # outputs go out once per firing pass (``_flush``)

    def _on_timer(self, timer: InternalTimer, event_time: bool) -> None:
        key, window = timer.key, timer.namespace
        self._backend.set_current_key(key)
        tctx = self._tctx
        tctx.key, tctx.window = key, window
        merging = None
        if self._merging:
            merging = self._merging_set()
            state_window = merging.get_state_window(window)
            if state_window is None:
                return  # a timer of a window that merged or retired: nothing left to do
        else:
            state_window = window
        self._state.set_current_namespace(state_window)
        if event_time:
            result = self.trigger.on_event_time(timer.timestamp, window, tctx)
        else:
            result = self.trigger.on_processing_time(timer.timestamp, window, tctx)
        if result is not _CONTINUE:
            self._act(result, window)
        if self._event_time == event_time and self.lateness.is_cleanup_time(window, timer.timestamp):
            self._clear_all_state(window, merging)
        if merging is not None:
            self._persist(merging)

    def _register_cleanup_timer(self, window: Any) -> None:
        cleanup = self.lateness.cleanup_time(window)
        if cleanup == MAX_TIMESTAMP:
            return
        if self._event_time:
            self._timers.register_event_time_timer(self._tctx.key, window, cleanup)
        else:
            self._timers.register_processing_time_timer(self._tctx.key, window, cleanup)

    def _delete_cleanup_timer(self, window: Any) -> None:
        cleanup = self.lateness.cleanup_time(window)
        if cleanup == MAX_TIMESTAMP:
            return
        if self._event_time:
            self._timers.delete_event_time_timer(self._tctx.key, window, cleanup)
        else:
            self._timers.delete_processing_time_timer(self._tctx.key, window, cleanup)

    def _clear_all_state(self, window: Any, merging: MergingWindowSet | None) -> None:
        """The window is done for good: its contents, trigger state and per-window user state go."""
        self._state.clear()
        tctx = self._tctx
        tctx.window = window
        self.trigger.clear(window, tctx)
        self._pctx.set_window(window)
        self._fn.clear(window, self._pctx)
        if merging is not None:
            merging.retire_window(window)

    # ---- firing ---------------------------------------------------------------------

    def _act(self, result: TriggerResult, window: Any) -> None:
        """FIRE and/or PURGE the window whose contents ``self._state`` points at."""
        if result.is_fire:
            contents = self._contents()
            if contents is not None:
                if self.evictor is not None:
                    self._emit_evicting(window, contents)
                else:
                    self._emit_window(window, contents)
        if result.is_purge:
            self._state.clear()

    def _contents(self) -> Any:
        kind = self._descriptor.state_kind
        value = self._state.get()
        if kind == StateKind.LIST:
            return value or None
        if kind == StateKind.AGGREGATING:
            return None if value is None else value[0]
        return value

    def _emit_evicting(self, window: Any, contents: list[tuple[Any, int | None]]) -> None:
        evictor = self.evictor
        assert evictor is not None
        elements = [TimestampedValue(v, t) for v, t in contents]
        evictor.evict_before(elements, len(elements), window, self._tctx)
        self._emit_window(window, [e.value for e in elements])
        evictor.evict_after(elements, len(elements), window, self._tctx)
        self._state.update([(e.value, e.timestamp) for e in elements])

    def _emit_window(self, window: Any, contents: Any) -> None:
        self._pctx.set_window(window)
        produced = self._fn.process(self._tctx.key, window, self._pctx, contents)
        if produced is None:
            return
        ts = window.max_timestamp()
        out, out_ts = self._out, self._out_ts
        for item in produced:
            if type(item) is tuple and len(item) == 2 and isinstance(item[0], OutputTag):
                self._side(item[0].tag_id, item[1], ts)
            else:
                out.append(item)
                out_ts.append(ts)

    def _side(self, tag_id: str, value: Any, timestamp: int) -> None:
        buffered = self._sides.get(tag_id)
        if buffered is None:
            buffered = self._sides[tag_id] = ([], [])
        buffered[0].append(value)
        buffered[1].append(timestamp)

    def _flush(self) -> None:
        if self._out:
            out, stamps = self._out, self._out_ts
            self._out, self._out_ts = [], []
            self.output.emit(Batch.of_records(out, np.array(stamps, dtype=np.int64)))
        if self._sides:
            sides, self._sides = self._sides, {}
            for tag_id, (values, stamps) in sides.items():
                self.side_output(tag_id, Batch.of_records(values, np.array(stamps, dtype=np.int64)))

    def __repr__(self) -> str:
        return f"WindowOperator({self.name!r})"
