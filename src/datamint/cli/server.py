"""``datamint server``: run, migrate and administer a Datamint server.

This is the only CLI module that imports the server (extra ``[server]``).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from datamint import configs
from datamint.cli.help import TYPER_SETTINGS, PlainHelpCommand

app = typer.Typer(help="Run and administer a Datamint server (needs: pip install 'datamint[server]').",
                  no_args_is_help=True, **TYPER_SETTINGS)


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


def _check_port(host: str, port: int) -> None:
    """Exit with one clear line when ``host:port`` cannot be listened on (before anything is printed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        typer.secho(f"Error: cannot listen on {host}:{port}: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            typer.secho(f"Error: cannot listen on {host}:{port}: {exc.strerror or exc}. Another program (maybe "
                        "another Datamint server) uses this port: stop it, or choose another one with --port",
                        fg=typer.colors.RED, err=True)
            raise typer.Exit(1)


DataDir = Annotated[Path | None, typer.Option("--data-dir", metavar="DIR",
                                              help="Data folder (SQLite file, blobs); env DATAMINT_SERVER_DATA_DIR")]
DatabaseUrl = Annotated[str | None, typer.Option(metavar="URL",
                                                 help="SQLAlchemy URL; default SQLite in the data dir")]


@app.command("run", cls=PlainHelpCommand)
def run(
    host: Annotated[
        str | None, typer.Option(metavar="HOST", help="Interface to bind (env DATAMINT_SERVER_HOST; default 127.0.0.1)")
    ] = None,
    port: Annotated[int | None, typer.Option(metavar="PORT",
                                             help="TCP port (env DATAMINT_SERVER_PORT; default 5000)")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    storage_url: Annotated[str | None, typer.Option(metavar="URL",
                                                    help="Blob storage: a folder or s3://bucket/prefix")] = None,
    write_sdk_config: Annotated[bool, typer.Option(help="On first start, save URL and key for the SDK")] = True,
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="Server processes (use PostgreSQL when > 1)")] = 1,
) -> None:
    """Start the server. On the first start it creates the admin and prints its API key once.

    Example: datamint server run --port 5000 --data-dir ./datamint-data
    """
    import uvicorn

    from datamint.server.app import create_app, initialize

    settings = _settings(host=host, port=port, data_dir=data_dir, database_url=database_url,
                         storage_url=storage_url)
    _configure_logging(settings.log_level)
    _check_port(settings.host, settings.port)
    os.umask(0o077)  # whatever the server writes (patient data) is for its own user only
    init = initialize(settings)
    url = f"http://{'localhost' if settings.host in ('127.0.0.1', '0.0.0.0') else settings.host}:{settings.port}"
    typer.secho(f"Datamint server on {url}  (data: {settings.data_dir}, database: {init.database.dialect})",
                fg=typer.colors.GREEN, err=True)
    saved_url = configs.read_config().get(configs.APIURL_KEY)
    if init.admin_api_key:
        typer.secho(f"First start: admin {settings.admin_email}, API key (shown once):\n\n    {init.admin_api_key}\n",
                    fg=typer.colors.YELLOW, err=True)
        if write_sdk_config and not configs.config_path().exists():
            path = configs.write_config({configs.APIKEY_KEY: init.admin_api_key, configs.APIURL_KEY: url})
            typer.echo(f"Saved the URL and key for the SDK in {path}", err=True)
            saved_url = url
    if write_sdk_config and saved_url and saved_url.rstrip("/") != url:
        key = init.admin_api_key or "KEY"
        typer.secho(f"Note: the SDK and the datamint commands on this machine use {saved_url} "
                    f"({configs.config_path()}), not this server. To use this one:\n"
                    f"    datamint config --url {url} --api-key {key}", fg=typer.colors.YELLOW, err=True)
    from datamint.server.transport.protocol import ENV_LIMIT, HeadLimitedHttpToolsProtocol

    os.environ[ENV_LIMIT] = str(settings.max_header_kb)
    if workers > 1:
        from datamint.server.transport.workers import ENV_PARENT

        if init.database.dialect == "sqlite":
            typer.secho("Several workers on SQLite serialise on its single writer; prefer PostgreSQL.",
                        fg=typer.colors.YELLOW, err=True)
        init.database.dispose()
        for name, value in settings.model_dump(exclude_none=True).items():
            os.environ[f"DATAMINT_SERVER_{name.upper()}"] = json.dumps(value) if isinstance(value, list) else str(value)
        os.environ[ENV_PARENT] = str(os.getpid())  # the workers die with this process (transport.workers)
        uvicorn.run("datamint.server.app:app_from_env", factory=True, workers=workers, host=settings.host,
                    port=settings.port, access_log=False, log_level="warning", http=HeadLimitedHttpToolsProtocol,
                    proxy_headers=False)
        return
    app_ = create_app(settings, initialized=init)
    # proxy_headers=False: uvicorn would believe X-Forwarded-For from any local peer; the server
    # reads it itself, from trusted_proxies only (transport.clients).
    uvicorn.run(app_, host=settings.host, port=settings.port, access_log=False, log_level="warning",
                http=HeadLimitedHttpToolsProtocol, proxy_headers=False)


@app.command("migrate", cls=PlainHelpCommand)
def migrate_command(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Apply the database migrations and exit."""
    from datamint.server.app import make_data_dir
    from datamint.server.db import migrate
    from datamint.server.db.session import Database

    settings = _settings(data_dir=data_dir, database_url=database_url)
    _configure_logging("INFO")  # Alembic names each migration it applies
    make_data_dir(settings.data_dir)
    db = Database(settings.resolved_database_url)
    before = migrate.current_revisions(db.engine)
    migrate.upgrade(db.engine)
    after, newest = migrate.current_revisions(db.engine), migrate.head_revisions(db.engine)
    where = db.engine.url.render_as_string(hide_password=True)
    state = ("created from scratch" if not before else "already up to date" if before == after else "upgraded")
    if after == newest:
        typer.echo(f"Database schema {state}: at the newest revision, {', '.join(sorted(after))} ({where}).")
    else:  # newer than this version of Datamint (a newer server migrated it)
        typer.echo(f"Database schema at {', '.join(sorted(after))}, newer than this version's newest "
                   f"({', '.join(sorted(newest))}): upgrade Datamint ({where}).")
    db.dispose()


@app.command("create-org", cls=PlainHelpCommand)
def create_org(
    name: Annotated[str, typer.Argument(metavar="NAME", show_default=False, help="Organization name")],
    admin_email: Annotated[str, typer.Option(metavar="EMAIL", help="Email of the organization's first admin")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create another organization with its admin, and print the admin's API key once.

    The admin's email may also have an account in another organization: accounts are per
    organization.
    """
    from datamint.server.app import initialize
    from datamint.server.auth.service import create_organization
    from datamint.server.errors import AppError

    settings = _settings(data_dir=data_dir, database_url=database_url)
    init = initialize(settings)
    if init.admin_api_key:  # a fresh database: its first organization was created just now
        typer.echo(f"First start: organization {settings.organization_name!r}, admin {settings.admin_email}; "
                   f"API key (shown once): {init.admin_api_key}")
    try:
        with init.database.transaction() as session:
            org, _, key = create_organization(session, name, admin_email)
            org_id = org.id  # read while the session is open
    except AppError as exc:
        typer.secho(f"Error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    finally:
        init.database.dispose()
    typer.echo(f"Organization {name!r} ({org_id}); admin {admin_email}; API key (shown once): {key}")


@app.command("make-admin", cls=PlainHelpCommand)
def make_admin_command(
    email: Annotated[str, typer.Argument(metavar="EMAIL", show_default=False,
                                         help="Email of the user to make an admin")],
    org: Annotated[str | None, typer.Option("--org", metavar="NAME", help="Organization name or id (needed when "
                                            "the email has accounts in several organizations, or none yet)")] = None,
    create: Annotated[bool, typer.Option("--create", help="Create the user when the organization has none "
                                         "with this email")] = False,
    api_key: Annotated[bool, typer.Option("--api-key", help="Also issue a new API key and print it once")] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Make a user an admin of its organization again (run on the server's machine; no API key needed).

    The server never lets an organization lose its last admin through the API; this command gives
    one back when it is needed anyway (the admin left, or lost every key). The change is recorded
    in the audit trail as an operator action.

    Examples:
        datamint server make-admin alice@hospital.org --api-key
        datamint server make-admin bob@lab.org --org "Radiology" --create --api-key
    """
    from datamint.server.app import initialize
    from datamint.server.errors import AppError
    from datamint.server.operator import make_admin

    settings = _settings(data_dir=data_dir, database_url=database_url)
    init = initialize(settings)
    try:
        with init.database.transaction() as session:
            done = make_admin(session, email, org, create=create, issue_api_key=api_key)
            org_name, user_email, key = done.organization.name, done.user.email, done.api_key
    except AppError as exc:
        typer.secho(f"Error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    finally:
        init.database.dispose()
    state = "created as an admin" if done.created else ("is now an admin" if done.promoted else "was already an admin")
    typer.echo(f"{user_email} {state} of organization {org_name!r}")
    if key:
        typer.echo(f"New API key (shown once): {key}")


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
    listener = DicomListener(init.database, store, settings.dicom_ae_title, settings.dicom_host, settings.dicom_port,
                             settings.decode_limits)
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


@app.command("worker")
def worker(
    threads: Annotated[int | None, typer.Option(min=1, max=64, help="Jobs this process runs at once "
                                                "(env DATAMINT_SERVER_JOB_THREADS; default 2)")] = None,
    queue_url: Annotated[str | None, typer.Option(help="Redis queue, e.g. redis://127.0.0.1:6379/0 "
                                                  "(env DATAMINT_SERVER_QUEUE_URL; required)")] = None,
    data_dir: DataDir = None,
    database_url: Annotated[str | None, typer.Option(help="The server's database (SQLAlchemy URL)")] = None,
    storage_url: Annotated[str | None, typer.Option(help="The server's blob storage")] = None,
    import_: Annotated[list[str] | None, typer.Option("--import", help="Module that registers extra job kinds "
                                                      "(repeatable)")] = None,
) -> None:
    """Run background jobs from the Redis queue, beside a server started with the same queue URL.

    Start as many as you like, on any host that reaches the same database, blob storage and Redis.
    Stop with Ctrl-C or SIGTERM: jobs it was running go back to the queue.

    Example:

        export DATAMINT_SERVER_QUEUE_URL=redis://127.0.0.1:6379/0
        export DATAMINT_SERVER_DATABASE_URL=postgresql+psycopg://datamint@db:5432/datamint
        datamint server worker --threads 4
    """
    settings = _settings(queue_url=queue_url, data_dir=data_dir, database_url=database_url,
                         storage_url=storage_url)
    _configure_logging(settings.log_level)
    from datamint.server import worker as worker_module

    try:
        worker_module.run(settings, threads or settings.job_threads, import_ or [])
    except worker_module.WorkerConfigError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
