"""Which failed TaskManager calls mean the TaskManager is gone, and what a slot request does then. Pure.

Connection loss. A call that fails with gRPC ``UNAVAILABLE`` could not get through to the
TaskManager: the connection was refused or broke, because the process is dead or nothing listens at
its address any more. The gateway retries such a call briefly, then raises ``ClusterUnreachableError``. That error
alone does not tell ``UNAVAILABLE`` apart from ``DEADLINE_EXCEEDED`` (a call that reached a slow but
live TaskManager, and may have taken effect), so ``is_connection_loss`` looks for the gRPC status in
the error's chain. After a connection loss, the ResourceManager drops the TaskManager at once, as
it does after a heartbeat timeout, and does not keep offering its slots until ``heartbeat.timeout``.
(Flink does the same when heartbeat RPCs find their target unreachable:
``heartbeat.rpc-failure-threshold``.)

Failed slot requests. When every RequestSlot that failed failed because its TaskManager is lost (so
its slots are no longer offered), the request is matched again against the remaining TaskManagers
while ``slot.request.timeout`` lasts, as Flink's SlotManager re-matches a failed slot request on
another slot. Any other failure fails the request, and the error to report is the first failure
that is not a lost TaskManager.

    >>> lost = TaskManagerLostError("TaskManager tm-1 was lost while its slot 0 was being requested")
    >>> after_failed_requests([lost], remaining_s=12.5)
    <SlotRequestStep.RETRY: 'retry'>
    >>> after_failed_requests([lost], remaining_s=0.0)
    <SlotRequestStep.FAIL: 'fail'>
    >>> refused = StromError("slot 1 is taken")
    >>> after_failed_requests([lost, refused], remaining_s=12.5)
    <SlotRequestStep.FAIL: 'fail'>
    >>> error_to_report([lost, refused]) is refused
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import grpc

from strom.common.errors import ClusterUnreachableError, StromError, TaskManagerLostError


class SlotRequestStep(StrEnum):
    RETRY = "retry"   # match the missing slots again on the remaining TaskManagers
    FAIL = "fail"     # give back every slot of the request and raise


def grpc_status(error: BaseException) -> grpc.StatusCode | None:
    """The status of the gRPC error nearest in ``error``'s chain (cause or context), or None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, grpc.RpcError) and callable(getattr(current, "code", None)):
            code = current.code()
            return code if isinstance(code, grpc.StatusCode) else None
        current = current.__cause__ or current.__context__
    return None


def is_connection_loss(error: BaseException) -> bool:
    """True when a call to a TaskManager failed because nothing answers at its address (gRPC UNAVAILABLE)."""
    return isinstance(error, ClusterUnreachableError) and grpc_status(error) is grpc.StatusCode.UNAVAILABLE


def after_failed_requests(failures: Sequence[BaseException], remaining_s: float) -> SlotRequestStep:
    """What a slot request does after ``failures`` (its failed RequestSlot calls), ``remaining_s`` before its
    timeout: retry only when every failure is a lost TaskManager and time is left."""
    if not failures:
        raise ValueError("after_failed_requests needs at least one failure")
    if remaining_s > 0 and all(isinstance(f, TaskManagerLostError) for f in failures):
        return SlotRequestStep.RETRY
    return SlotRequestStep.FAIL


def error_to_report(failures: Sequence[BaseException]) -> StromError:
    """The error a failed slot request raises: the first failure that is not a lost TaskManager, if any."""
    if not failures:
        raise ValueError("error_to_report needs at least one failure")
    first = next((f for f in failures if not isinstance(f, TaskManagerLostError)), failures[0])
    return first if isinstance(first, StromError) else StromError(f"slot request failed: {first!r}")
