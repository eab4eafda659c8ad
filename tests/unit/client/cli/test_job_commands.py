"""`strom list`, `strom info`, `strom cancel` against an in-memory Dispatcher."""

from __future__ import annotations

from click.testing import CliRunner

from strom.client.cli.jobs import format_duration, format_table
from strom.client.cli.main import cli

RUNNING_ID = "1" * 32
DONE_ID = "2" * 32
FAILED_ID = "3" * 32


def fill(fake) -> None:  # noqa: ANN001
    fake.add_job(DONE_ID, "wordcount", "FINISHED", start=1_700_000_000_000, end=1_700_000_002_500,
                 vertices=[("Source: words -> Flat Map", 2, "FINISHED"), ("Keyed Aggregation -> Sink", 2, "FINISHED")])
    fake.add_job(RUNNING_ID, "clicks", "RUNNING", start=1_700_000_100_000,
                 vertices=[("Source: clicks", 4, "RUNNING")])
    fake.add_job(FAILED_ID, "broken", "FAILED", start=1_700_000_050_000, end=1_700_000_051_000,
                 root_exception="Traceback (most recent call last):\nZeroDivisionError: division by zero")


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args))


def test_list_table_running_first(fake_dispatcher):
    fill(fake_dispatcher)
    result = invoke("list", "-m", "127.0.0.1:6123")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["JOB", "ID", "NAME", "STATE", "START", "TIME", "DURATION"]
    assert [line.split()[0] for line in lines[1:]] == [RUNNING_ID, FAILED_ID, DONE_ID]
    assert "wordcount" in lines[3] and "FINISHED" in lines[3] and "2.5 s" in lines[3]


def test_list_running_only_and_empty(fake_dispatcher):
    assert invoke("list", "-m", "127.0.0.1:6123").stdout.strip() == "No jobs."
    fill(fake_dispatcher)
    out = invoke("list", "-m", "127.0.0.1:6123", "--running").stdout
    assert RUNNING_ID in out and DONE_ID not in out


def test_list_uses_configured_address(fake_dispatcher):
    result = CliRunner().invoke(cli, ["list"], env={"STROM_PROPERTIES": "jobmanager.rpc.address: jm.example\n"
                                                                          "jobmanager.rpc.port: 7000"})
    assert result.exit_code == 0
    assert fake_dispatcher.connects == 1


def test_info_shows_vertices_and_exceptions(fake_dispatcher):
    fill(fake_dispatcher)
    out = invoke("info", "-m", "127.0.0.1:6123", DONE_ID).stdout
    assert f"wordcount ({DONE_ID})" in out and "FINISHED" in out
    assert "Source: words -> Flat Map" in out and "FINISHED=2" in out
    out = invoke("info", "-m", "127.0.0.1:6123", FAILED_ID).stdout
    assert "ZeroDivisionError: division by zero" in out and "Map (1/1)" in out


def test_unknown_job_for_info_and_cancel(fake_dispatcher):
    for command in ("info", "cancel"):
        result = invoke(command, "-m", "127.0.0.1:6123", "f" * 32)
        assert result.exit_code == 1
        assert result.stderr.strip() == (
            f"Error: Job '{'f' * 32}' is unknown to the JobManager at 127.0.0.1:6123. "
            "List its jobs with 'strom list -m 127.0.0.1:6123'.")


def test_cancel(fake_dispatcher):
    fill(fake_dispatcher)
    result = invoke("cancel", "-m", "127.0.0.1:6123", RUNNING_ID)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [f"Cancelling job {RUNNING_ID}.", f"Cancelled job {RUNNING_ID}."]
    assert fake_dispatcher.cancelled == [RUNNING_ID]
    result = invoke("cancel", "-m", "127.0.0.1:6123", DONE_ID)
    assert result.exit_code == 1 and "already ended (FINISHED)" in result.stderr


def test_unreachable(fake_dispatcher):
    fake_dispatcher.unreachable = True
    for args in (["list"], ["info", DONE_ID], ["cancel", DONE_ID]):
        result = invoke(*args[:1], "-m", "127.0.0.1:6123", *args[1:])
        assert result.exit_code == 1
        assert "Could not reach the JobManager at 127.0.0.1:6123: connection refused" in result.stderr


def test_formatting_helpers():
    assert format_table(["A", "BB"], [["xyz", "1"]]) == "A    BB\nxyz  1"

    class D:
        start_time, end_time = 1000, 0

    assert format_duration(D(), now_ms=3500) == "2.5 s"
    D.end_time = 1000 + 3_725_000
    assert format_duration(D()) == "1h 02m 05s"
