"""The application factory: the only place that wires routers, middleware and error handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from datamint.server.annotations.router import router as annotations_router
from datamint.server.audit import recorder
from datamint.server.audit.router import router as audit_router
from datamint.server.auth import service as auth_service
from datamint.server.auth.keys_router import router as keys_router
from datamint.server.auth.router import router as users_router
from datamint.server.auth.session_router import router as session_router
from datamint.server.auth.throttle import AuthFailureGuard
from datamint.server.common.middleware import BodyLimitMiddleware, RequestContextMiddleware
from datamint.server.config import Settings
from datamint.server.datasets.router import project_router as project_datasets_router
from datamint.server.datasets.router import router as datasets_router
from datamint.server.db import migrate
from datamint.server.db.session import Database
from datamint.server.dicomweb.router import router as dicomweb_router
from datamint.server.dimse.router import router as dicom_settings_router
from datamint.server.dimse.scp import DicomListener
from datamint.server.errors import install_error_handlers
from datamint.server.invitations.router import router as invitations_router
from datamint.server.jobs.dataset_versions_router import router as dataset_versions_router
from datamint.server.jobs.router import router as jobs_router
from datamint.server.jobs.runtime import JobRuntime
from datamint.server.pages import DOCS_ASSETS, DOCS_ASSETS_URL
from datamint.server.pages import router as pages_router
from datamint.server.projects.router import router as projects_router
from datamint.server.resources.janitor import UploadJanitor
from datamint.server.resources.receive import spool_dir
from datamint.server.resources.router import project_router as project_resources_router
from datamint.server.resources.router import router as resources_router
from datamint.server.storage import make_blob_store
from datamint.server.webapp import router as webapp
from datamint.server.worklists.router import model_info_router
from datamint.server.worklists.router import project_router as project_worklists_router
from datamint.server.worklists.router import router as worklists_router

API_VERSION = "1"


@dataclass
class Initialized:
    """What :func:`initialize` prepared: the database and, on a first start, the admin's key."""

    database: Database
    admin_api_key: str | None


def make_data_dir(folder: Path) -> None:
    """Create the data folder if needed. A new one gets a ``.gitignore`` of ``*`` (as Python's venv
    does), since it may be created inside a git checkout (``make run DATA=./my-data``)."""
    if folder.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".gitignore").write_text("# A Datamint server's data (database, uploads): never commit it.\n*\n",
                                       encoding="utf-8")


def initialize(settings: Settings) -> Initialized:
    """Create the data folder, migrate the database and, on a first start, create the admin.

    Safe to call on every start and from several processes: migrations are serialised and the
    bootstrap happens only while no organization exists.
    """
    make_data_dir(settings.data_dir)
    database = Database(settings.resolved_database_url)
    migrate.upgrade(database.engine)
    with database.transaction() as session:
        key = auth_service.bootstrap(session, settings.organization_name, settings.admin_email,
                                     settings.admin_api_key)
    return Initialized(database, key)


def create_app(settings: Settings, *, initialized: Initialized | None = None) -> FastAPI:
    """Build the ASGI application for ``settings``.

    Args:
        settings: Server settings.
        initialized: The result of :func:`initialize` when the caller already ran it (the CLI
            does, to print the first admin key); otherwise it runs here.
    """

    init = initialized or initialize(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Embedded default: the server runs the jobs itself; with a queue URL, workers elsewhere do.
        app.state.jobs.start(0 if settings.queue_url else settings.job_threads)
        try:
            yield
        finally:
            app.state.jobs.stop()

    app = FastAPI(
        title="Datamint",
        version=API_VERSION,
        description="Self-hostable medical-imaging data and annotation platform.",
        lifespan=lifespan,
        docs_url=None,  # served by the pages package with local assets (offline)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = init.database
    recorder.install(init.database.session_factory)
    app.state.initial_admin_api_key = init.admin_api_key
    app.state.blob_store = make_blob_store(settings.resolved_storage_url, s3_endpoint_url=settings.s3_endpoint_url)
    app.state.auth_guard = AuthFailureGuard(settings.auth_failures_per_minute)
    app.state.upload_janitor = UploadJanitor(init.database, app.state.blob_store,
                                             timedelta(minutes=settings.orphan_upload_minutes),
                                             settings.orphan_sweep_interval_s,
                                             spool_folder=spool_dir(app.state.blob_store,
                                                                    settings.data_dir / "upload-spool"))
    app.state.upload_janitor.sweep()
    app.state.jobs = JobRuntime(init.database, app.state.blob_store, settings)
    app.state.dicom_listener = None
    if settings.dicom_enabled:
        app.state.dicom_listener = DicomListener(init.database, app.state.blob_store, settings.dicom_ae_title,
                                                 settings.dicom_host, settings.dicom_port)
        app.state.dicom_listener.start()

    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_upload_bytes=settings.max_upload_bytes,
                       max_json_bytes=settings.max_json_bytes)
    app.add_middleware(RequestContextMiddleware)

    @app.get("/health", tags=["meta"])
    def health() -> dict[str, str]:
        """Liveness probe; needs no API key."""
        return {"status": "ok", "database": init.database.dialect}

    # The API docs pages (offline); the web app's pages are installed last (webapp.install).
    app.include_router(pages_router)
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    # Literal paths under /users (invitations, api-keys) before /users/{email}.
    app.include_router(session_router)
    app.include_router(invitations_router)
    app.include_router(keys_router)
    app.include_router(users_router)
    app.include_router(projects_router)
    app.include_router(audit_router)
    app.include_router(project_resources_router)
    app.include_router(resources_router)
    app.include_router(annotations_router)
    app.include_router(worklists_router)
    app.include_router(project_worklists_router)
    app.include_router(model_info_router)
    app.include_router(dataset_versions_router)
    app.include_router(datasets_router)
    app.include_router(project_datasets_router)
    app.include_router(jobs_router)
    app.include_router(dicomweb_router)
    app.include_router(dicom_settings_router)
    webapp.install(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (one call per worker process): settings from the environment.

    The CLI initializes the database before it starts the workers, so here initialization only
    checks that the schema is current.
    """
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    return create_app(settings)
