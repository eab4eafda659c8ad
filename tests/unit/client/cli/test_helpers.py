"""Pure helpers: target resolution, addresses, the ports file, script tracebacks, failure messages."""

from __future__ import annotations

import json
import textwrap

import pytest

from strom.client.cli.script import describe_exception, failing_line, format_script_failure, script_frames
from strom.client.execution.context import (
    ExecutionTarget,
    current_target,
    parse_address,
    set_current_target,
    target_from_config,
)
from strom.client.execution.job_client import failure_message, result_of
from strom.client.local.process import read_ports_file
from strom.common.config import Configuration
from strom.common.errors import ConfigurationError, JobExecutionError
from strom.common.rpc import common_pb2


def test_parse_address():
    assert parse_address("127.0.0.1:6123") == ("127.0.0.1", 6123)
    assert parse_address("[::1]:6123") == ("::1", 6123)
    for bad in ("6123", "host", "host:0", "host:x", ":1"):
        with pytest.raises(ConfigurationError, match="HOST:PORT"):
            parse_address(bad)


def test_target_from_config():
    assert target_from_config(Configuration()).is_local
    remote = target_from_config(Configuration({"execution.target": "remote", "jobmanager.rpc.port": "7000"}))
    assert remote.jobmanager_address == "127.0.0.1:7000" and not remote.is_local
    ha = target_from_config(Configuration({"high-availability.type": "zookeeper"}))
    assert ha.uses_ha and not ha.is_local and ha.jobmanager_address is None
    explicit = target_from_config(Configuration({"high-availability.type": "zookeeper"}), "h:1")
    assert not explicit.uses_ha and explicit.jobmanager_address == "h:1"
    with pytest.raises(ConfigurationError, match="execution.target"):
        target_from_config(Configuration({"execution.target": "yarn"}))
    with pytest.raises(ConfigurationError, match="parallelism"):
        ExecutionTarget(None, False, 0, Configuration())


def test_current_target_default_reads_environment(monkeypatch):
    monkeypatch.setenv("STROM_PROPERTIES", "execution.target: remote\njobmanager.rpc.address: jm")
    assert current_target().jobmanager_address == "jm:6123"
    mine = ExecutionTarget("x:1", True, 2, Configuration())
    set_current_target(mine)
    assert current_target() is mine
    assert set_current_target(None) is mine
    assert current_target().jobmanager_address == "jm:6123"


def test_read_ports_file(tmp_path):
    path = tmp_path / "ports.json"
    assert read_ports_file(str(path)) == {}
    path.write_text('{"rpc_po')                                   # half-written
    assert read_ports_file(str(path)) == {}
    for data in ({"rpc": 1, "rest": 2}, {"rpc_port": 1, "rest_port": 2},
                 {"jobmanager.rpc.port": "1", "rest.port": "2"}):
        path.write_text(json.dumps(data))
        assert read_ports_file(str(path)) == {"rpc": 1, "rest": 2}


def _raise_from_script(tmp_path, body: str) -> tuple[BaseException, str]:
    script = tmp_path / "s.py"
    script.write_text(body)
    try:
        exec(compile(body, str(script), "exec"), {"__name__": "__main__"})
    except BaseException as e:  # noqa: BLE001 - the test inspects it
        return e, str(script)
    raise AssertionError("script did not raise")


def test_script_traceback_helpers(tmp_path):
    exc, script = _raise_from_script(tmp_path, "def f():\n    return 1 / 0\n\nf()\n")
    assert failing_line(exc, script) == 2
    assert [f.lineno for f in script_frames(exc, script)] == [4, 2]
    lines = format_script_failure(exc, script).splitlines()
    assert lines[0] == f"job script '{script}' failed at line 2: ZeroDivisionError: division by zero"
    assert lines[1] == "Traceback (most recent call last, job script frames only):"
    assert "test_helpers.py" not in "\n".join(lines)                  # frames before the script are dropped
    assert lines[-1] == "ZeroDivisionError: division by zero"
    assert describe_exception(ValueError()) == "ValueError"


def test_failure_message_and_results():
    details = common_pb2.JobDetails(job_id="j1", name="wc", state="FAILED", start_time=1, end_time=5,
                                    root_exception="Traceback\nValueError: bad")
    details.exceptions.add(exception_name="ValueError", stacktrace="Traceback\nValueError: bad",
                           task_name="Map (2/2)", location="10.0.0.1:5000")
    details.exceptions.add(exception_name="ValueError", stacktrace="Traceback\nValueError: other")
    text = failure_message(details)
    assert text.startswith("Job 'wc' (j1) failed in task 'Map (2/2)' on 10.0.0.1:5000:\n  Traceback")
    assert "1 more exception(s)" in text
    with pytest.raises(JobExecutionError, match="ValueError: bad"):
        result_of(details, 0)
    empty = common_pb2.JobDetails(job_id="j2", name="x", state="FAILED")
    assert "reported no exception" in failure_message(empty)
    done = common_pb2.JobDetails(job_id="j3", name="x", state="FINISHED")
    assert result_of(done, 77).net_runtime_ms == 77                   # no server times: client's measure


def test_trim_remote_traceback_keeps_user_frames():
    from strom.client.execution.tracebacks import trim_traceback_text

    text = textwrap.dedent("""\
        Traceback (most recent call last):
          File "/opt/venv/lib/python3.11/site-packages/strom/taskmanager/runtime/task.py", line 119, in run
            self._run_inputs()
          File "/opt/venv/lib/python3.11/site-packages/strom/taskmanager/operators/stateless.py", line 33, in process
            self.output.emit(Batch.of_records(list(map(self._call, batch.records))))
                                              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
          File "/home/me/boom.py", line 5, in explode
            return 10 // (x - 3)
                   ~~~^^~~~~~~~~
        ZeroDivisionError: integer division or modulo by zero""")
    assert trim_traceback_text(text).splitlines() == [
        "Traceback (most recent call last):",
        '  File "/home/me/boom.py", line 5, in explode',
        "    return 10 // (x - 3)",
        "           ~~~^^~~~~~~~~",
        "ZeroDivisionError: integer division or modulo by zero"]
    only_strom = "\n".join(text.splitlines()[:6] + ["RuntimeError: internal"])
    assert trim_traceback_text(only_strom) == only_strom       # nothing of the user's: keep everything
