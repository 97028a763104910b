"""Inference jobs: what does a job cost over calling the model directly?

One embedded server (SQLite, in-process worker threads). A DatamintModel whose ``predict_image``
returns at once is logged and registered through MLflow against the server, deployed, then:

* job overhead: 20 ``predict_image`` jobs one after another, submit → completed as the SDK sees it
  (``api.inference.predict_image`` + ``wait``, which follows the SSE stream); median and p95;
* throughput: 100 ``predict_image`` jobs submitted at once on a 64×64 PNG and waited for (the model
  stays loaded in the worker), against 100 calls of the same ``mlflow.pyfunc`` model in-process on
  the same image; calls/s of both and their ratio.

usage: python benchmarks/inference.py   (prints one line)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import image_project, serve_in_thread  # noqa: E402 - the benchmarks' shared helpers

KEY = f"dmk_bench_{uuid.uuid4().hex}"


def main() -> None:
    from datamint.server.app import create_app
    from datamint.server.config import Settings

    with tempfile.TemporaryDirectory(prefix="bench-inference-", ignore_cleanup_errors=True) as folder:
        app = create_app(Settings(data_dir=folder, admin_api_key=KEY, mlflow_warmup=False, job_threads=2))
        url, server, thread = serve_in_thread(app, lifespan="on")
        try:
            app.state.mlflow.ensure_ready()
            measure(url, folder)
        finally:
            server.should_exit = True
            thread.join(30)
            app.state.database.dispose()


def measure(url: str, folder: str) -> None:
    """Time the jobs against the server at ``url`` (its files in ``folder``) and print the result line."""
    api, _project, resource, path = image_project(url, KEY, Path(folder), "inference benchmark")
    import mlflow
    import mlflow.pyfunc

    import datamint.mlflow as dm

    class Instant(dm.DatamintModel):
        def predict_image(self, inputs, **params):
            return [[] for _ in inputs]

    name = f"instant-{uuid.uuid4().hex[:6]}"
    with mlflow.start_run():
        dm.log_model(Instant(), registered_model_name=name, pip_requirements=["numpy"])
    api.deploy.start(name, model_version=1).wait(progress_bar=False).raise_for_status()

    def one() -> float:
        start = time.perf_counter()
        job = api.inference.predict_image(name, model_version=1, resource_id=resource)
        api.inference.wait(job, poll_interval=0.05)
        assert job.status == "completed", job.error_message
        return time.perf_counter() - start

    one()  # the worker loads the model
    overhead = sorted(one() for _ in range(20))

    start = time.perf_counter()
    jobs = [api.inference.predict_image(name, model_version=1, resource_id=resource) for _ in range(100)]
    for job in jobs:
        api.inference.wait(job, poll_interval=0.05)
        assert job.status == "completed", job.error_message
    served = 100 / (time.perf_counter() - start)

    model = mlflow.pyfunc.load_model(f"models:/{name}/1").unwrap_python_model()
    pixels = np.asarray(Image.open(path))
    start = time.perf_counter()
    for _ in range(100):
        model.predict(None, [dm.ModelInput(pixels=pixels, kind="image")], {"mode": "image"})
    direct = 100 / (time.perf_counter() - start)
    print(f"inference: job overhead median {statistics.median(overhead) * 1000:.0f} ms "
          f"p95 {overhead[18] * 1000:.0f} ms | 100 predict_image jobs {served:.1f} calls/s vs in-process pyfunc "
          f"{direct:.0f} calls/s (ratio {direct / served:.0f}x)")


if __name__ == "__main__":
    main()
