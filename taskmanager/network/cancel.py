"""A cancellation signal a task hands to the network stack, so that a task blocked in
``ResultPartition.emit`` (backpressure) or ``InputGate.poll`` wakes up and raises
``TaskCancelledError``.

    token = CancelToken()
    partition = env.create_result_partition("p", 2, cancel_token=token)
    ...                     # from another thread:
    token.cancel("cancelled by the JobMaster")
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from strom.taskmanager.network.errors import TaskCancelledError

log = logging.getLogger(__name__)


class CancelToken:
    """Thread-safe, one-shot. Callbacks run once, on the cancelling thread (or at once when
    registered after cancellation); they must be quick and must not block."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._callbacks: list[Callable[[str], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._reason is not None

    @property
    def reason(self) -> str | None:
        return self._reason

    def cancel(self, reason: str = "task cancelled") -> None:
        with self._lock:
            if self._reason is not None:
                return
            self._reason = reason
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(reason)
            except Exception:
                log.exception("cancel callback %r failed", callback)

    def add_callback(self, callback: Callable[[str], None]) -> None:
        with self._lock:
            if self._reason is None:
                self._callbacks.append(callback)
                return
            reason = self._reason
        callback(reason)

    def remove_callback(self, callback: Callable[[str], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def raise_if_cancelled(self) -> None:
        if self._reason is not None:
            raise TaskCancelledError(self._reason)
