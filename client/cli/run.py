"""``strom run [-m HOST:PORT] [-p N] [-d] [-s SAVEPOINT] SCRIPT [ARGS...]``.

Sets the current ExecutionTarget and runs the job script in this process;
the script's ``env.execute()`` submits through ``strom.client.execution``.
Everything after SCRIPT belongs to the script (its own argparse works).

Exit codes: 0 when every job FINISHED (or was submitted, with ``-d``); 1 when
the script raised, a job FAILED or was cancelled, or the cluster was
unreachable; the script's own ``sys.exit(n)``; 130 on Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from strom.client.cli.options import config_options, jobmanager_option, load_config, setup_client_logging
from strom.client.cli.script import format_script_failure, run_script
from strom.client.execution.context import JobListener, set_current_target, target_from_config
from strom.client.execution.job_client import JobExecutionResult
from strom.common.config import parse_dynamic_properties
from strom.common.errors import ClusterUnreachableError, JobExecutionError


class CliJobListener(JobListener):
    """Prints submissions and results the way ``flink run`` does, and remembers them."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.executed: list[str] = []

    def on_job_submitted(self, job_id: str, job_name: str) -> None:
        self.submitted.append(job_id)
        click.echo(f"Job has been submitted with JobID {job_id}")

    def on_job_executed(self, result: JobExecutionResult) -> None:
        self.executed.append(result.job_id)
        seconds = (result.net_runtime_ms or 0) / 1000.0
        click.echo(f"Job {result.job_id} finished in {seconds:.2f} s")


@click.command("run", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@jobmanager_option
@click.option("-p", "--parallelism", type=click.IntRange(min=1),
              help="Default parallelism of the job's operators [parallelism.default].")
@click.option("-d", "--detached", is_flag=True, help="Return once the job is submitted; do not wait for it.")
@click.option("-s", "--from-savepoint", "savepoint", metavar="PATH", help="Restore the job from this savepoint.")
@config_options
@click.option("-v", "--verbose", count=True, help="Log progress to stderr (-v: info, -vv: debug).")
@click.argument("script", metavar="SCRIPT")
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED, metavar="[ARGS]...")
def run_command(jobmanager: str | None, parallelism: int | None, detached: bool, savepoint: str | None,
                dynamic: tuple[str, ...], config_path: str | None, verbose: int, script: str,
                script_args: tuple[str, ...]) -> None:
    """Run a job script: build its job and submit it.

    Without -m and without a cluster in the configuration, the job runs on an
    embedded local cluster started for it.

    \b
    strom run examples/wordcount.py --input words.txt
    strom run -m 127.0.0.1:6123 -p 4 -d job.py
    """
    if script.startswith("-"):
        raise click.UsageError(f"No such option: {script}")
    if not os.path.exists(script):
        raise click.ClickException(f"job script '{script}' does not exist (looked in {os.getcwd()})")
    if os.path.isdir(script):
        raise click.ClickException(f"job script '{script}' is a directory; give the path of a .py file")
    setup_client_logging(verbose)
    config = load_config(config_path, dynamic)
    target = target_from_config(config, jobmanager, detached=detached, parallelism=parallelism,
                                savepoint_path=savepoint, job_config=parse_dynamic_properties(dynamic))
    listener = CliJobListener()
    target.listeners.append(listener)
    previous = set_current_target(target)
    try:
        with _sigterm_as_exit():
            run_script(script, script_args)
    except SystemExit as e:
        code = e.code
        if code is None or isinstance(code, int):
            sys.exit(code or 0)
        click.echo(str(code), err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        _hint_running_jobs(listener, target.jobmanager_address)
        sys.exit(130)
    except JobExecutionError as e:
        click.echo(str(e), err=True)
        sys.exit(1)
    except ClusterUnreachableError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(1)
    except Exception as e:
        click.echo(format_script_failure(e, script), err=True)
        sys.exit(1)
    finally:
        set_current_target(previous)
    if not listener.submitted:
        click.echo(f"Warning: job script '{script}' finished without submitting a job "
                   f"(did it call env.execute()?)", err=True)


def _hint_running_jobs(listener: CliJobListener, address: str | None) -> None:
    if address is None:
        return  # the embedded cluster and its jobs stop with this client
    for job_id in listener.submitted:
        if job_id not in listener.executed:
            click.echo(f"Job {job_id} keeps running on the cluster; cancel it with "
                       f"'strom cancel -m {address} {job_id}'.", err=True)


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so ``finally`` blocks (stopping a local cluster) run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
