"""``Api``: one object, the endpoint handlers as attributes (``api.projects``, ``api.users``, ...)."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from datamint import configs
from datamint.api.base_api import ApiConfig, BaseApi
from datamint.api.endpoints.annotations_api import AnnotationsApi
from datamint.api.endpoints.annotationsets_api import AnnotationSetsApi
from datamint.api.endpoints.audit_api import AuditApi
from datamint.api.endpoints.channels_api import ChannelsApi
from datamint.api.endpoints.datasetsinfo_api import DatasetsInfoApi
from datamint.api.endpoints.deploy_model_api import DeployModelApi
from datamint.api.endpoints.inference_api import InferenceApi
from datamint.api.endpoints.jobs_api import JobsApi
from datamint.api.endpoints.models_api import ModelsApi
from datamint.api.endpoints.projects_api import ProjectsApi
from datamint.api.endpoints.resources_api import ResourcesApi
from datamint.api.endpoints.users_api import UsersApi
from datamint.exceptions import (
    AuthenticationError,
    DatamintException,
    ItemNotFoundError,
    NetworkError,
    ValidationError,
)


class Api:
    """Client of a Datamint server.

    Args:
        server_url: Base URL of the server. Default: ``DATAMINT_API_URL``, then the config file
            written by ``datamint config``, then ``http://localhost:5000``.
        api_key: Your API key. Default: ``DATAMINT_API_KEY``, then the config file.
        timeout: Request timeout in seconds (uploads and downloads use at least 900 s).
        max_retries: Retries of failed requests (connection errors, 429, 502/503/504 on
            idempotent requests), with exponential backoff.
        check_connection: Check the URL and key now (one small request).
        verify_ssl: Verify TLS certificates, or a path to a CA bundle.

    Raises:
        AuthenticationError: No API key is configured, or the server rejects it.
        NetworkError: The server cannot be reached.

    Example:
        >>> from datamint import Api
        >>> api = Api()
        >>> project = api.projects.create('Liver CT', 'Portal-phase CT, lesions', exists_ok=True)
    """

    DATAMINT_API_VENV_NAME = configs.ENV_VARS[configs.APIKEY_KEY]
    _verified: ClassVar[set[tuple[str, str | None, bool | str]]] = set()

    def __init__(self, server_url: str | None = None, api_key: str | None = None, timeout: float = 30.0,
                 max_retries: int = 3, check_connection: bool = True, verify_ssl: bool | str = True) -> None:
        if not isinstance(api_key, (str, type(None))):
            raise TypeError(f"api_key must be a string, not {type(api_key).__name__}"
                            + (": accept_invitation() returns a dict, pass its ['api_key']"
                               if isinstance(api_key, dict) and "api_key" in api_key else ""))
        server_url = server_url or configs.get_value(configs.APIURL_KEY)
        api_key = api_key or configs.get_value(configs.APIKEY_KEY)
        if not api_key:
            raise AuthenticationError(
                "No API key: pass api_key=..., set DATAMINT_API_KEY, or run 'datamint config --api-key KEY'")
        self.config = ApiConfig(server_url=server_url, api_key=api_key, timeout=timeout,
                                max_retries=max_retries, verify_ssl=verify_ssl)
        self.high_config = ApiConfig(server_url=server_url, api_key=api_key, timeout=max(timeout, 900.0),
                                     max_retries=max_retries, verify_ssl=verify_ssl)
        self._clients: dict[str, httpx.Client] = {}
        self._endpoints: dict[str, BaseApi] = {}
        from datamint.mlflow.env import setup_mlflow_environment

        setup_mlflow_environment(self.config.server_url, api_key)  # MLflow's own client, if used (§1.2)
        signature = (self.config.server_url, api_key, verify_ssl)
        if check_connection and signature not in Api._verified:
            self.check_connection()
            Api._verified.add(signature)

    def check_connection(self) -> None:
        """Make one small request to check the URL and the key.

        Raises:
            AuthenticationError: The server rejects the key.
            NetworkError: The server cannot be reached or does not speak the protocol.
        """
        url = self.config.server_url
        try:
            self.projects.get_list(limit=1)
        except (AuthenticationError, NetworkError):
            raise
        except (ItemNotFoundError, ValidationError, ValueError) as exc:  # 404, or an answer that is not ours
            parsed = urlsplit(url)
            status = f"HTTP {exc.status_code}" if getattr(exc, "status_code", None) else "an answer that is not JSON"
            base = f"{parsed.scheme}://{parsed.netloc}"
            hint = (f"use the server's base URL, e.g. {base} (without {parsed.path!r})" if parsed.path not in ("", "/")
                    else "check the host and port of the Datamint server")
            raise NetworkError(f"{url} is not a Datamint server URL: GET {url}/projects gave {status}",
                               hint=f"Fix it with 'datamint config --url URL': {hint}") from exc
        except DatamintException as exc:
            raise NetworkError(f"Error connecting to the Datamint API at {url}: {exc}",
                               hint="Check the URL and your key with 'datamint config'") from exc

    # -- endpoint handlers -------------------------------------------------------------------

    def _endpoint(self, name: str, factory: Any, high: bool = False) -> Any:
        if name not in self._endpoints:
            config = self.high_config if high else self.config
            key = "high" if high else "default"
            if key not in self._clients:
                self._clients[key] = BaseApi._create_client(config)
            endpoint = factory(config, self._clients[key])
            endpoint._api_instance = self
            self._endpoints[name] = endpoint
        return self._endpoints[name]

    @property
    def projects(self) -> ProjectsApi:
        """Projects: create, list, get, update, archive, members, statistics."""
        return self._endpoint("projects", ProjectsApi)

    @property
    def resources(self) -> ResourcesApi:
        """Resources: upload, list, download, publish, tag, delete (900 s timeout for big files)."""
        return self._endpoint("resources", ResourcesApi, high=True)

    @property
    def annotations(self) -> AnnotationsApi:
        """Annotations: create, list, masks, approval (900 s timeout for big masks)."""
        return self._endpoint("annotations", AnnotationsApi, high=True)

    @property
    def annotationsets(self) -> AnnotationSetsApi:
        """Annotation sets (worklists): resources to annotate, labels, annotators, reviews."""
        return self._endpoint("annotationsets", AnnotationSetsApi)

    @property
    def annotationworklists(self) -> AnnotationSetsApi:
        """Alias of :attr:`annotationsets`."""
        return self.annotationsets

    @property
    def worklist(self) -> AnnotationSetsApi:
        """Alias of :attr:`annotationsets`."""
        return self.annotationsets

    @property
    def channels(self) -> ChannelsApi:
        """Upload channels and their resources."""
        return self._endpoint("channels", ChannelsApi)

    @property
    def datasets(self) -> DatasetsInfoApi:
        """Datasets (one per project) and their immutable versions; archive downloads."""
        return self._endpoint("datasets", DatasetsInfoApi, high=True)

    @property
    def _datasetsinfo(self) -> DatasetsInfoApi:
        """Alias of :attr:`datasets` (the official client's name)."""
        return self.datasets

    @property
    def users(self) -> UsersApi:
        """Users of your organization."""
        return self._endpoint("users", UsersApi)

    @property
    def jobs(self) -> JobsApi:
        """Background jobs: follow (SSE, progress bar), list, cancel, logs."""
        return self._endpoint("jobs", JobsApi)

    @property
    def models(self) -> ModelsApi:
        """Registered models of the MLflow registry (your active project's)."""
        return self._endpoint("models", ModelsApi)

    @property
    def deploy(self) -> DeployModelApi:
        """Deploy registered model versions (background jobs)."""
        return self._endpoint("deploy", DeployModelApi)

    @property
    def inference(self) -> InferenceApi:
        """Run deployed models on resources (background jobs; predictions saved as annotations)."""
        return self._endpoint("inference", InferenceApi)

    @property
    def audit(self) -> AuditApi:
        """The organization's audit trail (admins)."""
        return self._endpoint("audit", AuditApi)

    def close(self) -> None:
        """Close the HTTP connections."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        self._endpoints.clear()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config}

    def __setstate__(self, state: dict[str, Any]) -> None:
        c: ApiConfig = state["config"]
        self.__init__(c.server_url, c.api_key, c.timeout, c.max_retries, check_connection=False,  # type: ignore[misc]
                      verify_ssl=c.verify_ssl)
