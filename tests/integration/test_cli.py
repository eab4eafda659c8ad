"""The `strom` CLI as a user meets it: real processes on 127.0.0.1, real exit codes and messages."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from strom import __version__
from strom.client.local.process import strom_command
from tests.harness.cluster import StromCluster, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

UNKNOWN_JOB = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[StromCluster]:
    with StromCluster(tmp_path_factory.mktemp("cli-cluster"), num_taskmanagers=1, slots_per_taskmanager=2) as c:
        yield c


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """No developer config: an empty conf dir, no STROM_PROPERTIES."""
    out = {k: v for k, v in os.environ.items() if k not in {"STROM_PROPERTIES", "STROM_CONF_DIR"}}
    out["STROM_CONF_DIR"] = str(tmp_path / "conf")
    return out


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def closed_port() -> int:
    """A port nobody listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- without any cluster ---------------------------------------------------------------

def test_version_via_module(env):
    r = subprocess.run([sys.executable, "-m", "strom.client.cli.main", "--version"], capture_output=True,
                       text=True, env=env, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == f"strom {__version__}"


@pytest.mark.parametrize("command", [["list"], ["info", UNKNOWN_JOB], ["cancel", UNKNOWN_JOB]])
def test_unreachable_jobmanager(env, tmp_path, command):
    port = closed_port()
    started = time.monotonic()
    r = run_cli([command[0], "-m", f"127.0.0.1:{port}", *command[1:]], env=env, timeout_s=30, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert r.returncode == 1
    assert r.stderr.strip() == (f"Error: Could not reach the JobManager at 127.0.0.1:{port}: connection refused. "
                                "Is it running? Start one with 'strom jobmanager start'.")
    assert elapsed < 10, f"took {elapsed:.1f} s"


def test_run_against_unreachable_jobmanager(env, tmp_path):
    job = script(tmp_path, "job.py", """\
        from strom import StreamExecutionEnvironment
        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection([1]).print()
        env.execute("j")
    """)
    port = closed_port()
    r = run_cli(["run", "-m", f"127.0.0.1:{port}", str(job)], env=env, timeout_s=30, cwd=tmp_path)
    assert r.returncode == 1
    assert f"Could not reach the JobManager at 127.0.0.1:{port}: connection refused" in r.stderr


def test_default_address_comes_from_the_config(env, tmp_path):
    port = closed_port()
    env["STROM_PROPERTIES"] = f"jobmanager.rpc.port: {port}"
    r = run_cli(["list"], env=env, timeout_s=30, cwd=tmp_path)
    assert r.returncode == 1 and f"127.0.0.1:{port}" in r.stderr


def test_jobmanager_start_on_a_port_in_use(env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_cli(["jobmanager", "start", "--rpc-port", str(port), "--rest-port", "0"], env=env, timeout_s=60,
                    cwd=tmp_path)
    assert r.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use (jobmanager.rpc.port)" in r.stderr
    assert "--rpc-port" in r.stderr
    assert "Traceback" not in r.stderr


def test_second_jobmanager_on_a_running_ones_ports(cluster, env, tmp_path):
    r = run_cli(["jobmanager", "start", "--rpc-port", str(cluster.rpc_port), "--rest-port", "0"], env=env,
                timeout_s=60, cwd=tmp_path)
    assert r.returncode == 1
    assert f"port {cluster.rpc_port} on 127.0.0.1 is already in use" in r.stderr


def test_run_script_with_name_error(env, tmp_path):
    wc = script(tmp_path, "wc.py", """\
        from strom import StreamExecutionEnvironment

        env = StreamExecutionEnvironment.get_execution_environment()
        lines = env.from_collection(txt)
    """)
    r = run_cli(["run", "wc.py"], env=env, timeout_s=60, cwd=tmp_path)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert lines[0] == "job script 'wc.py' failed at line 4: NameError: name 'txt' is not defined"
    assert f'File "{wc}", line 4, in <module>' in r.stderr
    assert "strom/client" not in r.stderr and "runpy" not in r.stderr and "/client/cli/" not in r.stderr


def test_run_script_with_syntax_error(env, tmp_path):
    script(tmp_path, "bad.py", "from strom import StreamExecutionEnvironment\n\nif True\n    pass\n")
    r = run_cli(["run", "bad.py"], env=env, timeout_s=60, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("job script 'bad.py' failed at line 3: SyntaxError:")
    assert "if True" in r.stderr


def test_run_missing_script(env, tmp_path):
    r = run_cli(["run", "nope.py"], env=env, timeout_s=30, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip() == f"Error: job script 'nope.py' does not exist (looked in {tmp_path})"


# ---- jobs on the embedded local cluster --------------------------------------------------

def test_local_run_prints_results_and_runtime(env, tmp_path):
    script(tmp_path, "tens.py", """\
        import argparse
        from strom import StreamExecutionEnvironment

        parser = argparse.ArgumentParser()
        parser.add_argument("--n", type=int, required=True)
        args = parser.parse_args()
        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection(list(range(1, args.n + 1))).map(lambda x: f"value={x * 10}").print()
        env.execute("tens")
    """)
    r = run_cli(["run", "tens.py", "--n", "5"], env=env, timeout_s=120, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    values = sorted(line for line in r.stdout.splitlines() if line.startswith("value="))
    assert values == sorted(f"value={x * 10}" for x in range(1, 6))
    submitted = [line for line in r.stdout.splitlines() if line.startswith("Job has been submitted with JobID ")]
    assert len(submitted) == 1
    job_id = submitted[0].rsplit(" ", 1)[1]
    assert any(line.startswith(f"Job {job_id} finished in ") and line.endswith(" s") for line in r.stdout.splitlines())


def test_local_run_failed_job_shows_remote_traceback(env, tmp_path):
    script(tmp_path, "boom.py", """\
        from strom import StreamExecutionEnvironment


        def explode(x):
            return 10 // (x - 3)


        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection([1, 2, 3, 4]).map(explode).print()
        env.execute("boom")
    """)
    r = run_cli(["run", "boom.py"], env=env, timeout_s=120, cwd=tmp_path)
    assert r.returncode == 1
    assert "Job 'boom' (" in r.stderr and ") failed" in r.stderr
    assert "ZeroDivisionError" in r.stderr
    assert "in explode" in r.stderr and "10 // (x - 3)" in r.stderr
    assert "taskmanager/runtime" not in r.stderr                # Strom's own frames are trimmed


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_local_run_leaves_no_processes(env, tmp_path, sig):
    script(tmp_path, "forever.py", """\
        import time
        from strom import StreamExecutionEnvironment


        def spin(x):
            end = time.perf_counter() + 0.05
            while time.perf_counter() < end:
                pass
            return x


        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_sequence(1, 10_000_000).map(spin).print()
        env.execute("forever")
    """)
    proc = subprocess.Popen(strom_command(["run", "forever.py"]), cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        line = ""
        while not line.startswith("Job has been submitted"):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline
        daemons = _children(proc.pid)
        assert len(daemons) == 2
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Interrupted." in err
    for pid in daemons:   # each daemon led its own process group, slot workers included
        deadline = time.monotonic() + 5
        while _group_alive(pid):
            assert time.monotonic() < deadline, f"process group {pid} survived"
            time.sleep(0.05)


SPIN_JOB = """\
    import time
    from strom import StreamExecutionEnvironment


    def spin(x):
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:
            pass
        return x


    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_sequence(1, 10_000_000).map(spin).print()
    env.execute("spin")
"""


def test_jobmanager_lost_while_waiting(tmp_path):
    """The attached client notices a dead JobManager and gives up after client.timeout, with a clear error."""
    script(tmp_path, "spin.py", SPIN_JOB)
    with StromCluster(tmp_path / "lost", num_taskmanagers=1, slots_per_taskmanager=1) as lost:
        proc = subprocess.Popen(strom_command(["run", "-m", lost.rpc_address, "-D", "client.timeout=2 s",
                                               "spin.py"]), cwd=tmp_path, env=lost.cli_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            assert line.startswith("Job has been submitted"), line + proc.stderr.read()
            lost.kill_jobmanager()
            started = time.monotonic()
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 1
    assert f"Lost the connection to the JobManager at {lost.jobmanager_rpc_address(0)}" in err
    assert "strom list -m" in err
    assert time.monotonic() - started < 30


# ---- a running cluster ---------------------------------------------------------------------

def test_unknown_job_id(cluster):
    for command in ("info", "cancel"):
        r = cluster.cli(command, "-m", cluster.rpc_address, UNKNOWN_JOB, timeout_s=30)
        assert r.returncode == 1
        assert r.stderr.strip() == (f"Error: Job '{UNKNOWN_JOB}' is unknown to the JobManager at "
                                    f"{cluster.rpc_address}. List its jobs with 'strom list -m {cluster.rpc_address}'.")


def test_detached_run_list_info_cancel(cluster, tmp_path):
    script(tmp_path, "slow.py", """\
        import time
        from strom import StreamExecutionEnvironment


        def spin(x):
            end = time.perf_counter() + 0.05
            while time.perf_counter() < end:
                pass
            return x


        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_sequence(1, 10_000_000).map(spin).print()
        env.execute("slow-job")
    """)
    r = cluster.cli("run", "-d", "-m", cluster.rpc_address, "-p", "2", "slow.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (line,) = r.stdout.splitlines()
    assert line.startswith("Job has been submitted with JobID ")
    job_id = line.rsplit(" ", 1)[1]

    r = cluster.cli("list", "-m", cluster.rpc_address)
    assert r.returncode == 0, r.stderr
    (row,) = [row for row in r.stdout.splitlines() if row.startswith(job_id)]
    assert "slow-job" in row

    deadline = time.monotonic() + 60
    while True:
        r = cluster.cli("info", "-m", cluster.rpc_address, job_id)
        assert r.returncode == 0, r.stderr
        if "State:      RUNNING" in r.stdout:
            break
        assert time.monotonic() < deadline, r.stdout
    assert f"slow-job ({job_id})" in r.stdout
    assert "Map" in r.stdout and "  2  " in r.stdout          # a vertex row with parallelism 2

    r = cluster.cli("cancel", "-m", cluster.rpc_address, job_id)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"Cancelling job {job_id}.", f"Cancelled job {job_id}."]

    deadline = time.monotonic() + 60
    while "State:      CANCELED" not in (r := cluster.cli("info", "-m", cluster.rpc_address, job_id)).stdout:
        assert time.monotonic() < deadline, r.stdout
    r = cluster.cli("list", "-m", cluster.rpc_address, "--running")
    assert job_id not in r.stdout
    r = cluster.cli("cancel", "-m", cluster.rpc_address, job_id)
    assert r.returncode == 1 and "already ended (CANCELED)" in r.stderr


def test_run_against_cluster_from_config(cluster, tmp_path):
    """No -m: `execution.target: remote` in the config file sends the job to the cluster."""
    conf = tmp_path / "strom.yaml"
    conf.write_text(f"execution.target: remote\njobmanager.rpc.address: 127.0.0.1\n"
                    f"jobmanager.rpc.port: {cluster.rpc_port}\n")
    script(tmp_path, "one.py", """\
        from strom import StreamExecutionEnvironment
        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection([1, 2, 3]).map(lambda x: x + 1).print()
        result = env.execute("from-config")
        print("RESULT", result.job_id)
    """)
    r = cluster.cli("run", "--config", str(conf), "one.py", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    job_id = [line for line in r.stdout.splitlines() if line.startswith("RESULT ")][0].split()[1]
    listing = cluster.cli("list", "-m", cluster.rpc_address).stdout
    assert any(row.startswith(job_id) and "FINISHED" in row for row in listing.splitlines())


def test_run_dynamic_properties_reach_the_jobs_configuration(cluster, env, tmp_path):
    script(tmp_path, "settings.py", """\
        from strom import MapFunction, StreamExecutionEnvironment

        class Show(MapFunction):
            def open(self, runtime_context):
                self.setting = runtime_context.get_job_parameter("my.setting", "unset")
                self.mode = runtime_context.get_job_parameter("execution.runtime-mode")

            def map(self, value):
                return f"{value} {self.setting} {self.mode}"

        env = StreamExecutionEnvironment.get_execution_environment()
        env.from_collection([1]).map(Show()).write_as_text("out")
        env.execute("settings")
    """)
    r = run_cli(["run", "-m", cluster.rpc_address, "-D", "my.setting=hello", "-D", "execution.runtime-mode=batch",
                 "settings.py"], env=env, timeout_s=120, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [line for part in sorted((tmp_path / "out").glob("part-*")) for line in part.read_text().splitlines()]
    assert lines == ["1 hello BATCH"]
