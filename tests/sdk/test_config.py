"""Where the SDK finds its URL and key, and the ``datamint config`` command."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from datamint import Api, configs
from datamint.exceptions import AuthenticationError


def test_precedence_constructor_over_env_over_file(monkeypatch):
    configs.write_config({"api_key": "from-file", "default_api_url": "http://file.local:1"})
    api = Api(check_connection=False)
    assert (api.config.api_key, api.config.server_url) == ("from-file", "http://file.local:1")

    monkeypatch.setenv("DATAMINT_API_KEY", "from-env")
    monkeypatch.setenv("DATAMINT_API_URL", "http://env.local:2/")
    api = Api(check_connection=False)
    assert (api.config.api_key, api.config.server_url) == ("from-env", "http://env.local:2")

    api = Api("http://arg.local:3", "from-arg", check_connection=False)
    assert (api.config.api_key, api.config.server_url) == ("from-arg", "http://arg.local:3")


def test_empty_values_count_as_unset():
    configs.write_config({"api_key": "k", "default_api_url": ""})
    assert Api(check_connection=False).config.server_url == configs.DEFAULT_API_URL
    configs.write_config({"api_key": ""})
    with pytest.raises(AuthenticationError):
        Api(check_connection=False)


def test_missing_key_raises_before_any_request():
    with pytest.raises(AuthenticationError, match="datamint config"):
        Api("http://127.0.0.1:9", check_connection=True)


def test_config_file_location_and_format(_isolated_sdk_config):
    path = configs.write_config({"api_key": "k1", "default_api_url": "http://h:5000"})
    assert path == _isolated_sdk_config / "config" / "datamintapi" / "datamintapi.yaml"
    assert yaml.safe_load(path.read_text()) == {"api_key": "k1", "default_api_url": "http://h:5000"}
    configs.write_config({"api_key": None})
    assert yaml.safe_load(path.read_text()) == {"default_api_url": "http://h:5000"}


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "datamint.cli", "config", *args], input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_config_command_writes_the_file(server):
    result = _cli("--api-key", server.admin_key, "--url", server.url)
    assert result.returncode == 0, result.stderr
    assert "Connected" in result.stdout
    saved = configs.read_config()
    assert saved == {"api_key": server.admin_key, "default_api_url": server.url}
    assert Api().config.server_url == server.url


def test_config_command_reports_a_bad_key(server):
    result = _cli("--api-key", "dmk_wrong", "--url", server.url)
    assert result.returncode == 1
    assert "Connection test failed" in result.stderr and "401" in result.stderr


def test_config_command_rejects_bad_url():
    result = _cli("--url", "localhost:5000", "--no-test")
    assert result.returncode == 1 and "http://" in result.stderr
    assert configs.read_config() == {}


def test_interactive_mode(server):
    result = _cli("-i", stdin=f"{server.url}\n{server.admin_key}\n")
    assert result.returncode == 0, result.stderr
    assert configs.read_config() == {"api_key": server.admin_key, "default_api_url": server.url}


def test_legacy_script_name_is_installed():
    import importlib.metadata

    scripts = {ep.name: ep.value for ep in importlib.metadata.entry_points(group="console_scripts")}
    assert scripts["datamint-config"] == "datamint.cli.config:legacy_main"
    assert scripts["datamint"] == "datamint.cli.main:main"
