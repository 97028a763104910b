"""Decompression and dimension bombs over HTTP (issue 9 §2), on SQLite and PostgreSQL.

The issue's bombs go to the session's server (default limits); a server of this module with small
limits (``DATAMINT_SERVER_MAX_FRAME_PIXELS`` and friends) shows each limit refusing a file just over
it with 413 and a message naming the setting, leaving no resource, annotation or blob, while a file
just at the limit is uploaded, rendered and sliced. Limits lowered after an upload apply to what is
already stored (frames, slices, DICOMweb rendering).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from bombs import YAML_ALIAS_BOMB, deflated_dicom, native_dicom, nifti, png_bomb, rle_dicom
from datamint.imaging.limits import DecodeLimits

from conftest import BACKENDS, LiveServer, fresh_pg_database, start_server

LIMITS = {"max_frame_pixels": 512 * 512, "max_frames": 64, "max_decoded_mb": 8, "max_spec_kb": 16}


@pytest.fixture(scope="module", params=BACKENDS)
def limited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server with small decoded-size limits (its own database on PostgreSQL: it bootstraps its own
    organization)."""
    from PIL import Image

    pillow_guard = Image.MAX_IMAGE_PIXELS  # process-wide: give the session's other servers theirs back
    folder = tmp_path_factory.mktemp(f"limited-{request.param}")
    try:
        if request.param == "postgresql":
            with fresh_pg_database() as url:
                yield from start_server("postgresql", request, folder, database_url=url, **LIMITS)
        else:
            yield from start_server("sqlite", request, folder, **LIMITS)
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_guard


@pytest.fixture(autouse=True)
def _pillow_guard_restored() -> Iterator[None]:
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = saved


@functools.cache
def issue_bombs() -> dict[str, tuple[bytes, str, str]]:
    """The issue's files: (content, mimetype, the setting the answer must name)."""
    return {
        "deflated-8192.dcm": (deflated_dicom(8192, 8192), "application/dicom", "DATAMINT_SERVER_MAX_FRAME_PIXELS"),
        "png-30000.png": (png_bomb(30000, 30000), "image/png", "DATAMINT_SERVER_MAX_FRAME_PIXELS"),
        "volume-64gib.nii.gz": (nifti((4096, 4096, 4096), truncate_at=1 << 16), "application/nifti",
                                "DATAMINT_SERVER_MAX_DECODED_MB"),
    }


def http(server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"apikey": server.admin_key}, timeout=60)


def blobs(server: LiveServer) -> list[Path]:
    return sorted(p for p in (server.data_dir / "blobs").rglob("*") if p.is_file())


def resource_count(client: httpx.Client) -> int:
    return int(client.get("/resources", params={"limit": 1}).json()["totalCount"])


def annotation_count(server: LiveServer, resource_id: str) -> int:
    import sqlalchemy as sa

    from datamint.server.annotations.models import Annotation

    with server.database.transaction() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Annotation)
                              .where(Annotation.resource_id == resource_id))


def worklist_count(server: LiveServer) -> int:
    import sqlalchemy as sa

    from datamint.server.worklists.models import Worklist

    with server.database.transaction() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Worklist))


def upload(client: httpx.Client, name: str, data: bytes, mimetype: str) -> httpx.Response:
    return client.post("/resources", files={"resource": (name, data, mimetype)})


def refused(answer: httpx.Response, setting: str) -> str:
    assert answer.status_code == 413, answer.text
    body = answer.json()
    assert body["code"] == "decoded_size_limit" and f"(setting {setting})" in body["message"], body
    assert "nothing was decoded" in body["message"]
    return body["message"]


def test_the_issues_bombs_are_refused_with_the_default_limits(server: LiveServer) -> None:
    with http(server) as client:
        before, stored = resource_count(client), blobs(server)
        for name, (data, mimetype, setting) in issue_bombs().items():
            assert len(data) < 200 * 1024, name
            message = refused(upload(client, name, data, mimetype), setting)
            assert message.startswith(f"{name}: ")
        assert "is 67,108,864 pixels, over the server's limit of 33,554,432 pixels" in \
            refused(upload(client, "again.dcm", issue_bombs()["deflated-8192.dcm"][0], "application/dicom"),
                    "DATAMINT_SERVER_MAX_FRAME_PIXELS")
        assert resource_count(client) == before
    assert blobs(server) == stored


def test_batch_files_are_checked_against_the_servers_limits(limited: LiveServer) -> None:
    """A batch's files are checked (in a worker thread) with this server's small limits, not the
    defaults: the one just over refused alone, the one at the limit stored."""
    with http(limited) as client:
        before, stored = resource_count(client), blobs(limited)
        parts = [("resources", ("over.dcm", native_dicom(512, 513), "application/dicom")),
                 ("resources", ("at.dcm", native_dicom(512, 512), "application/dicom"))]
        answer = client.post("/resources/batch", files=parts)
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        assert [i["status"] for i in items] == [413, 201], items
        assert items[0]["error"]["code"] == "decoded_size_limit"
        assert "(setting DATAMINT_SERVER_MAX_FRAME_PIXELS)" in items[0]["error"]["message"]
        assert items[1]["resource"]["metadata"]["width"] == 512
        assert resource_count(client) == before + 1
    assert len(blobs(limited)) == len(stored) + 1


def test_each_limit_refuses_just_over_and_serves_just_at_it(limited: LiveServer) -> None:
    with http(limited) as client:
        before, stored = resource_count(client), blobs(limited)
        over = {
            "wide.dcm": (native_dicom(512, 513), "application/dicom", "DATAMINT_SERVER_MAX_FRAME_PIXELS"),
            "rle.dcm": (rle_dicom(1024, 1024), "application/dicom", "DATAMINT_SERVER_MAX_FRAME_PIXELS"),
            "deflated.dcm": (deflated_dicom(1024, 1024), "application/dicom", "DATAMINT_SERVER_MAX_FRAME_PIXELS"),
            "frames.dcm": (native_dicom(8, 8, frames=65, bits=8), "application/dicom", "DATAMINT_SERVER_MAX_FRAMES"),
            "int32.nii.gz": (nifti((256, 256, 33), np.int32), "application/nifti", "DATAMINT_SERVER_MAX_DECODED_MB"),
            "cube-512.nii.gz": (nifti((512, 512, 512)), "application/nifti", "DATAMINT_SERVER_MAX_FRAMES"),
            "wide.png": (png_bomb(513, 512), "image/png", "DATAMINT_SERVER_MAX_FRAME_PIXELS"),
        }
        for name, (data, mimetype, setting) in over.items():
            refused(upload(client, name, data, mimetype), setting)
        assert resource_count(client) == before
        assert blobs(limited) == stored

        at = {"at.dcm": (native_dicom(512, 512), "application/dicom"),
              "frames.dcm": (native_dicom(8, 8, frames=64, bits=8), "application/dicom"),
              "at.nii.gz": (nifti((256, 256, 32), np.int32, values=np.arange(256 * 256 * 32).reshape(256, 256, 32)),
                            "application/nifti"),
              "at.png": (png_bomb(512, 512), "image/png")}
        ids = {}
        for name, (data, mimetype) in at.items():
            answer = upload(client, name, data, mimetype)
            assert answer.status_code == 201, answer.text
            ids[name] = answer.json()["id"]
        assert resource_count(client) == before + 4
        frame = client.get(f"/resources/{ids['at.dcm']}/frames/0")
        assert frame.status_code == 200 and frame.content.startswith(b"\x89PNG")
        values = client.get(f"/resources/{ids['at.dcm']}/slices/axial/0")
        expected = np.random.default_rng(3).integers(0, 2000, (1, 512, 512), dtype=np.uint16)[0].astype(int) - 1024
        assert np.array_equal(np.frombuffer(values.content, "<i2").reshape(512, 512), expected)
        assert client.get(f"/resources/{ids['frames.dcm']}/frames/63").status_code == 200
        sagittal = client.get(f"/resources/{ids['at.nii.gz']}/slices/sagittal/200")
        assert (sagittal.status_code, sagittal.headers["x-slice-dtype"]) == (200, "float32")  # > int16 range
        volume = np.arange(256 * 256 * 32).reshape(256, 256, 32)
        assert np.array_equal(np.frombuffer(sagittal.content, "<f4").reshape(32, 256), volume[200].T)
        assert client.get(f"/resources/{ids['at.nii.gz']}/frames/31").status_code == 200
        assert client.get(f"/resources/{ids['at.png']}/frames/0").status_code == 200


def test_limits_lowered_later_apply_to_stored_files(limited: LiveServer) -> None:
    app = limited.app
    with http(limited) as client:
        dicom = upload(client, "later.dcm", native_dicom(64, 64), "application/dicom").json()
        volume = upload(client, "later.nii.gz", nifti((32, 32, 8), np.int16), "application/nifti").json()["id"]
        instance = client.get("/dicomweb/instances", params={"SOPInstanceUID": dicom["metadata"]["SOPInstanceUID"]})
        (row,) = instance.json()
        study, series = row["0020000D"]["Value"][0], row["0020000E"]["Value"][0]
        rendered = f"/dicomweb/studies/{study}/series/{series}/instances/{dicom['metadata']['SOPInstanceUID']}/rendered"
        assert client.get(rendered).status_code == 200
        saved = app.state.decode_limits  # type: ignore[attr-defined]
        app.state.decode_limits = DecodeLimits(max_frame_pixels=1000, setting_prefix="DATAMINT_SERVER_")  # type: ignore[attr-defined]
        try:
            for path in (f"/resources/{dicom['id']}/frames/0", f"/resources/{dicom['id']}/slices/axial/0",
                         f"/resources/{dicom['id']}/slices", f"/resources/{volume}/frames/3",
                         f"/resources/{volume}/slices/coronal/3", rendered):
                assert "(64 x 64) is 4,096 pixels" in refused(client.get(path), "DATAMINT_SERVER_MAX_FRAME_PIXELS") \
                    or "(32 x 32) is 1,024 pixels" in refused(client.get(path), "DATAMINT_SERVER_MAX_FRAME_PIXELS")
        finally:
            app.state.decode_limits = saved  # type: ignore[attr-defined]
        assert client.get(f"/resources/{volume}/frames/3").status_code == 200


def test_masks_are_checked_from_their_header_before_decompression(limited: LiveServer) -> None:
    with http(limited) as client:
        rid = upload(client, "vol.nii.gz", nifti((16, 12, 4), np.int16), "application/nifti").json()["id"]
        stored = blobs(limited)

        def send(data: bytes) -> httpx.Response:
            return client.post(f"/annotations/{rid}/segmentations/file", files={"file": ("m.nii.gz", data)},
                               data={"segmentation_map": json.dumps({"1": "liver"})})

        huge = nifti((4096, 4096, 4096), truncate_at=1 << 16)  # announces 64 GiB, holds 64 KiB
        refused(send(huge), "DATAMINT_SERVER_MAX_FRAME_PIXELS")
        wrong = nifti((16, 12, 40), truncate_at=100)  # wrong shape, and its voxels are cut short
        answer = send(wrong)
        assert answer.status_code == 422, answer.text
        assert answer.json()["message"].startswith("Mask size 16x12x40 does not match the resource's 16x12x4")
        assert blobs(limited) == stored
        assert annotation_count(limited, rid) == 0
        labels = np.zeros((16, 12, 4), np.uint8)
        labels[2:5, 3:6, 1] = 1
        answer = send(nifti((16, 12, 4), np.uint8, values=labels))
        assert answer.status_code == 201, answer.text
        assert len(answer.json()) == 1 and annotation_count(limited, rid) == 1


def test_segmentation_groups_refuse_alias_bombs_and_oversized_documents(limited: LiveServer) -> None:
    from datamint import Api

    with http(limited) as client, Api(limited.url, limited.admin_key) as api:
        rid = upload(client, "img.png", png_bomb(8, 8), "image/png").json()["id"]
        wid = api.annotationsets.create("Bombs", [rid])
        api.annotationsets.update_segmentation_group(wid, [{"identifier": "liver", "index": 1}])

        def send(name: str, data: bytes) -> httpx.Response:
            return client.post(f"/annotationsets/{wid}/segmentation-group/upload", files={"file": (name, data)},
                               data={"replace_existing": "true"})

        assert len(YAML_ALIAS_BOMB) < 512  # 43,046,721 strings once expanded
        answer = send("labels.yaml", YAML_ALIAS_BOMB)
        assert answer.status_code == 422 and "YAML aliases (*a) are not accepted" in answer.json()["message"]
        names = [f"label-{i:05d}" for i in range(1400)]
        text = "segmentation_names:\n" + "".join(f"  - {n}\n" for n in names)
        assert 16 * 1024 < len(text) < 24 * 1024
        refused(send("labels.yaml", text.encode()), "DATAMINT_SERVER_MAX_SPEC_KB")
        big = [{"identifier": f"label-{i:05d}", "index": i + 1} for i in range(400)]
        answer = client.put(f"/annotationsets/{wid}/segmentation-group",
                            json={"segmentationData": {"definitions": big}})
        refused(answer, "DATAMINT_SERVER_MAX_SPEC_KB")
        assert list(api.annotationsets.get_segmentation_group(wid)["groups"]) == ["liver"]  # nothing applied
        small = "segmentation_names:\n" + "".join(f"  - {n}\n" for n in names[:150])
        assert send("labels.yaml", small.encode()).status_code == 200
        assert len(api.annotationsets.get_segmentation_group(wid)["groups"]) == 150


def test_archive_conversions_over_the_limits_keep_the_original_and_say_why(limited: LiveServer,
                                                                           tmp_path: Path) -> None:
    import zipfile

    from datamint import Api

    app = limited.app
    with http(limited) as client, Api(limited.url, limited.admin_key) as api:
        volume_bytes = nifti((32, 32, 8), np.int16)
        volume = upload(client, "archived.nii.gz", volume_bytes, "application/nifti").json()["id"]
        small = upload(client, "small.png", png_bomb(8, 8), "image/png").json()["id"]
        project = api.projects.create(f"archive-{volume[:8]}", "limits", resources_ids=[volume, small])
        saved = app.state.decode_limits  # type: ignore[attr-defined]
        app.state.decode_limits = DecodeLimits(max_frame_pixels=100, setting_prefix="DATAMINT_SERVER_")  # type: ignore[attr-defined]
        try:
            path = api.datasets.download(project.dataset_id, tmp_path / "npy.zip", format="npy", progress_bar=False)
        finally:
            app.state.decode_limits = saved  # type: ignore[attr-defined]
    archive = zipfile.ZipFile(path)
    manifest = json.loads(archive.read("manifest.json"))
    entries = {item["id"]: item for item in manifest["resources"]}
    assert "(32 x 32) is 1,024 pixels" in entries[volume]["not_converted"]
    assert "DATAMINT_SERVER_MAX_FRAME_PIXELS" in entries[volume]["not_converted"]
    (kept,) = entries[volume]["archive_paths"]
    assert archive.read(kept) == volume_bytes  # the original, as uploaded
    (converted,) = entries[small]["archive_paths"]
    assert converted.endswith(".npy") and "not_converted" not in entries[small]


def test_worklist_annotation_specs_are_within_the_spec_limit(limited: LiveServer) -> None:
    with http(limited) as client:
        rid = upload(client, "spec.png", png_bomb(8, 8), "image/png").json()["id"]
        specs = [{"type": "label", "identifier": f"finding-{i:04d}", "scope": "image"} for i in range(300)]
        before = worklist_count(limited)
        answer = client.post("/annotationsets", json={"name": "too many specs", "resource_ids": [rid],
                                                      "annotations": specs})
        refused(answer, "DATAMINT_SERVER_MAX_SPEC_KB")
        assert worklist_count(limited) == before  # no worklist was made
        created = client.post("/annotationsets", json={"name": "enough specs", "resource_ids": [rid],
                                                       "annotations": specs[:60]})
        assert created.status_code == 201, created.text
        assert len(client.get(f"/annotationsets/{created.json()['id']}").json()["annotations"]) == 60


def test_import_sessions_refuse_zip_bombs_and_yaml_aliases(limited: LiveServer, tmp_path: Path) -> None:
    import zipfile

    from datamint import Api

    with http(limited) as client, Api(limited.url, limited.admin_key) as api:
        rid = upload(client, "imp.png", png_bomb(16, 16), "image/png").json()["id"]
        project = api.projects.get_by_id(api.projects.create(f"imp-{rid[:8]}", "import bombs",
                                                             resources_ids=[rid]).id)
        bomb = tmp_path / "bomb.zip"
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("labels/imp.txt", b"0" * (9 * 1024 * 1024))  # 9 MiB in a few KiB
        assert bomb.stat().st_size < 64 * 1024
        with api.annotations.import_session(project) as session:
            session.add_path(bomb)
        logs = json.dumps(session.get_logs(), default=str)
        assert session.job.result["failed_files"] == 1, logs
        assert "labels/imp.txt decompressed is 9 MiB, over the server's limit of 8 MiB (setting " \
               "DATAMINT_SERVER_MAX_DECODED_MB)" in logs

        aliases = tmp_path / "aliases.zip"
        alias_yaml = YAML_ALIAS_BOMB.split(b"definitions:")[0] + b"names: *h\n"
        with zipfile.ZipFile(aliases, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("data.yaml", alias_yaml)
            archive.writestr("labels/imp.txt", b"0 0.5 0.5 0.25 0.25\n")
        with api.annotations.import_session(project) as session:
            session.add_path(aliases)
        logs = json.dumps(session.get_logs(), default=str)
        assert session.job.result["failed_files"] >= 1, logs
        assert "data.yaml: YAML aliases (*a) are not accepted (line 2)" in logs
        assert annotation_count(limited, rid) == 0
