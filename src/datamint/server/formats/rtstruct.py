"""RT Structure Sets in: each ROI's closed planar contours rasterized onto the referenced series.

A contour names its image (Contour Image Sequence) or, failing that, the structure set names the
referenced series; its points (patient millimetres) are converted to pixels of the resource with
the resource's own geometry, and the polygon is filled on the frame it lies on (the pixels whose
centres are inside the contour or on it). An ROI becomes one volume mask
on a multi-frame resource, or one frame mask on a single-frame one. Point and open contours
(isocentres, lines) enclose no area and are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from datamint.server.formats.readers import Candidate, Problem, Ref


def read_rtstruct(name: str, ds: Any) -> list[Candidate]:
    """Candidates of an RT Structure Set: one per ROI and referenced image, with patient-space contours.

    Each candidate's ``item['_contours']`` lists ``(points Nx3, source SOP Instance UID or None)``
    and ``item['_series']`` the referenced series; the importer finds each contour's resource (by
    its image's SOP Instance UID, else by series) and rasterizes it with that resource's geometry.
    """
    names = {int(r.ROINumber): str(r.get("ROIName", f"roi_{r.ROINumber}"))
             for r in ds.get("StructureSetROISequence") or []}
    series = [str(s.SeriesInstanceUID) for ref in ds.get("ReferencedFrameOfReferenceSequence") or []
              for study in ref.get("RTReferencedStudySequence") or []
              for s in study.get("RTReferencedSeriesSequence") or []]
    out: list[Candidate] = []
    for roi in ds.get("ROIContourSequence") or []:
        number = int(roi.ReferencedROINumber)
        label = names.get(number, f"roi_{number}")
        contours: list[tuple[np.ndarray, str | None]] = []
        for c, contour in enumerate(roi.get("ContourSequence") or []):
            where = f"{name}: ROI {number} ({label}) contour {c + 1}"
            kind = str(contour.get("ContourGeometricType", "CLOSED_PLANAR"))
            if kind != "CLOSED_PLANAR":  # points (isocentres) and open contours enclose no area
                continue
            data = [float(v) for v in contour.get("ContourData") or []]
            if len(data) < 9 or len(data) % 3:
                raise Problem(where, "ContourData must hold at least 3 points (x, y, z triplets)")
            images = contour.get("ContourImageSequence") or []
            uid = str(images[0].ReferencedSOPInstanceUID) if images else None
            contours.append((np.asarray(data).reshape(-1, 3), uid))
        if contours:
            out.append(Candidate(f"{name}: ROI {number} ({label})", Ref(),
                                 {"type": "segmentation", "identifier": label, "scope": "image",
                                  "_contours": contours, "_series": series}))
    return out


def rasterize(contours: list[np.ndarray], to_pixel: Any, width: int, height: int, frames: int,
              where: str) -> dict[int, np.ndarray]:
    """Fill each contour on its frame: ``{frame: (rows, columns) mask}`` (contours on one frame are
    combined by exclusive or, so a contour inside another is a hole, as RT structures mean)."""
    out: dict[int, np.ndarray] = {}
    for contour in contours:
        pixels = np.array([to_pixel(p) for p in contour])
        frame = int(round(float(np.mean(pixels[:, 2]))))
        if np.max(np.abs(pixels[:, 2] - frame)) > 0.01:
            raise Problem(where, "a contour is not on one slice of the series",
                          "contours must be planar and lie on the referenced images")
        if not 0 <= frame < frames:
            raise Problem(where, f"frame {frame} outside a {frames}-frame series",
                          "the contour lies outside the referenced series")
        mask = fill_polygon(np.round(pixels[:, :2], 6), width, height)
        out[frame] = out[frame] ^ mask if frame in out else mask
    return out


def fill_polygon(xy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixels whose centres lie inside the polygon or on its border (even-odd rule), ``(rows, columns)``."""
    ys, xs = np.mgrid[0:height, 0:width].astype(float)
    inside = np.zeros((height, width), dtype=bool)
    border = np.zeros((height, width), dtype=bool)
    for (x0, y0), (x1, y1) in zip(xy, np.roll(xy, -1, axis=0), strict=True):
        crosses = (y0 > ys) != (y1 > ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (ys - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (xs < at)
        cross = (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0)
        within = ((xs >= min(x0, x1) - 1e-6) & (xs <= max(x0, x1) + 1e-6)
                  & (ys >= min(y0, y1) - 1e-6) & (ys <= max(y0, y1) + 1e-6))
        border |= within & (np.abs(cross) <= 1e-6 * max(1.0, float(np.hypot(x1 - x0, y1 - y0))))
    return inside | border
