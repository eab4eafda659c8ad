"""Forwards task state changes to the JobMaster of each job, in order.

Owned by the TaskManager's asyncio loop. ``report`` only enqueues; one sender
coroutine per (JobMaster address, leader session, job) drains its queue one
update at a time, so the updates of a task reach the JobMaster in the order
the task made them. A JobMaster that does not answer is retried for a while;
then its updates are dropped with a warning (the job's JobManager is gone;
the heartbeat timeout releases the slots). A JobMaster that no longer knows
the job (``JobNotFoundError``) or rejects the session (``FencingTokenError``)
has moved on: the update is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from strom.common.errors import ClusterUnreachableError, FencingTokenError, JobNotFoundError, StromError
from strom.common.gateway.job_master import JobMasterGateway

log = logging.getLogger(__name__)

REPORT_TIMEOUT_S = 10.0
REPORT_RETRY_FOR_S = 30.0
INITIAL_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0


@dataclass(frozen=True)
class TaskStateUpdate:
    job_id: str
    execution_id: str
    state: str
    error: str = ""
    error_name: str = ""


@dataclass(frozen=True)
class JobMasterTarget:
    """Where a slot's task updates go: given by the RequestSlot that allocated the slot."""

    address: str
    session_id: str


GatewayFactory = Callable[[JobMasterTarget], JobMasterGateway]


def default_gateway(target: JobMasterTarget) -> JobMasterGateway:
    return JobMasterGateway(target.address, target.session_id, timeout_s=REPORT_TIMEOUT_S, retry_deadline_s=0.0)


class TaskStateReporter:
    """Sends ``TaskStateUpdate`` to JobMasters. Loop-owned; ``report`` never blocks."""

    def __init__(self, resource_id: str, gateway_factory: GatewayFactory = default_gateway,
                 retry_for_s: float = REPORT_RETRY_FOR_S) -> None:
        self._resource_id = resource_id
        self._gateway_factory = gateway_factory
        self._retry_for_s = retry_for_s
        self._queues: dict[tuple[JobMasterTarget, str], asyncio.Queue[TaskStateUpdate]] = {}
        self._senders: dict[tuple[JobMasterTarget, str], asyncio.Task[None]] = {}
        self._gateways: dict[JobMasterTarget, JobMasterGateway] = {}

    def report(self, target: JobMasterTarget, update: TaskStateUpdate) -> None:
        key = (target, update.job_id)
        queue = self._queues.setdefault(key, asyncio.Queue())
        queue.put_nowait(update)
        sender = self._senders.get(key)
        if sender is None or sender.done():
            self._senders[key] = asyncio.get_running_loop().create_task(
                self._drain(target, queue), name=f"report-{update.job_id}")

    def drop_job(self, job_id: str) -> None:
        """Forget queued updates of ``job_id`` (its JobManager is gone)."""
        for (_target, job), queue in list(self._queues.items()):
            if job == job_id:
                while not queue.empty():
                    queue.get_nowait()

    async def flush(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) until every queued update was sent or dropped."""
        pending = [t for t in self._senders.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout_s)

    async def close(self) -> None:
        for task in self._senders.values():
            task.cancel()
        await asyncio.gather(*self._senders.values(), return_exceptions=True)
        self._senders.clear()
        for gateway in self._gateways.values():
            await gateway.close_async()
        self._gateways.clear()

    async def _drain(self, target: JobMasterTarget, queue: asyncio.Queue[TaskStateUpdate]) -> None:
        while not queue.empty():
            update = queue.get_nowait()
            await self._send(target, update)

    async def _send(self, target: JobMasterTarget, update: TaskStateUpdate) -> None:
        gateway = self._gateways.get(target)
        if gateway is None:
            gateway = self._gateways[target] = self._gateway_factory(target)
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._retry_for_s
        backoff = INITIAL_BACKOFF_S
        while True:
            try:
                await gateway.update_task_execution_state_async(
                    update.job_id, update.execution_id, update.state, update.error, update.error_name,
                    self._resource_id)
                return
            except (JobNotFoundError, FencingTokenError) as e:
                log.info("JobMaster at %s does not take the update of task %s to %s anymore (%s); dropped",
                         target.address, update.execution_id, update.state, e)
                return
            except ClusterUnreachableError as e:
                if loop.time() + backoff > give_up_at:
                    log.warning("JobMaster at %s unreachable for %.0f s; dropping the update of task %s to %s: %s",
                                target.address, self._retry_for_s, update.execution_id, update.state, e)
                    return
            except StromError as e:
                log.warning("JobMaster at %s rejected the update of task %s to %s: %s", target.address,
                            update.execution_id, update.state, e)
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
