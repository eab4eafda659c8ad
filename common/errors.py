"""Strom's error tree. Every error a user or operator sees derives from StromError.

    StromError
    ├── ConfigurationError          bad config key/value, bad CLI flag
    ├── JobSubmissionError          the job could not be accepted
    │   └── JobGraphError           the pipeline is invalid (names the step)
    ├── JobScriptError              the user's job script raised before submitting
    ├── JobExecutionError           the job ran and FAILED (carries the root cause text)
    ├── JobNotFoundError            unknown job id
    ├── ClusterUnreachableError     no JobManager answers at the address (retryable)
    ├── FencingTokenError           call carried a stale leader session id (re-resolve leader)
    ├── ProtocolVersionError        TaskManager and JobManager speak different versions
    ├── NotEnoughSlotsError         slots did not become available in time
    ├── TaskManagerLostError        heartbeat timeout / connection loss of a TaskManager
    └── IllegalStateTransitionError a lifecycle moved along an edge its table forbids

Errors map to gRPC status codes and HTTP statuses in one table, ``STATUS_TABLE``.
"""

from __future__ import annotations


class StromError(Exception):
    """Root of every Strom error."""

    retryable: bool = False


class ConfigurationError(StromError):
    pass


class JobSubmissionError(StromError):
    pass


class JobGraphError(JobSubmissionError):
    pass


class JobScriptError(StromError):
    pass


class JobExecutionError(StromError):
    pass


class JobNotFoundError(StromError):
    pass


class ClusterUnreachableError(StromError):
    retryable = True


class FencingTokenError(StromError):
    retryable = True


class ProtocolVersionError(StromError):
    pass


class NotEnoughSlotsError(StromError):
    pass


class TaskManagerLostError(StromError):
    pass


class IllegalStateTransitionError(StromError):
    pass


# error class -> (grpc status code name, HTTP status)
STATUS_TABLE: dict[type[StromError], tuple[str, int]] = {
    ConfigurationError: ("INVALID_ARGUMENT", 400),
    JobGraphError: ("INVALID_ARGUMENT", 400),
    JobSubmissionError: ("INVALID_ARGUMENT", 400),
    JobNotFoundError: ("NOT_FOUND", 404),
    FencingTokenError: ("FAILED_PRECONDITION", 409),
    ProtocolVersionError: ("FAILED_PRECONDITION", 400),
    NotEnoughSlotsError: ("RESOURCE_EXHAUSTED", 503),
    ClusterUnreachableError: ("UNAVAILABLE", 503),
    IllegalStateTransitionError: ("FAILED_PRECONDITION", 409),
}

_BY_GRPC_CODE: dict[str, type[StromError]] = {
    "NOT_FOUND": JobNotFoundError,
    "FAILED_PRECONDITION": FencingTokenError,
    "INVALID_ARGUMENT": JobSubmissionError,
    "RESOURCE_EXHAUSTED": NotEnoughSlotsError,
    "UNAVAILABLE": ClusterUnreachableError,
}


def status_of(error: BaseException) -> tuple[str, int]:
    """gRPC status code name and HTTP status for an error."""
    for cls in type(error).__mro__:
        if cls in STATUS_TABLE:
            return STATUS_TABLE[cls]  # type: ignore[index]
    return ("INTERNAL", 500)


def error_for_status(code_name: str, message: str) -> StromError:
    """Rebuild a StromError from a gRPC status code name and details on the client side.

    A FAILED_PRECONDITION whose message is not about fencing maps to the generic root.
    """
    cls = _BY_GRPC_CODE.get(code_name, StromError)
    if code_name == "FAILED_PRECONDITION" and "leader session" not in message:
        cls = ProtocolVersionError if "protocol version" in message else StromError
    return cls(message)
