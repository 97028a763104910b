"""The MLflow environment of a Datamint user: tracking URI, token, and the active project.

Our server serves MLflow's REST API on its own origin, so the tracking URI is the API URL. A
project is MLflow's *workspace* on our server: the stock MLflow client sends
``MLFLOW_WORKSPACE`` as the ``X-MLFLOW-WORKSPACE`` header, which scopes every call to it.
"""

from __future__ import annotations

import os
from typing import Any

#: Environment variables that name the active project (wire protocol §1.2).
PROJECT_ID_ENV = "DATAMINT_PROJECT_ID"
PROJECT_NAME_ENV = "DATAMINT_PROJECT_NAME"

_MLFLOW_DEFAULTS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}


def setup_mlflow_environment(server_url: str | None = None, api_key: str | None = None, *,
                             overwrite: bool = False) -> bool:
    """Point MLflow at a Datamint server: ``MLFLOW_TRACKING_URI``, ``MLFLOW_TRACKING_TOKEN``.

    Variables already set are kept unless ``overwrite``. Without arguments the URL and key come
    from ``DATAMINT_API_URL`` / ``DATAMINT_API_KEY`` or the config file (``datamint config``).
    An active project (``DATAMINT_PROJECT_ID``) also becomes ``MLFLOW_WORKSPACE``.

    Args:
        server_url: The Datamint server's URL.
        api_key: Your API key (sent by MLflow as ``Authorization: Bearer <key>``).
        overwrite: Replace values already in the environment.

    Returns:
        Whether both the URI and the token are set afterwards.
    """
    from datamint import configs

    server_url = (server_url or configs.get_value(configs.APIURL_KEY) or "").rstrip("/")
    api_key = api_key or configs.get_value(configs.APIKEY_KEY)
    values = {"MLFLOW_TRACKING_URI": server_url, "MLFLOW_TRACKING_TOKEN": api_key, **_MLFLOW_DEFAULTS}
    project_id = os.environ.get(PROJECT_ID_ENV)
    if project_id:
        values["MLFLOW_WORKSPACE"] = project_id
    for name, value in values.items():
        if value and (overwrite or not os.environ.get(name)):
            os.environ[name] = value
    return bool(os.environ.get("MLFLOW_TRACKING_URI") and os.environ.get("MLFLOW_TRACKING_TOKEN"))


def set_project(project: Any, api: Any = None) -> str:
    """Make ``project`` the active project of MLflow calls in this process.

    Experiments, runs and registered models are created in it and looked up in it; a run
    started without an experiment goes to the experiment named after the project (created on
    first use), unless ``MLFLOW_EXPERIMENT_NAME`` says otherwise.

    Args:
        project: A :class:`~datamint.entities.project.Project`, its id, or its name.
        api: The :class:`~datamint.Api` to look the project up with (default: ``Api()``).

    Returns:
        The project's id.

    Raises:
        ItemNotFoundError: No project of yours has that id or name.

    Example:
        >>> import mlflow, datamint.mlflow
        >>> datamint.mlflow.set_project("Liver CT")
        >>> with mlflow.start_run():
        ...     mlflow.log_metric("dice", 0.91)
    """
    from datamint.exceptions import ItemNotFoundError

    if hasattr(project, "id") and hasattr(project, "name"):
        project_id, name = project.id, project.name
    else:
        if api is None:
            from datamint import Api

            api = Api(check_connection=False)
        found = api.projects.get_by_name(str(project)) if not _looks_like_uuid(str(project)) else None
        if found is None:
            try:
                found = api.projects.get_by_id(str(project))
            except (ItemNotFoundError, ValueError):
                found = None
        if found is None:
            raise ItemNotFoundError("project", {"name_or_id": str(project)})
        project_id, name = found.id, found.name
        setup_mlflow_environment(api.config.server_url, api.config.api_key)
    os.environ[PROJECT_ID_ENV] = project_id
    os.environ["MLFLOW_WORKSPACE"] = project_id
    os.environ.setdefault("MLFLOW_EXPERIMENT_NAME", name)
    return project_id


def get_active_project_id() -> str | None:
    """The active project's id (``set_project`` or ``DATAMINT_PROJECT_ID``), or None."""
    return os.environ.get(PROJECT_ID_ENV) or None


def _looks_like_uuid(value: str) -> bool:
    import uuid

    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
