"""``datamint config`` (and the legacy ``datamint-config``): where the SDK finds its server and key."""

from __future__ import annotations

import shutil
from typing import Annotated

import typer

from datamint import configs
from datamint.cli.help import TYPER_SETTINGS, PlainHelpCommand

HELP = ("Set the API key and server URL the SDK uses, test them, and manage the local cache.\n\n"
        "New values are tested against the server before they are saved (--no-test saves them "
        "untested, e.g. before the server is up); 'datamint config --test' tests what is saved and "
        "exits with 1 when the server cannot be reached or refuses the key.\n\n"
        "Examples:\n\n"
        "  datamint config --api-key dmk_... --url http://localhost:5000\n\n"
        "  datamint config --test\n\n"
        "  datamint config -i            (asks for each value)\n\n"
        "  datamint config --list-local-data")


def _mask(key: str | None) -> str:
    if not key:
        return "(not set)"
    return key[:8] + "…" + key[-4:] if len(key) > 16 else "***"


def _test_connection(url: str | None, api_key: str | None, unsaved: bool = False) -> None:
    """Check ``url`` and ``api_key`` with one request; exit 1 with the reason when they do not work."""
    from datamint.api.client import Api
    from datamint.exceptions import DatamintException

    try:
        Api(url, api_key, check_connection=True).close()
    except DatamintException as exc:
        typer.secho(f"Connection test failed: {exc}", fg=typer.colors.RED, err=True)
        if unsaved:
            typer.secho("Nothing was saved; fix the value, or pass --no-test to save it anyway.",
                        fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.secho(f"Connected to {url or configs.get_value(configs.APIURL_KEY)}", fg=typer.colors.GREEN)


def _cache_groups() -> list[tuple[str, int]]:
    root = configs.data_dir()
    if not root.exists():
        return []
    groups = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        size = sum(f.stat().st_size for f in child.rglob("*") if f.is_file())
        groups.append((child.name, size))
    return groups


def config_command(
    api_key: Annotated[str | None, typer.Option("--api-key", metavar="KEY",
                                                help="Your API key (stored in the config file)")] = None,
    url: Annotated[str | None, typer.Option("--url", "--default-url", metavar="URL",
                                            help="Server URL, e.g. http://localhost:5000")] = None,
    interactive: Annotated[bool, typer.Option("-i", "--interactive", help="Ask for each value")] = False,
    test: Annotated[bool | None, typer.Option(
        "--test/--no-test", show_default=False,
        help="--test: test the saved (or given) URL and key; --no-test: save new values without testing them")
    ] = None,
    list_local_data: Annotated[bool, typer.Option("--list-local-data", help="Show cached data groups")] = False,
    clean_local_data: Annotated[
        str | None, typer.Option("--clean-local-data", metavar="GROUP",
                                   help="Delete one cached group (see --list-local-data)")
    ] = None,
    clean_all_local_data: Annotated[
        bool, typer.Option("--clean-all-local-data", help="Delete the whole cache")
    ] = False,
) -> None:
    """Configure the SDK (see HELP)."""
    if list_local_data:
        groups = _cache_groups()
        if not groups:
            typer.echo(f"No local data in {configs.data_dir()}")
        for name, size in groups:
            typer.echo(f"{name:30s} {size / 1e6:10.1f} MB")
        return
    if clean_local_data:
        target = (configs.data_dir() / clean_local_data).resolve()
        if configs.data_dir().resolve() not in target.parents or not target.is_dir():
            typer.secho(f"No cached group named {clean_local_data!r}; see --list-local-data", err=True)
            raise typer.Exit(1)
        shutil.rmtree(target)
        typer.echo(f"Deleted {target}")
        return
    if clean_all_local_data:
        if configs.data_dir().exists():
            shutil.rmtree(configs.data_dir())
        typer.echo(f"Deleted {configs.data_dir()}")
        return
    if interactive:
        current = configs.read_config()
        url = typer.prompt("Server URL", default=current.get(configs.APIURL_KEY, configs.DEFAULT_API_URL))
        api_key = typer.prompt(f"API key [{_mask(current.get(configs.APIKEY_KEY))}]", default="",
                               show_default=False, hide_input=True) or current.get(configs.APIKEY_KEY)
    if url is not None and not url.startswith(("http://", "https://")):
        typer.secho(f"Invalid URL {url!r}: it must start with http:// or https://", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    if api_key is None and url is None:
        values = configs.read_config()
        typer.echo(f"Config file: {configs.config_path()}")
        typer.echo(f"Server URL:  {configs.get_value(configs.APIURL_KEY)}")
        typer.echo(f"API key:     {_mask(configs.get_value(configs.APIKEY_KEY))}")
        if not values:
            typer.echo("Nothing saved yet: run 'datamint config --api-key KEY --url URL'.")
        if test:
            _test_connection(None, None)
        return
    if test is not False:
        _test_connection(url or configs.get_value(configs.APIURL_KEY),
                         api_key or configs.get_value(configs.APIKEY_KEY), unsaved=True)
    given = {configs.APIKEY_KEY: api_key, configs.APIURL_KEY: url}
    path = configs.write_config({key: value for key, value in given.items() if value})  # None would remove it
    typer.echo(f"Saved to {path}")


def legacy_main() -> None:
    """Entry point of the legacy ``datamint-config`` script."""
    from datamint.cli.main import run_cli

    app = typer.Typer(add_completion=True, **TYPER_SETTINGS)
    app.command(help=HELP, cls=PlainHelpCommand)(config_command)
    run_cli(app)
