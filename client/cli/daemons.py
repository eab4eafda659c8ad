"""``strom jobmanager start`` and ``strom taskmanager start``: run a daemon in the foreground.

Both build the daemon's Configuration from the shared precedence chain and
hand it to the component's entrypoint (``strom.jobmanager.entrypoint.main``,
``strom.taskmanager.executor.entrypoint.main``), which runs until stopped.
Before that, the CLI checks that fixed ports are free, so a second JobManager
on the same port fails with a message instead of a gRPC bind error.
"""

from __future__ import annotations

import errno
import importlib
import socket
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from strom.client.cli.options import config_options, load_config
from strom.client.execution.context import parse_address
from strom.client.local.process import arm_parent_death_signal
from strom.common.config import (
    JOBMANAGER_BIND_HOST,
    JOBMANAGER_RPC_ADDRESS,
    JOBMANAGER_RPC_PORT,
    REST_ADDRESS,
    REST_BIND_ADDRESS,
    REST_PORT,
    TASKMANAGER_HOST,
    TASKMANAGER_RPC_PORT,
    TASKMANAGER_SLOTS,
    ConfigOption,
    Configuration,
)
from strom.common.errors import ConfigurationError, StromError

JOBMANAGER_ENTRYPOINT = "strom.jobmanager.entrypoint"
TASKMANAGER_ENTRYPOINT = "strom.taskmanager.executor.entrypoint"


def load_entrypoint(module: str) -> Callable[[Configuration], Any]:
    """``module.main``; tests replace this function to capture the Configuration."""
    return importlib.import_module(module).main  # type: ignore[no-any-return]


@click.group("jobmanager")
def jobmanager_group() -> None:
    """Run a JobManager (Dispatcher, ResourceManager, JobMasters, REST)."""


@jobmanager_group.command("start")
@click.option("--rpc-port", type=click.IntRange(0, 65535), help="gRPC port [jobmanager.rpc.port, 6123; 0 = any].")
@click.option("--rest-port", type=click.IntRange(0, 65535), help="REST port [rest.port, 8081; 0 = any].")
@click.option("--host", help="Address to bind and advertise, for gRPC and REST "
                             "[jobmanager.rpc.address, jobmanager.bind-host, rest.address, rest.bind-address].")
@config_options
def jobmanager_start(rpc_port: int | None, rest_port: int | None, host: str | None, dynamic: tuple[str, ...],
                     config_path: str | None) -> None:
    """Start a JobManager in the foreground (stop it with Ctrl-C or SIGTERM).

    \b
    strom jobmanager start
    strom jobmanager start --rpc-port 0 --rest-port 0 -D jobmanager.ports-file=/tmp/jm.json
    """
    explicit: dict[str, object | None] = {JOBMANAGER_RPC_PORT.key: rpc_port, REST_PORT.key: rest_port}
    if host is not None:
        for opt in (JOBMANAGER_RPC_ADDRESS, JOBMANAGER_BIND_HOST, REST_ADDRESS, REST_BIND_ADDRESS):
            explicit[opt.key] = host
    config = load_config(config_path, dynamic, explicit)
    check_port_free("JobManager", config, JOBMANAGER_BIND_HOST, JOBMANAGER_RPC_PORT, "--rpc-port")
    check_port_free("JobManager", config, REST_BIND_ADDRESS, REST_PORT, "--rest-port")
    run_daemon("JobManager", JOBMANAGER_ENTRYPOINT, config)


@click.group("taskmanager")
def taskmanager_group() -> None:
    """Run a TaskManager (slots for tasks; one worker process per slot)."""


@taskmanager_group.command("start")
@click.option("-m", "--jobmanager", metavar="HOST:PORT",
              help="JobManager to register with [jobmanager.rpc.address:jobmanager.rpc.port].")
@click.option("--slots", type=click.IntRange(min=1), help="Slots to offer [taskmanager.numberOfTaskSlots, CPUs].")
@click.option("--host", help="Address to bind and advertise [taskmanager.host].")
@click.option("--rpc-port", type=click.IntRange(0, 65535), help="gRPC port [taskmanager.rpc.port, 0 = any].")
@config_options
def taskmanager_start(jobmanager: str | None, slots: int | None, host: str | None, rpc_port: int | None,
                      dynamic: tuple[str, ...], config_path: str | None) -> None:
    """Start a TaskManager in the foreground that registers with the JobManager.

    \b
    strom taskmanager start --jobmanager 127.0.0.1:6123 --slots 4
    """
    explicit: dict[str, object | None] = {TASKMANAGER_SLOTS.key: slots, TASKMANAGER_HOST.key: host,
                                          TASKMANAGER_RPC_PORT.key: rpc_port}
    if jobmanager is not None:
        jm_host, jm_port = parse_address(jobmanager)
        explicit[JOBMANAGER_RPC_ADDRESS.key] = jm_host
        explicit[JOBMANAGER_RPC_PORT.key] = jm_port
    config = load_config(config_path, dynamic, explicit)
    check_port_free("TaskManager", config, TASKMANAGER_HOST, TASKMANAGER_RPC_PORT, "--rpc-port")
    run_daemon("TaskManager", TASKMANAGER_ENTRYPOINT, config)


def check_port_free(daemon: str, config: Configuration, host_opt: ConfigOption, port_opt: ConfigOption,
                    flag: str) -> None:
    """Fail with an actionable message if ``port_opt`` (non-zero) is taken on ``host_opt``.

    Binds without SO_REUSEPORT, so a gRPC server (which sets it) holding the port is detected too.
    """
    port = config.get_int(port_opt)
    if port == 0:
        return
    host = config.get_str(host_opt)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise ConfigurationError(f"Could not start the {daemon}: cannot resolve host {host!r} "
                                 f"({host_opt.key})") from None
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(sockaddr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise StromError(port_in_use_message(daemon, host, port, port_opt.key, flag)) from None
            raise StromError(f"Could not start the {daemon}: cannot bind {host}:{port} ({port_opt.key}): "
                             f"{e.strerror}") from None


def port_in_use_message(daemon: str, host: str, port: int, key: str, flag: str) -> str:
    return (f"Could not start the {daemon}: port {port} on {host} is already in use ({key}). "
            f"Is another {daemon} running? Stop it, or choose another port with {flag} or -D {key}=PORT.")


def run_daemon(daemon: str, module: str, config: Configuration) -> None:
    """Call the component's entrypoint; translate its failures into messages and exit codes."""
    arm_parent_death_signal()
    try:
        main = load_entrypoint(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            raise StromError(f"the {daemon} is not available in this installation ({module} is missing)") from None
        raise
    try:
        code = main(config)
    except KeyboardInterrupt:
        code = 0
    except StromError:
        raise
    except Exception as e:  # the daemon crashed: say so, with the traceback, and exit non-zero
        text = str(e)
        if (isinstance(e, OSError) and e.errno == errno.EADDRINUSE) or "Failed to bind" in text \
                or "address already in use" in text.lower():
            raise StromError(f"Could not start the {daemon}: a port it needs is already in use ({text}). "
                             f"Choose other ports with the --*-port flags or -D.") from None
        traceback.print_exc(file=sys.stderr)
        raise StromError(f"the {daemon} failed: {type(e).__name__}: {e}") from None
    if isinstance(code, int) and code != 0:
        sys.exit(code)
