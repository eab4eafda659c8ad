import pytest

from strom.common.config import (
    HEARTBEAT_INTERVAL,
    REST_PORT,
    Configuration,
    parse_duration_ms,
    parse_dynamic_properties,
)
from strom.common.errors import ConfigurationError, IllegalStateTransitionError
from strom.common.states import ExecutionState, JobStatus, check_execution_transition, check_job_transition


def test_precedence_file_env_overrides(tmp_path):
    conf = tmp_path / "strom.yaml"
    conf.write_text("# comment\nrest.port: 9000\nheartbeat.interval: 2 s\nparallelism.default: 3\n")
    c = Configuration.load(str(conf), overrides={"parallelism.default": "5"},
                           environ={"STROM_PROPERTIES": "rest.port: 9100"})
    assert c.get_int(REST_PORT) == 9100
    assert c.get_duration_ms(HEARTBEAT_INTERVAL) == 2000
    assert c.get("parallelism.default") == "5"


def test_bad_values_name_the_key(tmp_path):
    with pytest.raises(ConfigurationError, match="rest.port"):
        Configuration({"rest.port": "eighty"}).get_int(REST_PORT)
    with pytest.raises(ConfigurationError, match="heartbeat.interval"):
        Configuration({"heartbeat.interval": "soon"}).get_duration_ms(HEARTBEAT_INTERVAL)
    with pytest.raises(ConfigurationError, match="does not exist"):
        Configuration.load(str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigurationError, match="key=value"):
        parse_dynamic_properties(["novalue"])


def test_durations():
    assert parse_duration_ms("100 ms") == 100
    assert parse_duration_ms("10 s") == 10_000
    assert parse_duration_ms("1 min") == 60_000
    assert parse_duration_ms("250") == 250


def test_job_state_machine_allows_flinks_moves_only():
    check_job_transition(JobStatus.CREATED, JobStatus.RUNNING)
    check_job_transition(JobStatus.RUNNING, JobStatus.RESTARTING)
    check_job_transition(JobStatus.RESTARTING, JobStatus.RUNNING)
    with pytest.raises(IllegalStateTransitionError):
        check_job_transition(JobStatus.FINISHED, JobStatus.RUNNING)
    with pytest.raises(IllegalStateTransitionError):
        check_job_transition(JobStatus.CANCELED, JobStatus.FAILED)


def test_execution_state_machine():
    path = [ExecutionState.CREATED, ExecutionState.SCHEDULED, ExecutionState.DEPLOYING,
            ExecutionState.INITIALIZING, ExecutionState.RUNNING, ExecutionState.FINISHED]
    for a, b in zip(path, path[1:], strict=False):
        check_execution_transition(a, b)
    assert ExecutionState.FINISHED.is_terminal and not ExecutionState.RUNNING.is_terminal
    with pytest.raises(IllegalStateTransitionError):
        check_execution_transition(ExecutionState.FAILED, ExecutionState.RUNNING)
