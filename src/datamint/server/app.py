"""The application factory: the only place that wires routers, middleware and error handlers."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from datamint.server.annotations.router import router as annotations_router
from datamint.server.audit import recorder
from datamint.server.audit.router import router as audit_router
from datamint.server.auth import service as auth_service
from datamint.server.auth.keys_router import router as keys_router
from datamint.server.auth.session_router import router as session_router
from datamint.server.auth.throttle import AuthFailureGuard
from datamint.server.auth.users_router import router as users_router
from datamint.server.common import limits as decode_limits
from datamint.server.common.files import PRIVATE_DIR, chmod_quietly, private_dir, sweep_old_files
from datamint.server.common.middleware import RequestContextMiddleware
from datamint.server.common.values import check_request_values
from datamint.server.config import Settings
from datamint.server.datasets.router import project_router as project_datasets_router
from datamint.server.datasets.router import router as datasets_router
from datamint.server.db import migrate
from datamint.server.db.session import Database
from datamint.server.dicomweb.router import router as dicomweb_router
from datamint.server.dimse.router import router as dicom_settings_router
from datamint.server.dimse.scp import DicomListener
from datamint.server.errors import install_error_handlers
from datamint.server.formats import importer  # noqa: F401 - registers the formats.import job kind
from datamint.server.formats.exports import router as exports_router
from datamint.server.formats.sessions import router as imports_router
from datamint.server.invitations.router import router as invitations_router
from datamint.server.jobs.dataset_versions_router import router as dataset_versions_router
from datamint.server.jobs.router import router as jobs_router
from datamint.server.jobs.runtime import JobRuntime
from datamint.server.models import deploy as models_deploy
from datamint.server.models import environments as model_environments
from datamint.server.models import hosting as model_hosting
from datamint.server.models import inference as models_inference
from datamint.server.models import mlflow_ui_router, model_info, pod_logs
from datamint.server.models.mlflow_backend import backend_for
from datamint.server.models.mlflow_router import router as mlflow_router
from datamint.server.pages import DOCS_ASSETS, DOCS_ASSETS_URL
from datamint.server.pages import router as pages_router
from datamint.server.projects.router import router as projects_router
from datamint.server.quality.agreement_job import router as agreement_jobs_router
from datamint.server.quality.router import project_router as project_quality_router
from datamint.server.quality.router import router as quality_router
from datamint.server.resources.janitor import UploadJanitor
from datamint.server.resources.receive import spool_dir
from datamint.server.resources.router import project_router as project_resources_router
from datamint.server.resources.router import router as resources_router
from datamint.server.resources.volume_cache import VolumeCache
from datamint.server.storage import make_blob_store
from datamint.server.transport.clients import parse_networks
from datamint.server.transport.gate import RequestGate
from datamint.server.transport.workers import die_with_parent
from datamint.server.webapp import router as webapp
from datamint.server.worklists.router import project_router as project_worklists_router
from datamint.server.worklists.router import router as worklists_router

API_VERSION = "1"
#: Largest text field of a form FastAPI parses (Starlette's default, kept explicit).
FORM_FIELD_BYTES = 1 << 20


@dataclass
class Initialized:
    """What :func:`initialize` prepared: the database and, on a first start, the admin's key."""

    database: Database
    admin_api_key: str | None


def make_data_dir(folder: Path) -> None:
    """Create the data folder if needed, readable by the server's user only (``0700``; an existing
    one is made so). A new one gets a ``.gitignore`` of ``*`` (as Python's venv does), since it
    may be created inside a git checkout (``make run DATA=./my-data``)."""
    if folder.exists():
        chmod_quietly(folder, PRIVATE_DIR)  # an install from before the data folder was private
        return
    private_dir(folder)
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


def _build_route_tables(app: FastAPI) -> None:
    """Have FastAPI build its routing tables now rather than at the first request that reaches each
    router (it builds them lazily: for this app ~0.3 s of CPU, paid by the first uploads otherwise).
    A path that no route matches walks every router."""
    scope: dict[str, object] = {"type": "http", "method": "GET", "path": "/\x00", "root_path": "",
                                "headers": [], "query_string": b""}
    for route in app.router.routes:
        route.matches(scope)


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
        if settings.mlflow_warmup:
            app.state.mlflow.warm_up()
        _build_route_tables(app)
        try:
            yield
        finally:
            app.state.jobs.stop()
            model_hosting.stop_all()

    app = FastAPI(
        # Forms parsed by FastAPI (annotation and worklist uploads): at most max_form_fields text
        # fields of at most 1 MiB each (POST /resources parses its own form: resources.receive).
        form_limits={"max_fields": settings.max_form_fields, "max_files": settings.max_form_fields,
                     "max_part_size": min(FORM_FIELD_BYTES, settings.max_form_text_bytes)},
        title="Datamint",
        version=API_VERSION,
        description="Self-hostable medical-imaging data and annotation platform.",
        lifespan=lifespan,
        docs_url=None,  # served by the pages package with local assets (offline)
        redoc_url=None,
        # Every query and path parameter of every route is one line of text (common/values.py).
        dependencies=[Depends(check_request_values)],
    )
    app.state.settings = settings
    app.state.database = init.database
    recorder.install(init.database.session_factory)
    app.state.initial_admin_api_key = init.admin_api_key
    spool_age = settings.spool_max_age_minutes * 60
    app.state.blob_store = make_blob_store(settings.resolved_storage_url, s3_endpoint_url=settings.s3_endpoint_url,
                                           stale_tmp_age=spool_age)
    sweep_old_files(settings.data_dir / "upload-spool", spool_age, ".part")  # the spool of stores without one
    app.state.volume_cache = VolumeCache(settings.data_dir / "cache" / "volumes", settings.volume_cache_mb << 20)
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    app.state.auth_guard = AuthFailureGuard(init.database, settings.auth_failures_per_minute)
    app.state.upload_janitor = UploadJanitor(init.database, app.state.blob_store,
                                             timedelta(minutes=settings.orphan_upload_minutes),
                                             settings.orphan_sweep_interval_s,
                                             spool_folder=spool_dir(app.state.blob_store,
                                                                    settings.data_dir / "upload-spool"),
                                             idempotency_ttl=timedelta(hours=settings.idempotency_hours))
    app.state.upload_janitor.sweep()
    app.state.mlflow = backend_for(settings.resolved_database_url, app.state.blob_store, settings.data_dir,
                                   settings.mlflow_database_url)
    model_environments.configure(init.database.url, settings.resolved_model_envs_dir)
    app.state.jobs = JobRuntime(init.database, app.state.blob_store, settings)
    app.state.dicom_listener = None
    if settings.dicom_enabled:
        app.state.dicom_listener = DicomListener(init.database, app.state.blob_store, settings.dicom_ae_title,
                                                 settings.dicom_host, settings.dicom_port, settings.decode_limits)
        app.state.dicom_listener.start()

    install_error_handlers(app)
    decode_limits.install(app, settings.decode_limits)
    # The gate authenticates and bounds every request before its body is read (transport.gate).
    app.add_middleware(RequestGate, fastapi_app=app)
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
    app.include_router(model_info.router)
    app.include_router(model_info.experiments_router)
    app.include_router(model_info.datasets_router)
    app.include_router(dataset_versions_router)
    app.include_router(datasets_router)
    app.include_router(project_datasets_router)
    app.include_router(project_quality_router)
    app.include_router(quality_router)
    app.include_router(agreement_jobs_router)
    app.include_router(jobs_router)
    app.include_router(exports_router)
    app.include_router(imports_router)
    app.include_router(dicomweb_router)
    app.include_router(dicom_settings_router)
    app.include_router(mlflow_router)
    mlflow_ui_router.install(app)
    app.include_router(models_deploy.router)
    app.include_router(models_inference.router)
    app.include_router(pod_logs.router)
    webapp.install(app)
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (one call per worker process): settings from the environment.

    The CLI initializes the database before it starts the workers, so here initialization only
    checks that the schema is current. Each worker asks to be stopped when its supervisor dies
    (:mod:`datamint.server.transport.workers`).
    """
    die_with_parent()  # a worker must not outlive a supervisor killed with kill -9
    os.umask(0o077)  # as `datamint server run`: what the server writes is for its own user only
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    return create_app(settings)
