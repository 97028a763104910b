"""The model contract: :class:`DatamintModel`, what it receives and what it returns.

A deployed model gets the resources' pixels with their geometry and returns predictions per
resource; the server turns them into annotations in the resource's own geometry:

=============  ===================================================  =====================================
mode           each :class:`ModelInput` ``pixels``                   a :class:`Mask` is
=============  ===================================================  =====================================
``image``      a 2-D image ``(height, width)`` or ``(h, w, 3)``      ``(height, width)``
``frame``      one frame of a video or multi-frame image (2-D)       ``(height, width)`` of that frame
``slice``      one slice of a volume (2-D, that plane's rows/cols)   that slice's ``(rows, cols)``
``volume``     the voxel grid ``(x, y, z)`` (width, height, slices)  the same ``(x, y, z)`` grid
``default``    as ``volume`` for DICOM/NIfTI, as ``image`` otherwise  as for that kind
=============  ===================================================  =====================================

:class:`Box` and :class:`Point` are in pixel coordinates of the 2-D input; :class:`Category`
classifies the whole input.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from mlflow.pyfunc import PythonModel

MODES = ("image", "frame", "slice", "volume", "default")


@dataclass
class ModelInput:
    """One resource (or one frame/slice of it) given to a model.

    Attributes:
        pixels: The pixel or voxel array (see the module's table for its axes).
        kind: ``'image'``, ``'frame'``, ``'slice'`` or ``'volume'``.
        resource_id: The resource's id (None for an uploaded file).
        filename: The resource's file name.
        mimetype: The resource's mimetype.
        affine: For volumes, the 4×4 matrix from voxel ``(x, y, z)`` to patient millimetres.
        spacing: Pixel/voxel spacing in millimetres when known.
        frame_index: The frame or slice index, for ``frame`` and ``slice`` inputs.
        axis: ``'axial'``, ``'sagittal'`` or ``'coronal'`` for ``slice`` inputs.
        metadata: Other facts about the resource (e.g. modality).
    """

    pixels: np.ndarray
    kind: str
    resource_id: str | None = None
    filename: str | None = None
    mimetype: str | None = None
    affine: np.ndarray | None = None
    spacing: tuple[float, ...] | None = None
    frame_index: int | None = None
    axis: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Mask:
    """A segmentation of one label: a boolean array shaped like the input (see the module's table)."""

    label: str
    mask: np.ndarray
    confidence: float | None = None


@dataclass
class Box:
    """A bounding box in pixel coordinates of a 2-D input (``x`` = column, ``y`` = row)."""

    label: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    confidence: float | None = None


@dataclass
class Point:
    """A point in pixel coordinates of a 2-D input."""

    label: str
    x: float
    y: float
    confidence: float | None = None


@dataclass
class Category:
    """A classification of the whole input: ``identifier`` (the question) = ``value``."""

    identifier: str
    value: str
    confidence: float | None = None


Prediction = Mask | Box | Point | Category


class DatamintModel(PythonModel):
    """Base class of models that run on a Datamint server and predict annotations.

    Subclass it and implement the ``predict_*`` methods your model supports; each takes the list
    of inputs of one batch and returns, per input, the list of its predictions. ``predict_frame``
    and ``predict_slice`` fall back to ``predict_image`` on the 2-D frame or slice.

    Class attributes:
        annotation_specs: The labels the model predicts (dicts as in worklist specs:
            ``{"type": "segmentation", "identifier": "liver", "scope": "image"}``); ``log_model``
            stores them with the model.
        batch_size: How many inputs one call may take (None: all of a job's inputs at once).

    Example:
        >>> class Threshold(DatamintModel):
        ...     annotation_specs = [{"type": "segmentation", "identifier": "bone", "scope": "image"}]
        ...     def predict_volume(self, inputs, **params):
        ...         return [[Mask("bone", x.pixels > params.get("level", 300))] for x in inputs]
    """

    annotation_specs: ClassVar[list[dict[str, Any]] | None] = None
    batch_size: ClassVar[int | None] = None

    def predict(self, context: Any, model_input: Sequence[ModelInput],  # type: ignore[override]
                params: dict[str, Any] | None = None) -> list[list[Prediction]]:
        """MLflow's entry point: dispatch to ``predict_<mode>`` (``params['mode']``, default ``default``)."""
        params = dict(params or {})
        mode = str(params.pop("mode", "default"))
        method = self.method_for(mode)
        inputs = list(model_input)
        results = method(inputs, **params)
        if len(results) != len(inputs):
            raise ValueError(f"{type(self).__name__}.{method.__name__} returned {len(results)} results for "
                             f"{len(inputs)} inputs: return one list of predictions per input")
        return [list(r) for r in results]

    def method_for(self, mode: str) -> Any:
        """The bound method that serves ``mode`` (with the frame/slice → image fallback).

        Raises:
            NotImplementedError: The model has no method for ``mode``; the message names what to add.
        """
        if mode not in MODES:
            raise ValueError(f"Unknown prediction mode {mode!r}; use one of {', '.join(MODES)}")
        for name in (mode, "image") if mode in ("frame", "slice") else (mode,):
            if name in self.supported_modes():
                return getattr(self, f"predict_{name}")
        raise NotImplementedError(f"{type(self).__name__} has no predict_{mode}(): implement it (supported: "
                                  f"{', '.join(self.supported_modes()) or 'none'})")

    @classmethod
    def supported_modes(cls) -> list[str]:
        """The modes whose ``predict_*`` method this class implements."""
        return [m for m in MODES if getattr(cls, f"predict_{m}") is not getattr(DatamintModel, f"predict_{m}")]

    def predict_image(self, inputs: list[ModelInput], **params: Any) -> list[list[Prediction]]:
        """Predict on 2-D images."""
        raise NotImplementedError

    def predict_frame(self, inputs: list[ModelInput], **params: Any) -> list[list[Prediction]]:
        """Predict on one frame of videos or multi-frame images."""
        raise NotImplementedError

    def predict_slice(self, inputs: list[ModelInput], **params: Any) -> list[list[Prediction]]:
        """Predict on one slice of volumes."""
        raise NotImplementedError

    def predict_volume(self, inputs: list[ModelInput], **params: Any) -> list[list[Prediction]]:
        """Predict on whole volumes (voxel grid ``(x, y, z)``)."""
        raise NotImplementedError

    def predict_default(self, inputs: list[ModelInput], **params: Any) -> list[list[Prediction]]:
        """Predict on whole resources, whatever their kind."""
        raise NotImplementedError
