"""The legacy ``datamintapi.APIHandler`` guide (seed 002), run against the real server."""

from __future__ import annotations

import pydicom

import datamint
from datamintapi import APIHandler
from fixtures.files import png_file, pydicom_file


def test_the_guide_works(server, tmp_path, monkeypatch):
    key = server.new_org()
    monkeypatch.setenv("DATAMINT_API_KEY", key)
    handler = APIHandler(root_url=server.url)
    assert datamint.APIHandler is APIHandler and handler.root_url == server.url

    rid = handler.upload_resources(pydicom_file("CT_small.dcm"), anonymize=True, labels=["label1", "label2"],
                                   channel="CT scans")
    assert isinstance(rid, str)
    (tmp_path / "path" / "to").mkdir(parents=True)
    png_file(tmp_path / "path" / "to" / "img.png")
    monkeypatch.chdir(tmp_path)
    munged = handler.upload_resources("path/to/img.png", mung_filename=1)
    ids = handler.upload_resources([pydicom_file("MR_small.dcm"), "path/to/img.png"], channel="CT scans",
                                   assemble_dicoms=False)
    assert len(ids) == 2

    inbox = handler.get_resources(status="inbox")
    assert {r["id"] for r in inbox} == {rid, munged, *ids} and isinstance(inbox[0], dict)
    assert {r["id"] for r in handler.get_resources(channel="CT scans")} == {rid, *ids}
    assert handler.get_resources(labels=["label2"], return_ids_only=True) == [rid]
    assert handler.get_resources_by_ids(munged)["filename"] == "to_img.png"
    assert [r["id"] for r in handler.get_resources_by_ids([rid, munged])] == [rid, munged]

    raw = handler.download_resource_file(rid, auto_convert=False)
    ds = handler.download_resource_file(rid, auto_convert=True)
    assert isinstance(raw, bytes) and isinstance(ds, pydicom.Dataset) and ds.PatientIdentityRemoved == "YES"
    handler.download_resource_file(rid, save_path=str(tmp_path / "dicomfile.dcm"))
    assert pydicom.dcmread(tmp_path / "dicomfile.dcm").SOPInstanceUID == ds.SOPInstanceUID

    handler.publish_resource(rid)
    assert handler.get_resources_by_ids(rid)["status"] == "published"
    published = handler.upload_resources("path/to/img.png", publish=True)
    assert handler.get_resources_by_ids(published)["status"] == "published"
