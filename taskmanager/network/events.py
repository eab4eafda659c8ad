"""In-band events: they travel in order with the data of one channel.

Over Flight an event is a 0-row batch of the stream's schema whose
``app_metadata`` is the event's encoding; a data batch carries no metadata.
The encoding is one ASCII tag byte followed by little-endian fixed-width
fields, so it is small, pure and stable across processes:

    >>> decode_event(encode_event(Watermark(1_700_000_000_000)))
    Watermark(timestamp=1700000000000)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

_I64 = struct.Struct("<q")
_I64_I64 = struct.Struct("<qq")


class Event:
    """Base class of in-band events."""

    __slots__ = ()
    tag: ClassVar[bytes]


@dataclass(frozen=True, slots=True)
class EndOfPartition(Event):
    """The producer finished: no more data or events on this channel."""

    tag: ClassVar[bytes] = b"E"


@dataclass(frozen=True, slots=True)
class SchemaChange(Event):
    """Transport-only: the next batch has another schema, so this Flight stream ends and the
    consumer opens a new DoGet for the same subpartition. Never handed to a task."""

    tag: ClassVar[bytes] = b"S"


@dataclass(frozen=True, slots=True)
class Watermark(Event):
    """Event time has reached ``timestamp`` (milliseconds) on this channel."""

    timestamp: int
    tag: ClassVar[bytes] = b"W"


@dataclass(frozen=True, slots=True)
class WatermarkStatusEvent(Event):
    """The channel stopped (``idle``) or resumed taking part in watermark progress."""

    idle: bool
    tag: ClassVar[bytes] = b"I"


@dataclass(frozen=True, slots=True)
class CheckpointBarrier(Event):
    """Separates the records before checkpoint ``checkpoint_id`` from those after it."""

    checkpoint_id: int
    timestamp: int
    tag: ClassVar[bytes] = b"B"


class EventDecodeError(ValueError):
    pass


_END_OF_PARTITION = EndOfPartition()
_SCHEMA_CHANGE = SchemaChange()


def encode_event(event: Event) -> bytes:
    if isinstance(event, Watermark):
        return b"W" + _I64.pack(event.timestamp)
    if isinstance(event, CheckpointBarrier):
        return b"B" + _I64_I64.pack(event.checkpoint_id, event.timestamp)
    if isinstance(event, WatermarkStatusEvent):
        return b"I1" if event.idle else b"I0"
    if isinstance(event, EndOfPartition):
        return b"E"
    if isinstance(event, SchemaChange):
        return b"S"
    raise TypeError(f"cannot encode {event!r}: not a known network event")


def decode_event(data: bytes | memoryview) -> Event:
    raw = bytes(data)
    if not raw:
        raise EventDecodeError("empty event metadata")
    tag, body = raw[:1], raw[1:]
    try:
        if tag == b"W":
            return Watermark(_I64.unpack(body)[0])
        if tag == b"B":
            checkpoint_id, timestamp = _I64_I64.unpack(body)
            return CheckpointBarrier(checkpoint_id, timestamp)
        if tag == b"I" and body in (b"0", b"1"):
            return WatermarkStatusEvent(body == b"1")
        if tag == b"E" and not body:
            return _END_OF_PARTITION
        if tag == b"S" and not body:
            return _SCHEMA_CHANGE
    except struct.error as e:
        raise EventDecodeError(f"malformed {tag!r} event ({len(raw)} bytes): {e}") from None
    raise EventDecodeError(f"unknown event encoding {raw[:16]!r}")
