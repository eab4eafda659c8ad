"""REST on a standby JobManager: redirect to the leader (HTTP 307), like Flink's standby web monitors did.

Every JobManager serves REST, but only the leader's state is the cluster's.
``LeaderGate`` wraps the router:

- this JobManager leads -> the request is answered here;
- it stands by and knows the leader -> ``307 Temporary Redirect`` with
  ``Location: http://<leader rest address><same path and query>`` (307 keeps
  the method and body, so ``PATCH /jobs/:jobid`` is redirected too) and a
  small JSON body naming the leader;
- no leader is known (an election is under way) -> ``503`` with
  ``{"errors": [...]}`` and ``Retry-After: 1``.

``GET /jobmanager/leader`` is always answered locally, on every JobManager:

    {"leader": false, "leaderSessionId": null,
     "leaderRpcAddress": "127.0.0.1:6123", "leaderRestAddress": "127.0.0.1:8081",
     "rpcAddress": "127.0.0.1:6124", "restAddress": "127.0.0.1:8082"}

State owner: the JobManager's event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from strom.jobmanager.rest.http import Handler, HttpRequest, HttpResponse

LEADER_PATH = "/jobmanager/leader"


@dataclass(frozen=True)
class LeaderStatus:
    """What this JobManager knows about leadership right now."""

    is_leader: bool
    session_id: str | None          # this JobManager's leader session id while it leads
    leader_rpc_address: str         # "" when unknown
    leader_rest_address: str        # "" when unknown
    rpc_address: str                # this JobManager's own addresses
    rest_address: str

    def to_json(self) -> dict[str, object]:
        return {"leader": self.is_leader, "leaderSessionId": self.session_id,
                "leaderRpcAddress": self.leader_rpc_address or None,
                "leaderRestAddress": self.leader_rest_address or None,
                "rpcAddress": self.rpc_address, "restAddress": self.rest_address}


def request_target(request: HttpRequest) -> str:
    """Path and query of ``request`` as they would appear on the request line."""
    target = quote(request.path, safe="/:@!$&'()*+,;=-._~")
    if request.query:
        target += "?" + urlencode(request.query, doseq=True)
    return target


class LeaderGate:
    """Wraps the REST handler: serve as leader, redirect as standby, 503 while nobody leads."""

    def __init__(self, inner: Handler, status: Callable[[], LeaderStatus]) -> None:
        self._inner = inner
        self._status = status

    async def handle(self, request: HttpRequest) -> HttpResponse:
        path = request.path
        if path == "/v1" or path.startswith("/v1/"):
            path = path[3:] or "/"
        status = self._status()
        if path.rstrip("/") == LEADER_PATH:
            if request.method not in ("GET", "HEAD"):
                return HttpResponse.error(405, f"Method {request.method} not allowed for {request.path}; use GET",
                                          headers={"Allow": "GET"})
            return HttpResponse.json(200, status.to_json())
        if status.is_leader:
            return await self._inner(request)
        leader = status.leader_rest_address
        if leader and leader != status.rest_address:
            location = f"http://{leader}{request_target(request)}"
            return HttpResponse.json(307, {"leader": False, "leaderRestAddress": leader, "location": location},
                                     headers={"Location": location})
        return HttpResponse.error(
            503, "This JobManager is a standby and no leader is known yet (leader election in progress); "
                 "retry shortly", headers={"Retry-After": "1"})
