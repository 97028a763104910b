"""An annotated project for the format tests: a PNG image, a CT series (one multi-frame DICOM
resource with real geometry) and a NIfTI volume with a rotated affine, each with the annotation
kinds the formats carry, and the exact values they were made from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from fixtures.projects import COLS, FRAMES, NIFTI_AFFINE, NIFTI_SHAPE, ROWS, labels, write_ct

PNG_W, PNG_H = 24, 16


@dataclass
class Sample:
    """What was uploaded and drawn."""

    project: Any
    png: str
    ct: str
    nifti: str
    png_mask: np.ndarray  # (rows, columns) of label 'organ'
    ct_frames: np.ndarray  # (rows, columns, frames): 1 = lesion, 2 = cyst (one PNG mask per frame and label)
    nifti_volume: np.ndarray  # (x, y, z): 1 = liver, 2 = spleen (image-scope volume masks)
    polygon: list[list[float]] = field(default_factory=list)
    original: list[dict[str, Any]] = field(default_factory=list)  # the annotations as created (wire dicts)


def post_annotations(server: Any, resource_id: str, items: list[dict[str, Any]]) -> list[str]:
    """Create annotations with the raw API (shapes the SDK has no helper for, e.g. polygons)."""
    response = httpx.post(f"{server.url}/annotations/{resource_id}/annotations", json=items,
                          headers={"apikey": server.admin_key}, timeout=30)
    response.raise_for_status()
    return response.json()


def unique_png(folder: Path) -> Path:
    """A grayscale PNG of PNG_W x PNG_H with random pixels (no other test uploads the same bytes)."""
    from PIL import Image

    path = folder / "image.png"
    Image.fromarray(np.random.default_rng().integers(0, 255, (PNG_H, PNG_W), dtype=np.uint8)).save(path)
    return path


def unique_nifti(folder: Path) -> Path:
    """A NIfTI of NIFTI_SHAPE with NIFTI_AFFINE and random voxels."""
    import nibabel

    path = folder / "vol.nii.gz"
    data = np.random.default_rng().integers(0, 1000, NIFTI_SHAPE).astype(np.int16)
    nibabel.save(nibabel.Nifti1Image(data, NIFTI_AFFINE), str(path))
    return path


def annotated_project(api: Any, server: Any, folder: Path) -> Sample:
    """Upload the three resources into a new project and annotate them."""
    folder.mkdir(parents=True, exist_ok=True)
    ct = api.resources.upload_resources([str(p) for p in write_ct(folder / "ct")])[0]
    nifti = api.resources.upload_resource(str(unique_nifti(folder)))
    png = api.resources.upload_resource(str(unique_png(folder)))
    project = api.projects.create(f"formats-{uuid.uuid4().hex[:8]}", "format tests", resources_ids=[png, ct, nifti])
    png_mask = np.zeros((PNG_H, PNG_W), np.uint8)
    png_mask[3:9, 5:14] = 1
    png_mask[10, 20] = 1
    api.annotations.upload_segmentations(png, png_mask, "organ")
    api.annotations.add_box_annotation((2, 3), (15, 9), png, "lesion")
    polygon = [[4.0, 2.0, 0], [18.5, 3.0, 0], [12.0, 13.25, 0]]
    post_annotations(server, png, [{"type": "region", "identifier": "organ", "scope": "image",
                                    "geometry": {"points": polygon}}])
    api.annotations.add_point_annotation((7, 8), png, "dot")
    ct_frames = labels((ROWS, COLS, FRAMES), seed=11)
    ct_frames[:, :, 1] = 0  # one frame without masks
    api.annotations.upload_segmentations(ct, ct_frames, {1: "lesion", 2: "cyst"})
    api.annotations.add_box_annotation((2, 3), (15, 9), ct, "lesion", frame_index=3)
    nifti_volume = labels(NIFTI_SHAPE, seed=13)
    api.annotations.upload_volume_segmentation(nifti, nifti_volume, {1: "liver", 2: "spleen"})
    return Sample(project, png, ct, nifti, png_mask, ct_frames, nifti_volume, polygon,
                  annotations_of(server, [png, ct, nifti]))


def annotations_of(server: Any, resource_ids: list[str], worklist_id: str | None = None) -> list[dict[str, Any]]:
    """The live annotations of resources (of one worklist), with each mask's array under ``mask``."""
    from datamint.server.formats.readers import decode_mask

    body: dict[str, Any] = {"resource_ids": resource_ids, "limit": 1000}
    if worklist_id:
        body["annotation_worklist_id"] = worklist_id
    headers = {"apikey": server.admin_key}
    found = httpx.post(f"{server.url}/annotations/search", json=body, headers=headers, timeout=30).json()["data"]
    for a in found:
        if a.get("file"):
            data = httpx.get(server.url + a["file"], headers=headers, timeout=30).content
            a["mask"] = decode_mask(data, a["file_mimetype"])
    return found


def key_of(a: dict[str, Any], decimals: int = 6) -> tuple[Any, ...]:
    """What must survive a round trip: resource, type, label, scope, frames, value, points."""
    drawn = (a.get("geometry") or {}).get("points", [])
    points = tuple(tuple(round(float(c), decimals) + 0.0 for c in p) for p in drawn)
    return (a["resource_id"], a["type"], a["identifier"], a["scope"], a["frame_index"],
            tuple(a["frame_range"]) if a.get("frame_range") else None, a["value"], points)


def assert_same_annotations(got: list[dict[str, Any]], expected: list[dict[str, Any]], decimals: int = 6) -> None:
    """The same annotations (as multisets of :func:`key_of`), masks voxel for voxel."""
    got_keys = sorted(repr(key_of(a, decimals)) for a in got)
    expected_keys = sorted(repr(key_of(a, decimals)) for a in expected)
    missing = [k for k in expected_keys if k not in got_keys]
    extra = [k for k in got_keys if k not in expected_keys]
    assert got_keys == expected_keys, f"missing {missing[:5]}, unexpected {extra[:5]}"
    by_key: dict[str, list[np.ndarray]] = {}
    for a in expected:
        if "mask" in a:
            by_key.setdefault(repr(key_of(a, decimals)), []).append(a["mask"])
    for a in got:
        if "mask" in a:
            candidates = by_key[repr(key_of(a, decimals))]
            assert any(m.shape == a["mask"].shape and np.array_equal(m, a["mask"]) for m in candidates), key_of(a)
