"""A submitted job, seen from the client: ``JobClient`` and ``JobExecutionResult``.

    job_client = env.execute_async("wordcount")
    job_client.get_job_status()                      # JobStatus.RUNNING
    result = job_client.get_job_execution_result(timeout=60)
    result.net_runtime_ms

Waiting polls the Dispatcher's ``GetJob`` (50 ms, backing off to 500 ms)
until the job is globally terminal. A JobManager that stops answering is
retried for ``client.timeout`` (default 30 s), re-resolving the leader, then
the wait fails with ``ClusterUnreachableError``: it never hangs. With
ZooKeeper HA the window is at least the ZooKeeper session timeout plus
``client.timeout``, because a crashed leader is replaced only after its
session expires.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from strom.client.execution.connection import ClusterConnection
from strom.client.execution.context import CLIENT_TIMEOUT
from strom.client.execution.tracebacks import trim_traceback_text
from strom.common.config import HA_ZK_SESSION_TIMEOUT
from strom.common.errors import ClusterUnreachableError, FencingTokenError, JobExecutionError, StromError
from strom.common.states import JobStatus

log = logging.getLogger(__name__)

POLL_INITIAL_S = 0.05
POLL_MAX_S = 0.5


@dataclass(frozen=True)
class JobExecutionResult:
    """What an attached ``execute()`` returns once the job FINISHED.

    ``net_runtime_ms`` is None for a detached submission (the client did not wait).
    """

    job_id: str
    net_runtime_ms: int | None
    job_name: str = ""

    @property
    def is_detached(self) -> bool:
        return self.net_runtime_ms is None

    def get_job_id(self) -> str:
        """PyFlink's spelling of ``job_id``."""
        return self.job_id

    def get_net_runtime(self) -> int:
        """Runtime in milliseconds (PyFlink's spelling); a detached result has none."""
        if self.net_runtime_ms is None:
            raise StromError(f"job {self.job_id} was submitted detached: its runtime is not known to this client")
        return self.net_runtime_ms


def job_status(details: Any) -> JobStatus | None:
    """The JobStatus of a JobDetails proto (None for a state this client does not know)."""
    try:
        return JobStatus(details.state)
    except ValueError:
        return None


def net_runtime_ms(details: Any, fallback_ms: int) -> int:
    if details.start_time > 0 and details.end_time >= details.start_time:
        return int(details.end_time - details.start_time)
    return fallback_ms


def failure_message(details: Any) -> str:
    """``Job 'wc' (id) failed in task 'Map (1/2)' on host:port:`` and the remote Python traceback.

    The traceback shows the user's frames only; ``strom info JOB`` prints it whole.
    """
    root = (details.root_exception or "").strip()
    entries = list(details.exceptions)
    source = next((e for e in entries if e.stacktrace.strip() == root), None) if root else None
    if source is None and entries:
        source = entries[0]
    trace = trim_traceback_text(root or (source.stacktrace.strip() if source is not None else ""))
    where = ""
    if source is not None:
        where = "".join((f" in task '{source.task_name}'" if source.task_name else "",
                         f" on {source.location}" if source.location else ""))
    header = f"Job '{details.name}' ({details.job_id}) failed{where}"
    if not trace:
        return f"{header}; the JobManager reported no exception (see its log, or 'strom info {details.job_id}')."
    text = f"{header}:\n{_indent(trace)}"
    others = len([e for e in entries if e is not source])
    if others:
        text += f"\n({others} more exception(s): 'strom info {details.job_id}' lists them.)"
    return text


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


def result_of(details: Any, fallback_runtime_ms: int) -> JobExecutionResult:
    """FINISHED -> JobExecutionResult; FAILED/CANCELED -> JobExecutionError."""
    status = job_status(details)
    if status is JobStatus.FINISHED:
        return JobExecutionResult(details.job_id, net_runtime_ms(details, fallback_runtime_ms), details.name)
    if status is JobStatus.CANCELED:
        raise JobExecutionError(f"job {details.job_id} was cancelled")
    if status is JobStatus.FAILED:
        raise JobExecutionError(failure_message(details))
    raise StromError(f"job {details.job_id} is {details.state}, not terminal")


def wait_for_terminal(conn: ClusterConnection, job_id: str, timeout_s: float | None = None,
                      check_alive: Callable[[], None] | None = None) -> Any:
    """Poll until the job is FINISHED, FAILED or CANCELED; returns its JobDetails.

    ``check_alive`` (e.g. "are the local cluster's processes still up?") runs
    every poll and raises to stop the wait early.
    """
    retry_window_s = retry_window(conn)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    delay = POLL_INITIAL_S
    lost_since: float | None = None
    last_state = ""
    while True:
        if check_alive is not None:
            check_alive()
        try:
            details = conn.get_job(job_id)
            if lost_since is not None:
                log.warning("JobManager at %s answers again", conn.address)
            lost_since = None
        except (ClusterUnreachableError, FencingTokenError) as e:
            cause = getattr(e, "cause", None) or str(e)
            now = time.monotonic()
            if lost_since is None:
                lost_since = now
                log.warning("lost the JobManager at %s (%s); retrying for up to %.0f s", conn.address, cause,
                            retry_window_s)
            if now - lost_since > retry_window_s:
                raise ClusterUnreachableError(
                    f"Lost the connection to the JobManager at {conn.address} while waiting for job {job_id}: "
                    f"{cause}; gave up after {retry_window_s:.0f} s. The job may still be running: check with "
                    f"'strom list -m {conn.address}'.") from None
            _reconnect_quietly(conn)
        else:
            if details.state != last_state:
                log.info("job %s is %s", job_id, details.state)
                last_state = details.state
            status = job_status(details)
            if status is not None and status.is_globally_terminal:
                return details
        if deadline is not None and time.monotonic() + delay > deadline:
            raise TimeoutError(f"job {job_id} did not finish within {timeout_s} s (last state: {last_state or '?'})")
        time.sleep(delay)
        delay = min(delay * 1.5, POLL_MAX_S)


def retry_window(conn: ClusterConnection) -> float:
    """How long (s) a waiting client keeps retrying a JobManager it lost."""
    window = conn.config.get_duration_ms(CLIENT_TIMEOUT) / 1000.0
    if conn.uses_ha:
        window += conn.config.get_duration_ms(HA_ZK_SESSION_TIMEOUT) / 1000.0
    return window


def _reconnect_quietly(conn: ClusterConnection) -> None:
    try:
        conn.connect()
    except (ClusterUnreachableError, FencingTokenError):
        pass  # the caller's retry window decides when to give up


class JobClient:
    """Handle on a submitted job (Flink's ``JobClient``).

    When the job runs on an embedded local cluster, the JobClient owns that
    cluster and stops it once the result is fetched or ``close()`` is called
    (also at interpreter exit). Use from one thread.
    """

    def __init__(self, job_id: str, connection: ClusterConnection, job_name: str = "",
                 owned_cluster: Any = None) -> None:
        self.job_id = job_id
        self.job_name = job_name
        self._conn = connection
        self._cluster = owned_cluster
        self._submitted_at = time.monotonic()
        self._result: JobExecutionResult | None = None

    def __repr__(self) -> str:
        return f"JobClient(job_id={self.job_id!r}, jobmanager={self._conn.address!r})"

    @property
    def jobmanager_address(self) -> str:
        return self._conn.address

    def get_job_status(self) -> JobStatus:
        """The job's current status, as the JobManager sees it."""
        details = self._conn.get_job(self.job_id)
        status = job_status(details)
        if status is None:
            raise StromError(f"job {self.job_id} reports an unknown state {details.state!r}")
        return status

    def get_job_details(self) -> Any:
        """The Dispatcher's JobDetails proto (vertices, exceptions, timestamps)."""
        return self._conn.get_job(self.job_id)

    def cancel(self) -> None:
        """Ask the JobManager to cancel the job; returns once the request is accepted."""
        self._conn.cancel_job(self.job_id)

    def get_job_execution_result(self, timeout: float | None = None) -> JobExecutionResult:
        """Wait for the job to end: its result if FINISHED, JobExecutionError if FAILED or CANCELED.

        ``timeout`` in seconds (None: wait as long as the job runs); TimeoutError when it passes.
        """
        if self._result is not None:
            return self._result
        check = getattr(self._cluster, "check_alive", None)
        try:
            details = wait_for_terminal(self._conn, self.job_id, timeout, check)
            fallback = int((time.monotonic() - self._submitted_at) * 1000)
            self._result = result_of(details, fallback)
            return self._result
        except TimeoutError:
            raise
        except BaseException:
            self.close()
            raise
        finally:
            if self._result is not None:
                self.close()

    def close(self) -> None:
        """Release the connection (and stop the embedded cluster this client owns)."""
        self._conn.close()
        if self._cluster is not None:
            cluster, self._cluster = self._cluster, None
            cluster.stop()

    def __enter__(self) -> JobClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
