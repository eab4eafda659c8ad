"""The Flight ticket of a subpartition request: which partition, which subpartition.

    >>> decode_ticket(encode_ticket(PartitionRequest("job:v:0:0#0", 3)))
    PartitionRequest(partition_id='job:v:0:0#0', subpartition=3)
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class PartitionRequest:
    partition_id: str
    subpartition: int


def encode_ticket(request: PartitionRequest) -> bytes:
    return json.dumps({"p": request.partition_id, "s": request.subpartition},
                      separators=(",", ":")).encode()


def decode_ticket(data: bytes) -> PartitionRequest:
    try:
        obj = json.loads(data)
        partition_id, subpartition = obj["p"], obj["s"]
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"not a Strom partition request ticket: {data[:80]!r}") from None
    if not isinstance(partition_id, str) or not isinstance(subpartition, int) or subpartition < 0:
        raise ValueError(f"not a Strom partition request ticket: {data[:80]!r}")
    return PartitionRequest(partition_id, subpartition)
