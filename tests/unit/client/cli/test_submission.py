"""Submitting and waiting, against an in-memory Dispatcher: `strom run -m`, execute(), JobClient."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from strom.client.cli.main import cli
from strom.client.execution import executor
from strom.client.execution.context import ExecutionTarget, set_current_target, target_from_config
from strom.common.config import Configuration
from strom.common.errors import ClusterUnreachableError, JobExecutionError
from strom.common.states import JobStatus

JOB_SCRIPT = """\
    from strom import StreamExecutionEnvironment

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection([1, 2, 3]).map(lambda x: x * 10).print()
    result = env.execute("tens")
    print("script got", result.job_id, result.net_runtime_ms)
"""

REMOTE_TRACE = ('Traceback (most recent call last):\n  File "job.py", line 4, in <lambda>\n'
                'ZeroDivisionError: division by zero')


def job_script(tmp_path: Path) -> str:
    path = tmp_path / "tens.py"
    path.write_text(textwrap.dedent(JOB_SCRIPT))
    return str(path)


def remote(address: str = "127.0.0.1:6123", **config: str) -> ExecutionTarget:
    return ExecutionTarget(address, detached=False, parallelism=None, config=Configuration(config))


# ---- strom run ---------------------------------------------------------------------------

def test_run_prints_submission_and_runtime(fake_dispatcher, tmp_path):
    result = CliRunner().invoke(cli, ["run", "-m", "127.0.0.1:6123", job_script(tmp_path)])
    assert result.exit_code == 0, result.output
    (job_id,) = fake_dispatcher.jobs
    assert f"Job has been submitted with JobID {job_id}" in result.stdout
    assert f"Job {job_id} finished in 1.50 s" in result.stdout
    assert f"script got {job_id} 1500" in result.stdout
    graph = fake_dispatcher.jobs[job_id].graph
    assert graph is not None and graph.name == "tens"


def test_run_parallelism_flag_reaches_the_graph(fake_dispatcher, tmp_path):
    result = CliRunner().invoke(cli, ["run", "-m", "127.0.0.1:6123", "-p", "3", job_script(tmp_path)])
    assert result.exit_code == 0, result.output
    (job,) = fake_dispatcher.jobs.values()
    assert max(v.parallelism for v in job.graph.vertices) == 3


def test_run_detached_returns_after_submission(fake_dispatcher, tmp_path):
    result = CliRunner().invoke(cli, ["run", "-d", "-m", "127.0.0.1:6123", job_script(tmp_path)])
    assert result.exit_code == 0, result.output
    (job_id,) = fake_dispatcher.jobs
    assert f"Job has been submitted with JobID {job_id}" in result.stdout
    assert "finished in" not in result.stdout
    assert "get_job" not in fake_dispatcher.calls
    assert f"script got {job_id} None" in result.stdout


def test_run_failed_job_prints_remote_traceback(fake_dispatcher, tmp_path):
    fake_dispatcher.outcome = ["RUNNING", "FAILED"]
    fake_dispatcher.failure_trace = REMOTE_TRACE
    result = CliRunner().invoke(cli, ["run", "-m", "127.0.0.1:6123", job_script(tmp_path)])
    assert result.exit_code == 1
    (job_id,) = fake_dispatcher.jobs
    assert f"Job 'tens' ({job_id}) failed in task 'Map (1/1)' on 127.0.0.1:40000:" in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert 'File "job.py", line 4' in result.stderr
    assert "script got" not in result.stdout


def test_run_cancelled_job(fake_dispatcher, tmp_path):
    fake_dispatcher.outcome = ["RUNNING", "CANCELED"]
    result = CliRunner().invoke(cli, ["run", "-m", "127.0.0.1:6123", job_script(tmp_path)])
    assert result.exit_code == 1
    assert "was cancelled" in result.stderr


def test_run_unreachable_jobmanager(fake_dispatcher, tmp_path):
    fake_dispatcher.unreachable = True
    result = CliRunner().invoke(cli, ["run", "-m", "127.0.0.1:6123", job_script(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: Could not reach the JobManager at 127.0.0.1:6123: connection refused. "
                                     "Is it running? Start one with 'strom jobmanager start'.")


# ---- execute() / execute_async() ------------------------------------------------------------

def test_execute_returns_result(fake_dispatcher, make_graph):
    set_current_target(remote())
    result = executor.execute(make_graph("j"))
    assert result.job_id == "a" * 32 and result.net_runtime_ms == 1500 and result.job_name == "j"
    assert result.get_net_runtime() == 1500


def test_execute_failed_raises_with_traceback(fake_dispatcher, make_graph):
    fake_dispatcher.outcome = ["FAILED"]
    fake_dispatcher.failure_trace = REMOTE_TRACE
    set_current_target(remote())
    with pytest.raises(JobExecutionError, match="ZeroDivisionError") as info:
        executor.execute(make_graph("j"))
    assert "Map (1/1)" in str(info.value)


def test_execute_cancelled(fake_dispatcher, make_graph):
    fake_dispatcher.outcome = ["CANCELED"]
    set_current_target(remote())
    with pytest.raises(JobExecutionError, match=f"job {'a' * 32} was cancelled"):
        executor.execute(make_graph())


def test_savepoint_path_travels_in_the_job_config(fake_dispatcher, make_graph):
    target = remote()
    target.savepoint_path = "file:///sp/7"
    set_current_target(target)
    executor.execute(make_graph())
    (job,) = fake_dispatcher.jobs.values()
    assert job.graph.config["execution.savepoint.path"] == "file:///sp/7"


def test_lost_jobmanager_while_waiting_fails_within_client_timeout(fake_dispatcher, make_graph):
    fake_dispatcher.outcome = ["RUNNING"] * 1000
    fake_dispatcher.unreachable_after_calls = 4      # leader_info, submit, two polls; then gone
    set_current_target(remote(**{"client.timeout": "300 ms"}))
    started = time.monotonic()
    with pytest.raises(ClusterUnreachableError, match="Lost the connection to the JobManager at 127.0.0.1:6123"):
        executor.execute(make_graph())
    assert time.monotonic() - started < 5


def test_leader_change_reconnects(fake_dispatcher, make_graph):
    fake_dispatcher.fencing_errors = 1
    set_current_target(remote())
    assert executor.execute(make_graph()).net_runtime_ms == 1500
    assert fake_dispatcher.connects >= 2


def test_job_client(fake_dispatcher, make_graph):
    fake_dispatcher.outcome = ["RUNNING", "RUNNING", "FINISHED"]
    client = executor.execute_async(make_graph(), remote())
    assert client.get_job_status() is JobStatus.RUNNING
    with pytest.raises(TimeoutError):
        fake_dispatcher.outcome = []
        fake_dispatcher.jobs[client.job_id].states = ["RUNNING"] * 100
        client.get_job_execution_result(timeout=0.2)
    fake_dispatcher.jobs[client.job_id].states = ["FINISHED"]
    assert client.get_job_execution_result(timeout=5).net_runtime_ms == 1500
    client2 = executor.execute_async(make_graph(job_id="b" * 32), remote())
    client2.cancel()
    assert fake_dispatcher.cancelled == ["b" * 32]


def test_invalid_graph_fails_before_contacting_anyone(fake_dispatcher, make_graph):
    graph = make_graph(parallelism=0)
    set_current_target(remote())
    with pytest.raises(Exception, match="parallelism must be >= 1"):
        executor.execute(graph)
    assert fake_dispatcher.calls == []


class FakeLocalCluster:
    instances: list[FakeLocalCluster] = []

    def __init__(self, num_slots: int, config: Configuration) -> None:
        self.num_slots, self.rpc_address, self.stopped = num_slots, "127.0.0.1:6123", False
        FakeLocalCluster.instances.append(self)

    def start(self) -> None:
        pass

    def check_alive(self) -> None:
        pass

    def stop(self) -> None:
        self.stopped = True


def test_local_target_starts_and_stops_a_cluster(fake_dispatcher, make_graph, monkeypatch, capsys):
    from strom.client.local import cluster

    FakeLocalCluster.instances.clear()
    monkeypatch.setattr(cluster, "LocalCluster", FakeLocalCluster)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    set_current_target(target_from_config(Configuration(), detached=True))
    result = executor.execute(make_graph(parallelism=5))
    assert result.net_runtime_ms == 1500                               # -d cannot apply: ran attached
    assert "detached mode needs a running cluster" in capsys.readouterr().err
    (local,) = FakeLocalCluster.instances
    assert local.num_slots == 5 and local.stopped

    fake_dispatcher.outcome = ["FAILED"]
    with pytest.raises(JobExecutionError):
        executor.execute(make_graph(job_id="c" * 32))
    assert FakeLocalCluster.instances[-1].stopped


def test_local_slots_at_least_cpu_count(make_graph, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 4)
    assert executor.local_slots(make_graph(parallelism=2)) == 4
    assert executor.local_slots(make_graph(parallelism=6)) == 6
