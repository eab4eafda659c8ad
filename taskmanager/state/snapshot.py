"""Keyed-state snapshots laid out per key group, so a restorer reads only the groups it owns.

Bytes (integers little endian)::

    b"STKG" | version: u8 | header length: u32 | header: JSON | payload

    header = {"max_parallelism": 128, "key_groups": [start, stop],
              "states": {"count": {"kind": "value", "ttl": false}, ...},
              "offsets": [o_0, ..., o_n]}          # n = stop - start

Key group ``g``'s bytes are ``payload[o_(g-start) : o_(g-start+1)]``: a
cloudpickle of ``{state name: {namespace: {key: stored value}}}``; a group
without state takes 0 bytes. The header comes first, so a restorer reading
from remote storage can fetch it and then only the byte ranges of its groups.
Every state the backend knew is listed in the header even if it is empty.

Snapshots are immutable values; building one happens on the subtask's task
thread (which owns the state), reading one may happen anywhere.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cloudpickle

from strom.taskmanager.state.descriptor import StateKind
from strom.taskmanager.state.errors import StateRestoreError

MAGIC = b"STKG"
VERSION = 1
_PREFIX = struct.Struct("<4sBI")

KeyGroupContents = dict[str, dict[Any, dict[Any, Any]]]
"""One key group's state: state name -> namespace -> key -> stored value."""


@dataclass(frozen=True)
class StateMetaInfo:
    """What a restorer must know about a state before its descriptor is registered."""

    kind: StateKind
    ttl: bool


@dataclass(frozen=True)
class KeyGroupsStateSnapshot:
    """The keyed state of a key-group range: a header plus one byte slice per key group."""

    max_parallelism: int
    key_groups: range
    states: Mapping[str, StateMetaInfo]
    offsets: tuple[int, ...]
    payload: bytes | memoryview

    def __post_init__(self) -> None:
        if len(self.offsets) != len(self.key_groups) + 1:
            raise StateRestoreError(
                f"key-group snapshot is corrupt: {len(self.offsets)} offsets for "
                f"{len(self.key_groups)} key groups")

    @classmethod
    def build(cls, max_parallelism: int, key_groups: range, states: Mapping[str, StateMetaInfo],
              groups: Sequence[bytes]) -> KeyGroupsStateSnapshot:
        """From each key group's encoded bytes, in key-group order (see ``encode_key_group``)."""
        offsets = [0]
        for blob in groups:
            offsets.append(offsets[-1] + len(blob))
        return cls(max_parallelism, key_groups, dict(states), tuple(offsets), b"".join(groups))

    def to_bytes(self) -> bytes:
        header = json.dumps({
            "max_parallelism": self.max_parallelism,
            "key_groups": [self.key_groups.start, self.key_groups.stop],
            "states": {name: {"kind": m.kind.value, "ttl": m.ttl} for name, m in self.states.items()},
            "offsets": list(self.offsets),
        }, separators=(",", ":")).encode()
        return b"".join((_PREFIX.pack(MAGIC, VERSION, len(header)), header, self.payload))

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> KeyGroupsStateSnapshot:
        """Parse the header only; key groups are unpickled on demand by ``read_key_group``."""
        view = memoryview(data)
        if len(view) < _PREFIX.size:
            raise StateRestoreError(f"not a keyed-state snapshot: only {len(view)} bytes")
        magic, version, header_len = _PREFIX.unpack_from(view)
        if magic != MAGIC:
            raise StateRestoreError(f"not a keyed-state snapshot (magic {bytes(magic)!r}, expected {MAGIC!r})")
        if version != VERSION:
            raise StateRestoreError(
                f"keyed-state snapshot has format version {version}; this Strom reads version {VERSION}")
        try:
            header = json.loads(bytes(view[_PREFIX.size:_PREFIX.size + header_len]))
            start, stop = header["key_groups"]
            states = {name: StateMetaInfo(StateKind(m["kind"]), bool(m["ttl"]))
                      for name, m in header["states"].items()}
            snapshot = cls(int(header["max_parallelism"]), range(start, stop), states,
                           tuple(header["offsets"]), view[_PREFIX.size + header_len:])
        except StateRestoreError:
            raise
        except (ValueError, KeyError, TypeError) as e:
            raise StateRestoreError(f"keyed-state snapshot header is corrupt: {e!r}") from e
        if snapshot.offsets[-1] != len(snapshot.payload):
            raise StateRestoreError(
                f"keyed-state snapshot is truncated: payload has {len(snapshot.payload)} bytes, "
                f"header promises {snapshot.offsets[-1]}")
        return snapshot

    def key_group_bytes(self, key_group: int) -> memoryview:
        if key_group not in self.key_groups:
            raise KeyError(f"key group {key_group} is not in this snapshot's range {self.key_groups}")
        i = key_group - self.key_groups.start
        return memoryview(self.payload)[self.offsets[i]:self.offsets[i + 1]]

    def read_key_group(self, key_group: int) -> KeyGroupContents:
        """Unpickle one key group (empty dict if it held no state)."""
        blob = self.key_group_bytes(key_group)
        if not len(blob):
            return {}
        try:
            contents: KeyGroupContents = cloudpickle.loads(blob)
        except Exception as e:
            raise StateRestoreError(f"key group {key_group} of a keyed-state snapshot cannot be read: {e!r}") from e
        return contents

    def non_empty_key_groups(self) -> list[int]:
        start, offsets = self.key_groups.start, self.offsets
        return [start + i for i in range(len(self.key_groups)) if offsets[i + 1] > offsets[i]]


def encode_key_group(contents: KeyGroupContents) -> bytes:
    return cloudpickle.dumps(contents) if contents else b""
