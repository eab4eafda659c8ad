"""Data-plane settings, read once per worker process from its configuration.

Keys shared with the rest of Strom live in ``strom.common.config``; the ones only
the network stack reads are declared here (they show up in ``Configuration.effective()``
once this module is imported).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from strom.common.config import (
    BUFFER_SIZE_ROWS,
    BUFFER_TIMEOUT,
    CHANNEL_BUFFER_BYTES,
    Configuration,
    option,
)
from strom.common.errors import ConfigurationError

PARTITION_REQUEST_TIMEOUT = option(
    "taskmanager.network.partition-request-timeout", "60 s",
    "How long a consumer's request waits for the producer task to register its result partition.")
CONNECT_TIMEOUT = option(
    "taskmanager.network.connect-timeout", "60 s",
    "How long an input channel retries connecting to a producer's data server.")
FLIGHT_WINDOW_BYTES = option(
    "taskmanager.network.flight-window-bytes", 4 * 1024 * 1024,
    "HTTP/2 stream window of one remote channel: bytes in flight between producer and consumer.")


@dataclass(frozen=True)
class NetworkSettings:
    channel_buffer_bytes: int = 4 * 1024 * 1024
    batch_rows: int = 8192
    buffer_timeout_ms: int = 100
    partition_request_timeout_s: float = 60.0
    connect_timeout_s: float = 60.0
    flight_window_bytes: int = 4 * 1024 * 1024

    @classmethod
    def from_config(cls, config: Mapping[str, str] | Configuration | None) -> NetworkSettings:
        conf = config if isinstance(config, Configuration) else Configuration(config or {})
        settings = cls(
            channel_buffer_bytes=conf.get_int(CHANNEL_BUFFER_BYTES),
            batch_rows=conf.get_int(BUFFER_SIZE_ROWS),
            buffer_timeout_ms=_buffer_timeout_ms(conf),
            partition_request_timeout_s=conf.get_duration_ms(PARTITION_REQUEST_TIMEOUT) / 1000.0,
            connect_timeout_s=conf.get_duration_ms(CONNECT_TIMEOUT) / 1000.0,
            flight_window_bytes=conf.get_int(FLIGHT_WINDOW_BYTES),
        )
        for key, value in ((CHANNEL_BUFFER_BYTES.key, settings.channel_buffer_bytes),
                           (BUFFER_SIZE_ROWS.key, settings.batch_rows),
                           (FLIGHT_WINDOW_BYTES.key, settings.flight_window_bytes)):
            if value <= 0:
                raise ConfigurationError(f"config key '{key}' must be positive, got {value}")
        return settings


def _buffer_timeout_ms(conf: Configuration) -> int:
    """Flink's convention: -1 disables the timeout (flush only when full), 0 flushes every emit."""
    text = conf.get_str(BUFFER_TIMEOUT).strip()
    if text.startswith("-"):
        return -1
    return conf.get_duration_ms(BUFFER_TIMEOUT)
