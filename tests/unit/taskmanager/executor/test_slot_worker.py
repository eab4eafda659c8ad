"""The slot worker's command loop (``SlotWorker``), in-process: a pipe, FakeTask, no child process."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from strom.common.rpc import common_pb2
from strom.taskmanager.worker.process import SlotWorker, execution_id_of
from strom.taskmanager.worker.protocol import CancelTask, DeployTask, Shutdown, TaskStateChanged
from tests.harness.fake_worker_runtime import FakeTask

pytestmark = pytest.mark.timeout(20)


class FakeNetwork:
    address = "127.0.0.1:1"

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def tdd(behaviour: str, subtask: int = 0, attempt: int = 0) -> bytes:
    return common_pb2.TaskDeploymentDescriptor(
        job_id="job", vertex_id="vtx", vertex_name=behaviour, subtask_index=subtask, parallelism=2,
        attempt=attempt, allocation_id="alloc").SerializeToString()


class Harness:
    def __init__(self, factory: Any = FakeTask) -> None:
        self.daemon_end, worker_end = multiprocessing.Pipe(duplex=True)
        self.network = FakeNetwork()
        self.worker = SlotWorker(worker_end, self.network, factory)
        self.thread = threading.Thread(target=self.worker.serve, daemon=True)
        self.thread.start()
        self.events: list[TaskStateChanged] = []

    def send(self, command: Any) -> None:
        self.daemon_end.send(command)

    def states_until(self, execution_id: str, final: str, timeout_s: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.daemon_end.poll(0.05):
                self.events.append(self.daemon_end.recv())
            states = [e.state for e in self.events if e.execution_id == execution_id]
            if final in states:
                return states
        raise AssertionError(f"{execution_id} never reached {final}: {self.events}")


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    if h.thread.is_alive():
        h.send(Shutdown())
        h.thread.join(5)


def test_deployed_task_reports_its_states_in_order(harness: Harness) -> None:
    harness.send(DeployTask(tdd("finish")))
    assert harness.states_until("job:vtx:0:0", "FINISHED") == ["INITIALIZING", "RUNNING", "FINISHED"]


def test_failed_task_reports_traceback_and_exception_name(harness: Harness) -> None:
    harness.send(DeployTask(tdd("fail", subtask=1)))
    harness.states_until("job:vtx:1:0", "FAILED")
    failed = harness.events[-1]
    assert failed.error_name == "ValueError"
    assert "was told to fail" in failed.error and "Traceback" in failed.error


def test_cancel_ends_a_running_task_canceled(harness: Harness) -> None:
    harness.send(DeployTask(tdd("block")))
    harness.states_until("job:vtx:0:0", "RUNNING")
    harness.send(CancelTask("job:vtx:0:0"))
    assert harness.states_until("job:vtx:0:0", "CANCELED")[-1] == "CANCELED"
    harness.send(CancelTask("job:vtx:0:0"))    # unknown by now: ignored
    harness.send(CancelTask("nobody:x:0:0"))


def test_shutdown_cancels_every_task_and_closes_the_data_plane(harness: Harness) -> None:
    harness.send(DeployTask(tdd("block", subtask=0)))
    harness.send(DeployTask(tdd("block", subtask=1)))
    harness.states_until("job:vtx:0:0", "RUNNING")
    harness.states_until("job:vtx:1:0", "RUNNING")
    harness.send(Shutdown())
    harness.thread.join(5)
    assert not harness.thread.is_alive()
    assert harness.network.closed
    harness.states_until("job:vtx:0:0", "CANCELED")
    harness.states_until("job:vtx:1:0", "CANCELED")


def test_daemon_gone_means_shutdown(harness: Harness) -> None:
    harness.send(DeployTask(tdd("block")))
    harness.states_until("job:vtx:0:0", "RUNNING")
    harness.daemon_end.close()
    harness.thread.join(5)
    assert not harness.thread.is_alive()
    assert harness.network.closed


def test_second_deployment_of_the_same_attempt_is_ignored(harness: Harness) -> None:
    harness.send(DeployTask(tdd("block")))
    harness.states_until("job:vtx:0:0", "RUNNING")
    harness.send(DeployTask(tdd("block")))
    harness.send(DeployTask(tdd("finish", attempt=1)))   # another attempt is a different task
    harness.states_until("job:vtx:0:1", "FINISHED")
    assert [e.state for e in harness.events if e.execution_id == "job:vtx:0:0"] == ["INITIALIZING", "RUNNING"]
    deadline = time.monotonic() + 5   # the finished task's thread leaves the table just after reporting
    while harness.worker.running_tasks() != ["job:vtx:0:0"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert harness.worker.running_tasks() == ["job:vtx:0:0"]


def test_task_that_cannot_be_built_is_reported_failed() -> None:
    def broken(tdd: Any, network: Any, on_state: Any) -> Any:
        raise ImportError("no module named 'user_udfs'")

    h = Harness(broken)
    try:
        h.send(DeployTask(tdd("finish")))
        assert h.states_until("job:vtx:0:0", "FAILED") == ["FAILED"]
        assert h.events[-1].error_name == "ImportError"
        assert "user_udfs" in h.events[-1].error
    finally:
        h.send(Shutdown())
        h.thread.join(5)


def test_task_that_returns_without_terminal_state_is_failed_and_reports_one_terminal_state() -> None:
    class Silent(FakeTask):
        def run(self) -> None:
            self.on_state("RUNNING", "", "")

    class Twice(FakeTask):
        def run(self) -> None:
            self.on_state("FINISHED", "", "")
            self.on_state("FAILED", "late", "X")

    def factory(tdd: Any, network: Any, on_state: Any) -> Any:
        return (Silent if tdd.vertex_name == "silent" else Twice)(tdd, network, on_state)

    h = Harness(factory)
    try:
        h.send(DeployTask(tdd("silent", subtask=0)))
        assert h.states_until("job:vtx:0:0", "FAILED") == ["RUNNING", "FAILED"]
        assert "without reporting" in h.events[-1].error
        h.send(DeployTask(tdd("twice", subtask=1)))
        h.states_until("job:vtx:1:0", "FINISHED")
        h.send(DeployTask(tdd("silent", subtask=0, attempt=5)))   # a later event flushes the pipe
        h.states_until("job:vtx:0:5", "FAILED")
        assert [e.state for e in h.events if e.execution_id == "job:vtx:1:0"] == ["FINISHED"]
    finally:
        h.send(Shutdown())
        h.thread.join(5)


def test_execution_id_of_tdd() -> None:
    descriptor = common_pb2.TaskDeploymentDescriptor(job_id="j", vertex_id="v", subtask_index=3, attempt=2)
    assert execution_id_of(descriptor) == "j:v:3:2"
