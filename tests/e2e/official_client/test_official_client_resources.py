"""The official datamint 2.45.0 client uploads, lists, downloads and manages resources on our server."""

from __future__ import annotations

import json

from datamint import Api
from fixtures.files import png_file, pydicom_file
from fixtures.official_client import run_official

from conftest import unique


def test_official_client_resource_flow(server, tmp_path):
    key = server.new_org()
    png = str(png_file(tmp_path / "official.png"))
    dicom = str(pydicom_file("JPEG2000.dcm"))  # CT_small/MR_small have a TIFF-like preamble that fools libmagic
    project = unique("official-res")
    Api(server.url, key).projects.create(project, "for the official client")
    out = run_official(f"""
        import json
        from datamint import Api
        api = Api()
        rid = api.resources.upload_resource({png!r}, tags=['off', 'png'], channel='official')
        ids = api.resources.upload_resources([{dicom!r}, {png!r}], publish_to={project!r}, assemble_dicoms=False)
        res = api.resources.get_by_id(rid)
        listed = api.resources.get_list(tags=['off'], channel='official')
        in_project = api.resources.get_list(project_name={project!r})
        raw = api.resources.download_resource_file(ids[0], auto_convert=False)
        ds = api.resources.download_resource_file(ids[0])
        frame = api.resources.download_resource_frame(ids[0], 0)
        api.resources.publish_resources(res)
        api.resources.publish_resources(res)
        api.resources.set_tags([res], ['replaced'])
        project_items = api.projects.get_project_resources(api.projects.get_by_name({project!r}))
        channels = api.resources.list_channels(project_name={project!r})
        api.resources.bulk_delete([ids[1]])
        deleted = api.resources.get_deleted()
        print(json.dumps(dict(
            rid=rid, ids=ids, cls=type(res).__name__, storage=res.storage, width=res.metadata.get('width'),
            tags=res.tags, listed=[r.id for r in listed], in_project=sorted(r.id for r in in_project),
            raw_len=len(raw), modality=ds.Modality, dicom_cls=type(api.resources.get_by_id(ids[0])).__name__,
            frame=list(frame.size), status=api.resources.get_by_id(rid).status,
            new_tags=api.resources.get_by_id(rid).tags, project_items=sorted(r.id for r in project_items),
            channels=[c.channel_name for c in channels], deleted=[r.id for r in deleted],
            count=api.projects.get_by_name({project!r}).resource_count)))
    """, server.url, key)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["cls"] == "ImageResource" and result["storage"] == "ImageResource" and result["width"] == 24
    assert result["ids"][1] != result["rid"]  # the same PNG twice: two resources, as the official client expects
    assert result["tags"] == ["off", "png"] and result["listed"] == [result["rid"]]
    assert result["in_project"] == sorted(result["ids"]) == result["project_items"]
    assert result["raw_len"] == len(open(dicom, "rb").read()) and result["modality"] == "NM"
    assert result["dicom_cls"] == "DICOMResource" and result["frame"] == [256, 1024]
    assert result["status"] == "published" and result["new_tags"] == ["replaced"]
    assert result["channels"] == [None] and result["deleted"] == [result["ids"][1]]
    assert result["count"] == 1
