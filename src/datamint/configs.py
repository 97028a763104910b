"""Where the SDK finds its server URL and API key.

Priority, highest first: the argument given to ``Api(...)``, then the environment
(``DATAMINT_API_KEY``, ``DATAMINT_API_URL``), then the YAML config file written by
``datamint config`` at ``<user config dir>/datamintapi/datamintapi.yaml``
(``~/.config/datamintapi/datamintapi.yaml`` on Linux), a flat mapping such as::

    api_key: dmk_...
    default_api_url: http://localhost:5000
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from platformdirs import PlatformDirs

APIKEY_KEY = "api_key"
APIURL_KEY = "default_api_url"
ENV_VARS = {APIKEY_KEY: "DATAMINT_API_KEY", APIURL_KEY: "DATAMINT_API_URL"}
DEFAULT_API_URL = "http://localhost:5000"
DEFAULT_VALUES = {APIURL_KEY: DEFAULT_API_URL}


def config_path() -> Path:
    """Path of the YAML config file (the official client's location and format)."""
    return Path(PlatformDirs(appname="datamintapi", appauthor=False).user_config_dir) / "datamintapi.yaml"


def data_dir() -> Path:
    """The SDK's local data root (entity cache): ``~/.datamint``."""
    return Path(os.environ.get("DATAMINT_DATA_DIR") or Path.home() / ".datamint")


def read_config() -> dict[str, Any]:
    """The config file's contents, or an empty dict when it does not exist."""
    path = config_path()
    if not path.exists():
        return {}
    with path.open(encoding="utf-8") as fh:
        content = yaml.safe_load(fh)
    return dict(content) if isinstance(content, dict) else {}


def write_config(values: dict[str, Any]) -> Path:
    """Merge ``values`` into the config file (``None`` removes a key); returns its path."""
    path = config_path()
    current = read_config()
    for key, value in values.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        yaml.safe_dump(current, fh, default_flow_style=False)
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return path


def get_value(key: str) -> Any:
    """The configured value of ``key``: environment first, then the file, then the default
    (an empty value counts as unset)."""
    env_name = ENV_VARS.get(key)
    if env_name and os.environ.get(env_name):
        return os.environ[env_name]
    return read_config().get(key) or DEFAULT_VALUES.get(key)


def set_value(key: str, value: Any) -> None:
    """Store ``key`` in the config file."""
    write_config({key: value})
