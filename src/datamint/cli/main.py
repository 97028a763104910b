"""The ``datamint`` command: one sub-command per module of this package."""

from __future__ import annotations

import sys

import typer

from datamint.exceptions import DatamintException

app = typer.Typer(
    name="datamint",
    help="Datamint: medical-imaging data and annotation platform.\n\n"
         "Start a server with 'datamint server run', point the SDK at it with 'datamint config', "
         "then use 'datamint upload' or the Python SDK (from datamint import Api).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from datamint.cli import config, jobs, server, upload

    app.command(name="config", help=config.HELP)(config.config_command)
    app.add_typer(server.app, name="server")
    app.add_typer(jobs.app, name="jobs")
    app.command(name="upload", help=upload.HELP)(upload.upload_command)


def run_cli(typer_app: typer.Typer, argv: list[str] | None = None) -> None:
    """Run a Typer app, turning Datamint errors into one clear line and exit code 1."""
    try:
        typer_app(args=argv, standalone_mode=True)
    except DatamintException as exc:
        typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``datamint`` console script."""
    _register()
    run_cli(app, argv)
