"""Isolated model environments: what does a model of its own environment cost, and does its host die with the server?

One ``datamint server run`` subprocess (SQLite; fresh data dir, so a fresh environments folder).
Two DatamintModels that return a category per image are logged: ``local`` with requirements the
server has (runs in-process), ``isolated`` with ``roman==4.2`` too (which the server lacks: it runs
in an environment of its own, served by a model host process). Then:

* deploy times: ``local``; ``isolated`` the first time (virtualenv + pip, from pip's cache when warm);
  a second model with the same requirements (environment reused, no pip run);
* throughput: 50 ``predict_image`` jobs on a 64×64 PNG submitted at once, for each model, calls/s;
* orphans: the server is killed with SIGKILL; are its model hosts gone 3 s later?

usage: python benchmarks/model_envs.py   (prints one line)
"""

from __future__ import annotations

import os
import re
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import image_project  # noqa: E402 - the benchmarks' shared helpers
from annotations import running_server  # noqa: E402


def _deploy(api: object, name: str) -> tuple[float, list[str]]:
    start = time.perf_counter()
    job = api.deploy.start(name, model_version=1)  # type: ignore[attr-defined]
    job.wait(progress_bar=False, timeout=900)
    assert job.status == "completed", job.error_message
    return time.perf_counter() - start, job.logs()


def _throughput(api: object, name: str, resource: str, n: int = 50) -> float:
    start = time.perf_counter()
    jobs = [api.inference.predict_image(name, model_version=1, resource_id=resource)  # type: ignore[attr-defined]
            for _ in range(n)]
    for job in jobs:
        api.inference.wait(job, poll_interval=0.05)  # type: ignore[attr-defined]
        assert job.status == "completed", job.error_message
    return n / (time.perf_counter() - start)


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" not in status.read_text().lower()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-model-envs-", ignore_cleanup_errors=True) as tmp:
        _run(Path(tmp))


def _run(folder: Path) -> None:
    """Measure with a server whose files are in ``folder``, and print the result line."""
    with running_server(folder / "data", None) as (url, key):
        api, _project, resource, _path = image_project(url, key, folder, "model environments benchmark")
        import mlflow

        import datamint.mlflow as dm

        class Numeral(dm.DatamintModel):
            def predict_image(self, inputs, **params):
                try:
                    import roman
                    value = roman.toRoman(int(inputs[0].pixels.max()))
                except ImportError:
                    value = str(int(inputs[0].pixels.max()))
                return [[dm.Category("value", value)] for _ in inputs]

        tag = uuid.uuid4().hex[:6]
        names = {"local": f"local-{tag}", "isolated": f"isolated-{tag}", "again": f"again-{tag}"}
        with mlflow.start_run():
            dm.log_model(Numeral(), name="local", registered_model_name=names["local"], pip_requirements=["numpy"])
            for what in ("isolated", "again"):
                dm.log_model(Numeral(), name=what, registered_model_name=names[what],
                             pip_requirements=["numpy", "roman==4.2"])

        local_s, _ = _deploy(api, names["local"])
        built_s, logs = _deploy(api, names["isolated"])
        assert any("building the model environment" in line for line in logs)
        reused_s, logs = _deploy(api, names["again"])
        assert any("reusing the model environment" in line for line in logs)
        _throughput(api, names["local"], resource, 2)  # warm
        _throughput(api, names["isolated"], resource, 2)
        local_rate = _throughput(api, names["local"], resource)
        isolated_rate = _throughput(api, names["isolated"], resource)

        host_pids = {int(m.group(1)) for line in logs for m in [re.search(r"model host started \(pid (\d+)", line)]
                     if m}
        first = api.inference.predict_image(names["isolated"], model_version=1, resource_id=resource)
        api.inference.wait(first)
        host_pids |= {int(m.group(1)) for x in api.jobs.logs(first.id)
                      for m in [re.search(r"model host \(pid (\d+)\)", x["line"])] if m}
        server_pid = int(Path(f"/proc/{next(iter(host_pids))}/stat").read_text().split(") ")[1].split()[1])
        os.kill(server_pid, signal.SIGKILL)
        time.sleep(3)
        orphans = sum(_alive(pid) for pid in host_pids)
        api.close()
    print(f"model_envs: deploy in-process {local_s:.1f} s | isolated first (venv + pip) {built_s:.1f} s | "
          f"isolated reused {reused_s:.1f} s | 50 predict_image jobs: in-process {local_rate:.1f} calls/s, "
          f"model host {isolated_rate:.1f} calls/s | hosts alive 3 s after SIGKILL of the server: {orphans} of "
          f"{len(host_pids)}")


if __name__ == "__main__":
    main()
