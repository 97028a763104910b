"""MLflow's own tracking and registry stores, per server, scoped by project.

The MLflow REST layer we serve is MLflow's (``mlflow.server.handlers``), running in a Flask app of
our own that only has the tracking, registry and artifact routes. Its storage is MLflow's
``SqlAlchemyStore``s (their own tables and their own Alembic history):

* on SQLite, the file ``mlflow.db`` beside the server's database file;
* on PostgreSQL, the schema ``mlflow`` of the server's database (``search_path`` set on MLflow's
  connections), so MLflow's tables and its ``alembic_version`` never mix with ours;
* ``DATAMINT_SERVER_MLFLOW_DATABASE_URL`` overrides both.

Artifacts go to the server's blob store (:mod:`.artifacts`). Every experiment and registered
model belongs to one project: MLflow's *workspace* is the project's id (MLflow's
workspace-aware stores filter every query by it), set per request by :mod:`.mlflow_router` after
the caller's permission in that project was checked. MLflow's handlers read their stores from
module globals; we point those getters at the backend of the request being served, so several
servers (tests) can live in one process.
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from datamint.server.storage.base import BlobStore

MLFLOW_SCHEMA = "mlflow"
ARTIFACT_ROOT = "mlflow-artifacts:/"
#: The artifact paths of project P's experiments start with ``workspaces/P/``.
WORKSPACES_DIR = "workspaces"

_CURRENT: contextvars.ContextVar[MlflowBackend | None] = contextvars.ContextVar("datamint_mlflow_backend",
                                                                                 default=None)
_PATCH_LOCK = threading.Lock()
_PATCHED = False
#: The backend of each of our databases in this process (the server's, a worker's).
_BY_DATABASE: dict[str, MlflowBackend] = {}


def mlflow_database_url(database_url: str, data_dir: Any, override: str | None = None) -> str:
    """The SQLAlchemy URL of MLflow's stores for a server whose own database is ``database_url``."""
    if override:
        return override
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            folder = os.path.dirname(os.path.abspath(url.database))
        else:
            folder = os.path.abspath(str(data_dir or "."))
        return f"sqlite:///{os.path.join(folder, 'mlflow.db')}"
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    query = dict(url.query)
    query["options"] = f"-csearch_path={MLFLOW_SCHEMA}"
    return url.set(query=query).render_as_string(hide_password=False)


def backend_for(database_url: str, blob_store: BlobStore, data_dir: Any = None,
                override: str | None = None) -> MlflowBackend:
    """The process's MLflow backend of the server whose database is ``database_url`` (made once)."""
    with _PATCH_LOCK:
        backend = _BY_DATABASE.get(database_url)
        if backend is None:
            backend = MlflowBackend(mlflow_database_url(database_url, data_dir, override), blob_store)
            _BY_DATABASE[database_url] = backend
        return backend


def _install_handler_patches() -> None:
    """Point MLflow's store getters at the backend of the current request (once per process)."""
    global _PATCHED
    with _PATCH_LOCK:
        if _PATCHED:
            return
        from mlflow.server import handlers

        def tracking_store(*_args: Any, **_kwargs: Any) -> Any:
            return current().tracking

        def registry_store(*_args: Any, **_kwargs: Any) -> Any:
            return current().registry

        def artifact_repo(*_args: Any, **_kwargs: Any) -> Any:
            return current().artifacts

        class _StoreClient:
            """What MLflow's SQL registry asks ``MlflowClient()`` for, answered by this server's store."""

            def get_logged_model(self, model_id: str) -> Any:
                return current().tracking.get_logged_model(model_id)

        from mlflow.store.model_registry import sqlalchemy_store as registry_module

        registry_module.MlflowClient = _StoreClient  # it resolves ``models:/m-...`` sources with it
        handlers._get_tracking_store = tracking_store
        handlers._get_model_registry_store = registry_store
        handlers._get_artifact_repo_mlflow_artifacts = artifact_repo
        # The artifact proxy is on (``mlflow server --serve-artifacts``); read by the handlers only.
        os.environ["_MLFLOW_SERVER_SERVE_ARTIFACTS"] = "true"
        _PATCHED = True


def current() -> MlflowBackend:
    """The backend of the request being served (set by :meth:`MlflowBackend.bind`)."""
    backend = _CURRENT.get()
    if backend is None:
        raise RuntimeError("no MLflow backend is bound to this request")
    return backend


def _store_classes() -> tuple[type, type]:
    from mlflow.store.model_registry.sqlalchemy_workspace_store import (
        WorkspaceAwareSqlAlchemyStore as RegistryStore,
    )
    from mlflow.store.tracking.sqlalchemy_workspace_store import WorkspaceAwareSqlAlchemyStore as TrackingStore
    from mlflow.utils.uri import append_to_uri_path

    class ProjectTrackingStore(TrackingStore):
        """MLflow's workspace-aware tracking store, workspaces always on (workspace = project id)."""

        @staticmethod
        def _workspaces_enabled() -> bool:
            return True

        def _initialize_store_state(self) -> None:
            self._validate_artifact_root_configuration()

        def _get_artifact_location(self, experiment_id: Any, workspace: str | None = None) -> str:
            workspace = workspace or self._get_active_workspace()
            return append_to_uri_path(self.artifact_root_uri, WORKSPACES_DIR, workspace, str(experiment_id))

    class ProjectRegistryStore(RegistryStore):
        """MLflow's workspace-aware registry store, workspaces always on (workspace = project id)."""

        @staticmethod
        def _workspaces_enabled() -> bool:
            return True

    return ProjectTrackingStore, ProjectRegistryStore


class MlflowBackend:
    """MLflow's stores and REST app for one server; built on first use (MLflow's migrations run then).

    Args:
        database_url: MLflow's database (see :func:`mlflow_database_url`).
        blob_store: The server's blob store (artifacts go under ``mlflow/``).
    """

    def __init__(self, database_url: str, blob_store: BlobStore) -> None:
        self.database_url = database_url
        self.blob_store = blob_store
        self._lock = threading.Lock()
        self._ready = False
        self.tracking: Any = None
        self.registry: Any = None
        self.artifacts: Any = None
        self.flask_app: Any = None
        self.engine: Engine | None = None

    def ensure_ready(self) -> None:
        """Create MLflow's schema and stores and its Flask app, once."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            _install_handler_patches()
            url = make_url(self.database_url)
            if url.get_backend_name() == "postgresql":
                plain = url.set(query={k: v for k, v in url.query.items() if k != "options"})
                admin = create_engine(plain, isolation_level="AUTOCOMMIT")
                try:
                    with admin.connect() as conn:
                        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{MLFLOW_SCHEMA}"'))
                finally:
                    admin.dispose()
            # mlflow itself (heavy, and it reconfigures Alembic's logging) loads only when used
            from datamint.server.models.artifacts import BlobStoreArtifactRepository

            tracking_cls, registry_cls = _store_classes()
            self.tracking = tracking_cls(self.database_url, ARTIFACT_ROOT)
            self.registry = registry_cls(self.database_url)
            self.artifacts = BlobStoreArtifactRepository(self.blob_store)
            self.engine = self.tracking.engine
            self.flask_app = _build_flask_app()
            self._ready = True

    def warm_up(self) -> None:
        """Run :meth:`ensure_ready` in a background thread (a failure is logged; the first call retries)."""

        def run() -> None:
            try:
                self.ensure_ready()
            except Exception:  # noqa: BLE001 - logged; ensure_ready runs again on the first MLflow call
                logging.getLogger("datamint.server").exception("MLflow stores could not be prepared")

        threading.Thread(target=run, name="mlflow-warmup", daemon=True).start()

    def bind(self, workspace: str | None) -> contextvars.Token:
        """Make this backend and ``workspace`` (a project id) current in this thread's context."""
        from mlflow.utils.workspace_context import set_server_request_workspace

        token = _CURRENT.set(self)
        set_server_request_workspace(workspace)
        return token

    def unbind(self, token: contextvars.Token) -> None:
        """Undo :meth:`bind`."""
        from mlflow.utils.workspace_context import clear_server_request_workspace

        clear_server_request_workspace()
        _CURRENT.reset(token)

    # -- lookups outside any workspace (to learn which project an object belongs to) ----------------

    def _scalar(self, sql: str, **params: Any) -> Any:
        assert self.engine is not None
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def workspace_of_experiment(self, experiment_id: str) -> str | None:
        """The project id of an experiment, or None if there is no such experiment."""
        try:
            exp = int(experiment_id)
        except (TypeError, ValueError):
            return None
        return self._scalar("SELECT workspace FROM experiments WHERE experiment_id = :e", e=exp)

    def workspace_of_run(self, run_id: str) -> str | None:
        """The project id of a run's experiment, or None."""
        return self._scalar("SELECT e.workspace FROM runs r JOIN experiments e ON e.experiment_id = r.experiment_id "
                            "WHERE r.run_uuid = :r", r=str(run_id))

    def workspace_of_logged_model(self, model_id: str) -> str | None:
        """The project id of a logged model's experiment, or None."""
        return self._scalar("SELECT e.workspace FROM logged_models m JOIN experiments e "
                            "ON e.experiment_id = m.experiment_id WHERE m.model_id = :m", m=str(model_id))

    def workspaces_of_registered_model(self, name: str) -> list[str]:
        """The projects that have a registered model called ``name``."""
        assert self.engine is not None
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT workspace FROM registered_models WHERE name = :n"), {"n": name})
            return [row[0] for row in rows]


#: MLflow REST routes we serve (prefixes of the paths ``mlflow.server.handlers`` defines).
ALLOWED_PREFIXES = (
    "/api/2.0/mlflow/experiments/",
    "/api/2.0/mlflow/runs/",
    "/api/2.0/mlflow/metrics/get-history",
    "/api/2.0/mlflow/artifacts/list",
    "/api/2.0/mlflow/logged-models",
    "/api/2.0/mlflow/registered-models/",
    "/api/2.0/mlflow/model-versions/",
    "/api/2.0/mlflow-artifacts/artifacts",
    "/api/3.0/mlflow/server-info",
    "/get-artifact",  # the web UI's artifact previews (a run's file; a model version's file)
    "/model-versions/get-artifact",
)


def _build_flask_app() -> Any:
    from flask import Flask
    from mlflow.server import handlers

    app = Flask("datamint_mlflow")
    for path, handler, methods in handlers.get_endpoints():
        if path.startswith(ALLOWED_PREFIXES) and "search-datasets" not in path:
            app.add_url_rule(path, handler.__name__, handler, methods=methods)
    app.add_url_rule("/get-artifact", "get_artifact_handler", handlers.get_artifact_handler, methods=["GET"])
    app.add_url_rule("/model-versions/get-artifact", "get_model_version_artifact_handler",
                     handlers.get_model_version_artifact_handler, methods=["GET"])
    return app
