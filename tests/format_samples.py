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

from annotation_samples import COLS, FRAMES, NIFTI_SHAPE, ROWS, labels, png_path, write_ct, write_nifti

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


def post_annotations(server: Any, resource_id: str, items: list[dict[str, Any]]) -> list[str]:
    """Create annotations with the raw API (shapes the SDK has no helper for, e.g. polygons)."""
    response = httpx.post(f"{server.url}/annotations/{resource_id}/annotations", json=items,
                          headers={"apikey": server.admin_key}, timeout=30)
    response.raise_for_status()
    return response.json()


def annotated_project(api: Any, server: Any, folder: Path) -> Sample:
    """Upload the three resources into a new project and annotate them."""
    folder.mkdir(parents=True, exist_ok=True)
    ct = api.resources.upload_resources([str(p) for p in write_ct(folder / "ct")])[0]
    nifti = api.resources.upload_resource(str(write_nifti(folder / "vol.nii.gz")))
    png = api.resources.upload_resource(str(png_path(folder, PNG_W, PNG_H)))
    project = api.projects.create(f"formats-{uuid.uuid4().hex[:8]}", "format tests", resources_ids=[png, ct, nifti])
    png_mask = np.zeros((PNG_H, PNG_W), np.uint8)
    png_mask[3:9, 5:14] = 1
    png_mask[10, 20] = 1
    api.annotations.upload_segmentations(png, png_mask, "organ")
    api.annotations.add_box_annotation((2, 3), (15, 9), png, "lesion")
    polygon = [[4.0, 2.0, 0], [18.5, 3.0, 0], [12.0, 13.25, 0]]
    post_annotations(server, png, [{"type": "region", "identifier": "organ", "scope": "frame", "frame_index": 0,
                                    "geometry": {"points": polygon}}])
    api.annotations.add_point_annotation((7, 8), png, "dot")
    ct_frames = labels((ROWS, COLS, FRAMES), seed=11)
    ct_frames[:, :, 1] = 0  # one frame without masks
    api.annotations.upload_segmentations(ct, ct_frames, {1: "lesion", 2: "cyst"})
    api.annotations.add_box_annotation((2, 3), (15, 9), ct, "lesion", frame_index=3)
    nifti_volume = labels(NIFTI_SHAPE, seed=13)
    api.annotations.upload_volume_segmentation(nifti, nifti_volume, {1: "liver", 2: "spleen"})
    return Sample(project, png, ct, nifti, png_mask, ct_frames, nifti_volume, polygon)
