"""``strom list``, ``strom info JOB`` and ``strom cancel JOB``: talk to a running JobManager."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import click

from strom.client.cli.options import (
    cluster_address,
    config_options,
    jobmanager_option,
    load_config,
    setup_client_logging,
    verbose_option,
)
from strom.client.execution.connection import ClusterConnection
from strom.client.execution.job_client import job_status
from strom.common.config import Configuration
from strom.common.errors import StromError


def _connect(jobmanager: str | None, dynamic: tuple[str, ...], config_path: str | None,
             verbose: int) -> ClusterConnection:
    setup_client_logging(verbose)
    config: Configuration = load_config(config_path, dynamic)
    return ClusterConnection.open(config, cluster_address(config, jobmanager))


@click.command("list")
@jobmanager_option
@click.option("-r", "--running", is_flag=True, help="Only jobs that have not ended.")
@config_options
@verbose_option
def list_command(jobmanager: str | None, running: bool, dynamic: tuple[str, ...], config_path: str | None,
                 verbose: int) -> None:
    """List the JobManager's jobs: running ones first, then ended ones, newest first.

    \b
    strom list -m 127.0.0.1:6123
    """
    with _connect(jobmanager, dynamic, config_path, verbose) as conn:
        jobs = conn.list_jobs()
    if running:
        jobs = [j for j in jobs if not _ended(j)]
    if not jobs:
        click.echo("No running jobs." if running else "No jobs.")
        return
    jobs.sort(key=lambda j: (_ended(j), -j.start_time))
    rows = [[j.job_id, j.name, j.state, format_time(j.start_time), format_duration(j)] for j in jobs]
    click.echo(format_table(["JOB ID", "NAME", "STATE", "START TIME", "DURATION"], rows))


@click.command("info")
@jobmanager_option
@config_options
@verbose_option
@click.argument("job_id", metavar="JOB")
def info_command(jobmanager: str | None, dynamic: tuple[str, ...], config_path: str | None, verbose: int,
                 job_id: str) -> None:
    """Show a job: state, times, vertices with parallelism and state, exceptions with tracebacks.

    \b
    strom info -m 127.0.0.1:6123 4f1c...
    """
    with _connect(jobmanager, dynamic, config_path, verbose) as conn:
        details = conn.get_job(job_id)
    click.echo(format_details(details))


@click.command("cancel")
@jobmanager_option
@config_options
@verbose_option
@click.argument("job_id", metavar="JOB")
def cancel_command(jobmanager: str | None, dynamic: tuple[str, ...], config_path: str | None, verbose: int,
                   job_id: str) -> None:
    """Cancel a running job.

    \b
    strom cancel -m 127.0.0.1:6123 4f1c...
    """
    with _connect(jobmanager, dynamic, config_path, verbose) as conn:
        details = conn.get_job(job_id)
        if _ended(details):
            raise StromError(f"Job {job_id} has already ended ({details.state}); there is nothing to cancel.")
        click.echo(f"Cancelling job {job_id}.")
        conn.cancel_job(job_id)
    click.echo(f"Cancelled job {job_id}.")


# ---- formatting ------------------------------------------------------------

def _ended(details: Any) -> bool:
    status = job_status(details)
    return status is not None and status.is_globally_terminal


def format_time(epoch_ms: int) -> str:
    if epoch_ms <= 0:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_ms / 1000))


def format_duration(details: Any, now_ms: int | None = None) -> str:
    if details.start_time <= 0:
        return "-"
    end = details.end_time if details.end_time > 0 else (now_ms or int(time.time() * 1000))
    seconds = max(0, end - details.start_time) / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    return "\n".join(lines)


def format_details(details: Any) -> str:
    out = [
        f"Job:        {details.name} ({details.job_id})",
        f"State:      {details.state}",
        f"Started:    {format_time(details.start_time)}",
        f"Ended:      {format_time(details.end_time)}",
        f"Duration:   {format_duration(details)}",
        f"Restarts:   {details.restarts}",
        "",
        "Vertices:",
    ]
    rows = []
    for v in details.vertices:
        counts = ", ".join(f"{state}={n}" for state, n in sorted(v.task_counts.items()) if n)
        rows.append([v.name, str(v.parallelism), v.state, counts or "-"])
    out.append(_indent(format_table(["NAME", "PARALLELISM", "STATE", "TASKS"], rows)) if rows else "  (none)")
    root = (details.root_exception or "").strip()
    entries = list(details.exceptions)
    out += ["", "Exceptions:"]
    if not root and not entries:
        out.append("  (none)")
    if root:
        out += ["  Root exception:", _indent(root, 4)]
    for e in entries:
        where = " ".join(x for x in (format_time(e.timestamp), f"task '{e.task_name}'" if e.task_name else "",
                                     f"on {e.location}" if e.location else "") if x and x != "-")
        out.append(f"  {e.exception_name or 'Exception'}{' (' + where + ')' if where else ''}:")
        if e.stacktrace.strip():
            out.append(_indent(e.stacktrace.strip(), 4))
    return "\n".join(out)


def _indent(text: str, n: int = 2) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())
