"""The Dispatcher: accepts jobs, runs one JobMaster per job, answers about jobs.

- ``submit_job`` validates the JobGraph (never trust the wire), refuses a job
  id it already knows, stores the graph in the HA job-graph store (so a new
  leader can recover it) and starts the job's JobMaster.
- Jobs that reach a globally terminal state are archived (details and graph,
  like Flink's ArchivedExecutionGraph store) for listing, recorded in the HA
  job-result store, and their HA job graph is removed.
- On leadership grant it recovers the stored jobs that have no result yet (like
  Flink's SessionDispatcherLeaderProcess): a job graph whose job already has a
  result is only cleaned up (the previous leader died between writing the
  result and removing the graph), never run again. Results of jobs that ended
  under earlier leaders are listed as archived jobs, so ``strom list`` and a
  client waiting for such a job still see how it ended. On revocation every
  JobMaster is suspended; its job graph stays in the store for the next leader.

State owner: the JobManager's event loop. HA store calls run in a thread
(``asyncio.to_thread``): a ZooKeeper or file-system store blocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from strom.common.config import Configuration
from strom.common.errors import FencingTokenError, JobNotFoundError, JobSubmissionError
from strom.common.ha import HighAvailabilityServices, JobResultEntry
from strom.common.ids import new_job_id
from strom.common.jobgraph import JobGraph
from strom.common.rpc import common_pb2, dispatcher_pb2
from strom.common.states import JobStatus
from strom.jobmanager.jobmaster.execution_graph import Clock, wall_ms
from strom.jobmanager.jobmaster.job_master import JobMaster
from strom.jobmanager.resourcemanager.resource_manager import ResourceManager
from strom.jobmanager.task_executors import TaskExecutorConnector

log = logging.getLogger(__name__)

ARCHIVE_CAPACITY = 1000
RESULT_RETRY_INITIAL_S = 0.2
RESULT_RETRY_MAX_S = 5.0
RESULT_RETRY_FOR_S = 60.0
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class ArchivedJob:
    """A job that ended: its last details and its graph (for the REST plan)."""

    details: common_pb2.JobDetails
    job_graph: JobGraph


class Dispatcher:
    """Job submission and the jobs' directory. Owned by the JobManager's event loop."""

    def __init__(self, config: Configuration, ha_services: HighAvailabilityServices,
                 resource_manager: ResourceManager, task_executors: TaskExecutorConnector,
                 session: Callable[[], str], address: Callable[[], str], clock: Clock = wall_ms) -> None:
        self._config = config
        self._ha = ha_services
        self._resource_manager = resource_manager
        self._task_executors = task_executors
        self._session = session
        self._address = address
        self._clock = clock
        self._running: dict[str, JobMaster] = {}
        self._archive: OrderedDict[str, ArchivedJob] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()

    # ---- commands -----------------------------------------------------------

    async def submit_job(self, job_graph: JobGraph) -> str:
        if not job_graph.job_id:
            job_graph.job_id = new_job_id()
        job_graph.validate()
        job_id = job_graph.job_id
        previous = await asyncio.to_thread(self._ha.job_result_store().get, job_id)
        if previous is not None:
            raise JobSubmissionError(f"job {job_id} was already submitted (it is {previous.state}); "
                                     "submit it again under a new job id")
        if job_id in self._running or job_id in self._archive:
            state = self._running[job_id].graph.status if job_id in self._running else \
                self._archive[job_id].details.state
            raise JobSubmissionError(f"job {job_id} was already submitted (it is {state}); "
                                     "submit it again under a new job id")
        job_master = self._create_job_master(job_graph)
        self._running[job_id] = job_master
        try:
            await asyncio.to_thread(self._ha.job_graph_store().put, job_id, job_graph.to_bytes())
        except Exception as e:
            del self._running[job_id]
            raise JobSubmissionError(f"could not store job {job_id} in the HA job graph store: {e}") from e
        log.info("Submitted job '%s' (%s): %d vertices, %d slots needed", job_graph.name, job_id,
                 len(job_graph.vertices), job_master.graph.num_slots_needed)
        self._start(job_master)
        return job_id

    def cancel_job(self, job_id: str) -> None:
        job_master = self._running.get(job_id)
        if job_master is not None:
            job_master.cancel()
        elif job_id not in self._archive:
            raise self._not_found(job_id)

    async def recover_jobs(self) -> None:
        """After a leadership grant: start the JobMasters of stored jobs that have not ended.

        Raises when the HA stores cannot be read (the caller retries); a single job graph that cannot be
        read or decoded is logged and skipped.
        """
        store, results = self._ha.job_graph_store(), self._ha.job_result_store()
        for job_id, master in list(self._running.items()):
            if master.graph.status.is_terminal:   # suspended by the last revocation, callback not run yet
                del self._running[job_id]
        ended = {entry.job_id: entry for entry in await asyncio.to_thread(results.entries)}
        for entry in ended.values():
            if entry.job_id not in self._running and entry.job_id not in self._archive:
                self._archive_result(entry)
        job_ids = await asyncio.to_thread(store.job_ids)
        log.info("Recovering jobs from the HA job graph store: %d stored, %d with a result already",
                 len(job_ids), sum(1 for j in job_ids if j in ended))
        for job_id in job_ids:
            if job_id in self._running:
                continue
            if job_id in ended:
                log.info("Not recovering job %s: it already reached %s; removing its leftover job graph", job_id,
                         ended[job_id].state)
                self._spawn(self._cleanup_job(job_id))
                continue
            data = await asyncio.to_thread(store.get, job_id)
            if data is None:
                continue
            try:
                job_graph = JobGraph.from_bytes(data)
                job_master = self._create_job_master(job_graph)
            except Exception:
                log.exception("cannot recover job %s from the HA job graph store", job_id)
                continue
            log.info("Recovering job '%s' (%s): running it again from the start", job_graph.name, job_id)
            self._archive.pop(job_id, None)
            self._running[job_id] = job_master
            self._start(job_master)

    async def suspend_all(self, cause: str) -> None:
        await asyncio.gather(*(jm.suspend(cause) for jm in list(self._running.values())), return_exceptions=True)

    async def stop(self) -> None:
        """Let pending HA writes (results, clean-ups) finish, for at most STOP_TIMEOUT_S; cancel the rest."""
        pending = list(self._background)
        if pending:
            _, late = await asyncio.wait(pending, timeout=STOP_TIMEOUT_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # ---- queries ------------------------------------------------------------

    def job_master(self, job_id: str) -> JobMaster:
        job_master = self._running.get(job_id)
        if job_master is None:
            raise JobNotFoundError(f"job {job_id} is not running on this JobManager")
        return job_master

    def list_jobs(self) -> list[common_pb2.JobDetails]:
        running = [jm.details() for jm in self._running.values()]
        archived = [a.details for a in self._archive.values()]
        return sorted(running + archived, key=lambda d: d.start_time)

    def get_job(self, job_id: str) -> common_pb2.JobDetails:
        if job_id in self._running:
            return self._running[job_id].details()
        if job_id in self._archive:
            return self._archive[job_id].details
        raise self._not_found(job_id)

    def job_graph(self, job_id: str) -> JobGraph:
        if job_id in self._running:
            return self._running[job_id].graph.job_graph
        if job_id in self._archive:
            return self._archive[job_id].job_graph
        raise self._not_found(job_id)

    def overview(self) -> dispatcher_pb2.ClusterOverview:
        states = [a.details.state for a in self._archive.values()]
        return dispatcher_pb2.ClusterOverview(
            taskmanagers=self._resource_manager.num_task_managers,
            slots_total=self._resource_manager.total_slots(),
            slots_available=self._resource_manager.free_slots(),
            jobs_running=sum(1 for jm in self._running.values() if not jm.graph.status.is_terminal),
            jobs_finished=states.count(JobStatus.FINISHED.value),
            jobs_cancelled=states.count(JobStatus.CANCELED.value),
            jobs_failed=states.count(JobStatus.FAILED.value))

    # ---- internals ----------------------------------------------------------

    def _not_found(self, job_id: str) -> JobNotFoundError:
        return JobNotFoundError(f"job {job_id} not found (list the jobs with 'strom list')")

    def _create_job_master(self, job_graph: JobGraph) -> JobMaster:
        return JobMaster(job_graph, self._config, self._resource_manager, self._task_executors, self._session,
                         self._address(), self._clock)

    def _start(self, job_master: JobMaster) -> None:
        job_master.termination.add_done_callback(lambda _: self._job_ended(job_master))
        job_master.start()

    def _job_ended(self, job_master: JobMaster) -> None:
        job_id, status = job_master.job_id, job_master.graph.status
        if self._running.get(job_id) is job_master:
            del self._running[job_id]
        if not status.is_globally_terminal:
            log.info("Job %s is %s; its graph stays in the HA store for the next leader", job_id, status)
            return
        details = job_master.details()
        self._archive[job_id] = ArchivedJob(details, job_master.graph.job_graph)
        while len(self._archive) > ARCHIVE_CAPACITY:
            self._archive.popitem(last=False)
        root = job_master.graph.root_exception
        entry = JobResultEntry(job_id, status.value, job_master.graph.name, job_master.graph.end_time,
                               root.stacktrace if root is not None and status is JobStatus.FAILED else "")
        self._spawn(self._record_result(entry))

    def _archive_result(self, entry: JobResultEntry) -> None:
        """A job that ended under an earlier leader: listed from its HA job result (no vertices, no plan)."""
        details = common_pb2.JobDetails(job_id=entry.job_id, name=entry.name, state=entry.state,
                                        end_time=entry.end_time_ms, last_modification=entry.end_time_ms,
                                        root_exception=entry.error)
        self._archive[entry.job_id] = ArchivedJob(details, JobGraph(entry.job_id, entry.name))
        while len(self._archive) > ARCHIVE_CAPACITY:
            self._archive.popitem(last=False)

    def _spawn(self, call: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(call)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _record_result(self, entry: JobResultEntry) -> None:
        """Write the job's result, then remove its HA job graph (in that order, as Flink's JobResultStore)."""
        if await self._retry(f"record the result of job {entry.job_id}", self._ha.job_result_store().put, entry):
            log.info("Job %s reached %s: recorded in the HA job result store", entry.job_id, entry.state)
            await self._cleanup_job(entry.job_id)

    async def _cleanup_job(self, job_id: str) -> None:
        if await self._retry(f"clean up the HA data of job {job_id}", self._ha.cleanup_job, job_id):
            log.info("Cleaned up the HA data of job %s", job_id)

    async def _retry(self, what: str, call: Callable[..., None], *args: Any) -> bool:
        """Run a blocking HA store call in a thread; retry transient failures while this JobManager leads.

        A fencing rejection (leadership lost) ends the attempts: the next leader decides.
        """
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + RESULT_RETRY_FOR_S
        delay = RESULT_RETRY_INITIAL_S
        while True:
            try:
                await asyncio.to_thread(call, *args)
                return True
            except FencingTokenError as e:
                log.warning("could not %s: %s", what, e)
                return False
            except Exception as e:
                if loop.time() + delay > give_up_at or not self._leads():
                    log.error("could not %s (%s: %s); giving up", what, type(e).__name__, e)
                    return False
                log.warning("could not %s (%s: %s); retrying in %.1f s", what, type(e).__name__, e, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESULT_RETRY_MAX_S)

    def _leads(self) -> bool:
        try:
            self._session()
        except FencingTokenError:
            return False
        return True
