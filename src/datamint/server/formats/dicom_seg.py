"""DICOM SEG out (highdicom) and in (highdicom-, dcmqi- and our own files).

Export: one SEG per multi-frame DICOM resource with masks, and one per series uploaded slice by
slice, referencing the series and its instances (and frames), one segment per label and scope: frame masks and
volume masks of one label become two segments, told apart by their Tracking ID
(``datamint:frame`` / ``datamint:image``) so an import gives back the same annotations. Non-DICOM
resources have no source instances to reference: their masks are left out (use ``nifti``).

Import: every frame of the SEG names its source instance (and frame) in its Derivation Image
Sequence; the importer places the frames on the resources with those SOP Instance UIDs. A SEG
from another tool becomes one volume mask per segment on a multi-frame resource and one frame
mask per segment on a single-frame resource (a series uploaded slice by slice).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from datamint.server.annotations.models import Annotation
from datamint.server.formats.archive import PNG, read_frame_mask, read_volume_mask
from datamint.server.formats.readers import READERS, Candidate, FileSet, Problem, Ref
from datamint.server.formats.rtstruct import read_rtstruct
from datamint.server.formats.source import ResourceInfo
from datamint.server.formats.writers import WRITERS, Writer

DICOM = "application/dicom"
TRACKING = {"frame": "datamint:frame", "image": "datamint:image"}
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "AccessionNumber", "ReferringPhysicianName",
          "StudyID", "StudyDate", "StudyTime")


class DicomSegWriter(Writer):
    """``dicom_seg``: ``seg/<name>.dcm`` (highdicom, BINARY) per multi-frame DICOM resource with
    masks, and one per series for series uploaded slice by slice (single-frame resources of one
    Series Instance UID: their masks are gathered and the SEG written at the end)."""

    name = "dicom_seg"

    def __init__(self, archive: Any, plan: Any) -> None:
        super().__init__(archive, plan)
        self.series: dict[str, list[tuple[ResourceInfo, list[Annotation]]]] = {}

    def add(self, resource: ResourceInfo, annotations: Sequence[Annotation]) -> None:
        masks = [a for a in annotations if a.type == "segmentation" and a.file_key]
        for a in annotations:
            if a not in masks:
                self.plan.skip(f"{a.type} (a DICOM SEG holds masks only)")
        if not masks:
            return
        if resource.mimetype != DICOM:
            self.plan.skip("mask on a non-DICOM resource (DICOM SEG needs DICOM source images: use nifti)",
                           len(masks))
            return
        if resource.frames == 1 and resource.series_uid:
            self.series.setdefault(resource.series_uid, []).append((resource, masks))
            return
        self._write([(resource, masks)], f"{self.prefix(resource)}seg/{resource.stem}.dcm")

    def finish(self) -> None:
        for group in self.series.values():
            first = group[0][0]
            name = f"{self.prefix(first)}seg/{first.stem}" + (f"_series{len(group)}" if len(group) > 1 else "")
            try:
                self._write(group, f"{name}.dcm")
            except Exception as exc:  # slices highdicom will not put in one SEG: one SEG per slice
                self.plan.log(f"series of {first.filename}: one SEG per slice ({type(exc).__name__}: {exc})")
                for resource, masks in group:
                    self._write([(resource, masks)], f"{self.prefix(resource)}seg/{resource.stem}.dcm")

    def _write(self, group: Sequence[tuple[ResourceInfo, list[Annotation]]], path: str) -> None:
        """One SEG over the frames of ``group``'s resources (in order), one segment per label and scope."""
        import highdicom as hd
        from pydicom.sr.codedict import codes

        from datamint.imaging.dicom_io import read_dicom as read_dicom_file

        sources, offsets = [], []
        total = 0
        for resource, _ in group:
            with self.plan.store.open(resource.location) as fh:
                source = read_dicom_file(fh.read(), check=False)  # within the decoded-size limits
            for keyword in _TYPE2:  # highdicom copies these patient/study attributes: empty when absent
                if keyword not in source:
                    setattr(source, keyword, "")
            sources.append(source)
            offsets.append(total)
            total += resource.frames
        rows, columns = int(sources[0].Rows), int(sources[0].Columns)
        segments: dict[tuple[str, str], np.ndarray] = {}
        for (resource, masks), offset in zip(group, offsets, strict=True):
            for a in masks:
                data = self.plan.store.get(a.file_key)
                scope = "frame" if a.file_mimetype == PNG else "image"
                target = segments.setdefault((a.identifier, scope), np.zeros((total, rows, columns), dtype=bool))
                if a.file_mimetype == PNG:
                    target[offset + (a.frame_index or 0)] |= read_frame_mask(data)
                else:
                    target[offset:offset + resource.frames] |= read_volume_mask(data).transpose(2, 1, 0)
        keys = sorted(segments)
        descriptions = [
            hd.seg.SegmentDescription(
                segment_number=i, segment_label=label[:64], segmented_property_category=codes.SCT.Tissue,
                segmented_property_type=codes.SCT.Tissue, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
                tracking_uid=hd.UID(), tracking_id=TRACKING[scope])
            for i, (label, scope) in enumerate(keys, 1)]
        pixels = np.stack([segments[k] for k in keys], axis=-1).astype(np.uint8)
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=900,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="Datamint", manufacturer_model_name="Datamint",
            software_versions="datamint", device_serial_number="0", content_label="DATAMINT",
            content_description="Datamint export")
        buffer = io.BytesIO()
        seg.save_as(buffer)
        self.archive.write(path, buffer.getvalue())
        self.plan.written += sum(len(masks) for _, masks in group)


def read_seg(name: str, ds: Any) -> list[Candidate]:
    """Candidates of a DICOM SEG: per (source instance, segment), its frames by source frame.

    Each candidate's ``item['_frames']`` maps a 0-based frame of the source to a ``(rows,
    columns)`` mask; the importer builds the mask once it knows the resource's frame count.
    """
    import highdicom as hd

    try:
        hd.seg.Segmentation.from_dataset(ds, copy=False)  # checks that it is a well-formed SEG
    except Exception as exc:
        raise Problem(name, f"not a readable DICOM SEG ({type(exc).__name__}: {exc})")
    labels = {int(s.SegmentNumber): (str(s.SegmentLabel), str(s.get("TrackingID", "")))
              for s in ds.SegmentSequence}
    pixels = np.asarray(ds.pixel_array)
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    if str(ds.SegmentationType) == "FRACTIONAL":
        pixels = pixels >= (int(ds.get("MaximumFractionalValue", 255)) + 1) // 2
    groups: dict[tuple[str, int], dict[int, np.ndarray]] = {}
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared = (ds.get("SharedFunctionalGroupsSequence") or [None])[0]

    def group(item: Any, keyword: str) -> Any:  # a functional group of one frame, or the shared one
        found = item.get(keyword) if item is not None else None
        return found if found else (shared.get(keyword) if shared is not None else None)

    for i, item in enumerate(per_frame):
        where = f"{name}: frame {i + 1}"
        identification = group(item, "SegmentIdentificationSequence")
        if not identification:
            raise Problem(where, "the frame names no segment (Segment Identification Sequence)")
        number = int(identification[0].ReferencedSegmentNumber)
        sources = [src for der in group(item, "DerivationImageSequence") or []
                   for src in der.get("SourceImageSequence") or []]
        if not sources:
            raise Problem(where, "the frame names no source image (Derivation Image Sequence)",
                          "export the SEG with its source images referenced (highdicom and dcmqi do)")
        uid = str(sources[0].ReferencedSOPInstanceUID)
        frame = int(sources[0].get("ReferencedFrameNumber", 1) or 1) - 1
        masks = groups.setdefault((uid, number), {})
        masks[frame] = masks.get(frame, False) | (pixels[i] != 0)
    out = []
    for (uid, number), frames in sorted(groups.items()):
        label, tracking = labels.get(number, (f"segment_{number}", ""))
        scope = "frame" if tracking == TRACKING["frame"] else "image" if tracking == TRACKING["image"] else ""
        where = f"{name}: segment {number} ({label})"
        if scope == "frame":
            for frame, mask in sorted(frames.items()):
                out.append(Candidate(f"{where} frame {frame}", Ref(sop_instance_uid=uid),
                                     {"type": "segmentation", "identifier": label, "scope": "frame",
                                      "frame_index": frame}, mask=mask))
        else:
            out.append(Candidate(where, Ref(sop_instance_uid=uid),
                                 {"type": "segmentation", "identifier": label, "scope": "image", "_frames": frames,
                                  "_scope": scope}))
    return out


def read_dicom(name: str, files: FileSet) -> list[Candidate]:
    """A DICOM annotation object: SEG or RT Structure Set."""
    from datamint.imaging.dicom_io import read_dicom as read_dicom_file

    try:  # the header checked against the decoded-size limits before any pixel data is read
        ds = read_dicom_file(files.read(name), check=False)
        modality = str(ds.get("Modality", ""))
    except Exception as exc:
        raise Problem(name, f"not a readable DICOM file ({type(exc).__name__}: {exc})")
    if modality == "SEG":
        return read_seg(name, ds)
    if modality == "RTSTRUCT":

        return read_rtstruct(name, ds)
    raise Problem(name, f"a DICOM {modality or 'object'} is not an annotation file (SEG or RTSTRUCT)",
                  "upload images as resources (api.resources.upload_resources)")


READERS["dicom"] = read_dicom
WRITERS[DicomSegWriter.name] = DicomSegWriter
