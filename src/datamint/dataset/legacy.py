"""The legacy PyTorch dataset of the ``datamintapi`` guide (seed 002): ``Dataset(root, dataset_name,
version='latest', api_key=..., transform=...)`` returning ``(image, dicom_metainfo, metainfo)``.

The dataset name is the project's name (every project has one dataset). The chosen version is
downloaded once into ``<root>/<dataset name>/`` — files stored by SHA-256 under ``blobs/`` and
verified when downloaded, one manifest per version under ``versions/`` — and reused afterwards;
a newer version downloads only the files that changed. With ``download=False`` nothing is fetched
and a version that is not in ``root`` raises a clear error.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from datamint.dataset import targets
from datamint.dataset.readers import holds_image, read_resource
from datamint.dataset.sources import Connection, DatamintDatasetException, Record, VersionSource, trusted
from datamint.exceptions import ItemNotFoundError


def _folder_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_. " else "_" for ch in name).strip()
    if cleaned in (".", ".."):  # a folder name that is a path: the root itself or its parent
        cleaned = "_" * len(cleaned)
    return cleaned or "dataset"


class Dataset:
    """A dataset version on local disk, as a PyTorch map-style dataset.

    Args:
        root: Folder to download datasets into (``<root>/<dataset_name>/``).
        dataset_name: The dataset's name, which is its project's name.
        version: ``'latest'`` (the newest version), a version number, or a version name. A dataset
            that has no version yet gets one on the first ``'latest'`` (its current content frozen
            as version 1; needs project-manager rights), so the guide's examples run as written.
        api_key: API key (default: ``DATAMINT_API_KEY`` or the config file).
        server_url: Server URL (default: ``DATAMINT_API_URL`` or the config file).
        transform: Applied to the image, a NumPy array ``(H, W)``, ``(H, W, C)`` or, for volumes,
            ``(H, W, D)`` (torchvision's ``ToTensor`` fits). Without it the image becomes a tensor
            ``(C, H, W)`` / ``(D, H, W)`` with its stored values.
        target_transform: Applied to ``metainfo``.
        download: Download what is missing; ``False`` uses only what is in ``root``.
        verify: Re-hash every local file (files are always verified when downloaded).
        trusted_annotation_sources: Keep annotations whose ``source`` is one of these (or unset);
            ``None`` keeps all.
        progress_bar: Show download progress.

    Raises:
        DatamintDatasetException: No such dataset or version, or (``download=False``) the version
            is not in ``root``.

    Example:
        >>> import datamint
        >>> dataset = datamint.Dataset(root='data', dataset_name='Chest X-rays', version='latest')
        >>> image, dicom_metainfo, metainfo = dataset[0]
        >>> 'fracture' in metainfo['labels']
    """

    def __init__(self, root: str | Path, dataset_name: str, version: str | int = "latest",
                 api_key: str | None = None, server_url: str | None = None,
                 transform: Callable[[Any], Any] | None = None, target_transform: Callable[[Any], Any] | None = None,
                 download: bool = True, verify: bool = False,
                 trusted_annotation_sources: tuple[str, ...] | None = ("imported", "manual"),
                 progress_bar: bool = False) -> None:
        self.root = Path(root)
        self.dataset_name = dataset_name
        self.transform = transform
        self.target_transform = target_transform
        self.dataset_dir = self.root / _folder_name(dataset_name)
        connection = Connection(server_url, api_key) if download else None
        dataset_id = self._dataset_id(connection) if connection is not None else None
        self.source = VersionSource(connection, self.dataset_dir, dataset_id, version)
        try:
            records, _ = self.source.load(download, verify=verify, progress_bar=progress_bar)
        except ItemNotFoundError:
            raise DatamintDatasetException(f"Dataset {dataset_name!r} has no version {str(version)!r}"
                                           + ("" if str(version).lower() != "latest" else
                                              ": create one with api.datasets.create_version(...)"))
        for record in records:
            record.annotations = trusted(record.annotations, trusted_annotation_sources)
        self.records: list[Record] = [r for r in records if holds_image(r.mimetype)]
        self.version_info: dict[str, Any] = dict(self.source.manifest.get("version") or {})
        self.version = self.version_info.get("number")
        every = [a for r in self.records for a in r.annotations]
        self.labels_set = sorted({targets.name_of(a) for a in every if targets.kind_of(a) == "label"})
        self.segmentation_labels_set = sorted({targets.name_of(a) for a in every
                                               if targets.kind_of(a) == "segmentation"})

    def _dataset_id(self, connection: Connection) -> str:
        """The id of the dataset named ``dataset_name``, found through its project (listing
        projects is cheaper than listing datasets, which carry every resource id)."""
        api = connection.api()
        project = api.projects.get_by_name(self.dataset_name, include_archived=False)
        if project is None:
            names = sorted(p.name for p in api.projects.get_list())
            raise DatamintDatasetException(
                f"No dataset named {self.dataset_name!r} on {api.config.server_url} (a dataset is named after "
                f"its project); available: {names[:20]}")
        return project.dataset_id

    def __len__(self) -> int:
        return len(self.records)

    @staticmethod
    def _channels_last(array: np.ndarray) -> np.ndarray:
        """``(frames, H, W, C)`` as the image layout of this dataset (see ``transform``)."""
        if array.shape[0] == 1:
            return array[0, :, :, 0] if array.shape[3] == 1 else array[0]
        return array[..., 0].transpose(1, 2, 0) if array.shape[3] == 1 else array

    @staticmethod
    def _default_transform(image: np.ndarray) -> Any:
        from datamint.dataset._torch import as_tensor

        if image.ndim == 2:
            image = image[:, :, np.newaxis]
        return as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))

    def _metainfo(self, record: Record, frames: int) -> dict[str, Any]:
        resource = record.resource
        annotations = record.annotations
        segmentations = [{"annotation_id": a["id"], "identifier": targets.name_of(a), "author": targets.author_of(a),
                          "frame_index": None if targets.frames_of(a) is None else targets.frames_of(a)[0],  # type: ignore[index]
                          "scope": a.get("scope"), "file": str(self.source.mask_path(a))}
                         for a in annotations if targets.kind_of(a) == "segmentation" and a.get("mask")]
        categories = {targets.name_of(a): a.get("value") for a in annotations if targets.kind_of(a) == "category"}
        frame_labels: dict[int, list[str]] = {}
        for a in annotations:
            where = targets.frames_of(a)
            if targets.kind_of(a) == "label" and where is not None:
                for k in where:
                    frame_labels.setdefault(k, []).append(targets.name_of(a))
        return {
            "id": record.id, "filename": resource.get("filename"), "mimetype": record.mimetype,
            "modality": resource.get("modality"), "patient_id": record.patient_id,
            "metadata": resource.get("metadata") or {}, "frame_count": frames, "sha256": resource.get("sha256"),
            "version": self.version,
            "labels": sorted({targets.name_of(a) for a in annotations if targets.kind_of(a) == "label"}),
            "categories": categories, "frame_labels": frame_labels, "segmentations": segmentations,
            "annotations": annotations,
        }

    def __getitem__(self, index: int) -> tuple[Any, Any, dict[str, Any]]:
        """``(image, dicom_metainfo, metainfo)``: the transformed image; the pydicom header of DICOM
        resources (``None`` otherwise); and a dict with ``labels`` (label names), ``categories``,
        ``frame_labels``, ``segmentations`` (mask files), ``annotations`` and the resource's fields."""
        record = self.records[index]
        loaded = read_resource(self.source.resource_path(record), record.mimetype)
        image = self._channels_last(loaded.array)
        image = self.transform(image) if self.transform is not None else self._default_transform(image)
        dicom_metainfo = loaded.dicom
        if dicom_metainfo is not None and "PixelData" in dicom_metainfo:
            del dicom_metainfo.PixelData  # the header is what callers use; keep worker → loader transfers small
        metainfo = self._metainfo(record, int(loaded.array.shape[0]))
        if self.target_transform is not None:
            metainfo = self.target_transform(metainfo)
        return image, dicom_metainfo, metainfo

    def get_masks(self, index: int) -> dict[str, np.ndarray]:
        """The masks of an item by class name, in the image's grid ``(frames, H, W)`` (any annotator)."""
        from datamint.dataset.readers import read_mask

        record = self.records[index]
        loaded = read_resource(self.source.resource_path(record), record.mimetype)
        grid = tuple(loaded.array.shape[:3])
        instances = targets.segmentation_instances(record.annotations, grid,  # type: ignore[arg-type]
                                                   lambda a: read_mask(self.source.mask_path(a)), group_frames=True)
        out: dict[str, np.ndarray] = {}
        for _, name, mask in instances:
            out[name] = out[name] | mask if name in out else mask
        return out

    def __repr__(self) -> str:
        return (f"Dataset({self.dataset_name!r}, version={self.version_info.get('name')!r}, {len(self)} items, "
                f"root={str(self.root)!r})")
