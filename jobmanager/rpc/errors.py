"""Error mapping at the gRPC edge: StromError -> status code via ``errors.status_of``.

Servicer methods are wrapped with ``@rpc_method``: a StromError aborts the
call with its mapped status and its message; anything else is a bug, logged
with its traceback and reported as INTERNAL.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import grpc.aio

from strom.common.errors import StromError, status_of

log = logging.getLogger(__name__)

S = TypeVar("S")
Req = TypeVar("Req")
Resp = TypeVar("Resp")

Method = Callable[[S, Req, grpc.aio.ServicerContext], Awaitable[Resp]]


class InvalidArgument(Exception):
    """A request the transport cannot decode (malformed id, unknown state name)."""


def rpc_method(method: Method[S, Req, Resp]) -> Method[S, Req, Resp]:
    @functools.wraps(method)
    async def wrapper(self: S, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await method(self, request, context)
        except InvalidArgument as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        except StromError as e:
            code, _ = status_of(e)
            await context.abort(getattr(grpc.StatusCode, code), str(e))
        except Exception as e:
            log.exception("%s failed", method.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, f"JobManager error in {method.__name__}: "
                                                          f"{type(e).__name__}: {e}")
        raise AssertionError("unreachable: context.abort raises")

    return wrapper


