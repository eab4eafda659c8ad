"""Options shared by ``strom`` commands, and how they become a Configuration.

Precedence, lowest first: defaults < ``conf/strom.yaml`` (or ``--config``)
< ``STROM_PROPERTIES`` < ``-D key=value`` < explicit flags (``--rpc-port``...).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import click

from strom.client.execution.context import configured_address, parse_address
from strom.common.config import HA_TYPE, Configuration, parse_dynamic_properties

F = TypeVar("F", bound=Callable[..., Any])


def config_options(f: F) -> F:
    """``-D key=value`` (repeatable) and ``--config PATH``."""
    f = click.option("-D", "dynamic", multiple=True, metavar="KEY=VALUE",
                     help="Set a configuration key (repeatable); overrides the file and STROM_PROPERTIES.")(f)
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False), metavar="PATH",
                     help="Configuration file (default: $STROM_CONF_DIR/strom.yaml, else conf/strom.yaml).")(f)
    return f


def jobmanager_option(f: F) -> F:
    """``-m/--jobmanager HOST:PORT``."""
    return click.option("-m", "--jobmanager", "jobmanager", metavar="HOST:PORT",
                        help="JobManager to talk to (default: from the configuration).")(f)


def verbose_option(f: F) -> F:
    return click.option("-v", "--verbose", count=True,
                        help="Log progress to stderr (-v: info, -vv: debug).")(f)


def load_config(config_path: str | None, dynamic: Sequence[str],
                explicit: Mapping[str, object | None] | None = None) -> Configuration:
    """The effective configuration of a command (see the module docstring for precedence)."""
    overrides = parse_dynamic_properties(dynamic)
    for key, value in (explicit or {}).items():
        if value is not None:
            overrides[key] = str(value)
    return Configuration.load(config_path, overrides)


def cluster_address(config: Configuration, jobmanager: str | None) -> str | None:
    """For list/info/cancel: ``-m``, else None when HA finds the leader, else the configured address."""
    if jobmanager is not None:
        parse_address(jobmanager)
        return jobmanager
    if (config.get(HA_TYPE) or "").lower() == "zookeeper":
        return None
    return configured_address(config)


def setup_client_logging(verbosity: int) -> None:
    """Warnings only, tersely, by default; ``-v`` info and ``-vv`` debug with times and logger names."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    fmt = "strom: %(message)s" if verbosity <= 0 else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt)
    logging.getLogger("strom").setLevel(level)
