"""State backends: keyed state partitioned by key group, operator state, snapshots for checkpoints.

    errors.py            StateError and its subclasses
    descriptor.py        what a backend reads from a descriptor (Protocols), StateKind, VOID_NAMESPACE
    table.py             StateTable: state name -> per key group -> namespace -> key -> value; KeyContext
    heap_states.py       Value/List/Map/Reducing/Aggregating state objects (namespace merging)
    ttl.py, ttl_states.py  time-to-live: stamped values, policy, the TTL state objects
    keyed_backend.py     the KeyedStateBackend contract
    hashmap_backend.py   HashMapKeyedStateBackend ('hashmap'): in memory
    snapshot.py          KeyGroupsStateSnapshot: bytes with one slice per key group
    operator_backend.py  OperatorStateBackend: list, union list and broadcast state, redistribution

Every backend and state object is owned by the subtask's task thread. The
runtime never imports the client: user descriptors satisfy ``StateSpec`` by
shape, and the state objects satisfy the client's state Protocols by shape.
"""

from strom.taskmanager.state.descriptor import (
    VOID_NAMESPACE,
    AggregateFunctionLike,
    RuntimeStateDescriptor,
    StateKind,
    StateSpec,
    TtlSettings,
    TtlSpec,
)
from strom.taskmanager.state.errors import (
    IncompatibleStateError,
    KeyGroupOutOfRangeError,
    StateAccessError,
    StateError,
    StateRestoreError,
)
from strom.taskmanager.state.hashmap_backend import HashMapKeyedStateBackend, wall_clock_ms
from strom.taskmanager.state.keyed_backend import KeyedStateBackend
from strom.taskmanager.state.operator_backend import (
    OperatorStateBackend,
    OperatorStateMode,
    OperatorStateSnapshot,
    assign_operator_state,
    split_evenly,
)
from strom.taskmanager.state.snapshot import KeyGroupsStateSnapshot, StateMetaInfo

__all__ = [
    "VOID_NAMESPACE",
    "AggregateFunctionLike",
    "HashMapKeyedStateBackend",
    "IncompatibleStateError",
    "KeyGroupOutOfRangeError",
    "KeyGroupsStateSnapshot",
    "KeyedStateBackend",
    "OperatorStateBackend",
    "OperatorStateMode",
    "OperatorStateSnapshot",
    "RuntimeStateDescriptor",
    "StateAccessError",
    "StateError",
    "StateKind",
    "StateMetaInfo",
    "StateRestoreError",
    "StateSpec",
    "TtlSettings",
    "TtlSpec",
    "assign_operator_state",
    "split_evenly",
    "wall_clock_ms",
]
