"""The REST server: binds ``host:port`` (0 = any free port) and serves a handler per connection.

State owner: the JobManager's event loop.
"""

from __future__ import annotations

import asyncio
import errno
import logging

from strom.common.errors import StromError
from strom.jobmanager.rest.http import MAX_LINE_BYTES, Handler, serve_connection

log = logging.getLogger(__name__)


class RestServer:
    def __init__(self, host: str, port: int, handler: Handler) -> None:
        self.host = host
        self.port = port
        self._handler = handler
        self._server: asyncio.AbstractServer | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> int:
        """Bind and start serving; returns the bound port. StromError when the address is taken."""
        try:
            self._server = await asyncio.start_server(self._on_connection, self.host, self.port,
                                                      limit=MAX_LINE_BYTES, reuse_address=True)
        except OSError as e:
            reason = "address already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
            raise StromError(f"JobManager cannot bind REST {self.host}:{self.port}: {reason}") from None
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await serve_connection(reader, writer, self._handler)
        except asyncio.CancelledError:
            writer.close()
        except Exception:
            log.exception("REST connection failed")
        finally:
            if task is not None:
                self._connections.discard(task)
