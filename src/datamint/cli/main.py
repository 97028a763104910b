"""The ``datamint`` command: one sub-command per module of this package."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from datamint import __version__
from datamint.cli.help import TYPER_SETTINGS, PlainHelpCommand
from datamint.exceptions import DatamintException

app = typer.Typer(
    name="datamint",
    help="Datamint: medical-imaging data and annotation platform.\n\n"
         "Start a server with 'datamint server run', point the SDK at it with 'datamint config', "
         "write a small example study with 'datamint sample-data DIR', then use 'datamint upload' "
         "or the Python SDK (from datamint import Api).",
    no_args_is_help=True,
    **TYPER_SETTINGS,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"datamint {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_show_version, is_eager=True,
                                                help="Print the version and exit")] = False) -> None:
    """Datamint command line."""


def _register() -> None:
    from datamint.cli import config, formats, jobs, models, sample_data, server, upload

    app.command(name="config", help=config.HELP, cls=PlainHelpCommand)(config.config_command)
    app.add_typer(server.app, name="server")
    app.add_typer(jobs.app, name="jobs")
    app.add_typer(models.app, name="models")
    app.command(name="upload", help=upload.HELP, cls=PlainHelpCommand)(upload.upload_command)
    app.command(name="sample-data", help=sample_data.HELP, cls=PlainHelpCommand)(sample_data.sample_data_command)
    app.command(name="export", help=formats.EXPORT_HELP, cls=PlainHelpCommand)(formats.export_command)
    app.command(name="import", help=formats.IMPORT_HELP, cls=PlainHelpCommand)(formats.import_command)
    app.command(name="download", help=formats.DOWNLOAD_HELP, cls=PlainHelpCommand)(formats.download_command)


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
