"""Errors of the data plane.

    StromError
    ├── TaskCancelledError         the task was cancelled (or its partition released) while it
    │                              waited in the network stack: "you closed it", not a failure
    └── NetworkError               the exchange broke
        ├── PartitionNotFoundError a consumer asked for a partition that never appeared within
        │                          the request timeout, or that was already released
        ├── PartitionReleasedError a producer's partition was released while a reader used it
        └── ChannelError           an input channel broke: producer unreachable within the
                                   connect timeout, connection lost, producer died (the message
                                   names the producer's address)
"""

from __future__ import annotations

from strom.common.errors import StromError


class TaskCancelledError(StromError):
    """The task was cancelled while blocked in emit() or poll(); unwind without reporting a failure."""


class NetworkError(StromError):
    pass


class PartitionNotFoundError(NetworkError):
    pass


class PartitionReleasedError(NetworkError):
    pass


class ChannelError(NetworkError):
    pass
