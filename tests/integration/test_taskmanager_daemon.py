"""A real TaskManager process against a FakeResourceManager (ResourceManager + JobMaster double).

The TaskManager runs as ``python -m strom.taskmanager.executor.entrypoint`` on
127.0.0.1 with an ephemeral RPC port; its fork server preloads
``tests.harness.fake_worker_preload`` so that slot workers run ``FakeTask``
and ``FakeNetworkEnvironment`` (a Flight server that answers).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.flight as flight
import pytest

from strom.common.errors import FencingTokenError, StromError
from strom.common.gateway.task_executor import TaskExecutorGateway
from strom.common.ids import NO_LEADER_SESSION
from strom.common.rpc import common_pb2
from tests.harness.fake_resource_manager import FakeRegistration, FakeResourceManager

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

REPO_ROOT = Path(__file__).resolve().parents[2]
SESSION = NO_LEADER_SESSION
JOB = "job1"


def wait_until(predicate: Callable[[], object], timeout_s: float = 15.0, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class TaskManagerProcess:
    """``strom taskmanager`` as a child process; stopped by PID."""

    def __init__(self, rm: FakeResourceManager, work_dir: Path, slots: int = 2, *extra: str,
                 fake_runtime: bool = True) -> None:
        self.log_path = work_dir / f"taskmanager-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "strom.taskmanager.executor.entrypoint", "--jobmanager", rm.address,
               "--slots", str(slots), "-D", "heartbeat.interval=100 ms", "-D", "heartbeat.timeout=1 s",
               "-D", "taskmanager.registration.timeout=60 s", *extra]
        if fake_runtime:
            cmd += ["-D", "taskmanager.worker.preload-modules=tests.harness.fake_worker_preload"]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
        self.process = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                        cwd=str(work_dir))

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pid(self, allocation_id: str) -> int:
        match = re.search(rf"Started slot worker for {allocation_id}: pid (\d+)", self.output)
        assert match, f"no worker start logged for {allocation_id}:\n{self.output}"
        return int(match.group(1))

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()
        return self.process.returncode


@pytest.fixture
def rm() -> Iterator[FakeResourceManager]:
    with FakeResourceManager(heartbeat_interval_ms=100, heartbeat_timeout_ms=1500) as fake:
        yield fake


@pytest.fixture
def start_tm(rm: FakeResourceManager, tmp_path: Path) -> Iterator[Callable[..., TaskManagerProcess]]:
    started: list[TaskManagerProcess] = []

    def start(*extra: str, slots: int = 2, against: FakeResourceManager | None = None,
              fake_runtime: bool = True) -> TaskManagerProcess:
        tm = TaskManagerProcess(against or rm, tmp_path, slots, *extra, fake_runtime=fake_runtime)
        started.append(tm)
        return tm

    yield start
    for tm in started:
        tm.stop()
        if tm.process.returncode not in (0, None):
            print(tm.output[-4000:])


def registered(rm: FakeResourceManager, n: int = 1) -> FakeRegistration:
    regs = wait_until(lambda: len(rm.registrations) >= n and rm.registrations, what=f"{n} registration(s)")
    assert isinstance(regs, list)
    return regs[n - 1]


def tdd(behaviour: str, allocation_id: str, subtask: int = 0, vertex: str = "v") -> common_pb2.TaskDeploymentDescriptor:
    return common_pb2.TaskDeploymentDescriptor(
        job_id=JOB, job_name="test job", vertex_id=vertex, vertex_name=behaviour, subtask_index=subtask,
        parallelism=2, attempt=0, allocation_id=allocation_id)


def test_registers_and_heartbeats_with_its_slot_report(rm: FakeResourceManager, start_tm) -> None:
    tm = start_tm(slots=3)
    reg = registered(rm)
    assert reg.protocol_version == 1 and reg.num_slots == 3 and reg.session_id == SESSION
    assert reg.hostname == socket.gethostname() and reg.memory_bytes > 0 and reg.cpu_cores >= 1
    assert re.fullmatch(r"127\.0\.0\.1:\d+", reg.rpc_address) and not reg.rpc_address.endswith(":0")
    rm.wait_for(lambda: len([h for h in rm.heartbeats if h.resource_id == reg.resource_id]) >= 5,
                what="5 heartbeats")
    beats = [h.at for h in rm.heartbeats]
    assert 0.05 < (beats[-1] - beats[0]) / (len(beats) - 1) < 0.5, "heartbeats follow the 100 ms interval"
    assert rm.heartbeats[-1].slots == ((0, "", ""), (1, "", ""), (2, "", ""))
    assert tm.process.poll() is None


def test_slot_lifecycle_worker_process_task_states_and_free(rm: FakeResourceManager, start_tm) -> None:
    tm = start_tm()
    reg = registered(rm)
    gateway = TaskExecutorGateway(reg.rpc_address)
    try:
        t0 = time.perf_counter()
        address0 = gateway.request_slot(0, "alloc0", JOB, rm.address, SESSION)
        first_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        address1 = gateway.request_slot(1, "alloc1", JOB, rm.address, SESSION)
        second_ms = (time.perf_counter() - t0) * 1000
        print(f"RequestSlot incl. worker fork + Flight server: {first_ms:.1f} ms, {second_ms:.1f} ms")
        assert address0 != address1
        # idempotent: the same allocation gets the same worker
        assert gateway.request_slot(0, "alloc0", JOB, rm.address, SESSION) == address0
        pid0, pid1 = tm.worker_pid("alloc0"), tm.worker_pid("alloc1")
        assert pid0 != pid1 and pid_alive(pid0) and pid_alive(pid1)
        assert tm.output.count("Started slot worker for alloc0") == 1

        # the data address answers (a Flight server)
        for address in (address0, address1):
            socket.create_connection(tuple(address.rsplit(":", 1)), timeout=5).close()  # type: ignore[arg-type]
            flight.connect(f"grpc+tcp://{address}").wait_for_available(timeout=5)

        rm.wait_for(lambda: rm.heartbeats and rm.heartbeats[-1].slots == ((0, "alloc0", JOB), (1, "alloc1", JOB)),
                    what="slot report with both allocations")

        # a deployed task reports its states, in order, to the JobMaster of the RequestSlot
        gateway.submit_task(tdd("print", "alloc0"), SESSION)
        rm.wait_for(lambda: "FINISHED" in rm.updates_of("job1:v:0:0"), what="task FINISHED")
        assert rm.updates_of("job1:v:0:0") == ["INITIALIZING", "RUNNING", "FINISHED"]
        update = rm.task_updates[-1]
        assert update.resource_id == reg.resource_id and update.session_id == SESSION and update.job_id == JOB
        wait_until(lambda: "FakeTask says hello from job1:v:0:0" in tm.output, what="the worker's stdout")

        # cancel
        gateway.submit_task(tdd("block", "alloc1", subtask=1), SESSION)
        rm.wait_for(lambda: "RUNNING" in rm.updates_of("job1:v:1:0"), what="task RUNNING")
        gateway.cancel_task("job1:v:1:0", SESSION)
        rm.wait_for(lambda: "CANCELED" in rm.updates_of("job1:v:1:0"), what="task CANCELED")

        # FreeSlot kills the worker (gracefully) and frees the slot
        gateway.free_slot("alloc0", "test is done with it", SESSION)
        wait_until(lambda: not pid_alive(pid0), what=f"worker {pid0} gone")
        assert pid_alive(pid1)
        rm.wait_for(lambda: rm.heartbeats and rm.heartbeats[-1].slots == ((0, "", ""), (1, "alloc1", JOB)),
                    what="slot 0 free")
        gateway.free_slot("alloc0", "again", SESSION)   # idempotent
    finally:
        gateway.close()
    assert tm.stop() == 0
    assert not pid_alive(pid1), "stopping the TaskManager stops its workers"


def test_worker_with_the_real_data_plane_answers_on_its_data_address(rm: FakeResourceManager, start_tm) -> None:
    tm = start_tm(fake_runtime=False)
    reg = registered(rm)
    gateway = TaskExecutorGateway(reg.rpc_address)
    try:
        address = gateway.request_slot(0, "alloc0", JOB, rm.address, SESSION)
        flight.connect(f"grpc+tcp://{address}").wait_for_available(timeout=5)
        pid = tm.worker_pid("alloc0")
        gateway.free_slot("alloc0", "done", SESSION)
        wait_until(lambda: not pid_alive(pid), what=f"worker {pid} gone")
    finally:
        gateway.close()


def test_refusals_name_the_problem(rm: FakeResourceManager, start_tm) -> None:
    start_tm()
    reg = registered(rm)
    gateway = TaskExecutorGateway(reg.rpc_address)
    try:
        with pytest.raises(StromError, match="holds no slot for allocation 'nope'"):
            gateway.submit_task(tdd("finish", "nope"), SESSION)
        with pytest.raises(FencingTokenError, match="leader session"):
            gateway.request_slot(0, "alloc0", JOB, rm.address, "f" * 32)
        gateway.request_slot(0, "alloc0", JOB, rm.address, SESSION)
        with pytest.raises(StromError, match="slot 0 is taken by allocation alloc0"):
            gateway.request_slot(0, "other", "job2", rm.address, SESSION)
        with pytest.raises(StromError, match="slots 0..1"):
            gateway.request_slot(5, "other", "job2", rm.address, SESSION)
    finally:
        gateway.close()


@pytest.mark.parametrize(("behaviour", "cause"), [("crash", "signal SIGKILL"), ("exit3", "exit code 3")])
def test_worker_death_fails_its_tasks_and_the_taskmanager_survives(rm: FakeResourceManager, start_tm,
                                                                   behaviour: str, cause: str) -> None:
    tm = start_tm()
    reg = registered(rm)
    gateway = TaskExecutorGateway(reg.rpc_address)
    try:
        address = gateway.request_slot(0, "alloc0", JOB, rm.address, SESSION)
        gateway.submit_task(tdd("block", "alloc0", vertex="other"), SESSION)
        rm.wait_for(lambda: "RUNNING" in rm.updates_of("job1:other:0:0"), what="blocking task RUNNING")
        gateway.submit_task(tdd(behaviour, "alloc0"), SESSION)
        rm.wait_for(lambda: "FAILED" in rm.updates_of("job1:other:0:0") and "FAILED" in rm.updates_of("job1:v:0:0"),
                    what="both tasks of the dead worker FAILED")
        failures = [u for u in rm.task_updates if u.state == "FAILED"]
        assert len(failures) == 2
        for failure in failures:
            assert cause in failure.error and failure.error_name == "WorkerProcessDied", failure
        # the TaskManager lives on: heartbeats continue and the slot can be requested again
        beats = len(rm.heartbeats)
        rm.wait_for(lambda: len(rm.heartbeats) > beats + 2, what="more heartbeats")
        assert tm.process.poll() is None
        new_address = gateway.request_slot(0, "alloc0", JOB, rm.address, SESSION)
        assert new_address != address
        gateway.submit_task(common_pb2.TaskDeploymentDescriptor(
            job_id=JOB, vertex_id="v", vertex_name="finish", subtask_index=0, parallelism=1, attempt=1,
            allocation_id="alloc0"), SESSION)
        rm.wait_for(lambda: "FINISHED" in rm.updates_of("job1:v:0:1"), what="new attempt FINISHED")
    finally:
        gateway.close()


def test_protocol_version_rejection_exits_non_zero(start_tm) -> None:
    with FakeResourceManager(protocol_version=2) as strict:
        tm = start_tm(against=strict)
        assert tm.process.wait(30) != 0
        assert "protocol version" in tm.output
        assert "Traceback" not in tm.output


def test_registers_again_when_the_resource_manager_forgets_it(rm: FakeResourceManager, start_tm) -> None:
    tm = start_tm()
    reg = registered(rm)
    gateway = TaskExecutorGateway(reg.rpc_address)
    try:
        gateway.request_slot(1, "alloc1", JOB, rm.address, SESSION)
        pid = tm.worker_pid("alloc1")
        rm.forget(reg.resource_id)
        again = registered(rm, 2)
        assert again.resource_id == reg.resource_id
        # the JobMaster is still there: the slot and its worker are kept
        rm.wait_for(lambda: rm.heartbeats[-1].answered_registered and rm.heartbeats[-1].slots[1] == (1, "alloc1", JOB),
                    what="heartbeat after re-registration")
        assert pid_alive(pid)
    finally:
        gateway.close()


def test_jobmanager_lost_releases_everything_and_registers_again_when_back(rm: FakeResourceManager,
                                                                            start_tm) -> None:
    tm = start_tm()
    reg = registered(rm)
    gateway = TaskExecutorGateway(reg.rpc_address)
    try:
        gateway.request_slot(0, "alloc0", JOB, rm.address, SESSION)
        pid = tm.worker_pid("alloc0")
        gateway.submit_task(tdd("block", "alloc0"), SESSION)
        rm.wait_for(lambda: "RUNNING" in rm.updates_of("job1:v:0:0"), what="task RUNNING")
        rm.stop()
        wait_until(lambda: not pid_alive(pid), timeout_s=20, what="worker killed after heartbeat timeout")
        assert "unreachable, retrying" in tm.output or "Heartbeat to the JobManager" in tm.output
        rm.start()   # same port
        again = registered(rm, 2)
        assert again.resource_id == reg.resource_id
        rm.wait_for(lambda: rm.heartbeats and rm.heartbeats[-1].slots == ((0, "", ""), (1, "", "")),
                    what="all slots free after the JobManager came back")
        # usable again
        gateway.request_slot(0, "alloc0b", JOB, rm.address, SESSION)
        assert tm.process.poll() is None
    finally:
        gateway.close()


def test_workers_exit_when_their_taskmanager_is_killed(rm: FakeResourceManager, start_tm) -> None:
    tm = start_tm()
    reg = registered(rm)
    gateway = TaskExecutorGateway(reg.rpc_address)
    try:
        gateway.request_slot(0, "alloc0", JOB, rm.address, SESSION)
        gateway.submit_task(tdd("block", "alloc0"), SESSION)
        rm.wait_for(lambda: "RUNNING" in rm.updates_of("job1:v:0:0"), what="task RUNNING")
        pid = tm.worker_pid("alloc0")
        tm.process.send_signal(signal.SIGKILL)
        tm.process.wait(10)
        wait_until(lambda: not pid_alive(pid), what=f"orphaned worker {pid} gone")
    finally:
        gateway.close()
