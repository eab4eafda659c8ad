"""The ``strom`` command (console script ``strom = strom.client.cli.main:main``).

    strom jobmanager start [--rpc-port P] [--rest-port Q] [--host H] [-D k=v ...] [--config PATH]
    strom taskmanager start --jobmanager HOST:PORT [--slots N] [--host H] [-D ...] [--config PATH]
    strom run [-m HOST:PORT] [-p N] [-d] [-s SAVEPOINT] [-D ...] [--config PATH] SCRIPT [ARGS...]
    strom list [-m HOST:PORT]
    strom info [-m HOST:PORT] JOB
    strom cancel [-m HOST:PORT] JOB

Every StromError becomes ``Error: <message>`` on stderr and exit code 1.
"""

from __future__ import annotations

from typing import Any

import click

from strom import __version__
from strom.client.cli.daemons import jobmanager_group, taskmanager_group
from strom.client.cli.jobs import cancel_command, info_command, list_command
from strom.client.cli.run import run_command
from strom.common.errors import StromError


class StromGroup(click.Group):
    """Turns StromErrors into click errors: ``Error: <message>``, exit code 1, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StromError as e:
            raise click.ClickException(str(e)) from e


@click.group(cls=StromGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="strom", message="%(prog)s %(version)s")
def cli() -> None:
    """Strom: a stateful, distributed stream processor for Python.

    \b
    strom run job.py                  run a job on an embedded local cluster
    strom jobmanager start            start a JobManager (gRPC 6123, REST 8081)
    strom taskmanager start -m H:P    start a TaskManager that registers with it
    strom run -m H:P -d job.py        submit a job to that cluster
    strom list / info / cancel        look after its jobs
    """


cli.add_command(jobmanager_group)
cli.add_command(taskmanager_group)
cli.add_command(run_command)
cli.add_command(list_command)
cli.add_command(info_command)
cli.add_command(cancel_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="strom")


if __name__ == "__main__":
    main()
