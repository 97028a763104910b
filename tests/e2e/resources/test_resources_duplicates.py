"""Duplicate uploads (issue 10): found by content hash within one organization; ``keep`` (the
default, as the official client expects) adds a copy and says so, ``skip`` reuses the existing
resource; identical simultaneous skips create one resource; bad values are 422 and store nothing."""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from datamint import Api
from datamint.exceptions import ValidationError
from datamint.server.resources.models import Resource, UploadIntent
from fixtures.files import png_file, write_ct_series

from conftest import unique


def _blobs(server, customer_id: str) -> list[Path]:
    return sorted((server.data_dir / "blobs" / customer_id).rglob("original"))


def test_keep_is_the_default_and_says_so(server, tmp_path, caplog):
    api = Api(server.url, server.new_org())
    png = png_file(tmp_path / "scan.png")
    first = api.resources.upload_resource(str(png))
    assert first.duplicate_of is None and not first.skipped
    with caplog.at_level(logging.WARNING, logger="datamint.upload"):
        second = api.resources.upload_resource(str(png))
    assert second != first and second.duplicate_of == first and not second.skipped
    assert f"scan.png (resource {first})" in caplog.text and "on_duplicate='skip'" in caplog.text
    assert {r.id for r in api.resources.get_list()} == {first, second}
    sha = hashlib.sha256(png.read_bytes()).hexdigest()
    assert api.resources.get_by_id(second).content_sha256 == sha


def test_skip_reuses_the_resource_and_adds_it_to_the_project(server, tmp_path, caplog):
    api = Api(server.url, server.new_org())
    png = png_file(tmp_path / "scan.png")
    first = api.resources.upload_resource(str(png))
    project = api.projects.create(unique("dup"), "d")
    with caplog.at_level(logging.WARNING, logger="datamint.upload"):
        again = api.resources.upload_resources([str(png)], on_duplicate="skip", publish_to=project)
    assert again == [first] and again[0].skipped and "Skipped 1 file(s) already on the server" in caplog.text
    assert [r.id for r in api.resources.get_list()] == [first]
    assert [r.id for r in api.projects.get_project_resources(project)] == [first]
    api.resources.delete(first)  # a deleted resource is no longer a duplicate
    revived = api.resources.upload_resource(str(png), on_duplicate="skip")
    assert revived != first and revived.duplicate_of is None


def test_anonymized_series_are_recognised_for_their_uploader_only(server, tmp_path):
    key = server.new_org()
    api = Api(server.url, key)
    files = [str(p) for p in write_ct_series(tmp_path / "ct", slices=3)]
    (first,) = set(api.resources.upload_resources(files, anonymize=True))
    again = api.resources.upload_resources(list(reversed(files)), anonymize=True, on_duplicate="skip")
    assert set(again) == {first} and all(r.skipped for r in again)  # new UIDs each time: same originals
    from datamint.server.auth.service import authenticate

    with server.database.transaction() as session:
        customer = authenticate(session, key).customer_id
    email, colleague_key = server.new_user(["member"], admin_key=key)
    theirs = Api(server.url, colleague_key).resources.upload_resources(files, anonymize=True, on_duplicate="skip")
    assert len(set(theirs)) == 1 and theirs[0] != first and theirs[0].duplicate_of is None  # declared: not shared
    raw = Api(server.url, colleague_key).resources.upload_resource(files[0], on_duplicate="skip")
    mine_raw = api.resources.upload_resource(files[0], on_duplicate="skip")
    assert mine_raw == raw and mine_raw.skipped  # the same bytes: shared within the organization
    assert len(_blobs(server, customer)) == 3


def test_other_organizations_content_is_not_a_duplicate(server, tmp_path):
    png = png_file(tmp_path / "scan.png")
    one = Api(server.url, server.new_org()).resources.upload_resource(str(png))
    other = Api(server.url, server.new_org()).resources.upload_resource(str(png), on_duplicate="skip")
    assert other != one and other.duplicate_of is None and not other.skipped


def test_sixteen_identical_skip_uploads_create_one_resource(server, tmp_path):
    key = server.new_org()
    data = png_file(tmp_path / "same.png").read_bytes()

    def upload(_: int) -> httpx.Response:
        files = {"resource": ("same.png", data, "image/png")}
        return httpx.post(f"{server.url}/resources", headers={"apikey": key}, files=files,
                          data={"on_duplicate": "skip"}, timeout=60)

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(upload, range(16)))
    assert sorted(a.status_code for a in answers) == [200] * 15 + [201]
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    (rid,) = ids
    assert all(a.json()["duplicate_of"] == (None if a.status_code == 201 else rid) for a in answers)
    with server.database.transaction() as session:
        rows = session.scalars(select(Resource).where(Resource.content_sha256 == hashlib.sha256(data).hexdigest(),
                                                      Resource.id == rid)).all()
        customer = rows[0].customer_id
        count = session.scalar(select(func.count()).select_from(Resource).where(Resource.customer_id == customer))
        intents = session.scalar(select(func.count()).select_from(UploadIntent)
                                 .where(UploadIntent.customer_id == customer))
    assert count == 1 and intents == 0 and len(_blobs(server, customer)) == 1  # no orphan blob


@pytest.mark.parametrize(("field", "value", "message"), [
    ("on_duplicate", "maybe", "on_duplicate must be 'keep' or 'skip'"),
    ("source_sha256", "abc", "source_sha256 must be the SHA-256"),
])
def test_bad_values_are_422_and_store_nothing(server, tmp_path, field, value, message):
    key = server.new_org()
    files = {"resource": ("x.png", png_file(tmp_path / "x.png").read_bytes(), "image/png")}
    answer = httpx.post(f"{server.url}/resources", headers={"apikey": key}, files=files, data={field: value})
    assert answer.status_code == 422 and message in answer.json()["message"]
    assert Api(server.url, key).resources.get_list() == []
    with pytest.raises(ValueError, match="on_duplicate"):
        Api(server.url, key).resources.upload_resources([str(tmp_path / "x.png")], on_duplicate="maybe")
    with pytest.raises(ValidationError, match="on_duplicate"):  # the server says the same to other clients
        Api(server.url, key).resources._request("POST", "/resources", files=files, data={"on_duplicate": "no"})


def test_dicom_received_over_the_network_gets_its_own_hash(server):
    """STOW-RS (and C-STORE) build their files from bytes: each resource still gets the hash of its bytes."""
    import io

    import pydicom
    from dicomweb_client.api import DICOMwebClient
    from pydicom.uid import generate_uid

    from fixtures.files import make_ct_slice, to_bytes

    key = server.new_org()
    server.app.state.settings.public_url = server.url
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    slices = [pydicom.dcmread(io.BytesIO(to_bytes(make_ct_slice(i, study=study, series=series,
                                                                frame_of_reference=frame))))
              for i in range(3)]
    client = DICOMwebClient(url=f"{server.url}/dicomweb", headers={"Authorization": f"Bearer {key}"})
    assert "FailedSOPSequence" not in client.store_instances(slices)
    api = Api(server.url, key)
    resources = api.resources.get_list()
    assert len(resources) == 3
    for resource in resources:
        data = api.resources.download_resource_file(resource, auto_convert=False)
        assert resource.content_sha256 == hashlib.sha256(data).hexdigest()
    assert len({r.content_sha256 for r in resources}) == 3
