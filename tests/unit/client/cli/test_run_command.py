"""`strom run`: the script runs in-process with its own arguments, the right target, and clear failures."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from click.testing import CliRunner

from strom.client.cli.main import cli


def write(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def run(*args: str, env: dict[str, str] | None = None):  # noqa: ANN201
    return CliRunner().invoke(cli, ["run", *args], env=env)


TARGET_PROBE = """
    import json, sys
    from strom.client.execution.context import current_target

    t = current_target()
    json.dump({"argv": sys.argv[1:], "address": t.jobmanager_address, "parallelism": t.parallelism,
               "detached": t.detached, "local": t.is_local, "savepoint": t.savepoint_path,
               "name": __name__, "par_default": t.default_parallelism,
               "dyn": t.config.get("pipeline.name")},
              open(sys.argv[-1], "w"))
"""


def probe(tmp_path: Path, *strom_args: str, script_args: tuple[str, ...] = (), env=None):  # noqa: ANN001, ANN201
    script = write(tmp_path, "probe.py", TARGET_PROBE)
    out = tmp_path / "out.json"
    result = run(*strom_args, script, *script_args, str(out), env=env)
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), result


def test_script_arguments_pass_through_untouched(tmp_path):
    seen, _ = probe(tmp_path, script_args=("--input", "x.txt", "-p", "7", "-m", "h:1", "-d", "--", "-D", "k=v"))
    assert seen["argv"][:-1] == ["--input", "x.txt", "-p", "7", "-m", "h:1", "-d", "--", "-D", "k=v"]
    assert seen["address"] is None and seen["parallelism"] is None and not seen["detached"]
    assert seen["name"] == "__main__"


def test_strom_flags_set_the_target(tmp_path):
    seen, result = probe(tmp_path, "-m", "10.0.0.1:7000", "-p", "4", "-d", "-s", "/sp/1", "-D", "pipeline.name=x")
    assert seen["address"] == "10.0.0.1:7000"
    assert seen["parallelism"] == 4 and seen["par_default"] == 4
    assert seen["detached"] is True and seen["local"] is False
    assert seen["savepoint"] == "/sp/1"
    assert seen["dyn"] == "x"
    # the script submitted nothing: warned, not failed
    assert "without submitting a job" in result.stderr


def test_without_cluster_in_config_the_target_is_local(tmp_path):
    seen, _ = probe(tmp_path, "-D", "parallelism.default=3")
    assert seen["local"] is True and seen["address"] is None and seen["par_default"] == 3


def test_remote_target_from_config(tmp_path):
    env = {"STROM_PROPERTIES": "execution.target: remote\njobmanager.rpc.address: jm\njobmanager.rpc.port: 7123"}
    seen, _ = probe(tmp_path, env=env)
    assert seen["address"] == "jm:7123" and not seen["local"]


def test_ha_config_targets_the_leader(tmp_path):
    env = {"STROM_PROPERTIES": "high-availability.type: zookeeper\nhigh-availability.zookeeper.quorum: zk:2181"}
    seen, _ = probe(tmp_path, env=env)
    assert seen["address"] is None and not seen["local"]


def test_name_error_reports_script_line_and_only_script_frames(tmp_path):
    script = write(tmp_path, "wc.py", """\
        import sys


        def words():
            return txt.split()


        words()
    """)
    result = run(script)
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first == f"job script '{script}' failed at line 5: NameError: name 'txt' is not defined"
    assert 'line 8, in <module>' in result.stderr and 'line 5, in words' in result.stderr
    assert "runpy" not in result.stderr and "client/cli" not in result.stderr and "click" not in result.stderr


def test_syntax_error_reports_line(tmp_path):
    script = write(tmp_path, "bad.py", "x = 1\nif x\n    pass\n")
    result = run(script)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"job script '{script}' failed at line 2: SyntaxError:")


def test_error_inside_strom_api_points_at_the_script_line(tmp_path):
    script = write(tmp_path, "empty.py", """\
        from strom import StreamExecutionEnvironment

        env = StreamExecutionEnvironment.get_execution_environment()
        env.execute("nothing")
    """)
    result = run(script)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"job script '{script}' failed at line 4: JobGraphError:")
    assert "environment.py" not in result.stderr


def test_missing_script(tmp_path):
    result = run(str(tmp_path / "nope.py"))
    assert result.exit_code == 1
    assert "job script" in result.output and "nope.py' does not exist" in result.output


def test_script_exit_codes_and_argparse(tmp_path):
    script = write(tmp_path, "exits.py", """\
        import argparse, sys
        parser = argparse.ArgumentParser(prog="exits")
        parser.add_argument("--code", type=int, required=True)
        args = parser.parse_args()
        sys.exit(args.code)
    """)
    assert run(script, "--code", "3").exit_code == 3
    assert run(script, "--code", "0").exit_code == 0
    result = run(script, "--help")
    assert result.exit_code == 0 and "usage: exits" in result.output
    assert run(script).exit_code == 2                      # argparse's own error exit


def test_script_sees_its_folder_on_sys_path(tmp_path):
    (tmp_path / "helper_mod_for_strom_test.py").write_text("VALUE = 42\n")
    script = write(tmp_path, "uses_helper.py", """\
        import sys
        import helper_mod_for_strom_test
        assert helper_mod_for_strom_test.VALUE == 42
        sys.exit(0)
    """)
    assert run(script).exit_code == 0


def test_unknown_strom_option_before_script(tmp_path):
    result = run("--bogus", "x.py")
    assert result.exit_code == 2
    assert "No such option: --bogus" in result.output
