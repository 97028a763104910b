"""The official datamint 2.45.0 client works against our server unchanged for annotations:
create and search, frame segmentations (upload and download) and volume segmentations."""

from __future__ import annotations

import json

import numpy as np

from datamint import Api
from fixtures.official_client import run_official
from fixtures.projects import NIFTI_SHAPE, write_nifti


def test_official_client_annotations(server, tmp_path):
    from datamint import Api

    folder = tmp_path / "png"
    folder.mkdir()
    from fixtures.projects import png_path

    with Api(server.url, server.admin_key) as api:
        image = api.resources.upload_resource(str(png_path(folder)))
        volume = api.resources.upload_resource(str(write_nifti(tmp_path / "vol.nii.gz")))
    import nibabel

    labels = np.zeros(NIFTI_SHAPE, np.uint8)
    labels[1:4, 2:5, 1:3] = 1
    labels[6:9, 1:3, 4] = 2
    seg_path = tmp_path / "seg.nii.gz"
    nibabel.save(nibabel.Nifti1Image(labels, np.eye(4)), str(seg_path))
    out = run_official(f"""
        import io, json
        import numpy as np
        from PIL import Image
        from datamint import Api
        from datamint.api.dto import CreateAnnotationDto
        api = Api()
        image, volume = {image!r}, {volume!r}
        box = api.annotations.add_box_annotation((1, 2), (5, 6), image, 'Box1')
        cat = api.annotations.create(image, CreateAnnotationDto('category', 'tumour', 'image', value='benign'))
        found = api.annotations.get_list(resource=image)
        mask = np.zeros((16, 24), np.uint8)
        mask[2:5, 3:9] = 255
        seg_ids = api.annotations.upload_segmentations(image, mask, 'lesion')
        seg = api.annotations.get_by_id(seg_ids[0])
        data = api.annotations.download_file(seg)
        back = np.array(Image.open(io.BytesIO(data)))
        vol_ids = api.annotations.upload_volume_segmentation(volume, {str(seg_path)!r}, {{1: 'liver', 2: 'kidney'}})
        vols = api.annotations.get_list(resource=volume, annotation_type='segmentation')
        print(json.dumps(dict(
            box=box, cat=cat, found=sorted((type(a).__name__, a.identifier, a.id) for a in found),
            box_points=[a for a in found if a.id == box][0].geometry.to_dict()['points'],
            seg_identifier=seg.identifier, seg_frame=seg.frame_index, mask_equal=bool(((back > 0) == (mask > 0)).all()),
            vol_ids=vol_ids, vols=sorted((type(a).__name__, a.identifier, a.scope) for a in vols))))
    """, server.url, server.admin_key)
    result = json.loads(out.strip().splitlines()[-1])
    assert sorted(result["found"]) == sorted([["BoxAnnotation", "Box1", result["box"]],
                                              ["CategoryAnnotation", "tumour", result["cat"]]])
    assert result["box_points"] == [[1, 2, 0], [5, 2, 0], [1, 6, 0], [5, 6, 0]]
    assert (result["seg_identifier"], result["seg_frame"], result["mask_equal"]) == ("lesion", 0, True)
    assert len(result["vol_ids"]) == 2
    assert result["vols"] == [["VolumeSegmentation", "kidney", "image"], ["VolumeSegmentation", "liver", "image"]]
    with Api(server.url, server.admin_key) as api:
        liver = [a for a in api.annotations.get_list(resource=volume) if a.identifier == "liver"][0]
        assert np.array_equal(liver.fetch_mask(), labels == 1)


def test_official_client_upload_with_segmentations_into_a_project_worklist(server, tmp_path):
    from PIL import Image

    from fixtures.projects import png_path

    from conftest import unique

    image = png_path(tmp_path)
    mask = np.zeros((16, 24), np.uint8)
    mask[1:5, 1:5] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    name = unique("official-seg")
    out = run_official(f"""
        import json
        from datamint import Api
        api = Api()
        project = api.projects.create({name!r}, 'segmentations at upload')
        ids = api.resources.upload_resources([{str(image)!r}, {str(image)!r}], publish_to={name!r},
                                             segmentation_files=[{{'files': [{str(tmp_path / 'mask.png')!r}],
                                                                   'names': {{(255, 255, 255): 'lesion'}}}}, None],
                                             assemble_dicoms=False)
        worklists = api.projects.get_worklists(project)
        imported = [w for w in worklists if w.name == 'Imported annotations'][0]
        group = api.annotationsets.get_segmentation_group(imported.id)
        anns = api.annotations.get_list(resource=ids[0])
        statuses = api.projects.get_annotation_statuses(project)
        api.projects.download_annotations('out.csv', project=project, progress_bar=False)
        rows = open('out.csv').read().strip().splitlines()
        print(json.dumps(dict(worklists=sorted(w.name for w in worklists), groups=sorted(group['groups']),
                              anns=[(a.identifier, a.annotation_worklist_id == imported.id) for a in anns],
                              statuses=statuses, rows=len(rows))))
    """, server.url, server.admin_key)
    result = json.loads(out.strip().splitlines()[-1])
    assert "Imported annotations" in result["worklists"]
    assert result["groups"] == ["lesion"]
    assert result["anns"] == [["lesion", True]]
    assert result["statuses"] == [] and result["rows"] == 2


def test_official_client_line_without_frame_and_annotators_as_dicts(server, tmp_path):
    """Issue 10: a line on a 2-D image needs no frame_index; worklist annotators may be dicts."""
    from fixtures.projects import png_path

    from conftest import unique

    key = server.new_org()
    api = Api(server.url, key)
    email, _ = server.new_user(admin_key=key)
    image = api.resources.upload_resource(str(png_path(tmp_path)))
    project = api.projects.create(unique("official-ann"), "lines and annotators", resources_ids=[image])
    out = run_official(f"""
        import json
        from datamint import Api
        api = Api()
        line = api.annotations.add_line_annotation((1, 2), (9, 12), {image!r}, 'x')
        created_set = api.annotationsets.create('with dict annotators', [{image!r}], project={project.id!r},
                                        annotators=[{{'email': {email!r}, 'expertise_level': 'expert'}}])
        worklist = api.annotationsets.get_by_id(created_set.id)
        created = api.annotations.get_by_id(line)
        print(json.dumps(dict(line=line, frame=created.frame_index, type=type(created).__name__,
                              points=created.geometry.to_dict()['points'],
                              annotators=[(a.email, a.expertise_level) for a in worklist.annotators])))
    """, server.url, key)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["type"] == "LineAnnotation" and result["frame"] == 0
    assert result["points"] == [[1, 2, 0], [9, 12, 0]]
    assert result["annotators"] == [[email, "expert"]]
    (stored,) = api.annotations.get_list(resource=image)
    assert stored.id == result["line"] and stored.frame_index == 0 and stored.scope == "frame"
