"""Restart strategies: may a failed job restart, and after which delay? Pure.

Configured with Flink's keys; a job's own config overrides the cluster's:

    restart-strategy.type: none | fixed-delay          (Flink aliases accepted)
    restart-strategy.fixed-delay.attempts: 3
    restart-strategy.fixed-delay.delay: 1 s

    >>> strategy = restart_strategy_from_config(Configuration(), {"restart-strategy.type": "fixed-delay"})
    >>> strategy.on_failure()   # delay before the first restart, in ms
    1000
    >>> strategy.on_failure() is None   # attempts (default 1) used up
    True
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

from strom.common.config import RESTART_ATTEMPTS, RESTART_DELAY, RESTART_STRATEGY, Configuration
from strom.common.errors import ConfigurationError

_NONE = {"none", "off", "disable", "disabled", "no-restart", "norestart"}
_FIXED_DELAY = {"fixed-delay", "fixeddelay", "fixed_delay"}


class RestartStrategy(abc.ABC):
    @abc.abstractmethod
    def on_failure(self) -> int | None:
        """Record a failure: the delay in ms before restarting, or None when the job must fail."""

    @abc.abstractmethod
    def describe(self) -> str: ...


class NoRestartStrategy(RestartStrategy):
    def on_failure(self) -> int | None:
        return None

    def describe(self) -> str:
        return "restart-strategy 'none' (set restart-strategy.type: fixed-delay to restart failed jobs)"


class FixedDelayRestartStrategy(RestartStrategy):
    """Restart up to ``attempts`` times, waiting ``delay_ms`` before each restart."""

    def __init__(self, attempts: int, delay_ms: int) -> None:
        if attempts < 0 or delay_ms < 0:
            raise ConfigurationError(f"fixed-delay restart strategy needs attempts >= 0 and delay >= 0, "
                                     f"got attempts={attempts}, delay={delay_ms} ms")
        self.attempts = attempts
        self.delay_ms = delay_ms
        self.restarts = 0

    def on_failure(self) -> int | None:
        if self.restarts >= self.attempts:
            return None
        self.restarts += 1
        return self.delay_ms

    def describe(self) -> str:
        return (f"restart-strategy 'fixed-delay' ({self.restarts} of {self.attempts} restarts used, "
                f"delay {self.delay_ms} ms)")


def restart_strategy_from_config(cluster: Configuration, job_config: Mapping[str, str]) -> RestartStrategy:
    """The strategy for one job: ``job_config`` keys override the cluster configuration."""
    config = cluster.with_overrides({k: v for k, v in job_config.items() if k.startswith("restart-strategy.")})
    kind = (config.get(RESTART_STRATEGY) or "none").strip().lower()
    if kind in _NONE:
        return NoRestartStrategy()
    if kind in _FIXED_DELAY:
        return FixedDelayRestartStrategy(config.get_int(RESTART_ATTEMPTS), config.get_duration_ms(RESTART_DELAY))
    raise ConfigurationError(f"config key '{RESTART_STRATEGY.key}': unknown restart strategy {kind!r} "
                             "(use 'none' or 'fixed-delay')")
