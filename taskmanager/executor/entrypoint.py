"""The ``strom taskmanager start`` process: the TaskExecutor daemon.

One asyncio loop owns the daemon's state: the ``grpc.aio`` server of
``TaskExecutorService``, the ``TaskExecutor`` (slots, workers, tasks), the
``JobManagerConnection`` (registration, heartbeats) and the task-state
reporter. Worker reader threads and the HA leader retriever only hand events
to that loop.

    config = Configuration.load(overrides={"jobmanager.rpc.address": "10.0.0.5", "taskmanager.numberOfTaskSlots": "4"})
    main(config)                       # blocks until SIGTERM/SIGINT; exits 1 on a fatal error

``run_taskmanager(config, stop_event)`` is the same as a coroutine, for
embedding (the local cluster, tests): it returns when ``stop_event`` is set
and raises ``StromError`` on a fatal error (protocol version rejected,
registration timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable

import grpc.aio

from strom.common.config import (
    HEARTBEAT_INTERVAL,
    HEARTBEAT_TIMEOUT,
    TASKMANAGER_HOST,
    TASKMANAGER_REGISTRATION_TIMEOUT,
    TASKMANAGER_RPC_PORT,
    TASKMANAGER_SLOTS,
    Configuration,
)
from strom.common.errors import ConfigurationError, StromError
from strom.common.gateway.base import channel_options
from strom.common.ha import create_ha_services
from strom.common.ids import new_resource_id
from strom.common.rpc import task_executor_pb2_grpc
from strom.taskmanager.executor.jobmanager_connection import ConnectionSettings, JobManagerConnection
from strom.taskmanager.executor.rpc import TaskExecutorServicer
from strom.taskmanager.executor.task_executor import TaskExecutor
from strom.taskmanager.executor.task_reporter import TaskStateReporter
from strom.taskmanager.worker.pool import PRELOAD_MODULES, WorkerHandle, WorkerPool
from strom.taskmanager.worker.protocol import WorkerEvent

log = logging.getLogger(__name__)

# Extra modules the slot workers' fork server imports once (comma-separated),
# e.g. the heavy libraries of the user's jobs: "pandas,sklearn".
WORKER_PRELOAD_KEY = "taskmanager.worker.preload-modules"
SERVER_GRACE_S = 2.0


def worker_preload(config: Configuration) -> list[str]:
    extra = [m.strip() for m in (config.get(WORKER_PRELOAD_KEY) or "").split(",") if m.strip()]
    return PRELOAD_MODULES + [m for m in extra if m not in PRELOAD_MODULES]


async def run_taskmanager(config: Configuration, stop_event: asyncio.Event | None = None,
                          on_started: Callable[[str, str], None] | None = None) -> None:
    """Run a TaskManager until ``stop_event`` is set; ``on_started(resource_id, rpc_address)`` once serving."""
    loop = asyncio.get_running_loop()
    stop_event = stop_event or asyncio.Event()
    host = config.get_str(TASKMANAGER_HOST)
    num_slots = config.get_int(TASKMANAGER_SLOTS)
    if num_slots < 1:
        raise ConfigurationError(f"config key '{TASKMANAGER_SLOTS.key}' must be at least 1, got {num_slots}")
    settings = ConnectionSettings(
        num_slots=num_slots,
        heartbeat_interval_ms=config.get_duration_ms(HEARTBEAT_INTERVAL),
        heartbeat_timeout_ms=config.get_duration_ms(HEARTBEAT_TIMEOUT),
        registration_timeout_ms=config.get_duration_ms(TASKMANAGER_REGISTRATION_TIMEOUT))
    resource_id = new_resource_id(socket.gethostname())

    def on_worker_event(worker: WorkerHandle, event: WorkerEvent) -> None:
        executor.on_worker_event(worker, event)

    def on_worker_exit(worker: WorkerHandle) -> None:
        executor.on_worker_exit(worker)

    reporter = TaskStateReporter(resource_id)
    pool = WorkerPool(host, config.to_dict(), on_worker_event, on_worker_exit, preload=worker_preload(config))
    executor = TaskExecutor(resource_id, num_slots, pool, reporter)

    server = grpc.aio.server(options=channel_options())
    task_executor_pb2_grpc.add_TaskExecutorServiceServicer_to_server(TaskExecutorServicer(executor), server)
    rpc_port = config.get_int(TASKMANAGER_RPC_PORT)
    try:
        port = server.add_insecure_port(f"{host}:{rpc_port}")
    except RuntimeError as e:
        raise ConfigurationError(f"TaskManager cannot listen on {host}:{rpc_port}: {e}") from None
    rpc_address = f"{host}:{port}"

    connection = JobManagerConnection(resource_id, rpc_address, settings, executor.slot_report,
                                      executor.set_leader_session, executor.release_all)
    connection.bind(loop)
    ha = create_ha_services(config)
    retriever = ha.leader_retriever()
    connection_task: asyncio.Task[None] | None = None
    server_started = retriever_started = False
    try:
        await pool.start()
        await server.start()
        server_started = True
        log.info("TaskManager %s serving TaskExecutorService at %s with %d slots", resource_id, rpc_address,
                 num_slots)
        connection_task = loop.create_task(connection.run(), name="jobmanager-connection")
        retriever.start(connection)
        retriever_started = True
        if on_started is not None:
            on_started(resource_id, rpc_address)
        stop_waiter = loop.create_task(stop_event.wait())
        await asyncio.wait({connection_task, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
        stop_waiter.cancel()
        if connection_task.done():
            connection_task.result()  # raises the fatal error
            raise StromError("the JobManager connection ended unexpectedly")
        log.info("TaskManager %s stopping", resource_id)
    finally:
        if retriever_started:
            retriever.stop()
        if connection_task is not None and not connection_task.done():
            connection_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connection_task
        await executor.close()
        await pool.close()
        await reporter.flush(timeout_s=2.0)
        await reporter.close()
        if server_started:
            await server.stop(SERVER_GRACE_S)
        ha.close()
        log.info("TaskManager %s stopped", resource_id)


def main(config: Configuration) -> None:
    """Blocking entry point of ``strom taskmanager start``: runs until SIGTERM/SIGINT.

    A fatal error (protocol version rejected, registration timeout, bad
    configuration) is printed to stderr and ends the process with exit code 1.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s [taskmanager] %(name)s: %(message)s")

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_taskmanager(config, stop)

    try:
        asyncio.run(_run())
    except StromError as e:
        log.error("TaskManager failed: %s", e)
        print(f"strom taskmanager: {e}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def _cli(argv: list[str] | None = None) -> None:
    """``python -m strom.taskmanager.executor.entrypoint --jobmanager HOST:PORT --slots N -D key=value``."""
    import argparse

    from strom.common.config import JOBMANAGER_RPC_ADDRESS, JOBMANAGER_RPC_PORT, parse_dynamic_properties

    parser = argparse.ArgumentParser(prog="strom taskmanager start")
    parser.add_argument("--jobmanager", help="HOST:PORT of the JobManager (standalone HA)")
    parser.add_argument("--slots", type=int, help="number of task slots (default: CPU count)")
    parser.add_argument("--config", help="path of strom.yaml")
    parser.add_argument("-D", dest="dynamic", action="append", default=[], help="key=value config override")
    args = parser.parse_args(argv)
    overrides = parse_dynamic_properties(args.dynamic)
    if args.jobmanager:
        host, _, port = args.jobmanager.rpartition(":")
        if not host or not port.isdigit():
            parser.error(f"--jobmanager expects HOST:PORT, got {args.jobmanager!r}")
        overrides[JOBMANAGER_RPC_ADDRESS.key] = host
        overrides[JOBMANAGER_RPC_PORT.key] = port
    if args.slots is not None:
        overrides[TASKMANAGER_SLOTS.key] = str(args.slots)
    try:
        config = Configuration.load(args.config, overrides)
    except ConfigurationError as e:
        print(f"strom taskmanager: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    main(config)


if __name__ == "__main__":
    _cli()
