"""Routes ``METHOD /path/:param`` to handlers; unknown path -> 404, wrong method -> 405. Pure.

Paths may carry Flink's ``/v1`` version prefix. Handlers are plain functions
``(request, params) -> HttpResponse`` that run on the JobManager's loop and
read its state directly; a ``StromError`` they raise becomes its HTTP status
(``errors.status_of``) with Flink's ``{"errors": [message]}`` body.

    router = Router()
    router.add("GET", "/jobs/:jobid", lambda request, params: HttpResponse.json(200, {"jid": params["jobid"]}))
    response = await router.handle(request)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass

from strom.common.errors import StromError, status_of
from strom.jobmanager.rest.http import HttpError, HttpRequest, HttpResponse

log = logging.getLogger(__name__)

RouteHandler = Callable[[HttpRequest, dict[str, str]], HttpResponse]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    handler: RouteHandler


def _compile(template: str) -> re.Pattern[str]:
    parts = []
    for segment in template.strip("/").split("/"):
        parts.append(f"(?P<{segment[1:]}>[^/]+)" if segment.startswith(":") else re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "/?$")


class Router:
    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(self, method: str, template: str, handler: RouteHandler) -> None:
        self._routes.append(Route(method, template, _compile(template), handler))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | list[str]:
        """The route and its params, or the methods the path allows (empty: unknown path)."""
        if path == "/v1" or path.startswith("/v1/"):
            path = path[3:] or "/"
        allowed: list[str] = []
        lookup = "GET" if method == "HEAD" else method
        for route in self._routes:
            m = route.pattern.match(path)
            if m is None:
                continue
            if route.method == lookup:
                return route, m.groupdict()
            allowed.append(route.method)
        return allowed

    async def handle(self, request: HttpRequest) -> HttpResponse:
        found = self.match(request.method, request.path)
        if isinstance(found, list):
            if not found:
                return HttpResponse.error(404, f"Not found: {request.path}")
            return HttpResponse.error(405, f"Method {request.method} not allowed for {request.path}; "
                                           f"use {', '.join(sorted(set(found)))}",
                                      headers={"Allow": ", ".join(sorted(set(found)))})
        route, params = found
        try:
            return route.handler(request, params)
        except HttpError as e:
            return HttpResponse.error(e.status, e.message)
        except StromError as e:
            return HttpResponse.error(status_of(e)[1], str(e))
