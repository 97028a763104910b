"""``datamint server``: run, migrate and administer a Datamint server.

This is the only CLI module that imports the server (extra ``[server]``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from datamint import configs

app = typer.Typer(help="Run and administer a Datamint server (needs: pip install 'datamint\\[server]').",
                  no_args_is_help=True)


def _settings(**overrides: Any) -> Any:
    try:
        from datamint.server.config import Settings
    except ImportError as exc:
        typer.secho(f"The server needs the 'server' extra: pip install 'datamint[server]' ({exc})",
                    fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(message)s", stream=sys.stderr)


DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data folder (SQLite file, blobs); "
                                              "env DATAMINT_SERVER_DATA_DIR")]


@app.command("run")
def run(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (env DATAMINT_SERVER_HOST; default 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (env DATAMINT_SERVER_PORT; default 5000)")] = None,
    data_dir: DataDir = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default SQLite in the data dir")] = None,
    storage_url: Annotated[str | None, typer.Option(help="Blob storage: a folder or s3://bucket/prefix")] = None,
    write_sdk_config: Annotated[bool, typer.Option(help="On first start, save URL and key for the SDK")] = True,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (use PostgreSQL when > 1)")] = 1,
) -> None:
    """Start the server. On the first start it creates the admin and prints its API key once.

    Example: datamint server run --port 5000 --data-dir ./datamint-data
    """
    import uvicorn

    from datamint.server.app import create_app, initialize

    settings = _settings(host=host, port=port, data_dir=data_dir, database_url=database_url,
                         storage_url=storage_url)
    _configure_logging(settings.log_level)
    init = initialize(settings)
    url = f"http://{'localhost' if settings.host in ('127.0.0.1', '0.0.0.0') else settings.host}:{settings.port}"
    typer.secho(f"Datamint server on {url}  (data: {settings.data_dir}, database: {init.database.dialect})",
                fg=typer.colors.GREEN, err=True)
    if init.admin_api_key:
        typer.secho(f"First start: admin {settings.admin_email}, API key (shown once):\n\n    {init.admin_api_key}\n",
                    fg=typer.colors.YELLOW, err=True)
        if write_sdk_config and not configs.config_path().exists():
            path = configs.write_config({configs.APIKEY_KEY: init.admin_api_key, configs.APIURL_KEY: url})
            typer.echo(f"Saved the URL and key for the SDK in {path}", err=True)
    if workers > 1:
        if init.database.dialect == "sqlite":
            typer.secho("Several workers on SQLite serialise on its single writer; prefer PostgreSQL.",
                        fg=typer.colors.YELLOW, err=True)
        init.database.dispose()
        for name, value in settings.model_dump(exclude_none=True).items():
            os.environ[f"DATAMINT_SERVER_{name.upper()}"] = str(value)
        uvicorn.run("datamint.server.app:app_from_env", factory=True, workers=workers, host=settings.host,
                    port=settings.port, access_log=False, log_level="warning")
        return
    app_ = create_app(settings, initialized=init)
    uvicorn.run(app_, host=settings.host, port=settings.port, access_log=False, log_level="warning")


@app.command("migrate")
def migrate_command(
    data_dir: DataDir = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default SQLite in the data dir")] = None,
) -> None:
    """Apply the database migrations and exit."""
    from datamint.server.db import migrate
    from datamint.server.db.session import Database

    settings = _settings(data_dir=data_dir, database_url=database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    migrate.upgrade(db.engine)
    typer.echo(f"Database at revision(s) {sorted(migrate.current_revisions(db.engine))}")


@app.command("create-org")
def create_org(
    name: Annotated[str, typer.Argument(help="Organization name")],
    admin_email: Annotated[str, typer.Option(help="Email of the organization's first admin")],
    data_dir: DataDir = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default SQLite in the data dir")] = None,
) -> None:
    """Create another organization with its admin, and print the admin's API key once."""
    from datamint.server.app import initialize
    from datamint.server.auth.service import create_organization

    settings = _settings(data_dir=data_dir, database_url=database_url)
    init = initialize(settings)
    if init.admin_api_key:  # a fresh database: its first organization was created just now
        typer.echo(f"First start: organization {settings.organization_name!r}, admin {settings.admin_email}; "
                   f"API key (shown once): {init.admin_api_key}")
    with init.database.transaction() as session:
        org, _, key = create_organization(session, name, admin_email)
    typer.echo(f"Organization {name!r} ({org.id}); admin {admin_email}; API key (shown once): {key}")


@app.command("dicom")
def dicom(
    ae_title: Annotated[str | None, typer.Option(help="The listener's AE title (env DATAMINT_SERVER_DICOM_AE_TITLE; "
                                                      "default DATAMINT)")] = None,
    host: Annotated[str | None, typer.Option(help="Interface (env DATAMINT_SERVER_DICOM_HOST; default 127.0.0.1)")
                    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (env DATAMINT_SERVER_DICOM_PORT; default 11112)")] = None,
    data_dir: DataDir = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default SQLite in the data dir")] = None,
    storage_url: Annotated[str | None, typer.Option(help="Blob storage: a folder or s3://bucket/prefix")] = None,
) -> None:
    """Run the DICOM listener (C-ECHO, C-STORE, C-FIND) on its own, next to the API servers.

    Senders must be allowed first: an admin lists their calling AE titles with PUT /dicom/settings.
    Example: datamint server dicom --port 11112 --ae-title DATAMINT
    """
    from datamint.server.app import initialize
    from datamint.server.dimse.scp import DicomListener
    from datamint.server.storage import make_blob_store

    settings = _settings(dicom_ae_title=ae_title, dicom_host=host, dicom_port=port, data_dir=data_dir,
                         database_url=database_url, storage_url=storage_url)
    _configure_logging(settings.log_level)
    init = initialize(settings)
    store = make_blob_store(settings.resolved_storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    listener = DicomListener(init.database, store, settings.dicom_ae_title, settings.dicom_host, settings.dicom_port)
    typer.secho(f"DICOM listener {settings.dicom_ae_title} on {settings.dicom_host}:{settings.dicom_port} "
                "(Ctrl-C to stop)", fg=typer.colors.GREEN, err=True)
    listener.serve_forever()


@app.command("dicom-index")
def dicom_index(
    data_dir: DataDir = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL; default SQLite in the data dir")] = None,
    storage_url: Annotated[str | None, typer.Option(help="Blob storage: a folder or s3://bucket/prefix")] = None,
) -> None:
    """Add DICOM resources uploaded before the DICOM index existed to it (DICOMweb, C-FIND see them then).

    Reads each such file once; safe to run again (indexed resources are skipped).
    """
    from datamint.server.app import initialize
    from datamint.server.resources.dicom_index import backfill
    from datamint.server.storage import make_blob_store

    settings = _settings(data_dir=data_dir, database_url=database_url, storage_url=storage_url)
    init = initialize(settings)
    store = make_blob_store(settings.resolved_storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    with init.database.transaction() as session:
        count = backfill(session, store)
    typer.echo(f"Indexed {count} DICOM resource(s)")
