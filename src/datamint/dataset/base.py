"""The common machinery of the per-kind datasets (wire §9): lazy preparation, records, label
schema, file access through the entity cache or a frozen version, targets and transforms.

A dataset is a map-style PyTorch dataset (``__len__`` and ``__getitem__``; torch is imported
only to build tensors), usable in a ``DataLoader`` with workers: it pickles its configuration
and plain data only, and each worker opens its own HTTP connection on first use.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from datamint.dataset import targets
from datamint.dataset.labels import LabelSchema, add_inferred, choose_worklists, from_worklists
from datamint.dataset.readers import Loaded, holds_image, read_mask, read_resource
from datamint.dataset.sources import Connection, LiveSource, Record, VersionSource, trusted
from datamint.dataset.transforms import apply_albumentations, to_tensors

_LOG = logging.getLogger(__name__)


class DatamintBaseDataset:
    """Base class of the Datamint datasets; use a subclass (``ImageDataset``, ``VolumeDataset``...).

    DICOM images come in the modality's units, as in the official client: the rescale slope and
    intercept (or Modality LUT) are applied, so CT is in Hounsfield units (``float32``); DICOM
    without a rescale, NIfTI, images and videos keep their stored values and type.

    Args:
        project: The project (name, id or Project).
        resources: Instead of a project, these resources (Resource entities) and their annotations.
        version: A dataset version (``'latest'``, a number or a name): its frozen files,
            annotations and label schema, downloaded once into ``root``. ``None``: the project as
            it is now, through the entity cache.
        root: Folder for version files (default ``<data dir>/datasets/<dataset id>``).
        api_key: API key (default: the configured one). server_url: Server (default: configured).
        return_metainfo: Add ``metainfo`` (resource fields, annotations).
        return_segmentations: Add ``masks`` and ``mask_labels``.
        return_boxes: Add ``boxes`` ``(n, 4)`` pixels ``x1, y1, x2, y2``, ``box_labels`` (indices into
            :attr:`box_label_names`) and ``box_frames``.
        return_as_semantic_segmentation: One class map (or one channel per class for multi-label
            schemas) instead of per-annotator instance masks.
        transform: Joint transform of the sample dict (see :mod:`datamint.dataset.transforms`).
        alb_transform: albumentations-style joint transform (2-D samples).
        include_unannotated: Keep resources without any (trusted) annotation.
        include_annotators / exclude_annotators: Only / not these annotators' annotations.
        include_segmentation_names / exclude_segmentation_names: Only / not these mask classes.
        image_labels_merge_strategy: ``'union'``, ``'intersection'``, ``'mode'`` or ``None`` (per annotator).
        image_categories_merge_strategy: ``'mode'`` (most frequent answer) or ``None`` (per annotator).
        worklists: ``'all'`` (the project's worklists define the label schema), a list of worklists
            (ids, names, ``AnnotationWorklist`` or dicts; only these define it), or ``None`` (infer it
            from the annotations).
        trusted_annotation_sources: Keep annotations whose ``source`` is one of these (or unset).
        label_sets: Keep only annotations of these label sets (a name or a list, e.g.
            ``'ground-truth'``, ``'consensus'``, ``'model:liver-net'``); ``None`` keeps every set.
            Annotations that carry no label set (versions made before label sets) count as
            ``'ground-truth'``. A model's set also needs ``trusted_annotation_sources=None``.
        download: Allow downloads (versions); with ``False`` only what is in ``root`` is used.
        progress_bar: Show progress while downloading.
    """

    def __init__(self, project: Any = None, resources: Sequence[Any] | None = None, *,
                 version: str | int | None = None, root: str | Path | None = None, api_key: str | None = None,
                 server_url: str | None = None, return_metainfo: bool = True, return_segmentations: bool = True,
                 return_boxes: bool = False, return_as_semantic_segmentation: bool = False,
                 transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 alb_transform: Callable[..., dict[str, Any]] | None = None, include_unannotated: bool = True,
                 include_annotators: Sequence[str] | None = None, exclude_annotators: Sequence[str] | None = None,
                 include_segmentation_names: Sequence[str] | None = None,
                 exclude_segmentation_names: Sequence[str] | None = None,
                 image_labels_merge_strategy: targets.MergeStrategy | None = "union",
                 image_categories_merge_strategy: targets.MergeStrategy | None = "mode",
                 worklists: Literal["all"] | Sequence[Any] | None = "all",
                 trusted_annotation_sources: Sequence[str] | None = ("imported", "manual"),
                 download: bool = True, progress_bar: bool = False,
                 label_sets: str | Sequence[str] | None = None) -> None:
        if (project is None) == (resources is None):
            raise ValueError("Give either project=... (name, id or Project) or resources=[...]")
        if version is not None and project is None:
            raise ValueError("version=... needs project=...: versions belong to a project's dataset")
        if isinstance(worklists, str) and worklists != "all":
            raise ValueError(f"worklists={worklists!r}: use 'all', None, or a list of worklists (ids, names or "
                             "AnnotationWorklist)")
        if image_labels_merge_strategy not in ("union", "intersection", "mode", None):
            raise ValueError(f"image_labels_merge_strategy {image_labels_merge_strategy!r} is not one of "
                             "'union', 'intersection', 'mode' or None")
        self.connection = Connection(server_url, api_key)
        self.project_ref = project
        self.resources_ref = [r if isinstance(r, dict) else r.asdict() for r in resources] if resources else None
        self.version = version
        self.root = Path(root) if root is not None else None
        self.return_metainfo = return_metainfo
        self.return_segmentations = return_segmentations
        self.return_boxes = return_boxes
        self.return_as_semantic_segmentation = return_as_semantic_segmentation
        self.transform = transform
        self.alb_transform = alb_transform
        self.include_unannotated = include_unannotated
        self.include_annotators = set(include_annotators) if include_annotators else None
        self.exclude_annotators = set(exclude_annotators or ())
        self.include_segmentation_names = set(include_segmentation_names) if include_segmentation_names else None
        self.exclude_segmentation_names = set(exclude_segmentation_names or ())
        self.image_labels_merge_strategy = image_labels_merge_strategy
        self.image_categories_merge_strategy = image_categories_merge_strategy
        self.worklists = worklists if worklists in ("all", None) else [  # plain data: pickled into workers
            w if isinstance(w, (str, dict)) else w.asdict() for w in worklists]  # type: ignore[union-attr]
        self.trusted_annotation_sources = trusted_annotation_sources
        self.label_sets = {label_sets} if isinstance(label_sets, str) else (set(label_sets) if label_sets else None)
        self.download = download
        self.progress_bar = progress_bar
        self.project: dict[str, Any] | None = None
        self.source: LiveSource | VersionSource | None = None
        self._records: list[Record] = []
        self.schema = LabelSchema()
        self._prepared = False

    # -- preparation -----------------------------------------------------------------------------

    def _resolve_project(self) -> dict[str, Any]:
        ref = self.project_ref
        if isinstance(ref, dict):
            return ref
        if hasattr(ref, "asdict"):
            return ref.asdict()
        projects = self.connection.api().projects
        found = projects._resolve(str(ref))
        return found.asdict()

    def _make_source(self) -> LiveSource | VersionSource:
        if self.version is None:
            return LiveSource(self.connection, self.project)  # type: ignore[arg-type]
        dataset_id = self.project["dataset_id"]  # type: ignore[index]
        from datamint import configs

        folder = self.root or configs.data_dir() / "datasets" / dataset_id
        return VersionSource(self.connection, folder, dataset_id, self.version)

    def _prepare(self) -> None:
        if self._prepared:
            return
        if self.resources_ref is not None:
            self.source = LiveSource(self.connection, {"id": None})
            records, worklists = self.source.records_of(self.resources_ref), []
        else:
            self.project = self._resolve_project()
            self.source = self._make_source()
            if isinstance(self.source, VersionSource):
                records, worklists = self.source.load(self.download, progress_bar=self.progress_bar)
            else:
                records, worklists = self.source.load()
        records = [r for r in records if self._accepts(r)]
        for record in records:
            record.annotations = self._filter_annotations(record.annotations)
        if not self.include_unannotated:
            records = [r for r in records if r.annotations]
        every = [a for r in records for a in r.annotations]
        if self.worklists is None:
            self.schema = add_inferred(LabelSchema(), every)
        else:
            self.schema = from_worklists(worklists if self.worklists == "all" else
                                         choose_worklists(worklists, self.worklists), every)
        self._records = records
        if isinstance(self.source, LiveSource):
            for record in records:  # found paths are remembered, and inherited by forked DataLoader workers
                self.source.cached_path(record)
        self._prepared = True

    @property
    def records(self) -> list[Record]:
        """The dataset's resources and their (filtered) annotations, in order."""
        self._prepare()
        return self._records

    def _filter_annotations(self, annotations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        kept = []
        for a in trusted(annotations, self.trusted_annotation_sources):
            author = targets.author_of(a)
            if (self.include_annotators is not None and author not in self.include_annotators) or \
                    author in self.exclude_annotators or a.get("deleted"):
                continue
            if self.label_sets is not None and (a.get("label_set") or "ground-truth") not in self.label_sets:
                continue
            if targets.kind_of(a) == "segmentation":
                name = targets.name_of(a)
                if (self.include_segmentation_names is not None and name not in self.include_segmentation_names) \
                        or name in self.exclude_segmentation_names:
                    continue
            kept.append(a)
        return kept

    def _accepts(self, record: Record) -> bool:
        """Whether a resource belongs in this kind of dataset (subclasses narrow it)."""
        return holds_image(record.mimetype)

    def prefetch(self, include_annotations: bool = True) -> None:
        """Download every file now (concurrently; then the masks, one by one), so that epochs read
        only local files."""
        self._prepare()
        assert self.source is not None
        self.source.prefetch(self.records, include_annotations, self.progress_bar)

    # -- names -----------------------------------------------------------------------------------

    @property
    def segmentation_labels(self) -> list[str]:
        """Mask class names by index (0 = ``'background'``)."""
        self._prepare()
        return self.schema.segmentation_names

    @property
    def box_label_names(self) -> list[str]:
        """Box class names (``box_labels`` index into this list)."""
        self._prepare()
        return self.schema.box_labels

    @property
    def image_label_names(self) -> list[str]:
        """Image-level label names (the positions of ``image_labels``)."""
        self._prepare()
        return self.schema.image_labels

    @property
    def image_category_names(self) -> dict[str, list[str]]:
        """Category → its values (``image_categories`` holds value indices, in this order)."""
        self._prepare()
        return self.schema.categories

    # -- items -----------------------------------------------------------------------------------

    def __len__(self) -> int:
        self._prepare()
        return len(self.records)

    def _load(self, record: Record) -> Loaded:
        assert self.source is not None
        return read_resource(self.source.resource_path(record), record.mimetype, modality_lut=True)

    def _load_mask(self, annotation: dict[str, Any]) -> np.ndarray:
        assert self.source is not None
        return read_mask(self.source.mask_path(annotation))

    def _image_array(self, array: np.ndarray) -> np.ndarray:
        """The image in this dataset's layout (``(C, D, H, W)`` by default)."""
        return array.transpose(3, 0, 1, 2)

    def _grid_array(self, array: np.ndarray) -> np.ndarray:
        """A ``(..., D, H, W)`` target in this dataset's layout (unchanged by default)."""
        return array

    def _metainfo(self, record: Record, loaded: Loaded) -> dict[str, Any]:
        r = record.resource
        info = {"id": record.id, "filename": r.get("filename"), "mimetype": record.mimetype,
                "modality": r.get("modality"), "patient_id": record.patient_id, "metadata": r.get("metadata") or {},
                "shape": tuple(loaded.array.shape[:3]), "annotations": record.annotations}
        if isinstance(self.source, VersionSource) and self.source.manifest.get("version"):
            info["version"] = self.source.manifest["version"]["number"]
            info["sha256"] = r.get("sha256")
        return info

    def _sample(self, record: Record) -> dict[str, Any]:
        loaded = self._load(record)
        grid = tuple(loaded.array.shape[:3])
        annotations = record.annotations
        sample: dict[str, Any] = {"image": self._image_array(loaded.array)}
        if self.return_segmentations:
            instances = targets.segmentation_instances(annotations, grid, self._load_mask,  # type: ignore[arg-type]
                                                       group_frames=grid[0] > 1)
            if self.return_as_semantic_segmentation:
                sample["masks"] = self._grid_array(targets.semantic(instances, self.schema, grid))  # type: ignore[arg-type]
                sample["mask_labels"] = self.schema.segmentation_names
            else:
                masks, names = targets.by_author(instances)
                sample["masks"] = {a: self._grid_array(m) for a, m in masks.items()}
                sample["mask_labels"] = names
        if self.return_boxes:
            sample["boxes"], sample["box_labels"], sample["box_frames"] = targets.boxes(
                annotations, targets.geometry_of(loaded, record.resource), self.schema)
        sample["image_labels"] = targets.image_labels(annotations, self.schema, self.image_labels_merge_strategy)
        sample["image_categories"] = targets.image_categories(annotations, self.schema,
                                                              self.image_categories_merge_strategy)
        if grid[0] > 1 and self.schema.frame_labels:
            sample["frame_labels"] = targets.frame_labels(annotations, self.schema, grid[0])
        if self.return_metainfo:
            sample["metainfo"] = self._metainfo(record, loaded)
        return sample

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One sample: ``image``, ``masks``/``mask_labels``, ``boxes``/``box_labels``,
        ``image_labels``, ``image_categories`` and ``metainfo`` (as requested), all transformed jointly."""
        self._prepare()
        return self._finish(self._sample(self._records[index]))

    def _finish(self, sample: dict[str, Any]) -> dict[str, Any]:
        """Apply the joint transforms to a sample and make its arrays tensors."""
        if self.alb_transform is not None:
            sample = apply_albumentations(self.alb_transform, sample)
        if self.transform is not None:
            sample = self.transform(sample)
        return to_tensors(sample)

    def __iter__(self) -> Any:
        for index in range(len(self)):
            yield self[index]

    # -- subsets and splits ------------------------------------------------------------------------

    def subset(self, indices: Sequence[int]) -> DatamintBaseDataset:
        """A dataset of the same kind and options holding only ``indices``."""
        self._prepare()
        clone = copy.copy(self)
        clone._records = [self._records[i] for i in indices]
        clone._reindex()
        return clone

    def _reindex(self) -> None:
        """Called when :attr:`records` changed (subclasses with derived indexes rebuild them)."""

    def split(self, *, seed: int | None = None, use_project_splits: bool | None = None,
              as_of_timestamp: str | None = None, by_patient: bool = False, **ratios: float) -> Any:
        """Split into named subsets: by ratios (``train=0.8, test=0.2``; ``by_patient`` keeps each
        patient in one subset), or by the project's stored splits when no ratios are given.

        Returns:
            A :class:`~datamint.dataset.splits.SplitResult` (a dict name → dataset) whose
            ``save()`` stores the split on the server.

        Example:
            >>> parts = dataset.split(train=0.8, val=0.2, by_patient=True, seed=0)
            >>> parts.save()
        """
        from datamint.dataset.splits import split_dataset

        self._prepare()
        return split_dataset(self, seed=seed, use_project_splits=use_project_splits, as_of_timestamp=as_of_timestamp,
                             by_patient=by_patient, ratios=ratios)

    def __repr__(self) -> str:
        where = self.project.get("name") if self.project else "resources"
        count = len(self._records) if self._prepared else "?"
        return f"{type(self).__name__}({where!r}, version={self.version!r}, {count} items)"
