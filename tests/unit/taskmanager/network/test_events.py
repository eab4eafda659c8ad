from __future__ import annotations

import pytest

from strom.taskmanager.network.events import (
    CheckpointBarrier,
    EndOfPartition,
    EventDecodeError,
    SchemaChange,
    Watermark,
    decode_event,
    encode_event,
)


@pytest.mark.parametrize("event", [
    EndOfPartition(),
    SchemaChange(),
    Watermark(0),
    Watermark(1_700_000_000_123),
    Watermark(-(2**63)),
    Watermark(2**63 - 1),
    CheckpointBarrier(1, 1_700_000_000_000),
    CheckpointBarrier(2**40, -5),
])
def test_round_trip(event):
    assert decode_event(encode_event(event)) == event


def test_encoding_is_compact_and_fixed():
    assert encode_event(EndOfPartition()) == b"E"
    assert encode_event(SchemaChange()) == b"S"
    assert encode_event(Watermark(1)) == b"W\x01\x00\x00\x00\x00\x00\x00\x00"
    assert len(encode_event(CheckpointBarrier(7, 8))) == 17


def test_decode_accepts_memoryview():
    assert decode_event(memoryview(encode_event(Watermark(42)))) == Watermark(42)


@pytest.mark.parametrize("data", [b"", b"X", b"W\x01", b"B" + b"\x00" * 9, b"Eextra", b"S\x00"])
def test_malformed_metadata_is_rejected(data):
    with pytest.raises(EventDecodeError):
        decode_event(data)


def test_events_are_values():
    assert Watermark(5) == Watermark(5)
    assert Watermark(5) != Watermark(6)
    assert hash(CheckpointBarrier(1, 2)) == hash(CheckpointBarrier(1, 2))
    with pytest.raises(AttributeError):
        Watermark(5).timestamp = 6  # type: ignore[misc]


def test_unknown_event_type_cannot_be_encoded():
    with pytest.raises(TypeError):
        encode_event(object())  # type: ignore[arg-type]
