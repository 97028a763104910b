"""Inference on files sent with the request (not resources), and boxes/points in the resource's real geometry.

A deployed model returns a box and a point in pixels of its 2-D input. On a DICOM with a non-trivial
ImagePositionPatient and PixelSpacing they are stored in patient millimetres, exactly as the box a user
draws with ``api.annotations.add_box_annotation`` on the same resource; on a PNG they stay pixels. A file
sent with ``file_path=`` is checked like an upload, held for the job only, and gone once the job ends
(completed, failed or cancelled).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from bombs import png_bomb
from mlflow_helpers import run_python

from datamint import Api
from datamint.exceptions import DatamintException
from fixtures.files import make_ct_slice, to_bytes
from fixtures.projects import NIFTI_SHAPE, png_path, write_nifti

from conftest import unique

LOG_MODEL = r"""
import json, os, time
import mlflow
import datamint.mlflow as dm
from datamint import Api

env = json.loads(os.environ["TEST_INPUT"])
dm.set_project(env["project"], api=Api(env["url"], env["key"]))

class Finder(dm.DatamintModel):
    annotation_specs = [{"type": "square", "identifier": "lesion", "scope": "image"},
                        {"type": "point", "identifier": "center", "scope": "image"}]
    def predict_image(self, inputs, sleep=0, fail=False, **params):
        if fail:
            raise RuntimeError("asked to fail")
        time.sleep(sleep)
        return [[dm.Box("lesion", 2, 4, 10, 12), dm.Point("center", 5, 6),
                 dm.Category("shape", "x".join(str(n) for n in x.pixels.shape[:2]))] for x in inputs]

with mlflow.start_run():
    dm.log_model(Finder(), registered_model_name=env["model"], pip_requirements=["numpy"])
mlflow.MlflowClient().set_registered_model_alias(env["model"], "champion", "1")
print(json.dumps({"ok": True}))
"""

IPP = (-100.5, 20.25, 33.0)
SPACING = (0.5, 0.75)  # (between rows, between columns)


def patient(x: float, y: float) -> list[float]:
    """Pixel (column x, row y) of the test DICOM in patient mm (ImageOrientationPatient is the identity)."""
    return [IPP[0] + x * SPACING[1], IPP[1] + y * SPACING[0], IPP[2]]


@pytest.fixture(scope="module")
def deployed(server, tmp_path_factory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    api = Api(server.url, server.admin_key)
    folder = tmp_path_factory.mktemp("files")
    project = api.projects.create(name=unique("files"), description="models")
    ds = make_ct_slice(0, study="1.2.3.1", series="1.2.3.2", frame_of_reference="1.2.3.3", size=32)
    ds.ImagePositionPatient = list(IPP)
    ds.PixelSpacing = list(SPACING)
    dicom = folder / "slice.dcm"
    dicom.write_bytes(to_bytes(ds))
    png = png_path(folder, 24, 16)
    rid = api.resources.upload_resource(str(dicom))
    nid = api.resources.upload_resource(str(write_nifti(folder / "vol.nii.gz")))
    api.projects.add_resources([rid, nid], project)
    wid = api.annotationsets.create("boxes", [rid], project=project.id, annotations=[
        {"type": "square", "identifier": "lesion", "scope": "image"},
        {"type": "point", "identifier": "center", "scope": "image"},
        {"type": "category", "identifier": "shape", "scope": "image", "values": ["32x32"]}])
    server.app.state.mlflow.ensure_ready()
    env = {"url": server.url, "key": server.admin_key, "project": project.id, "model": unique("finder")}
    run_python(LOG_MODEL, {"TEST_INPUT": json.dumps(env)}, folder)
    job = api.deploy.start(env["model"], model_alias="champion")
    job.wait(timeout=300)
    assert job.status == "completed", job.error_message
    yield {**env, "api": api, "resource": rid, "nifti": nid, "worklist": wid, "dicom": dicom, "png": png}
    api.close()


def sent_files(server) -> list[str]:  # type: ignore[no-untyped-def]
    return list(server.app.state.blob_store.list(""))


def held(server) -> list[str]:  # type: ignore[no-untyped-def]
    return [k for k in sent_files(server) if "/inference-inputs/" in k]


def test_boxes_and_points_on_dicom_are_in_patient_mm_like_a_users_box(deployed) -> None:  # type: ignore[no-untyped-def]
    api, rid = deployed["api"], deployed["resource"]
    job = api.inference.predict_image(deployed["model"], resource_id=rid, save_results=True,
                                      save_results_options={"worklist_id": deployed["worklist"]})
    api.inference.wait(job, timeout=300)
    assert job.status == "completed", job.error_message
    box, point, category = job.predictions[0]
    corners = [patient(2, 4), patient(10, 4), patient(2, 12), patient(10, 12)]
    assert box["type"] == "square" and box["scope"] == "image"
    assert box["geometry"] == {"points": corners, "viewPlaneNormal": [0.0, 0.0, 1.0], "viewUp": [0.0, 1.0, 0.0]}
    assert corners == [[-99.0, 22.25, 33.0], [-93.0, 22.25, 33.0], [-99.0, 26.25, 33.0], [-93.0, 26.25, 33.0]]
    assert point["geometry"]["points"] == [[-96.75, 23.25, 33.0]]
    assert (category["identifier"], category["value"]) == ("shape", "32x32")
    saved = api.annotations.get_by_id(job.annotation_ids[0])
    # A user's own box on the same resource, drawn with the same pixel corners:
    mine = api.annotations.get_by_id(api.annotations.add_box_annotation((2, 4), (10, 12), rid, "lesion",
                                                                        worklist_id=deployed["worklist"]))
    assert saved.geometry["points"] == mine.geometry["points"] == corners
    assert saved.geometry["viewPlaneNormal"] == mine.geometry["viewPlaneNormal"]
    assert api.annotations.to_pixel_points(rid, saved.geometry["points"]) == [(2.0, 4.0, 0.0), (10.0, 4.0, 0.0),
                                                                             (2.0, 12.0, 0.0), (10.0, 12.0, 0.0)]


def test_boxes_on_a_nifti_slice_are_stored_like_a_users_box_on_that_slice(deployed) -> None:  # type: ignore[no-untyped-def]
    api, nid = deployed["api"], deployed["nifti"]
    job = api.inference.predict_slice(deployed["model"], 2, "axial", resource_id=nid)
    api.inference.wait(job, timeout=300)
    assert job.status == "completed", job.error_message
    box, point, category = job.predictions[0]
    assert category["value"] == f"{NIFTI_SHAPE[1]}x{NIFTI_SHAPE[0]}"  # (rows, columns) = (2nd, 1st voxel axis)
    assert (box["scope"], box["frame_index"]) == ("frame", 2)
    mine = api.annotations.get_by_id(api.annotations.add_box_annotation((2, 4), (10, 12), nid, "lesion",
                                                                        frame_index=2))
    assert box["geometry"]["points"] == mine.geometry["points"]
    assert box["geometry"]["viewPlaneNormal"] == mine.geometry["viewPlaneNormal"]
    assert np.allclose(api.annotations.to_pixel_points(nid, box["geometry"]["points"]),
                       [(2.0, 4.0, 2.0), (10.0, 4.0, 2.0), (2.0, 12.0, 2.0), (10.0, 12.0, 2.0)])


def test_predict_on_a_local_file_without_making_a_resource(server, deployed) -> None:  # type: ignore[no-untyped-def]
    api = deployed["api"]
    before = len(api.resources.get_list())
    job = api.inference.predict_image(deployed["model"], file_path=str(deployed["dicom"]))
    api.inference.wait(job, timeout=300)
    assert job.status == "completed", job.error_message
    box, point, category = job.predictions[0]
    assert box["geometry"]["points"][0] == patient(2, 4) and point["geometry"]["points"] == [patient(5, 6)]
    assert category["value"] == "32x32"
    assert job.result_data["files"] == ["slice.dcm"] and job.result_data["resource_ids"] == []
    # Several files (and a resource) in one job: resources first, then the files in order; a PNG stays in pixels.
    both = api.inference.predict_image(deployed["model"], resource_ids=[deployed["resource"]],
                                       file_paths=[str(deployed["png"]), str(deployed["dicom"])])
    api.inference.wait(both, timeout=300)
    assert both.status == "completed", both.error_message
    assert [p[2]["value"] for p in both.predictions] == ["32x32", "16x24", "32x32"]
    assert both.predictions[1][0]["geometry"] == {"points": [[2, 4, 0], [10, 4, 0], [2, 12, 0], [10, 12, 0]]}
    assert len(api.resources.get_list()) == before  # no resource was created
    assert held(server) == []  # the sent files are gone with the completed jobs
    logs = [line["line"] for line in api.jobs.logs(both.id)]
    assert "deleted 2 sent file(s)" in logs


def test_sent_files_are_removed_when_the_job_fails_or_is_cancelled(server, deployed) -> None:  # type: ignore[no-untyped-def]
    api = deployed["api"]
    failed = api.inference.predict_image(deployed["model"], file_path=str(deployed["dicom"]), params={"fail": True})
    api.inference.wait(failed, timeout=300)
    assert failed.status == "failed" and "asked to fail" in failed.error_message
    slow = api.inference.predict_image(deployed["model"], file_path=str(deployed["dicom"]), params={"sleep": 1.5})
    assert api.inference.cancel(slow) is True
    api.inference.wait(slow, timeout=300)
    assert slow.status == "cancelled"
    deadline = time.monotonic() + 30  # a running job's cleanup runs when its attempt notices the cancellation
    while held(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert held(server) == []


def test_sent_files_are_checked_like_uploads(server, deployed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api = deployed["api"]
    fake = tmp_path / "fake.dcm"
    fake.write_bytes(b"not a dicom at all" * 10)
    with pytest.raises(DatamintException, match="application/dicom"):
        api.inference.predict_image(deployed["model"], file_path=str(fake))
    with pytest.raises(DatamintException, match="needs resources"):
        api.inference.predict_image(deployed["model"], file_path=str(deployed["dicom"]), save_results=True)
    assert held(server) == []
    url = f"{server.url}/datamint/api/v1/model-inference/files"
    body = {"request": json.dumps({"model_name": deployed["model"]}), "mode": "image"}
    files = {"file": ("slice.dcm", deployed["dicom"].read_bytes(), "application/dicom")}
    anonymous = httpx.post(url, data=body, files=files, timeout=30)
    assert anonymous.status_code == 401
    fake_answer = httpx.post(url, data=body, files={"file": ("fake.dcm", fake.read_bytes(), "application/dicom")},
                             headers={"apikey": deployed["key"]}, timeout=30)
    assert fake_answer.status_code == 415, fake_answer.text
    bomb = httpx.post(url, data=body, files={"file": ("huge.png", png_bomb(30000, 30000), "image/png")},
                      headers={"apikey": deployed["key"]}, timeout=60)
    assert bomb.status_code == 413 and "DATAMINT_SERVER_MAX_FRAME_PIXELS" in bomb.text, bomb.text
    # The official client sends only the path in JSON: refused, saying what to do.
    refused = httpx.post(f"{server.url}/datamint/api/v1/model-inference/predict-image",
                         json={"model_name": deployed["model"], "file_path": str(deployed["dicom"])},
                         headers={"apikey": deployed["key"]}, timeout=30)
    assert refused.status_code == 422 and "model-inference/files" in refused.text
    assert np.array_equal(held(server), [])


def _read_sse(url: str, params: dict[str, Any], key: str, events: list[tuple[str | None, dict[str, Any]]],
              ready: threading.Event, stop_when: Any) -> None:
    """Read an SSE log stream as the official client does (``event:`` line, then ``data:`` JSON whose
    ``event`` wins) into ``events`` until ``stop_when(event)`` or the server's ``end``."""
    with httpx.stream("GET", url, params=params, headers={"apikey": key}, timeout=120) as response:
        assert response.status_code == 200, response.read()
        name = None
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
                continue
            if not line.startswith("data:"):
                continue
            event = json.loads(line[5:])
            events.append((name, event))
            if event.get("event") == "start":
                ready.set()
            if event.get("event", name) == "end" or stop_when(event):
                return


def test_pod_log_stream_follows_the_lines_of_new_jobs(server, deployed) -> None:  # type: ignore[no-untyped-def]
    api, model = deployed["api"], deployed["model"]
    url = f"{server.url}/datamint/api/v1/pod-logs/{model}/stream"
    events: list[tuple[str | None, dict[str, Any]]] = []
    ready = threading.Event()
    marker: dict[str, str] = {}

    def finished(event: dict[str, Any]) -> bool:
        return bool(marker) and marker["id"] in event.get("line", "") and event["line"].endswith(" completed")

    reader = threading.Thread(target=_read_sse, args=(url, {"tag": "champion", "interval": 0.5}, deployed["key"],
                                                      events, ready, finished), daemon=True)
    reader.start()
    assert ready.wait(30)
    time.sleep(1.0)  # the replay of past lines has gone out
    replayed = len(events)
    assert any("loaded Finder" in e.get("line", "") for _, e in events[1:])
    job = api.inference.predict_image(model, resource_id=deployed["resource"])
    marker["id"] = f"[{job.id[:8]}]"
    api.inference.wait(job, timeout=300)
    reader.join(60)
    assert not reader.is_alive(), "the stream did not send the new job's lines"
    new = [e for _, e in events[replayed:]]
    assert all(name == e["event"] == "log" for name, e in events[replayed:])
    mine = [e["line"] for e in new if marker["id"] in e["line"]]
    assert any("already loaded" in line or "loaded in this worker" in line for line in mine)
    assert mine[-1].endswith(" completed")
    assert events[0][1]["event"] == "start" and events[0][1]["status"] == "running"


def test_pod_log_stream_ends_when_the_deployment_is_removed(server, deployed) -> None:  # type: ignore[no-untyped-def]
    api, model = deployed["api"], deployed["model"]
    job = api.deploy.start(model, model_version=1)
    job.wait(timeout=300)
    assert job.status == "completed", job.error_message
    events: list[tuple[str | None, dict[str, Any]]] = []
    ready = threading.Event()
    reader = threading.Thread(target=_read_sse, args=(f"{server.url}/datamint/api/v1/pod-logs/{model}/stream",
                                                      {"tag": "1", "interval": 0.5}, deployed["key"], events, ready,
                                                      lambda event: False), daemon=True)
    reader.start()
    assert ready.wait(30)
    assert api.deploy.remove_image(model, tag="1")["success"] is True
    reader.join(30)
    assert not reader.is_alive()
    assert events[-1] == ("end", {"event": "end", "status": "removed", "reason": "the deployment was removed"})


def test_with_gpu_on_a_machine_without_one_deploys_on_cpu_with_a_warning(server, deployed) -> None:  # type: ignore[no-untyped-def]
    import torch

    assert not torch.cuda.is_available(), "this test is about a machine without a GPU"
    api, model = deployed["api"], deployed["model"]
    job = api.deploy.start(model, model_alias="champion", with_gpu=True)
    job.wait(timeout=300)
    assert job.status == "completed", job.error_message
    assert job.with_gpu is True and job.result["gpu_available"] is False
    warnings = [line for line in api.jobs.logs(job.id) if line["level"] == "warning"]
    assert [line["line"] for line in warnings] == ["with_gpu: this worker has no GPU; the model runs on CPU"]
    pods = httpx.get(f"{server.url}/datamint/api/v1/pod-logs/{model}/pods", headers={"apikey": deployed["key"]},
                     timeout=30).json()
    assert [(p["name"], p["need_gpu"]) for p in pods] == [(f"{model}:champion", True)]
    inference = api.inference.predict_image(model, resource_id=deployed["resource"])
    api.inference.wait(inference, timeout=300)
    assert inference.status == "completed", inference.error_message


OFFICIAL_FOLLOW = r"""
import json, threading, time
env = json.loads(ENV_JSON)
import datamint.api.client as client_module
import datamint.utils.urls as urls_module
import datamint.mlflow.env_utils as env_module
for module in (client_module, urls_module, env_module):  # our server is its own "MLflow host"
    module.derive_mlflow_url = lambda url: url
from datamint import Api

api = Api()
lines, ended = [], []

def follow():
    for line in api.pod_logs.stream_logs(env["model"], tag="champion", interval=0.5):
        lines.append(line)
    ended.append(True)

threading.Thread(target=follow, daemon=True).start()
deadline = time.monotonic() + 60
while not lines and time.monotonic() < deadline:
    time.sleep(0.1)
time.sleep(1.0)
replayed = len(lines)
job = api.inference.predict_image(env["model"], model_alias="champion", resource_id=env["resource"])
api.inference.wait(job, timeout=300)
marker = "[" + job.id[:8] + "]"
while not any(marker in l and l.endswith(" completed") for l in lines) and time.monotonic() < deadline + 120:
    time.sleep(0.1)
print(json.dumps({"replayed": replayed, "new": [l for l in lines[replayed:] if marker in l], "ended": bool(ended)}))
"""


def test_official_client_follows_the_pod_log_stream(server, deployed) -> None:  # type: ignore[no-untyped-def]
    from fixtures.official_client import run_official

    env = {"model": deployed["model"], "resource": deployed["resource"]}
    out = json.loads(run_official(OFFICIAL_FOLLOW.replace("ENV_JSON", repr(json.dumps(env))), server.url, deployed["key"],
                                  timeout=600).strip().splitlines()[-1])
    assert out["replayed"] > 0 and out["ended"] is False
    assert out["new"] and out["new"][-1].endswith(" completed")
    assert any("loaded in this worker" in line for line in out["new"])


def test_cli_predicts_on_a_local_file(server, deployed, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from datamint.cli.models import app as models_app

    monkeypatch.setenv("DATAMINT_API_URL", server.url)
    monkeypatch.setenv("DATAMINT_API_KEY", deployed["key"])
    result = CliRunner().invoke(models_app, ["predict", deployed["model"], str(deployed["dicom"]), "--mode", "image"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    box, point, category = out["predictions"][0]
    assert box["geometry"]["points"][3] == patient(10, 12) and category["value"] == "32x32"
    assert out["annotation_ids"] is None
