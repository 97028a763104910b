"""A small annotated project for the dataset tests: a CT series (one multi-frame DICOM), a NIfTI
volume and two PNG images, with frame masks, volume masks, a PNG mask, boxes, an image label and a
category, and a label schema (segmentation group + specs) on the project's worklist.

Everything uploaded is kept in :class:`Sample` so tests can compare what datasets return with
what went in, voxel for voxel.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from annotation_samples import COLS, FRAMES, NIFTI_SHAPE, ROWS, labels, write_ct, write_nifti

from conftest import unique

PNG_SIZE = (24, 16)  # width, height
SEGMENTS = [{"identifier": "liver", "index": 1}, {"identifier": "tumor", "index": 2},
            {"identifier": "lesion", "index": 3}]
SPECS = [{"type": "label", "identifier": "fracture", "scope": "image", "required": False},
         {"type": "category", "identifier": "quality", "scope": "image", "required": False,
          "values": ["good", "poor"]},
         {"type": "segmentation", "identifier": "liver", "scope": "frame", "required": False},
         {"type": "segmentation", "identifier": "tumor", "scope": "frame", "required": False},
         {"type": "segmentation", "identifier": "lesion", "scope": "frame", "required": False},
         {"type": "square", "identifier": "lesion", "scope": "image", "required": False}]


@dataclass
class Sample:
    """What was uploaded: ids and the exact arrays."""

    project: Any
    ct: str
    nifti: str
    png1: str
    png2: str
    ct_labels: np.ndarray  # (rows, cols, frames) frame labels: 1 liver, 2 tumor
    nifti_labels: np.ndarray  # (x, y, z) volume labels: 1 liver, 2 tumor
    png1_mask: np.ndarray  # (h, w) bool, 'lesion'
    boxes: dict[str, list[tuple[float, float, float, float]]] = field(default_factory=dict)
    annotation_ids: dict[str, list[str]] = field(default_factory=dict)

    @property
    def dataset_id(self) -> str:
        return self.project.dataset_id


def png_image(path: Path, seed: int) -> Path:
    """A grayscale PNG of :data:`PNG_SIZE` with distinct content per seed."""
    width, height = PNG_SIZE
    data = (np.random.default_rng(seed).random((height, width)) * 255).astype(np.uint8)
    Image.fromarray(data).save(path, format="PNG")
    return path


def build_sample(api: Any, folder: Path) -> Sample:
    """Upload the sample resources and annotations into a new project."""
    folder.mkdir(parents=True, exist_ok=True)
    ct = api.resources.upload_resources([str(p) for p in write_ct(folder / "ct")], anonymize=False)[0]
    nifti = api.resources.upload_resource(str(write_nifti(folder / "vol.nii.gz")))
    png1 = api.resources.upload_resource(str(png_image(folder / "xray1.png", 1)))
    png2 = api.resources.upload_resource(str(png_image(folder / "xray2.png", 2)))
    project = api.projects.create(unique("dataset"), "dataset tests", resources_ids=[ct, nifti, png1, png2])
    api.annotationsets.update_segmentation_group(project, SEGMENTS)
    api.annotationsets.update(project.worklist_id, annotations=SPECS)

    ct_labels = labels((ROWS, COLS, FRAMES), seed=11)
    nifti_labels = labels(NIFTI_SHAPE, seed=12)
    height, width = PNG_SIZE[1], PNG_SIZE[0]
    png1_mask = np.zeros((height, width), dtype=bool)
    png1_mask[3:9, 5:15] = True
    sample = Sample(project, ct, nifti, png1, png2, ct_labels, nifti_labels, png1_mask)
    sample.annotation_ids["ct"] = api.annotations.upload_segmentations(ct, ct_labels, {1: "liver", 2: "tumor"})
    sample.annotation_ids["nifti"] = api.annotations.upload_volume_segmentation(nifti, nifti_labels,
                                                                                {1: "liver", 2: "tumor"})
    sample.annotation_ids["png1"] = api.annotations.upload_segmentations(png1, png1_mask.astype(np.uint8), "lesion")
    api.annotations.add_box_annotation((5, 3), (15, 9), png1, "lesion")
    api.annotations.add_box_annotation((1, 2), (6, 12), png2, "lesion")
    sample.boxes = {png1: [(5, 3, 15, 9)], png2: [(1, 2, 6, 12)]}
    api.annotations.add_label_annotation(png1, "fracture")
    api.annotations.add_category_annotation(png2, "quality", "poor")
    return sample


def add_member(server: Any, project_id: str, email: str, role: str) -> None:
    """Give a user a project role directly in the database (the members endpoints are another area's)."""
    from sqlalchemy import select

    from datamint.server.auth.models import User
    from datamint.server.projects.models import ProjectMember

    with server.database.transaction() as session:
        user = session.scalar(select(User).where(User.email == email))
        session.add(ProjectMember(project_id=project_id, user_id=user.id, roles=[role]))
