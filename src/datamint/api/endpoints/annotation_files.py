"""Files of ``api.annotations``: segmentation uploads (frame PNG masks, NIfTI volumes), mask
upload/download for one annotation, and concurrent bulk downloads (wire protocol §8)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import httpx
import numpy as np

from datamint.api.base_api import run_sync
from datamint.api.dto.annotation_dto import CreateAnnotationDto
from datamint.api.endpoints.annotations_core import AnnotationsCore
from datamint.exceptions import ServerError
from datamint.imaging import segmentation_masks as masks

if TYPE_CHECKING:
    from datamint.entities.annotations import Annotation
    from datamint.entities.resource import Resource


class AnnotationFiles(AnnotationsCore):
    """Mask uploads and downloads (a part of ``AnnotationsApi``)."""

    # -- files ----------------------------------------------------------------------------------

    def _file_path(self, annotation: str | Annotation) -> str:
        if isinstance(annotation, str):
            annotation = self.get_by_id(annotation)
        if not annotation.resource_id or not annotation.id:
            raise ValueError("The annotation needs its id and resource_id; fetch it with get_by_id()")
        return f"/annotations/{annotation.resource_id}/annotations/{annotation.id}/file"

    def download_file(self, annotation: str | Annotation, fpath_out: str | os.PathLike[str] | None = None) -> bytes:
        """Download the segmentation file of an annotation.

        Args:
            annotation: The annotation unique id or an annotation object.
            fpath_out: (Optional) The file path to save the downloaded segmentation file.

        Returns:
            The content of the downloaded segmentation file in bytes format.

        Raises:
            ItemNotFoundError: The annotation does not exist or has no file.
        """
        data = self._request("GET", self._file_path(annotation), headers={"accept": "*/*"}).content
        if fpath_out is not None:
            Path(fpath_out).write_bytes(data)
        return data

    def download_multiple_files(self, annotations: Sequence[str | Annotation],
                                save_paths: Sequence[str | Path] | str) -> list[dict[str, Any]]:
        """Download several segmentation files concurrently; a failure does not stop the others.

        Args:
            annotations: A list of annotation unique ids or annotation objects.
            save_paths: A list of paths (one per annotation) or a directory (files are named
                ``<annotation id>.png`` / ``.nii.gz``).

        Returns:
            One dict per annotation: ``{'success', 'annotation_id', 'path'}`` plus ``'error'``
            when it failed.
        """
        items = list(annotations)
        if isinstance(save_paths, (str, Path)):
            folder: Path | None = Path(save_paths)
            folder.mkdir(parents=True, exist_ok=True)
            paths: list[Path | None] = [None] * len(items)
        else:
            paths = [Path(p) for p in save_paths]
            if len(paths) != len(items):
                raise ValueError("save_paths must have one path per annotation")
            folder = None

        def job(position: int) -> Any:
            async def run(client: httpx.AsyncClient) -> dict[str, Any]:
                annotation = items[position]
                annotation_id = self._entid(annotation)  # type: ignore[arg-type]
                try:
                    path = self._file_path(annotation) if not isinstance(annotation, str) else None
                    if path is None:
                        info = (await self._arequest(client, "GET", f"/annotations/{annotation_id}")).json()
                        path = f"/annotations/{info['resource_id']}/annotations/{annotation_id}/file"
                    data = (await self._arequest(client, "GET", path)).content
                    target = paths[position] or folder / (  # type: ignore[operator]
                        annotation_id + (".png" if data[:4] == b"\x89PNG" else ".nii.gz"))
                    target.write_bytes(data)
                    return {"success": True, "annotation_id": annotation_id, "path": str(target)}
                except Exception as exc:  # noqa: BLE001 - reported per file
                    return {"success": False, "annotation_id": annotation_id, "error": str(exc)}

            return run

        return list(self._run_concurrently([job(i) for i in range(len(items))]))  # type: ignore[arg-type]

    def bulk_download_file(self, annotations: Sequence[str | Annotation],
                           save_paths: Sequence[str | Path] | str) -> list[dict[str, Any]]:
        """Alias for :meth:`download_multiple_files`."""
        return self.download_multiple_files(annotations, save_paths)

    async def upload_annotation_file_async(self, resource: str | Resource, annotation_id: str, file: str | IO,
                                           content_type: str | None = None, filename: str | None = None,
                                           session: httpx.AsyncClient | None = None) -> dict[str, Any]:
        """Upload a file (mask) for an existing annotation asynchronously.

        Args:
            resource: The resource unique id or Resource instance.
            annotation_id: The annotation unique id.
            file: Path to the file or a file-like object (or bytes).
            content_type: The MIME type of the file (guessed from the name when omitted).
            filename: Name to send (the path's basename by default).
            session: An ``httpx.AsyncClient`` to reuse (one is opened when omitted).

        Returns:
            The annotation as the server now has it.

        Raises:
            DatamintException: If the upload fails (e.g. the mask does not fit the resource).
        """
        resource_id = self._resource_id(resource)
        if isinstance(file, (str, os.PathLike)):
            data = Path(file).read_bytes()
            filename = filename or Path(file).name
        else:
            data = file if isinstance(file, bytes) else file.read()
        filename = filename or "mask"
        if content_type is None:
            content_type = "image/png" if data[:4] == b"\x89PNG" else "application/nifti"
        path = f"/annotations/{resource_id}/annotations/{annotation_id}/file"
        files = {"file": (filename, data, content_type)}
        if session is not None:
            response = await self._arequest(session, "POST", path, files=files)
        else:
            async with self._async_client() as client:
                response = await self._arequest(client, "POST", path, files=files)
        body = response.json()
        if isinstance(body, dict) and "error" in body:
            raise ServerError(str(body["error"]))
        return body

    def upload_annotation_file(self, resource: str | Resource, annotation_id: str, file: str | IO,
                               content_type: str | None = None, filename: str | None = None) -> dict[str, Any]:
        """Upload a file (mask) for an existing annotation (see :meth:`upload_annotation_file_async`)."""
        return run_sync(lambda: self.upload_annotation_file_async(resource, annotation_id, file, content_type,
                                                                  filename))

    # -- segmentations --------------------------------------------------------------------------

    def upload_segmentations(self, resource: str | Resource, file_path: str | Path | np.ndarray,
                             name: str | dict[int, str] | dict[tuple, str] | None = None,
                             frame_index: int | list[int] | None = None, imported_from: str | None = None,
                             author_email: str | None = None, discard_empty_segmentations: bool = True,
                             worklist_id: str | None = None, transpose_segmentation: bool = False,
                             ai_model_name: str | None = None, label_set: str | None = None) -> list[str]:
        """Upload frame-by-frame segmentations to a resource (for volumes see
        :meth:`upload_volume_segmentation`).

        Each frame's labels become one frame-scope annotation each, with a binary PNG mask.

        Args:
            resource: The resource unique ID or Resource instance.
            file_path: A PNG path or an array ``(H, W)``, ``(H, W, F)`` (grayscale) or
                ``(3, H, W, F)`` (RGB).
            name: A str for every label; ``{value: name}`` (grayscale) or ``{(r, g, b): name}``
                (RGB), with ``'default'`` for unlisted labels.
            frame_index: The frame of a single frame, the frames of each input frame (a list), or
                None for 0, 1, 2...
            imported_from: The imported from value.
            author_email: The author email.
            discard_empty_segmentations: Skip frames without labels (otherwise, with a single
                name, an empty mask is uploaded for them).
            worklist_id: The annotation worklist unique id.
            transpose_segmentation: Swap the height and width axes first.
            ai_model_name: Optional AI model name to associate with the segmentation.
            label_set: The label set (default: ``'model:<ai_model_name>'`` for a model's masks,
                your reader set in multi-reader worklists, else ``'ground-truth'``).

        Returns:
            List of segmentation unique ids.

        Raises:
            FileNotFoundError: If the file path does not exist.
            ValueError: A NIfTI file (use :meth:`upload_volume_segmentation`) or bad arguments.
            ValidationError: The server refused a mask (e.g. its size differs from the resource's).

        Example:
            >>> api.annotations.upload_segmentations(resource, 'mask.png', 'lesion')
        """
        resource_id = self._resource_id(resource)
        frames = masks.load_frames(file_path, transpose_segmentation)
        if frame_index is None:
            indexes = list(range(len(frames)))
        elif isinstance(frame_index, (int, np.integer)):
            indexes = [int(frame_index) + i for i in range(len(frames))]
        else:
            indexes = [int(i) for i in frame_index]
            if len(indexes) != len(frames):
                raise ValueError(f"frame_index has {len(indexes)} entries for {len(frames)} frames")
        names = masks.standardize_names(name)
        work: list[tuple[int, list[tuple[str, np.ndarray]]]] = []
        for index, frame in zip(indexes, frames, strict=True):
            labels = masks.split_frame(frame, names)
            if not labels and not discard_empty_segmentations and isinstance(name, str):
                labels = [(name, np.zeros(frame.shape[:2], dtype=bool))]
            if labels:
                work.append((index, labels))

        def job(index: int, labels: list[tuple[str, np.ndarray]]) -> Any:
            async def run(client: httpx.AsyncClient) -> list[str]:
                items = [CreateAnnotationDto(type="segmentation", identifier=label, scope="frame", frame_index=index,
                                             annotation_worklist_id=worklist_id, imported_from=imported_from,
                                             import_author=author_email, model_id=ai_model_name,
                                             source="model_pipeline" if ai_model_name else "imported").to_dict()
                         | ({"label_set": label_set} if label_set else {}) for label, _ in labels]
                response = await self._arequest(client, "POST", f"/annotations/{resource_id}/annotations", json=items)
                ids = self._ids(response.json())
                for annotation_id, (label, mask) in zip(ids, labels, strict=True):
                    await self.upload_annotation_file_async(resource_id, annotation_id, masks.png_bytes(mask),
                                                            "image/png", label, session=client)
                return ids

            return run

        results = self._run_concurrently([job(i, labels) for i, labels in work])
        return [annotation_id for ids in results for annotation_id in ids]  # type: ignore[union-attr]

    def upload_volume_segmentation(self, resource: str | Resource, file_path: str | Path | np.ndarray,
                                   name: dict[int, str] | str | None = None, imported_from: str | None = None,
                                   author_email: str | None = None, worklist_id: str | None = None,
                                   ai_model_name: str | None = None, transpose_segmentation: bool = False,
                                   label_set: str | None = None) -> list[str]:
        """Upload a 3D volume segmentation to a resource: one image-scope annotation per label,
        each with its own binary mask of the resource's geometry.

        Args:
            resource: The resource unique ID or Resource instance.
            file_path: A NIfTI file (.nii or .nii.gz), or a 3D array ``(X, Y, Z)`` = (width,
                height, frames) of integer labels.
            name: ``{label value: name}``, e.g. ``{1: 'liver', 2: 'tumor'}`` (a str names label 1).
            imported_from: The imported from value.
            author_email: The author email.
            worklist_id: The annotation worklist unique id.
            ai_model_name: The AI model name.
            transpose_segmentation: Swap the first two axes before uploading.
            label_set: The label set (default: ``'model:<ai_model_name>'`` for a model's masks,
                your reader set in multi-reader worklists, else ``'ground-truth'``).

        Returns:
            List of annotation unique ids created, by label value.

        Raises:
            FileNotFoundError: If the file path does not exist.
            ValueError: If the file format is unsupported.
            ValidationError: The volume's size differs from the resource's (the message gives both).

        Example:
            >>> api.annotations.upload_volume_segmentation(ct, 'seg.nii.gz', {1: 'liver', 2: 'tumor'})
        """
        resource_id = self._resource_id(resource)
        data, filename = masks.volume_bytes(file_path, transpose_segmentation)
        mapping = {1: name} if isinstance(name, str) else dict(name or {})
        form: dict[str, str] = {}
        for key, value in (("annotation_worklist_id", worklist_id), ("model_id", ai_model_name),
                           ("source", "model_pipeline" if ai_model_name else "imported"),
                           ("imported_from", imported_from), ("import_author", author_email),
                           ("label_set", label_set)):
            if value is not None:
                form[key] = value
        files = {"file": (filename, data, "application/nifti"),
                 "segmentation_map": (None, json.dumps({str(k): v for k, v in mapping.items()}), "application/json")}
        response = self._request("POST", f"/annotations/{resource_id}/segmentations/file", data=form, files=files)
        return self._ids(response.json())
