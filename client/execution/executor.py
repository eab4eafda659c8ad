"""Submit a JobGraph to the current ExecutionTarget and (optionally) wait for it.

This is what ``StreamExecutionEnvironment.execute()`` calls:

    result = execute(job_graph)             # waits; JobExecutionError if the job FAILED
    job_client = execute_async(job_graph)   # returns once the JobManager accepted it

With a JobManager address (``-m``, ``execution.target: remote``, or the HA
leader) the job goes there. Without one, an embedded ``LocalCluster`` (a
JobManager and a TaskManager as child processes) is started for the job and
stopped after it, with ``max(job parallelism, CPU count)`` slots.
"""

from __future__ import annotations

import logging
import os
import sys
import time

from strom.client.execution.connection import ClusterConnection
from strom.client.execution.context import SAVEPOINT_PATH, ExecutionTarget, current_target
from strom.client.execution.job_client import JobClient, JobExecutionResult
from strom.common.jobgraph import JobGraph

__all__ = ["JobClient", "JobExecutionResult", "execute", "execute_async"]

log = logging.getLogger(__name__)


def execute(job_graph: JobGraph, detached: bool = False) -> JobExecutionResult:
    """Submit ``job_graph``; unless detached, wait until it ends.

    FINISHED -> JobExecutionResult; FAILED -> JobExecutionError carrying the
    remote traceback; CANCELED -> JobExecutionError("job X was cancelled").
    Detached: returns at once with ``net_runtime_ms=None``.
    """
    target = current_target()
    detached = detached or target.detached
    if detached and target.is_local:
        print("strom: detached mode needs a running cluster (-m HOST:PORT); the embedded local cluster lives "
              "only as long as this client, so the job runs attached.", file=sys.stderr)
        detached = False
    job_client = execute_async(job_graph, target)
    if detached:
        job_client.close()
        return JobExecutionResult(job_client.job_id, None, job_graph.name)
    with job_client:
        result = job_client.get_job_execution_result()
    target.notify(lambda listener: listener.on_job_executed(result))
    return result


def execute_async(job_graph: JobGraph, target: ExecutionTarget | None = None) -> JobClient:
    """Submit ``job_graph`` and return a JobClient as soon as the JobManager accepted it.

    On an embedded local cluster the returned JobClient owns the cluster: the
    cluster stops when the result is fetched or the client is closed.
    """
    target = target or current_target()
    job_graph.validate()
    _apply_target(job_graph, target)
    if target.is_local:
        return _submit_local(job_graph, target)
    conn = ClusterConnection.open(target.config, target.jobmanager_address)
    try:
        job_id = conn.submit_job(job_graph)
    except BaseException:
        conn.close()
        raise
    log.info("job %s (%s) submitted to %s", job_graph.name, job_id, conn.address)
    target.notify(lambda listener: listener.on_job_submitted(job_id, job_graph.name))
    return JobClient(job_id, conn, job_graph.name)


def _apply_target(job_graph: JobGraph, target: ExecutionTarget) -> None:
    if target.savepoint_path:
        job_graph.config.setdefault(SAVEPOINT_PATH.key, target.savepoint_path)


def local_slots(job_graph: JobGraph) -> int:
    """Slots of the embedded TaskManager: enough for the job (slot sharing) and at least one per core."""
    needed = max((v.parallelism for v in job_graph.vertices), default=1)
    return max(needed, os.cpu_count() or 1)


def _submit_local(job_graph: JobGraph, target: ExecutionTarget) -> JobClient:
    from strom.client.local.cluster import LocalCluster

    cluster = LocalCluster(num_slots=local_slots(job_graph), config=target.config)
    try:
        cluster.start()
        conn = ClusterConnection.open(target.config, cluster.rpc_address)
        try:
            submitted = time.monotonic()
            job_id = conn.submit_job(job_graph)
        except BaseException:
            conn.close()
            raise
        log.info("job %s (%s) submitted to the local cluster in %.0f ms", job_graph.name, job_id,
                 (time.monotonic() - submitted) * 1000)
        target.notify(lambda listener: listener.on_job_submitted(job_id, job_graph.name))
        return JobClient(job_id, conn, job_graph.name, owned_cluster=cluster)
    except BaseException:
        cluster.stop()
        raise
