"""The official datamint 2.45.0 client reads datasets, downloads an archive through the token flow and
manages project splits on our server."""

from __future__ import annotations

import json
import zipfile

from datamint import Api
from dataset_samples import png_image

from conftest import unique
from official_client import run_official


def test_official_client_datasets_and_splits(server, tmp_path):
    key = server.new_org()
    api = Api(server.url, key)
    ids = [api.resources.upload_resource(str(png_image(tmp_path / f"o{i}.png", i))) for i in range(2)]
    project = api.projects.create(unique("official-ds"), "official datasets", resources_ids=ids)
    api.datasets.create_version(project.dataset_id, "v-one")
    archive = tmp_path / "official.zip"
    out = run_official(f"""
        import json
        from datamint import Api
        api = Api()
        infos = api._datasetsinfo.get_list()
        info = api._datasetsinfo.get_by_id({project.dataset_id!r})
        now = api._datasetsinfo.get_resources(info)
        frozen = api._datasetsinfo.get_resources(info, version='v-one')
        api._datasetsinfo.download(info, {str(archive)!r}, format='dicom', progress_bar=False)
        api._datasetsinfo.update_resources(info, resource_ids_to_delete=[{ids[1]!r}])
        project = api.projects.get_by_id({project.id!r})
        api.projects.assign_splits([{ids[0]!r}], 'train', project=project)
        splits = api.projects.get_splits(project)
        one = api.projects.get_resource_split({ids[0]!r}, project=project)
        none = api.projects.get_resource_split({ids[1]!r}, project=project)
        print(json.dumps(dict(n=len(infos), name=info.name, total=info.total_resource, now=len(now),
                              frozen=sorted(r['sha256'] for r in frozen), count=project.resource_count,
                              splits=[(s.resource_id, s.split_name) for s in splits], one=one.split_name,
                              none=none)))
    """, server.url, key)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["name"] == project.name and result["total"] == 2 and result["now"] == 2 and result["n"] >= 1
    assert len(result["frozen"]) == 2 and result["count"] == 1
    assert result["splits"] == [[ids[0], "train"]] and result["one"] == "train" and result["none"] is None
    with zipfile.ZipFile(archive) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert sorted(r["sha256"] for r in manifest["resources"]) == result["frozen"]
