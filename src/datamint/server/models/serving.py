"""Serving deployed models in this process: loading them once, feeding them resources, reading their answers.

* :func:`resolve_version` finds the registered model version a deploy names (version, alias or
  the latest), in the deploy's project (MLflow workspace).
* :func:`materialize` copies a version's artifacts from the blob store to a local folder (once
  per process), :func:`load` loads it with ``mlflow.pyfunc`` and keeps it loaded (:data:`_LOADED`).
* :func:`read_input` turns a resource into a :class:`~datamint.mlflow.model.ModelInput` in its own
  geometry; :func:`to_items` turns a model's predictions into annotation create items (wire §7.2)
  and their mask files, checked against the resource like any upload.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from datamint.imaging.resource_geometry import ResourceGeometry
from datamint.server.annotations import masks
from datamint.server.annotations.validation import ResourceShape
from datamint.server.errors import NotFoundError, ValidationFailedError
from datamint.server.models import inputs
from datamint.server.models.mlflow_backend import MlflowBackend
from datamint.server.storage.base import BlobStore

_LOADED: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()
AXES = ("axial", "sagittal", "coronal")


@dataclass
class Version:
    """A resolved registered model version."""

    name: str
    version: int
    source: str
    run_id: str | None


def resolve_version(backend: MlflowBackend, project_id: str, name: str, version: int | None,
                    alias: str | None) -> Version:
    """The version a deploy or an inference names, looked up in the project's registry.

    Raises:
        NotFoundError: No such model, version or alias in the project.
    """
    from mlflow.exceptions import MlflowException

    backend.ensure_ready()
    token = backend.bind(project_id)
    try:
        registry = backend.registry
        try:
            if version is not None:
                mv = registry.get_model_version(name, str(version))
            elif alias:
                mv = registry.get_model_version_by_alias(name, alias)
            else:
                latest = registry.get_latest_versions(name)
                if not latest:
                    raise NotFoundError("Model version", f"Model version not found: {name!r} has no versions yet")
                mv = max(latest, key=lambda v: int(v.version))
            uri = registry.get_model_version_download_uri(mv.name, mv.version)
        except MlflowException as exc:
            what = f"version {version}" if version is not None else f"alias {alias!r}" if alias else "any version"
            raise NotFoundError("Model", f"Model {name!r} ({what}) not found in this project: register it "
                                         f"with MLflow first ({exc.message})") from exc
        return Version(mv.name, int(mv.version), uri, mv.run_id)
    finally:
        backend.unbind(token)


def cache_dir() -> str:
    """The folder where this process keeps the model versions it serves."""
    return os.path.join(tempfile.gettempdir(), f"datamint-models-{os.getuid() if hasattr(os, 'getuid') else 0}")


def model_dir_of(source: str) -> str:
    """The local folder of the artifacts at ``source`` (whether copied yet or not)."""
    return os.path.join(cache_dir(), hashlib.sha256(source.encode()).hexdigest()[:32])


def materialize(backend: MlflowBackend, source: str) -> str:
    """A local folder holding the artifacts at ``source`` (``mlflow-artifacts:/...``), copied once."""
    prefix = "mlflow-artifacts:/"
    if not source.startswith(prefix):
        raise ValidationFailedError(f"The model's artifacts are at {source!r}, outside this server's artifact "
                                    "store; log the model through this server")
    path = source[len(prefix):].strip("/")
    target = model_dir_of(source)
    if os.path.isdir(target):
        return target
    backend.ensure_ready()
    staging = tempfile.mkdtemp(prefix="stage-", dir=_ensure(cache_dir()))
    try:
        backend.artifacts.download_artifacts(path, staging)
        local = os.path.join(staging, *path.split("/"))
        if not os.path.exists(os.path.join(local, "MLmodel")):
            raise ValidationFailedError(f"No MLmodel file in the model's artifacts at {source}: is it an MLflow "
                                        "model?")
        try:
            os.rename(local, target)
        except OSError:
            if not os.path.isdir(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _ensure(folder: str) -> str:
    os.makedirs(folder, exist_ok=True)
    return folder


def load(model_dir: str) -> Any:
    """The model's Python object (a DatamintModel), loaded once per process and kept."""
    with _LOAD_LOCK:
        model = _LOADED.get(model_dir)
        if model is None:
            import mlflow.pyfunc

            model = mlflow.pyfunc.load_model(model_dir).unwrap_python_model()
            _LOADED[model_dir] = model
        return model


def is_loaded(model_dir: str) -> bool:
    """Whether this process has the model in memory."""
    return model_dir in _LOADED


# -- resources in, predictions out ---------------------------------------------------------------------

def _source(store: BlobStore, key: str) -> Any:
    local = store.local_path(key)
    return local if local is not None else store.get(key)


def local_file(store: BlobStore, resource: Any, folder: str, name: str) -> str:
    """A path to the resource's (or sent file's) file: the store's own file, or a copy ``name`` in ``folder``."""
    local = store.local_path(resource.location)
    if local is not None:
        return str(local)
    suffix = os.path.splitext(resource.filename or "")[1]
    path = os.path.join(folder, f"{name}{suffix}")
    with open(path, "wb") as handle:
        handle.write(store.get(resource.location))
    return path


def _volume(src: Any, mimetype: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The voxel grid ``(x, y, z)`` of a DICOM or NIfTI volume and its affine (voxel → patient mm)."""
    if mimetype == "application/nifti":
        from datamint.imaging.nifti_io import load_nifti

        img = load_nifti(src)
        data = np.asanyarray(img.dataobj)
        while data.ndim > 3 and data.shape[-1] == 1:
            data = data[..., 0]
        if data.ndim == 2:
            data = data[..., np.newaxis]
        return np.asarray(data), np.asarray(img.affine, dtype=float)
    from pydicom.pixels import apply_modality_lut

    from datamint.imaging._sources import as_local_path
    from datamint.imaging.dicom_io import read_dicom

    with as_local_path(src, suffix=".dcm") as local:
        ds = read_dicom(local, check=False)
        values = np.asarray(apply_modality_lut(ds.pixel_array, ds), dtype=np.float32)
    if values.ndim == 2:
        values = values[np.newaxis]
    return np.ascontiguousarray(values.transpose(2, 1, 0)), None


def read_input(store: BlobStore, resource: Any, mode: str, *, frame_index: int | None = None,
               slice_index: int | None = None, axis: str | None = None) -> Any:
    """The :class:`ModelInput` of ``resource`` for ``mode`` (see ``datamint.mlflow.model``).

    Raises:
        ValidationFailedError: The mode does not fit the resource (a volume mode on an image, a
            frame out of range...).
    """
    from datamint.imaging.pixels import slice_values
    from datamint.mlflow.model import ModelInput

    shape = ResourceShape.of(resource.mimetype, resource.file_metadata)
    src = _source(store, resource.location)
    common = {"resource_id": resource.id, "filename": resource.filename, "mimetype": resource.mimetype,
              "metadata": {"modality": resource.modality}}
    kind = mode if mode != "default" else ("volume" if shape.is_volume else "image")
    try:
        if kind == "volume":
            if not shape.is_volume:
                raise ValidationFailedError(f"Resource {resource.id} ({resource.mimetype}) is not a volume: use "
                                            "predict_image or predict_frame")
            pixels, affine = _volume(src, resource.mimetype)
            if affine is None and shape.affine is not None:
                affine = np.asarray(shape.affine, dtype=float).reshape(4, 4)
            return ModelInput(pixels=pixels, kind="volume", affine=affine, **common)
        if kind == "slice":
            axis = axis or "axial"
            if axis not in AXES:
                raise ValidationFailedError(f"axis must be one of {', '.join(AXES)}, got {axis!r}")
            if not shape.is_volume:
                raise ValidationFailedError(f"Resource {resource.id} is not a volume: use predict_image")
            index = int(slice_index or 0)
            return ModelInput(pixels=slice_values(src, resource.mimetype, index, axis), kind="slice",
                              frame_index=index, axis=axis, **common)
        index = int(frame_index or 0) if kind == "frame" else 0
        if not 0 <= index < shape.frame_count:
            raise ValidationFailedError(f"frame_index {index} is out of range: resource {resource.id} has "
                                        f"{shape.frame_count} frame(s)")
        pixels = slice_values(src, resource.mimetype, index)
        return ModelInput(pixels=pixels, kind=kind, frame_index=index if kind == "frame" else None, **common)
    except (IndexError, ValueError) as exc:
        if isinstance(exc, ValidationFailedError):
            raise
        raise ValidationFailedError(f"Cannot read resource {resource.id} for {mode}: {exc}") from exc


@dataclass
class Planned:
    """One annotation to create: its create item (wire §7.2) and, for segmentations, its mask file."""

    item: dict[str, Any]
    mask: masks.StoredMask | None = None


def _png(mask: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((np.asarray(mask) != 0).astype(np.uint8) * 255, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _nifti(mask: np.ndarray, affine: np.ndarray | None) -> bytes:
    import nibabel

    image = nibabel.Nifti1Image((np.asarray(mask) != 0).astype(np.uint8), np.eye(4) if affine is None else affine)
    return gzip.compress(image.to_bytes(), compresslevel=6)


def to_items(predictions: list[Any], model_input: Any, resource: Any, base: dict[str, Any],
             geometry: ResourceGeometry | None = None) -> list[Planned]:
    """The annotations for one input's predictions, checked against the resource's geometry.

    Args:
        predictions: What the model returned for the input.
        model_input: The input it was given (its kind and frame/slice place the annotations).
        resource: The resource.
        base: Fields every item carries (source, model_id, worklist, imported_from, author).
        geometry: How the resource's pixel points are stored (``inputs.geometry_of``; none: pixels).

    Raises:
        ValidationFailedError: A prediction does not fit the resource (its message says how).
    """
    from datamint.mlflow.model import Box, Category, Mask, Point

    shape = ResourceShape.of(resource.mimetype, resource.file_metadata)
    frame = model_input.frame_index if model_input.kind in ("frame", "slice") else None
    if model_input.kind == "slice" and model_input.axis != "axial":
        frame = None  # placed as a volume mask below
    scope = {"scope": "frame", "frame_index": frame} if frame is not None else {"scope": "image"}
    out: list[Planned] = []
    for p in predictions:
        confidence = {"confiability": float(p.confidence)} if getattr(p, "confidence", None) is not None else {}
        if isinstance(p, Mask):
            array = np.asarray(p.mask)
            item = {"type": "segmentation", "identifier": p.label, **base, **confidence}
            if model_input.kind == "volume" or (model_input.kind == "default" and shape.is_volume):
                out.append(Planned({**item, "scope": "image"},
                                   masks.check_volume(_nifti(array, model_input.affine), shape)))
            elif model_input.kind == "slice" and model_input.axis != "axial":
                out.append(Planned({**item, "scope": "image"},
                                   masks.check_volume(_nifti(_place_slice(array, model_input, shape), None), shape)))
            else:
                if array.ndim != 2:
                    raise ValidationFailedError(f"The mask of {p.label!r} has shape {array.shape}; a 2-D input "
                                                "takes a 2-D (height, width) mask")
                out.append(Planned({**item, **scope}, masks.check_png(_png(array), shape)))
        elif isinstance(p, Box):
            corners = [(p.x_min, p.y_min), (p.x_max, p.y_min), (p.x_min, p.y_max), (p.x_max, p.y_max)]
            out.append(Planned({"type": "square", "identifier": p.label,
                                "geometry": inputs.place_points(geometry or ResourceGeometry("pixels"), corners,
                                                                model_input),
                                **scope, **base, **confidence}))
        elif isinstance(p, Point):
            out.append(Planned({"type": "point", "identifier": p.label,
                                "geometry": inputs.place_points(geometry or ResourceGeometry("pixels"),
                                                                [(p.x, p.y)], model_input),
                                **scope, **base, **confidence}))
        elif isinstance(p, Category):
            out.append(Planned({"type": "category", "identifier": p.identifier, "value": p.value, **scope, **base,
                                **confidence}))
        else:
            raise ValidationFailedError(f"The model returned a {type(p).__name__}; return Mask, Box, Point or "
                                        "Category objects of datamint.mlflow")
    return out


def _place_slice(mask: np.ndarray, model_input: Any, shape: ResourceShape) -> np.ndarray:
    """A sagittal/coronal slice mask (rows, cols as ``slice_values`` gives them) inside an empty volume."""
    volume = np.zeros((shape.width or 0, shape.height or 0, shape.frame_count), dtype=np.uint8)
    index = int(model_input.frame_index or 0)
    plane = np.asarray(mask).T  # back to (first remaining axis, second remaining axis)
    if model_input.axis == "sagittal":
        volume[index, :, :] = plane
    else:
        volume[:, index, :] = plane
    return volume


def prediction_to_wire(planned: Planned) -> dict[str, Any]:
    """A prediction as the job's result shows it (its item, without the mask bytes)."""
    return {k: v for k, v in planned.item.items() if k != "annotation_worklist_id"}


def missing(what: str, name: str) -> NotFoundError:
    """A 404 in the wire's shape."""
    return NotFoundError(what, f"{what} not found: {name}")
