"""Per-model serving environments: which models need one, and building them once (``docs/models.md``).

A deploy compares the model's requirements (its ``requirements.txt``; else the pip list of
``python_env.yaml`` or ``conda.yaml``) with the distributions installed in the worker
(``importlib.metadata`` and ``packaging`` specifiers). When all are satisfied, the model runs in
the worker's process. Otherwise it gets a virtualenv of its own under
``<model_envs_dir>/<key>`` (default ``<data_dir>/model-envs``), where ``key`` hashes the
normalized requirements, the Python version and the worker's torch version; deploys with the same
requirements share it.

The environment is *layered* over the worker's: a ``.pth`` file puts the worker's site-packages
after the environment's own, so pip installs only what the worker lacks or has in another
version (those shadow the worker's copies inside the environment; the worker is never changed).
torch is the worker's CPU build: a model that pins another torch fails the deploy, and pip runs
with the constraint ``torch==<the worker's version>`` so no dependency can replace it.

Builds are serialized per key by a file lock (``<key>.lock``, ``fcntl.flock``: safe across worker
processes on one machine), run in a temporary folder, and are renamed into place only once pip
succeeded, with a ``datamint-env.json`` manifest written last: a half-built environment is never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import queue
import re
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
import venv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from datamint.server.errors import ValidationFailedError

try:
    import fcntl
except ImportError:  # Windows: the server runs, models that need an environment of their own do not
    fcntl = None  # type: ignore[assignment]

MANIFEST = "datamint-env.json"
#: What the official client's flavor imports beyond its package (installed without its dependencies,
#: which would pull torchvision, another mlflow and a GUI stack).
OFFICIAL_RUNTIME = ("lazy-loader", "deprecated", "puremagic")
OFFICIAL_NO_DEPS = ("datamint", "medimgkit")
_ROOTS: dict[str, str] = {}
_PIP_TAIL = 12
#: The server's own settings (database URL, admin key...) and cloud credentials stay out of pip and model hosts.
_PRIVATE_PREFIXES = ("DATAMINT_SERVER_", "AWS_", "MLFLOW_TRACKING_")


def configure(database_url: str, root: Any) -> None:
    """Say where the environments of the server whose database is ``database_url`` live."""
    _ROOTS[database_url] = os.path.abspath(str(root))


def root_for(database_url: str) -> str:
    """The environments folder of a server (configured by the app or the worker; else a temp folder)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return _ROOTS.get(database_url) or os.path.join(tempfile.gettempdir(), f"datamint-model-envs-{uid}")


@dataclass
class Plan:
    """What a model needs to run: its flavor, requirements, and those the worker does not satisfy."""

    flavor: str  # "datamint" (our SDK) or "official" (the official client's datamint.mlflow.flavors)
    requirements: list[str]
    missing: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    official_version: str | None = None
    python: str | None = None  # the Python version the model was logged with

    @property
    def isolated(self) -> bool:
        """Whether the model needs an environment of its own."""
        return self.flavor == "official" or bool(self.missing or self.other)

    @property
    def key(self) -> str:
        """The environment's cache key: requirements, flavor, this Python, the worker's torch."""
        payload = {"requirements": sorted(set(self.requirements)), "flavor": self.flavor,
                   "python": ".".join(map(str, sys.version_info[:3])), "torch": _installed("torch")}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


@dataclass
class Environment:
    """A built environment."""

    key: str
    path: str
    python: str
    reused: bool


def _installed(name: str) -> str | None:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None


def read_requirements(model_dir: str) -> list[str]:
    """The model's requirement lines (options such as ``-c``/``-r`` and comments dropped)."""
    lines: list[str] = []
    path = os.path.join(model_dir, "requirements.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    else:
        for name, key in (("python_env.yaml", "dependencies"), ("conda.yaml", "dependencies")):
            file = os.path.join(model_dir, name)
            if not os.path.exists(file):
                continue
            with open(file, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
            for item in data.get(key) or []:
                if isinstance(item, dict):
                    lines.extend(str(x) for x in item.get("pip") or [])
                elif name == "python_env.yaml":
                    lines.append(str(item))
            break
    out = []
    for raw in lines:
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            out.append(line)
    return list(dict.fromkeys(out))


def _model_python(model_dir: str) -> str | None:
    path = os.path.join(model_dir, "python_env.yaml")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return str((yaml.safe_load(handle) or {}).get("python") or "") or None


def plan(model_dir: str, flavors: dict[str, Any]) -> Plan:
    """Compare the model's requirements with this worker's distributions.

    Args:
        model_dir: The model's artifacts.
        flavors: The ``flavors`` of its ``MLmodel`` (a ``datamint`` flavor = the official client's).

    Raises:
        ValidationFailedError: The model pins a torch other than the workers' (never installed).
    """
    official = flavors.get("datamint") if isinstance(flavors.get("datamint"), dict) else None
    requirements = read_requirements(model_dir)
    result = Plan("official" if official is not None else "datamint", requirements, python=_model_python(model_dir))
    if official is not None:
        result.official_version = str(official.get("datamint_version") or "")
        names = {_name(r) for r in requirements}
        if "datamint" not in names and result.official_version:
            requirements.append(f"datamint=={result.official_version}")
    if official is None:
        # Our SDK's models get our package from the worker, whatever version they name: on the package
        # index, "datamint" is the official client, which is not what their pickles need.
        requirements = result.requirements = [r for r in requirements if _name(r) != "datamint"]
    torch_version = _installed("torch")
    for line in requirements:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            result.missing.append(line)
            continue
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        installed = _installed(req.name)
        if name == "torch":
            if torch_version is None:
                raise ValidationFailedError(f"The model needs {line}, and torch is not installed in this server's "
                                            "workers: install torch==2.13.0 (CPU) in them, or log the model "
                                            "without torch")
            if req.specifier and not req.specifier.contains(torch_version, prereleases=True):
                raise ValidationFailedError(
                    f"The model pins {line}; this server's workers run torch {torch_version} and model environments "
                    f"never install another torch. Log the model with torch=={Version(torch_version).base_version} "
                    "(or no torch pin) and register a new version")
        if req.url:
            result.missing.append(line)
        elif installed is None:
            result.missing.append(line)
        elif req.specifier and not req.specifier.contains(installed, prereleases=True):
            result.other.append(f"{req.name}: wants {req.specifier}, has {installed}")
    return result


def _name(line: str) -> str:
    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return line


@contextlib.contextmanager
def _file_lock(path: str, log: Callable[[str], None], check: Callable[[], None]) -> Iterator[None]:
    if fcntl is None:
        raise ValidationFailedError("Isolated model environments need a POSIX system (Linux, macOS); install the "
                                    "model's requirements in the workers' environment instead")
    with open(path, "a+") as handle:
        waited = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    log("another deploy is building this environment; waiting for it")
                    waited = True
                check()
                time.sleep(0.25)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def python_of(path: str) -> str:
    """The interpreter of the environment at ``path``."""
    return os.path.join(path, "Scripts", "python.exe") if os.name == "nt" else os.path.join(path, "bin", "python")


def ready(path: str) -> bool:
    """Whether ``path`` holds a finished environment."""
    return os.path.exists(os.path.join(path, MANIFEST)) and os.path.exists(python_of(path))


def ensure(model_plan: Plan, root: str, log: Callable[[str], None], check: Callable[[], None]) -> Environment:
    """The environment of ``model_plan``: reused when built before, else built now (once per key).

    Args:
        model_plan: What the model needs.
        root: The environments folder.
        log: Where progress and pip's output go (the deploy job's log).
        check: Called while waiting or building; raises to stop (job cancelled), which kills pip.

    Raises:
        ValidationFailedError: pip could not install the requirements (its last lines are in the message).
    """
    key = model_plan.key
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, key)
    with _file_lock(os.path.join(root, f"{key}.lock"), log, check):
        if ready(final):
            with open(os.path.join(final, MANIFEST), encoding="utf-8") as handle:
                built = json.load(handle).get("built_at", "?")
            log(f"reusing the model environment {key} (built {built}); no pip run")
            return Environment(key, final, python_of(final), True)
        for stale in os.listdir(root):  # a build of this key that died (we hold its lock)
            if stale.startswith(f".build-{key}-") or stale == key:
                shutil.rmtree(os.path.join(root, stale), ignore_errors=True)
        staging = tempfile.mkdtemp(prefix=f".build-{key}-", dir=root)
        try:
            log(f"building the model environment {key} ({model_plan.flavor} model): "
                f"{', '.join(model_plan.requirements) or 'no requirements'}")
            _build(model_plan, staging, log, check)
            with open(os.path.join(staging, MANIFEST), "w", encoding="utf-8") as handle:
                json.dump({"key": key, "flavor": model_plan.flavor, "requirements": model_plan.requirements,
                           "python": sys.version.split()[0], "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                        time.gmtime())}, handle)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    log(f"model environment {key} ready in {final}")
    return Environment(key, final, python_of(final), False)


def _site_packages(path: str) -> str:
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    return os.path.join(path, "Lib", "site-packages") if os.name == "nt" else os.path.join(path, "lib", version,
                                                                                           "site-packages")


def _worker_sites() -> list[str]:
    sites = [p for p in site.getsitepackages() if os.path.isdir(p)]
    user = site.getusersitepackages() if site.ENABLE_USER_SITE else None
    return sites + ([user] if user and os.path.isdir(user) else [])


def _build(model_plan: Plan, path: str, log: Callable[[str], None], check: Callable[[], None]) -> None:
    if importlib.util.find_spec("pip") is None:
        raise ValidationFailedError("Building the model's environment needs pip in the workers' environment "
                                    "(python -m ensurepip, or pip install pip), which it lacks")
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(path)
    site_dir = _site_packages(path)
    with open(os.path.join(site_dir, "_datamint_worker_site.pth"), "w", encoding="utf-8") as handle:
        for folder in _worker_sites():  # after the environment's own packages; their .pth files too
            handle.write(f"import site; site.addsitedir({folder!r})\n")
    constraints = os.path.join(path, "datamint-constraints.txt")
    torch_version = _installed("torch")
    with open(constraints, "w", encoding="utf-8") as handle:
        if torch_version:
            handle.write(f"torch=={Version(torch_version).base_version}\n")
    python = python_of(path)
    base = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", "--progress-bar", "off",
            "-c", constraints]
    if model_plan.flavor == "official":
        no_deps = [r for r in model_plan.requirements if _name(r) in OFFICIAL_NO_DEPS]
        others = [r for r in model_plan.requirements if _name(r) not in OFFICIAL_NO_DEPS]
        _pip(base + [*others, *OFFICIAL_RUNTIME], log, check)
        _pip(base + ["--no-deps", *no_deps], log, check)
    elif model_plan.requirements:
        _pip(base + model_plan.requirements, log, check)


def process_environment() -> dict[str, str]:
    """The variables pip and model hosts get: the worker's, without its secrets and Python paths
    (requirements may build from source, which runs their code)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(_PRIVATE_PREFIXES) and k not in ("PYTHONPATH", "PYTHONHOME", "PIP_USER",
                                                                 "DATAMINT_API_KEY")}


def _pip(command: list[str], log: Callable[[str], None], check: Callable[[], None]) -> None:
    env = process_environment()
    env["PYTHONUNBUFFERED"] = "1"
    log("pip " + " ".join(command[3:]))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env=env, text=True, errors="replace", start_new_session=True)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip())
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    tail: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=0.25)
            except queue.Empty:
                check()
                continue
            if line is None:
                break
            if line.strip():
                tail = [*tail, line][-_PIP_TAIL:]
                log(f"pip: {line}")
        code = process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log("pip stopped (the deploy was cancelled)", )
        raise
    if code != 0:
        errors = [t for t in tail if re.match(r"\s*(ERROR|error)", t)] or tail[-6:]
        raise ValidationFailedError(
            "The model's requirements cannot be installed in its environment (pip exited with code "
            f"{code}): {' | '.join(errors)}. Fix them (a package name or version that exists on the package index, "
            "compatible with Python " + sys.version.split()[0] + "), log the model again with those "
            "pip_requirements and deploy the new version")
