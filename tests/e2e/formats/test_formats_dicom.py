"""DICOM SEG and RT-STRUCT: our SEG opens in highdicom with the right referenced instance and
frames; SEG and NIfTI exports of masks on an oblique series come back on the same voxels; SEGs
made by highdicom from single-frame slices (dcmqi's layout) and RT structures drawn on a series
import onto the right resources; pydicom's shipped RT structure set is read, and its missing
series reported."""

from __future__ import annotations

import io
import math
import uuid
import zipfile

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from fixtures.files import make_ct_slice
from fixtures.projects import labels
from format_samples import annotated_project, annotations_of, assert_same_annotations

ROWS, COLS, FRAMES = 10, 14, 4


@pytest.fixture(scope="module")
def sample(server, tmp_path_factory):
    from datamint import Api

    api = Api(server.url, server.admin_key)
    yield annotated_project(api, server, tmp_path_factory.mktemp("formats-dicom"))
    api.close()


def _oblique_series(folder, tilt_degrees=30.0):
    """A series whose slices are tilted about the x axis (oblique), written slice by slice."""
    folder.mkdir(parents=True, exist_ok=True)
    c, s = math.cos(math.radians(tilt_degrees)), math.sin(math.radians(tilt_degrees))
    normal = np.cross([1, 0, 0], [0, c, s])
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    paths, slices = [], []
    patient = f"P-{uuid.uuid4().hex[:12]}"
    for k in range(FRAMES):
        ds = make_ct_slice(k, study=study, series=series, frame_of_reference=frame, patient=patient)
        ds.Rows, ds.Columns = ROWS, COLS
        ds.ImageOrientationPatient = [1, 0, 0, 0, c, s]
        ds.ImagePositionPatient = [float(v) for v in np.array([-5.0, -7.0, 3.0]) + 2.0 * k * normal]
        ds.PixelSpacing = [0.8, 0.6]
        ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyID = "A1", "", "S1"
        ds.SliceThickness = 2.0
        ds.PixelData = (np.arange(ROWS * COLS, dtype="<i2").reshape(ROWS, COLS) + 50 * k).tobytes()
        path = folder / f"obl_{k}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
        slices.append(ds)
    return paths, slices


def _project(api, resource_ids):
    return api.projects.get_by_id(api.projects.create(f"dicom-{uuid.uuid4().hex[:8]}", "dicom formats",
                                                      resources_ids=resource_ids).id)


def _round_trip(api, server, project, fmt, tmp_path, resource_ids):
    job = api.projects.export(project, format=fmt, wait=True, progress_bar=False, timeout=120)
    path = job.download(tmp_path / fmt, progress_bar=False) if (tmp_path / fmt).mkdir() is None else None
    target = _project(api, resource_ids)
    with api.annotations.import_session(target) as session:
        session.add_path(path)
    assert session.job.result["failed_files"] == 0, session.get_logs()
    return path, annotations_of(server, resource_ids, target.worklist_id)


def test_our_seg_opens_in_highdicom_with_its_source_instance_and_frames(api, server, sample, tmp_path):
    job = api.projects.export(sample.project, format="dicom_seg", wait=True, progress_bar=False, timeout=120)
    archive = zipfile.ZipFile(job.download(tmp_path, progress_bar=False))
    (name,) = [n for n in archive.namelist() if n.startswith("seg/")]
    seg = hd.seg.segread(io.BytesIO(archive.read(name)))
    ct_file = pydicom.dcmread(io.BytesIO(api.resources.download_resource_file(sample.ct, auto_convert=False)))
    assert seg.get_source_image_uids() == [(ct_file.StudyInstanceUID, ct_file.SeriesInstanceUID,
                                            ct_file.SOPInstanceUID)]
    assert [(d.segment_label, d.tracking_id) for d in map(seg.get_segment_description, seg.segment_numbers)] == [
        ("cyst", "datamint:frame"), ("lesion", "datamint:frame")]
    for number, value in ((1, 2), (2, 1)):
        pixels = seg.get_pixels_by_source_frame(ct_file.SOPInstanceUID, list(range(1, 6)), segment_numbers=[number],
                                                ignore_spatial_locations=True)
        assert np.array_equal(pixels[..., 0], sample.ct_frames.transpose(2, 0, 1) == value)
    lines = [line["line"] for line in job.logs()]
    assert ("3 annotation(s) not exported: mask on a non-DICOM resource (DICOM SEG needs DICOM source images: "
            "use nifti)") in lines


def test_seg_round_trip_gives_back_the_frame_masks(api, server, sample, tmp_path):
    _, got = _round_trip(api, server, sample.project, "dicom_seg", tmp_path, [sample.png, sample.ct, sample.nifti])
    expected = [a for a in sample.original if a["type"] == "segmentation" and a["resource_id"] == sample.ct]
    assert_same_annotations(got, expected)


def test_oblique_series_masks_come_back_on_the_same_voxels_through_seg_and_nifti(api, server, tmp_path):
    paths, _ = _oblique_series(tmp_path / "oblique")
    resource = api.resources.upload_resources([str(p) for p in paths])[0]  # one assembled resource
    project = _project(api, [resource])
    volume = labels((COLS, ROWS, FRAMES), seed=21)
    api.annotations.upload_volume_segmentation(resource, volume, {1: "tumor", 2: "edema"})
    original = annotations_of(server, [resource])
    for fmt in ("dicom_seg", "nifti"):
        path, got = _round_trip(api, server, project, fmt, tmp_path, [resource])
        assert_same_annotations(got, original)
        assert {a["scope"] for a in got} == {"image"}
    import gzip

    import nibabel

    label_map = [n for n in zipfile.ZipFile(path).namelist() if n.startswith("labels/")][0]
    image = nibabel.Nifti1Image.from_bytes(gzip.decompress(zipfile.ZipFile(path).read(label_map)))
    ct = pydicom.dcmread(paths[2])
    lps = np.array(ct.ImagePositionPatient) + 3 * 0.6 * np.array([1, 0, 0]) + 4 * 0.8 * np.array(
        ct.ImageOrientationPatient[3:])  # column 3, row 4 of slice 2
    ras = image.affine @ np.array([3, 4, 2, 1.0])
    assert np.allclose(ras[:3], [-lps[0], -lps[1], lps[2]], atol=1e-6)


def test_dcmqi_style_seg_of_single_frame_slices_lands_on_each_slice(api, server, tmp_path):
    paths, slices = _oblique_series(tmp_path / "slices")
    ids = [api.resources.upload_resource(str(p)) for p in paths[:3]]
    project = _project(api, ids)
    mask = np.zeros((3, ROWS, COLS, 1), dtype=np.uint8)
    mask[0, 2:5, 3:9, 0] = 1
    mask[2, 6, 1:4, 0] = 1
    description = hd.seg.SegmentDescription(1, "nodule", codes.SCT.Tissue, codes.SCT.Tissue,
                                            hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = hd.seg.Segmentation(slices[:3], mask, hd.seg.SegmentationTypeValues.BINARY, [description], hd.UID(), 1,
                              hd.UID(), 1, "Other", "tool", "1", "0")
    buffer = io.BytesIO()
    seg.save_as(buffer)
    with api.annotations.import_session(project) as session:
        session.add_bytes(buffer.getvalue(), "nodule_seg.dcm")
    got = annotations_of(server, ids, project.worklist_id)
    assert sorted((a["resource_id"], a["scope"], a["frame_index"], a["identifier"]) for a in got) == sorted(
        [(ids[0], "frame", 0, "nodule"), (ids[2], "frame", 0, "nodule")])
    for a in got:
        assert np.array_equal(a["mask"], mask[ids.index(a["resource_id"]), :, :, 0] == 1)


def _rtstruct(slices, contours_by_slice, implicit_vr=False):
    ds = Dataset()
    ds.Modality = "RTSTRUCT"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    ds.SOPInstanceUID = generate_uid()
    ds.StructureSetROISequence = Sequence([Dataset()])
    ds.StructureSetROISequence[0].ROINumber = 1
    ds.StructureSetROISequence[0].ROIName = "GTV"
    roi = Dataset()
    roi.ReferencedROINumber = 1
    roi.ContourSequence = Sequence()
    for k, pixels in contours_by_slice.items():
        ds_k = slices[k]
        origin = np.array(ds_k.ImagePositionPatient, dtype=float)
        row, col = np.array(ds_k.ImageOrientationPatient[:3]), np.array(ds_k.ImageOrientationPatient[3:])
        contour = Dataset()
        contour.ContourGeometricType = "CLOSED_PLANAR"
        points = [origin + x * 0.6 * row + y * 0.8 * col for x, y in pixels]
        contour.ContourData = [round(float(v), 6) for p in points for v in p]
        contour.NumberOfContourPoints = len(points)
        image = Dataset()
        image.ReferencedSOPInstanceUID = ds_k.SOPInstanceUID
        contour.ContourImageSequence = Sequence([image])
        roi.ContourSequence.append(contour)
    ds.ROIContourSequence = Sequence([roi])
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, implicit_vr=implicit_vr, little_endian=True)  # implicit: no 64 KiB cap on a value
    return buffer.getvalue()


def test_rtstruct_contours_are_rasterized_on_the_referenced_slice(api, server, tmp_path):
    paths, slices = _oblique_series(tmp_path / "rt")
    ids = [api.resources.upload_resource(str(p)) for p in paths[:2]]
    project = _project(api, ids)
    data = _rtstruct(slices, {1: [(2, 3), (9, 3), (9, 7), (2, 7)]})
    with api.annotations.import_session(project) as session:
        session.add_bytes(data, "structures.dcm")
    got = annotations_of(server, ids, project.worklist_id)
    assert [(a["resource_id"], a["identifier"], a["scope"], a["frame_index"]) for a in got] == [
        (ids[1], "GTV", "frame", 0)]
    expected = np.zeros((ROWS, COLS), bool)
    expected[3:8, 2:10] = True  # rows 3..7, columns 2..9: the rectangle and its border
    assert np.array_equal(got[0]["mask"], expected), got[0]["mask"].astype(int)


def test_a_contour_of_twenty_thousand_points_is_filled_in_seconds_not_minutes(api, server, tmp_path):
    """Filling a contour cost each point a pass over the whole slice (3 ms a point on 512x512): an
    RT structure set of 300 KB (a rectangle whose corners repeat 5,000 times each) held an import
    worker for 45 s. The scanline fill visits each edge on its own rows only."""
    import time

    folder = tmp_path / "big"
    folder.mkdir()
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    slices, paths = [], []
    for k in range(2):
        ds = make_ct_slice(k, study=study, series=series, frame_of_reference=frame, size=512,
                           patient=f"P-{uuid.uuid4().hex[:12]}")
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-5.0, -7.0, 3.0 + 2.0 * k]
        ds.PixelSpacing = [0.8, 0.6]
        ds.SliceThickness = 2.0
        paths.append(folder / f"big_{k}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
        slices.append(ds)
    ids = [api.resources.upload_resource(str(p)) for p in paths]
    project = _project(api, ids)
    corners = [(20, 30), (480, 30), (480, 400), (20, 400)]
    data = _rtstruct(slices, {1: [corner for corner in corners for _ in range(5000)]}, implicit_vr=True)
    started = time.monotonic()
    with api.annotations.import_session(project) as session:
        session.add_bytes(data, "structures.dcm")
    took = time.monotonic() - started
    assert session.job.result["failed_files"] == 0, session.get_logs()
    got = annotations_of(server, ids, project.worklist_id)
    assert [(a["resource_id"], a["identifier"], a["scope"], a["frame_index"]) for a in got] == [
        (ids[1], "GTV", "frame", 0)]
    expected = np.zeros((512, 512), bool)
    expected[30:401, 20:481] = True  # rows 30..400, columns 20..480: the rectangle and its border
    assert np.array_equal(got[0]["mask"], expected)
    assert took < 20, f"the import took {took:.1f} s"


def test_pydicoms_shipped_rtstruct_is_read_and_its_missing_series_named(api, server, sample):
    project = _project(api, [sample.png])
    session = api.annotations.import_session(project)
    session.add_path(get_testdata_file("rtstruct.dcm"))
    job = session.commit()
    job.wait(timeout=120, progress_bar=False).raise_for_status()
    errors = [line["line"] for line in job.logs() if line["level"] == "error"]
    assert len(errors) == 1 and errors[0].startswith("At rtstruct.dcm: ROI 1 (")
    assert "no resource of the project holds image" in errors[0]
    assert errors[0].endswith("Hint: add the referenced series to the project first")
    assert job.result["files"][0]["status"] == "failed" and job.result["created"] == 0


def test_nibabels_shipped_nifti_with_a_flipped_affine_round_trips_on_the_same_voxels(api, server, tmp_path):
    import gzip

    import nibabel
    from nibabel.testing import data_path

    source = nibabel.load(f"{data_path}/anatomical.nii")
    resource = api.resources.upload_resource(f"{data_path}/anatomical.nii")
    project = _project(api, [resource])
    volume = labels(source.shape, seed=8)
    ids = api.annotations.upload_volume_segmentation(resource, volume, {1: "grey", 2: "white"})
    original = [a for a in annotations_of(server, [resource]) if a["id"] in ids]
    path, got = _round_trip(api, server, project, "nifti", tmp_path, [resource])
    assert_same_annotations([a for a in got if a["identifier"] in ("grey", "white")], original)
    archive = zipfile.ZipFile(path)
    (name,) = [n for n in archive.namelist() if n.startswith("labels/")]
    label_map = nibabel.Nifti1Image.from_bytes(gzip.decompress(archive.read(name)))
    assert np.allclose(label_map.affine, source.affine) and label_map.shape == source.shape


def test_a_series_uploaded_slice_by_slice_gets_one_seg_for_the_series(api, server, tmp_path):
    paths, slices = _oblique_series(tmp_path / "series")
    ids = [api.resources.upload_resource(str(p)) for p in paths[:3]]
    project = _project(api, ids)
    masks = np.zeros((3, ROWS, COLS), dtype=np.uint8)
    masks[0, 1:4, 2:6] = 1
    masks[2, 5:9, 7:12] = 1
    for k in (0, 2):
        api.annotations.upload_segmentations(ids[k], masks[k], "nodule")
    original = annotations_of(server, ids)
    job = api.projects.export(project, format="dicom_seg", wait=True, progress_bar=False, timeout=120)
    archive = zipfile.ZipFile(job.download(tmp_path, progress_bar=False))
    (name,) = [n for n in archive.namelist() if n.startswith("seg/")]
    seg = hd.seg.segread(io.BytesIO(archive.read(name)))
    referenced = {uid for _, _, uid in seg.get_source_image_uids()}
    assert referenced == {slices[0].SOPInstanceUID, slices[2].SOPInstanceUID}  # the slices with masks
    for k in (0, 2):
        pixels = seg.get_pixels_by_source_instance([slices[k].SOPInstanceUID], segment_numbers=[1])
        assert np.array_equal(pixels[0, :, :, 0], masks[k])
    target = _project(api, ids)
    with api.annotations.import_session(target) as session:
        session.add_bytes(archive.read(name), "series_seg.dcm")
    assert_same_annotations(annotations_of(server, ids, target.worklist_id), original)
