"""A small HTTP/1.1 server on asyncio streams (no dependencies beyond the standard library).

Enough for a JSON API: request line, headers, a Content-Length body,
keep-alive, and hard limits on everything a client controls. A request it
cannot parse gets a 400 (JSON, Flink's ``{"errors": [...]}`` shape) and the
connection is closed; nothing a client sends can stop the server.

State owner: the JobManager's event loop (one coroutine per connection).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 16 * 1024
MAX_HEADERS = 100
MAX_BODY_BYTES = 1024 * 1024
HEADER_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 60.0


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    version: str = "HTTP/1.1"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


@dataclass
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: dict[str, str] | None = None) -> HttpResponse:
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        return cls(status, body, {"Content-Type": "application/json; charset=UTF-8", **(headers or {})})

    @classmethod
    def error(cls, status: int, *messages: str, headers: dict[str, str] | None = None) -> HttpResponse:
        return cls.json(status, {"errors": list(messages)}, headers)


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request line or header too long") from None
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise HttpError(400, "request ended in the middle of a line") from None
        raise


def parse_request_line(line: bytes) -> tuple[str, str, dict[str, list[str]], str]:
    """``GET /jobs?x=1 HTTP/1.1`` -> (method, path, query, version); HttpError(400) when malformed."""
    text = line.decode("latin-1").rstrip("\r\n")
    parts = text.split(" ")
    if len(parts) != 3:
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    if not method.isalpha() or not method.isupper() or version not in ("HTTP/1.0", "HTTP/1.1"):
        raise HttpError(400, "malformed request line")
    if not target.startswith("/") or any(ord(c) < 0x21 or ord(c) > 0x7e for c in target):
        raise HttpError(400, f"malformed request target {target[:100]!r}")
    try:
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True, errors="strict")
        path = unquote(split.path, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise HttpError(400, "malformed query string or path") from None
    return method, path, query, version


async def read_request(reader: asyncio.StreamReader) -> HttpRequest | None:
    """The next request, or None when the client closed the connection between requests."""
    try:
        line = await asyncio.wait_for(_read_line(reader), IDLE_TIMEOUT_S)
    except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
        return None
    method, path, query, version = parse_request_line(line)
    headers: dict[str, str] = {}
    async with asyncio.timeout(HEADER_TIMEOUT_S):
        for _ in range(MAX_HEADERS + 1):
            raw = await _read_line(reader)
            if raw in (b"\r\n", b"\n"):
                break
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep or not name.strip() or name != name.strip():
                raise HttpError(400, "malformed header line")
            headers[name.lower()] = value.strip()
        else:
            raise HttpError(431, f"more than {MAX_HEADERS} headers")
        if "transfer-encoding" in headers:
            raise HttpError(501, "chunked request bodies are not supported; send Content-Length")
        body = b""
        if "content-length" in headers:
            text = headers["content-length"]
            if not text.isdigit():
                raise HttpError(400, "malformed Content-Length")
            length = int(text)
            if length > MAX_BODY_BYTES:
                raise HttpError(413, f"request body larger than {MAX_BODY_BYTES} bytes")
            try:
                body = await reader.readexactly(length)
            except asyncio.IncompleteReadError:
                raise HttpError(400, "request body shorter than its Content-Length") from None
    return HttpRequest(method, path, query, version, headers, body)


def encode_response(response: HttpResponse, keep_alive: bool) -> bytes:
    try:
        reason = HTTPStatus(response.status).phrase
    except ValueError:
        reason = "Unknown"
    headers = {"Access-Control-Allow-Origin": "*", **response.headers,
               "Content-Length": str(len(response.body)),
               "Connection": "keep-alive" if keep_alive else "close"}
    head = f"HTTP/1.1 {response.status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + response.body


async def serve_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, handler: Handler) -> None:
    """Answer requests on one connection until the client closes it, asks to, or sends garbage."""
    try:
        while True:
            try:
                request = await read_request(reader)
            except HttpError as e:
                writer.write(encode_response(HttpResponse.error(e.status, e.message), keep_alive=False))
                await writer.drain()
                return
            except TimeoutError:
                writer.write(encode_response(HttpResponse.error(408, "request timed out"), keep_alive=False))
                await writer.drain()
                return
            if request is None:
                return
            try:
                response = await handler(request)
            except Exception:
                log.exception("REST handler for %s %s failed", request.method, request.path)
                response = HttpResponse.error(500, "Internal server error.")
            keep_alive = request.keep_alive
            data = encode_response(response, keep_alive)
            if request.method == "HEAD":
                data = data[:data.index(b"\r\n\r\n") + 4]
            writer.write(data)
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
