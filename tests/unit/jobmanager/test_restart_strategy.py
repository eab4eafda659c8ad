"""Restart strategies (pure): none, fixed-delay, job config over cluster config."""

from __future__ import annotations

import pytest

from strom.common.config import Configuration
from strom.common.errors import ConfigurationError
from strom.jobmanager.jobmaster.restart_strategy import (
    FixedDelayRestartStrategy,
    NoRestartStrategy,
    restart_strategy_from_config,
)


def test_default_is_no_restart() -> None:
    strategy = restart_strategy_from_config(Configuration(), {})
    assert isinstance(strategy, NoRestartStrategy)
    assert strategy.on_failure() is None


def test_fixed_delay_restarts_attempts_times_then_gives_up() -> None:
    cluster = Configuration({"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "2",
                             "restart-strategy.fixed-delay.delay": "250 ms"})
    strategy = restart_strategy_from_config(cluster, {})
    assert [strategy.on_failure(), strategy.on_failure(), strategy.on_failure()] == [250, 250, None]
    assert "2 of 2 restarts used" in strategy.describe()


def test_job_config_overrides_cluster_config() -> None:
    cluster = Configuration({"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "5"})
    assert isinstance(restart_strategy_from_config(cluster, {"restart-strategy.type": "none"}), NoRestartStrategy)
    strategy = restart_strategy_from_config(cluster, {"restart-strategy.fixed-delay.delay": "2 s"})
    assert isinstance(strategy, FixedDelayRestartStrategy)
    assert (strategy.attempts, strategy.delay_ms) == (5, 2000)


def test_job_config_cannot_override_unrelated_cluster_keys() -> None:
    strategy = restart_strategy_from_config(Configuration(), {"restart-strategy.type": "fixeddelay"})
    assert isinstance(strategy, FixedDelayRestartStrategy)
    assert (strategy.attempts, strategy.delay_ms) == (1, 1000)  # the documented defaults


@pytest.mark.parametrize("alias", ["off", "disable", "NONE", "no-restart"])
def test_flink_aliases_for_none(alias: str) -> None:
    assert isinstance(restart_strategy_from_config(Configuration({"restart-strategy.type": alias}), {}),
                      NoRestartStrategy)


def test_unknown_strategy_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown restart strategy 'exponential'"):
        restart_strategy_from_config(Configuration(), {"restart-strategy.type": "exponential"})


def test_negative_attempts_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        restart_strategy_from_config(Configuration(), {"restart-strategy.type": "fixed-delay",
                                                       "restart-strategy.fixed-delay.attempts": "-1"})
