"""Which failed TaskManager calls mean the TaskManager is gone, and whether a slot request retries (pure)."""

from __future__ import annotations

import asyncio
import doctest
import socket

import grpc
import grpc.aio
import pytest

from strom.common.errors import (
    ClusterUnreachableError,
    FencingTokenError,
    StromError,
    TaskManagerLostError,
)
from strom.common.gateway.task_executor import TaskExecutorGateway
from strom.jobmanager.resourcemanager import lost_task_managers
from strom.jobmanager.resourcemanager.lost_task_managers import (
    SlotRequestStep,
    after_failed_requests,
    error_to_report,
    grpc_status,
    is_connection_loss,
)

pytestmark = pytest.mark.timeout(30)


def gateway_error(code: grpc.StatusCode, cls: type[StromError] = ClusterUnreachableError) -> StromError:
    """A StromError raised the way the gateways raise it: translated inside ``except grpc.RpcError``."""
    try:
        try:
            raise grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="Connection refused")
        except grpc.RpcError:
            raise cls(f"TaskManager at 127.0.0.1:1 unreachable ({code.name})") from None
    except StromError as e:
        return e


def test_unavailable_is_a_connection_loss() -> None:
    error = gateway_error(grpc.StatusCode.UNAVAILABLE)
    assert grpc_status(error) is grpc.StatusCode.UNAVAILABLE
    assert is_connection_loss(error)


def test_a_rewrapped_error_keeps_its_grpc_status() -> None:
    try:
        try:
            raise gateway_error(grpc.StatusCode.UNAVAILABLE)
        except StromError as e:
            raise ClusterUnreachableError(f"TaskManager tm-1 could not provide slot 0: {e}") from None
    except StromError as rewrapped:
        assert is_connection_loss(rewrapped)


@pytest.mark.parametrize("error", [
    gateway_error(grpc.StatusCode.DEADLINE_EXCEEDED),                # reached a slow TaskManager: may have worked
    gateway_error(grpc.StatusCode.UNAVAILABLE, FencingTokenError),   # not a connection error class
    ClusterUnreachableError("TaskManager at 127.0.0.1:1 unreachable"),  # no gRPC status to go by
    StromError("worker of slot 0 died"),
], ids=["deadline-exceeded", "fencing", "no-grpc-status", "other"])
def test_other_failures_are_not_connection_losses(error: StromError) -> None:
    assert not is_connection_loss(error)


def test_the_real_gateway_reports_a_refused_connection_as_a_connection_loss() -> None:
    """The contract with ``common.gateway``: its ClusterUnreachableError keeps the gRPC error in its chain."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"   # closed again: nothing listens there

    async def call() -> StromError:
        gateway = TaskExecutorGateway(address, retry_deadline_s=0.1)
        try:
            await gateway.request_slot_async(0, "allocation", "job", "127.0.0.1:2", "session")
        except StromError as e:
            return e
        finally:
            await gateway.close_async()
        raise AssertionError("a call to a closed port succeeded")

    error = asyncio.run(asyncio.wait_for(call(), 10))
    assert isinstance(error, ClusterUnreachableError) and is_connection_loss(error)


LOST = TaskManagerLostError("TaskManager tm-1 at 127.0.0.1:1 was lost while its slot 0 was being requested")
REFUSED = StromError("TaskManager tm-2 at 127.0.0.1:2 could not provide slot 1: slot 1 is taken")


@pytest.mark.parametrize(("failures", "remaining_s", "step"), [
    ([LOST], 10.0, SlotRequestStep.RETRY),
    ([LOST, LOST], 0.001, SlotRequestStep.RETRY),
    ([LOST], 0.0, SlotRequestStep.FAIL),         # slot.request.timeout used up
    ([LOST], -1.0, SlotRequestStep.FAIL),
    ([REFUSED], 10.0, SlotRequestStep.FAIL),      # the TaskManager is there and said no
    ([LOST, REFUSED], 10.0, SlotRequestStep.FAIL),
    ([gateway_error(grpc.StatusCode.UNAVAILABLE)], 10.0, SlotRequestStep.FAIL),  # not dropped: not lost
])
def test_a_slot_request_retries_only_when_every_failure_is_a_lost_taskmanager(
        failures: list[BaseException], remaining_s: float, step: SlotRequestStep) -> None:
    assert after_failed_requests(failures, remaining_s) is step


def test_the_reported_error_is_the_first_that_is_not_a_lost_taskmanager() -> None:
    assert error_to_report([LOST, REFUSED]) is REFUSED
    assert error_to_report([LOST]) is LOST
    wrapped = error_to_report([RuntimeError("boom")])
    assert type(wrapped) is StromError and str(wrapped) == "slot request failed: RuntimeError('boom')"


def test_no_failures_is_a_caller_bug() -> None:
    with pytest.raises(ValueError):
        after_failed_requests([], 1.0)
    with pytest.raises(ValueError):
        error_to_report([])


def test_docstring_examples() -> None:
    result = doctest.testmod(lost_task_managers)
    assert result.attempted > 0 and result.failed == 0
