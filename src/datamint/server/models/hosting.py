"""Model hosts: the processes that serve models from their own environments (worker side).

One host per deployed model version per worker process (:data:`_HOSTS`, keyed by the model's
folder), started with the environment's Python running :mod:`datamint.server.models.model_host`,
and kept: the model is loaded once. A host that died is started again by the next call (and a
request it died in is sent once more); hosts stop when their deployment is removed, when the
server or worker stops (``stop_all``, also at interpreter exit), and by themselves when the
worker process that started them is gone (their stdin closes, and they watch their parent).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import datamint
from datamint.server.errors import ValidationFailedError
from datamint.server.models import environments, model_host

HOST_SCRIPT = model_host.__file__
_HOSTS: dict[str, ModelHost] = {}
_LOCK = threading.Lock()
_LOAD_TIMEOUT_S = 900.0
_FORWARD_LINES = 200


class HostDied(Exception):
    """The host process ended while the worker talked to it."""


def _describe(code: int | None) -> str:
    if code is None:
        return "running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class ModelHost:
    """A model host process and the pipe to it (one request at a time)."""

    def __init__(self, model_dir: str, python: str, flavor: str) -> None:
        self.model_dir, self.python, self.flavor = model_dir, python, flavor
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=40)
        self._sink: Callable[[str], None] | None = None
        self._forwarded = 0
        self.lock = threading.Lock()
        self.closed = False  # stopped for good (deployment removed, shutdown): never started again
        self.created = time.monotonic()

    @property
    def pid(self) -> int | None:
        """The host's process id (None before it starts)."""
        return self.process.pid if self.process is not None else None

    @property
    def sink(self) -> Callable[[str], None] | None:
        """Where the model's output goes while a job talks to the host (its log), or None."""
        return self._sink

    @sink.setter
    def sink(self, value: Callable[[str], None] | None) -> None:
        self._sink, self._forwarded = value, 0

    def alive(self) -> bool:
        """Whether the host process is running."""
        return self.process is not None and self.process.poll() is None

    def start(self, check: Callable[[], None]) -> dict[str, Any]:
        """Start the host and wait until it loaded the model: its handshake (modes, class...).

        Raises:
            ValidationFailedError: The model does not load, or is not servable (the message says why).
        """
        env = environments.process_environment()
        env["DATAMINT_HOST_SRC"] = os.path.dirname(os.path.dirname(os.path.abspath(datamint.__file__)))
        self.stderr_tail.clear()
        # -I: no script folder, user site or PYTHON* variables on the host's path (only the environment's)
        self.process = subprocess.Popen([self.python, "-I", HOST_SCRIPT, self.model_dir, self.flavor],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        env=env, cwd=self.model_dir, start_new_session=True)
        threading.Thread(target=self._pump_stderr, args=(self.process,), daemon=True).start()
        try:
            reply = self._receive(check, _LOAD_TIMEOUT_S)
        except HostDied as exc:
            raise ValidationFailedError(f"The model host died while loading the model ({exc}); its last output: "
                                        f"{self._tail()}. Check that the model loads with mlflow.pyfunc.load_model "
                                        "in an environment with its requirements, then register a new version") from exc
        if not reply.get("ok"):
            self.stop()
            error = reply.get("error") or "unknown error"
            if reply.get("kind") == "load":
                raise ValidationFailedError(f"The model does not load in its environment ({error}). Check that it "
                                            "loads with mlflow.pyfunc.load_model in an environment with its "
                                            f"requirements, then register a new version. Last output: {self._tail()}")
            raise ValidationFailedError(error)
        self.info = reply
        return reply

    def _pump_stderr(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            self.stderr_tail.append(line)
            sink = self._sink
            if sink is not None and self._forwarded <= _FORWARD_LINES:
                self._forwarded += 1
                text = f"model: {line}" if self._forwarded <= _FORWARD_LINES else \
                    f"(more output of the model not logged: at most {_FORWARD_LINES} lines per job step)"
                with contextlib.suppress(Exception):
                    sink(text[:2000])

    def _tail(self) -> str:
        return " | ".join(list(self.stderr_tail)[-8:]) or "(none)"

    def _receive(self, check: Callable[[], None], timeout: float | None = None) -> dict[str, Any]:
        process = self.process
        assert process is not None and process.stdout is not None
        waited = 0.0
        while True:
            ready, _, _ = select.select([process.stdout], [], [], 0.25)
            if ready:
                break
            if process.poll() is not None:
                raise HostDied(_describe(process.returncode))
            waited += 0.25
            try:
                check()
            except BaseException:
                self.stop()  # mid-call: its state is unknown
                raise
            if timeout is not None and waited > timeout:
                self.stop()
                raise ValidationFailedError(f"The model host did not answer within {timeout:.0f} s")
        try:
            return model_host.read_message(process.stdout)
        except EOFError as exc:
            process.wait()
            raise HostDied(_describe(process.returncode)) from exc

    def request(self, message: dict[str, Any], check: Callable[[], None]) -> dict[str, Any]:
        """Send one request and read its answer.

        Raises:
            HostDied: The host ended before answering.
        """
        process = self.process
        if process is None or process.stdin is None:
            raise HostDied("not started")
        try:
            model_host.write_message(process.stdin, message)
        except (BrokenPipeError, OSError) as exc:
            process.wait()
            raise HostDied(_describe(process.returncode)) from exc
        return self._receive(check)

    def stop(self) -> None:
        """Stop the host process (politely, then SIGKILL) and reap it."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(Exception):
                assert process.stdin is not None
                model_host.write_message(process.stdin, {"op": "stop"})
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for stream in (process.stdin, process.stdout):
            with contextlib.suppress(Exception):
                stream.close()  # type: ignore[union-attr]


def start(model_dir: str, python: str, flavor: str, log: Callable[[str], None],
          check: Callable[[], None]) -> tuple[ModelHost, bool]:
    """The running host of ``model_dir`` (started if needed): ``(host, was_already_running)``.

    Raises:
        ValidationFailedError: The model does not load or is not servable.
    """
    with _LOCK:
        host = _HOSTS.get(model_dir)
        if host is None or host.python != python:
            if host is not None:
                host.stop()
            host = _HOSTS[model_dir] = ModelHost(model_dir, python, flavor)
    with host.lock:
        if host.alive():
            return host, True
        if host.process is not None:
            log(f"the model host (pid {host.pid}) had ended ({_describe(host.process.returncode)}); starting it again")
        host.sink = log
        try:
            info = host.start(check)
        except BaseException:
            with _LOCK:
                if _HOSTS.get(model_dir) is host:
                    del _HOSTS[model_dir]
            raise
        finally:
            host.sink = None
        log(f"model host started (pid {host.pid}, {python}): {info.get('class')} loaded, modes "
            f"{', '.join(info.get('modes') or [])}")
        return host, False


def predict(host: ModelHost, mode: str, inputs: list[dict[str, Any]], params: dict[str, Any],
            log: Callable[[str], None], check: Callable[[], None]) -> list[list[dict[str, Any]]]:
    """One batch through the host; a host that died is started again and the batch sent once more.

    Raises:
        ValidationFailedError: The model raised (its message), or the host died twice.
    """
    message = {"op": "predict", "mode": mode, "inputs": inputs, "params": params}
    with host.lock:
        host.sink = log
        try:
            for attempt in (1, 2):
                if host.closed:
                    raise ValidationFailedError("The deployment was removed while this job ran; deploy the model "
                                                "again and run the prediction again")
                if not host.alive():
                    old = host.pid
                    code = host.process.returncode if host.process is not None else None
                    log(f"the model host (pid {old}) had ended ({_describe(code)}); starting it again")
                    host.start(check)
                    log(f"model host restarted (pid {host.pid})")
                try:
                    reply = host.request(message, check)
                    break
                except HostDied as exc:
                    if attempt == 2:
                        raise ValidationFailedError(f"The model host died during the prediction twice ({exc}); its "
                                                    f"last output: {host._tail()}") from exc
                    log(f"the model host died during the prediction ({exc}); starting it again")
        finally:
            host.sink = None
    if not reply.get("ok"):
        raise ValidationFailedError(f"The model raised {reply.get('error')}")
    return reply["outputs"]


def running(model_dir: str) -> ModelHost | None:
    """The live host of ``model_dir`` in this process, if any."""
    host = _HOSTS.get(model_dir)
    return host if host is not None and host.alive() else None


def stop(model_dir: str) -> bool:
    """Stop the host of ``model_dir`` in this process: whether there was one."""
    with _LOCK:
        host = _HOSTS.pop(model_dir, None)
    if host is None:
        return False
    host.closed = True
    host.stop()
    return True


def retain(model_dirs: set[str], grace_s: float = 600.0) -> int:
    """Stop this process's hosts of models no deployment serves any more (removed through another
    process), except those started in the last ``grace_s`` (a deploy may not have recorded its
    deployment yet). Returns how many were stopped."""
    now = time.monotonic()
    with _LOCK:
        stale = [d for d, h in _HOSTS.items() if d not in model_dirs and now - h.created > grace_s]
    return sum(stop(d) for d in stale)


def stop_all() -> None:
    """Stop every host of this process (server or worker shutdown)."""
    with _LOCK:
        hosts = list(_HOSTS.values())
        _HOSTS.clear()
    for host in hosts:
        host.closed = True
        host.stop()


atexit.register(stop_all)


# -- what crosses the pipe -----------------------------------------------------------------------------

def host_input(model_input: Any, flavor: str, path: str | None) -> dict[str, Any]:
    """A :class:`ModelInput` as the host reads it (the official flavor gets the resource's file instead of pixels)."""
    fields = ("kind", "resource_id", "filename", "mimetype", "affine", "spacing", "frame_index", "axis", "metadata")
    out = {name: getattr(model_input, name) for name in fields}
    if flavor == "official":
        out["path"] = path
    else:
        out["pixels"] = model_input.pixels
    return out


def predictions_of(outputs: list[list[dict[str, Any]]]) -> list[list[Any]]:
    """The host's prediction dicts as our SDK's prediction objects (checked like in-process ones after).

    Raises:
        ValidationFailedError: A prediction of a kind this server does not save.
    """
    from datamint.mlflow.model import Box, Category, Mask, Point

    groups: list[list[Any]] = []
    for group in outputs:
        converted: list[Any] = []
        for p in group:
            kind, confidence = p.get("type"), p.get("confidence")
            if kind == "mask":
                converted.append(Mask(str(p["label"]), p["mask"], confidence))
            elif kind == "box":
                converted.append(Box(str(p["label"]), float(p["x_min"]), float(p["y_min"]), float(p["x_max"]),
                                     float(p["y_max"]), confidence))
            elif kind == "point":
                converted.append(Point(str(p["label"]), float(p["x"]), float(p["y"]), confidence))
            elif kind == "category":
                converted.append(Category(str(p["identifier"]), str(p["value"]), confidence))
            else:
                raise ValidationFailedError(f"The model returned a {p.get('class') or kind}; return segmentations, "
                                            "boxes, points or categories")
        groups.append(converted)
    return groups
