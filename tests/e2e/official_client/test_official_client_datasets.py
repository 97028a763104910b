"""The official datamint 2.45.0 client reads datasets, downloads an archive through the token flow,
manages project splits, and builds its PyTorch datasets (wire §9) from our projects."""

from __future__ import annotations

import gzip
import io
import json
import zipfile

import nibabel
import numpy as np
import pydicom
from PIL import Image

from datamint import Api
from fixtures.official_client import run_official
from fixtures.projects import SEGMENTS, SPECS, build_sample, png_image

from conftest import unique


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
    assert result["name"] == project.name and result["total"] == 2 and result["now"] == 2 and result["n"] == 1
    assert len(result["frozen"]) == 2 and result["count"] == 1
    assert result["splits"] == [[ids[0], "train"]] and result["one"] == "train" and result["none"] is None
    with zipfile.ZipFile(archive) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert sorted(r["sha256"] for r in manifest["resources"]) == result["frozen"]


def test_official_client_downloads_jpg_and_tiff_archives(server, tmp_path):
    """Issue 10: the formats the official client offers besides dicom/nifti/png render every frame."""
    from fixtures.files import write_ct_series

    key = server.new_org()
    api = Api(server.url, key)
    png = api.resources.upload_resource(str(png_image(tmp_path / "p.png", 3)))
    (ct,) = set(api.resources.upload_resources([str(p) for p in write_ct_series(tmp_path / "ct", slices=3)]))
    project = api.projects.create(unique("official-jpg"), "rendered archives", resources_ids=[png, ct])
    out = run_official(f"""
        import json
        from datamint import Api
        api = Api()
        info = api._datasetsinfo.get_by_id({project.dataset_id!r})
        for fmt in ('jpg', 'tiff'):
            api._datasetsinfo.download(info, {str(tmp_path)!r} + f'/official.{{fmt}}.zip', format=fmt,
                                       progress_bar=False)
        print(json.dumps('done'))
    """, server.url, key)
    assert json.loads(out.strip().splitlines()[-1]) == "done"
    for fmt, pil_format in (("jpg", "JPEG"), ("tiff", "TIFF")):
        with zipfile.ZipFile(tmp_path / f"official.{fmt}.zip") as zf:
            manifest = json.loads(zf.read("manifest.json"))
            paths = {r["id"]: r["archive_paths"] for r in manifest["resources"]}
            assert manifest["format"] == fmt and len(paths[ct]) == 3 and len(paths[png]) == 1
            for path in paths[ct] + paths[png]:
                image = Image.open(io.BytesIO(zf.read(path)))
                assert path.endswith(f".{fmt}") and image.format == pil_format
            frame = np.asarray(Image.open(io.BytesIO(zf.read(paths[ct][1]))))
            rendered = np.asarray(api.resources.download_resource_frame(ct, 1)).astype(int)
            assert np.abs(frame.astype(int) - rendered).max() <= (0 if fmt == "tiff" else 40)

def test_official_dataset_classes_read_our_projects_exactly(server, tmp_path):
    key = server.new_org()
    api = Api(server.url, key)
    sample = build_sample(api, tmp_path)
    names = {}
    for kind, ids in (("images", [sample.png1, sample.png2]), ("volumes", [sample.ct, sample.nifti])):
        project = api.projects.create(unique(kind), "official dataset classes", resources_ids=ids)
        api.annotationsets.update_segmentation_group(project, SEGMENTS)
        api.annotationsets.update(project.worklist_id, annotations=SPECS)
        names[kind] = project.name
    out = run_official(f"""
        import json
        from datamint.dataset import ImageDataset, VolumeDataset, build_dataset
        images = ImageDataset(project={names['images']!r}, return_boxes=True)
        volumes = VolumeDataset(project={names['volumes']!r}, return_as_semantic_segmentation=True,
                                semantic_seg_merge_strategy='union')
        result = dict(kinds=[type(build_dataset(n)).__name__ for n in {list(names.values())!r}],
                      segmentation=list(images.segmentation_labels_set), labels=list(images.image_labels_set),
                      items={{}})
        for i in range(len(images)):
            item = images[i]
            result['items'][item['resource'].id] = dict(
                image=item['image'].tolist(), boxes=item['boxes'].tolist(),
                masks={{a: m.tolist() for a, m in item['masks'].items()}},
                labels={{a: t.tolist() for a, t in item['image_labels'].items()}})
        for i in range(len(volumes)):
            item = volumes[i]
            result['items'][item['resource'].id] = dict(image=item['image'].tolist(),
                                                        classes=item['masks'].argmax(0).tolist())
        print(json.dumps(result))
    """, server.url, key)
    result = json.loads(out.strip().splitlines()[-1])
    items = result["items"]
    assert result["kinds"] == ["ImageDataset", "VolumeDataset"]
    assert result["segmentation"] == ["liver", "tumor", "lesion"] and result["labels"] == ["fracture"]
    for rid in (sample.png1, sample.png2):
        uploaded = np.asarray(Image.open(io.BytesIO(api.resources.download_resource_file(rid, auto_convert=False))))
        assert np.array_equal(np.asarray(items[rid]["image"]), uploaded[np.newaxis])
        assert items[rid]["boxes"] == [list(b) for b in sample.boxes[rid]]
    ((author, masks),) = items[sample.png1]["masks"].items()
    assert np.array_equal(np.asarray(masks) != 0, sample.png1_mask[np.newaxis])
    assert items[sample.png1]["labels"] == {author: [1]} and items[sample.png2]["masks"] == {}
    ct = pydicom.dcmread(io.BytesIO(api.resources.download_resource_file(sample.ct, auto_convert=False)))
    assert np.array_equal(np.asarray(items[sample.ct]["image"])[0], ct.pixel_array - 1024.0)  # rescaled to HU
    assert np.array_equal(np.asarray(items[sample.ct]["classes"]), sample.ct_labels.transpose(2, 0, 1))
    nifti = nibabel.Nifti1Image.from_bytes(gzip.decompress(api.resources.download_resource_file(
        sample.nifti, auto_convert=False)))
    assert np.array_equal(np.asarray(items[sample.nifti]["image"])[0], np.asanyarray(nifti.dataobj).transpose(2, 1, 0))
    assert np.array_equal(np.asarray(items[sample.nifti]["classes"]), sample.nifti_labels.transpose(2, 1, 0))
