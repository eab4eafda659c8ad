"""`strom jobmanager start` / `strom taskmanager start`: flags, config precedence, failures."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from strom import __version__
from strom.client.cli import daemons
from strom.client.cli.main import cli
from strom.common.config import Configuration
from strom.common.errors import StromError


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Configuration]:
    """Replaces the daemons' entrypoints: records the Configuration they would get; no port checks."""
    seen: dict[str, Configuration] = {}

    def load(module: str):  # noqa: ANN202
        def main(config: Configuration) -> None:
            seen[module] = config
        return main

    monkeypatch.setattr(daemons, "load_entrypoint", load)
    monkeypatch.setattr(daemons, "check_port_free", lambda *a, **k: None)
    monkeypatch.setattr(daemons, "arm_parent_death_signal", lambda: None)
    return seen


def _jm(captured: dict[str, Configuration]) -> Configuration:
    return captured[daemons.JOBMANAGER_ENTRYPOINT]


def _tm(captured: dict[str, Configuration]) -> Configuration:
    return captured[daemons.TASKMANAGER_ENTRYPOINT]


def _value(config: Configuration, key: str) -> str | None:
    """The effective value of ``key`` (set or default)."""
    return config.effective().get(key)


def invoke(*args: str, env: dict[str, str] | None = None):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"strom {__version__}"


def test_jobmanager_defaults_are_flinks_ports(captured):
    assert invoke("jobmanager", "start").exit_code == 0
    config = _jm(captured)
    assert _value(config, "jobmanager.rpc.port") == "6123"
    assert _value(config, "rest.port") == "8081"


def test_precedence_file_env_dynamic_flag(captured, tmp_path):
    conf = tmp_path / "strom.yaml"
    conf.write_text("jobmanager.rpc.port: 1001\nrest.port: 2001\nparallelism.default: 3\nheartbeat.timeout: 9 s\n")
    env = {"STROM_PROPERTIES": "jobmanager.rpc.port: 1002\nrest.port: 2002\nparallelism.default: 4"}

    invoke("jobmanager", "start", "--config", str(conf), env=env)
    config = _jm(captured)
    assert _value(config, "heartbeat.timeout") == "9 s"           # file beats defaults
    assert _value(config, "parallelism.default") == "4"           # env beats file
    assert _value(config, "jobmanager.rpc.port") == "1002"

    invoke("jobmanager", "start", "--config", str(conf), "-D", "jobmanager.rpc.port=1003", "-Drest.port=2003",
           env=env)
    assert _value(_jm(captured), "jobmanager.rpc.port") == "1003"    # -D beats env
    assert _value(_jm(captured), "rest.port") == "2003"              # -Dkey=value without a space works too

    invoke("jobmanager", "start", "--config", str(conf), "-D", "jobmanager.rpc.port=1003", "--rpc-port", "1004",
           env=env)
    assert _value(_jm(captured), "jobmanager.rpc.port") == "1004"    # explicit flag beats -D


def test_config_dir_from_environment(captured, tmp_path):
    (tmp_path / "strom.yaml").write_text("rest.port: 18081\n")
    invoke("jobmanager", "start", env={"STROM_CONF_DIR": str(tmp_path)})
    assert _value(_jm(captured), "rest.port") == "18081"


def test_jobmanager_host_sets_bind_and_advertised_addresses(captured):
    invoke("jobmanager", "start", "--host", "10.1.2.3", "--rest-port", "0")
    config = _jm(captured)
    for key in ("jobmanager.rpc.address", "jobmanager.bind-host", "rest.address", "rest.bind-address"):
        assert _value(config, key) == "10.1.2.3"
    assert _value(config, "rest.port") == "0"


def test_taskmanager_flags(captured):
    result = invoke("taskmanager", "start", "--jobmanager", "10.0.0.5:7000", "--slots", "3", "--host", "10.0.0.9",
                    "-D", "taskmanager.numberOfTaskSlots=8")
    assert result.exit_code == 0
    config = _tm(captured)
    assert _value(config, "jobmanager.rpc.address") == "10.0.0.5"
    assert _value(config, "jobmanager.rpc.port") == "7000"
    assert _value(config, "taskmanager.numberOfTaskSlots") == "3"    # --slots beats -D
    assert _value(config, "taskmanager.host") == "10.0.0.9"


def test_taskmanager_without_jobmanager_flag_uses_config(captured):
    invoke("taskmanager", "start", env={"STROM_PROPERTIES": "jobmanager.rpc.address: jm.example\n"})
    config = _tm(captured)
    assert _value(config, "jobmanager.rpc.address") == "jm.example"
    assert _value(config, "jobmanager.rpc.port") == "6123"


@pytest.mark.parametrize("address", ["nohost", "host:", ":6123", "host:notaport", "host:70000"])
def test_taskmanager_rejects_bad_jobmanager_address(captured, address):
    result = CliRunner().invoke(cli, ["taskmanager", "start", "--jobmanager", address])
    assert result.exit_code == 1
    assert "HOST:PORT" in result.output
    assert captured == {}


def test_bad_flag_values_are_usage_errors(captured):
    assert CliRunner().invoke(cli, ["taskmanager", "start", "--slots", "0"]).exit_code == 2
    assert CliRunner().invoke(cli, ["jobmanager", "start", "--rpc-port", "70000"]).exit_code == 2
    result = CliRunner().invoke(cli, ["jobmanager", "start", "-D", "novalue"])
    assert result.exit_code == 1
    assert "-D expects key=value" in result.output


def test_missing_config_file_is_named(captured, tmp_path):
    result = CliRunner().invoke(cli, ["jobmanager", "start", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml" in result.output and "does not exist" in result.output


def test_entrypoint_errors_become_messages(monkeypatch):
    monkeypatch.setattr(daemons, "check_port_free", lambda *a, **k: None)
    monkeypatch.setattr(daemons, "arm_parent_death_signal", lambda: None)

    def failing(error: BaseException):  # noqa: ANN202
        def main(config: Configuration) -> None:
            raise error
        return lambda module: main

    monkeypatch.setattr(daemons, "load_entrypoint", failing(StromError("registration timed out")))
    result = CliRunner().invoke(cli, ["taskmanager", "start"])
    assert result.exit_code == 1
    assert "Error: registration timed out" in result.output

    monkeypatch.setattr(daemons, "load_entrypoint",
                        failing(RuntimeError("Failed to bind to address 127.0.0.1:6123")))
    result = CliRunner().invoke(cli, ["jobmanager", "start"])
    assert result.exit_code == 1
    assert "already in use" in result.output

    monkeypatch.setattr(daemons, "load_entrypoint", failing(KeyboardInterrupt()))
    assert CliRunner().invoke(cli, ["jobmanager", "start"]).exit_code == 0


def test_port_in_use_message_names_flag_and_key():
    message = daemons.port_in_use_message("JobManager", "127.0.0.1", 6123, "jobmanager.rpc.port", "--rpc-port")
    assert "port 6123 on 127.0.0.1 is already in use" in message
    assert "--rpc-port" in message and "jobmanager.rpc.port" in message
