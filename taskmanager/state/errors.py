"""Errors of the state layer, one branch of Strom's error tree.

    StromError
    └── StateError                  keyed or operator state misused or not restorable
        ├── StateAccessError        state used outside a keyed context, or with an unusable key/namespace
        ├── KeyGroupOutOfRangeError a key whose key group this subtask does not own
        ├── IncompatibleStateError  a state name asked for as another kind (or TTL setting) than it holds
        └── StateRestoreError       a snapshot that cannot be read or restored here

None of them is retryable: each means a bug in the job or a mismatched snapshot.
Raised on the subtask's task thread, which owns all state.
"""

from __future__ import annotations

from strom.common.errors import StromError


class StateError(StromError):
    """Root of the state layer's errors."""


class StateAccessError(StateError):
    """State was accessed where it cannot be: no current key, or an unhashable key or namespace."""


class KeyGroupOutOfRangeError(StateError):
    """The current key belongs to a key group another subtask owns (the stream was not keyed by it)."""


class IncompatibleStateError(StateError):
    """A state name is requested as a different kind, TTL setting or redistribution mode than it holds."""


class StateRestoreError(StateError):
    """A snapshot is corrupt or cannot be restored into this backend (e.g. another max parallelism)."""
