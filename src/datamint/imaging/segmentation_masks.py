"""Turning segmentation inputs into per-label binary masks (wire protocol §8).

Frame segmentations arrive as a PNG path or an array: ``(H, W)`` or ``(H, W, F)`` grayscale,
``(3, H, W, F)`` RGB. Every distinct non-zero value (grayscale) or non-black colour (RGB) of a
frame becomes one annotation with a binary PNG mask (0/255). Names come from ``name``:

* a string: every label of the frame gets it (labels with the same name are merged);
* ``{value: name}`` for grayscale, ``{(r, g, b): name}`` for RGB (``'default'`` for the rest);
* ``None``: the name ``'default'``.

Labels without a name fall back to ``seg_<r>_<g>_<b>``.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

MAX_LABELS_PER_FRAME = 2048


def standardize_names(name: str | dict | None) -> dict[Any, str]:
    """The name mapping of a ``name`` argument (see the module docstring).

    Raises:
        ValueError: ``name`` is neither None, a string nor a dict.
    """
    if name is None:
        return {"default": "default"}
    if isinstance(name, str):
        return {"default": name}
    if isinstance(name, Mapping):
        return {(tuple(int(c) for c in k) if isinstance(k, (tuple, list)) else k): v for k, v in name.items()}
    raise ValueError("Invalid name: use a str, a dict {value: name}, a dict {(r, g, b): name} or None")


def load_frames(source: str | os.PathLike[str] | np.ndarray, transpose: bool = False) -> list[np.ndarray]:
    """The frames of a segmentation input: each ``(H, W)`` grayscale or ``(H, W, 3)`` RGB.

    Raises:
        FileNotFoundError: The path does not exist.
        ValueError: A NIfTI path (use the volume upload), an unsupported shape or file type.
    """
    if isinstance(source, np.ndarray):
        array = source
        if array.ndim == 2:
            frames = [array]
        elif array.ndim == 3:
            frames = [array[:, :, i] for i in range(array.shape[2])]
        elif array.ndim == 4 and array.shape[0] in (3, 4):
            frames = [np.moveaxis(array[:3, :, :, i], 0, -1) for i in range(array.shape[3])]
        else:
            raise ValueError(f"Unsupported segmentation shape {array.shape}: use (H, W), (H, W, F) or (3, H, W, F)")
    else:
        path = Path(source)
        if str(path).lower().endswith((".nii", ".nii.gz")):
            raise ValueError("NIfTI segmentations are volumes: use upload_volume_segmentation() instead")
        if not path.exists():
            raise FileNotFoundError(f"Segmentation file not found: {path}")
        from PIL import Image

        with Image.open(path) as image:
            if image.mode in ("RGBA", "LA"):
                image = image.convert("RGB" if image.mode == "RGBA" else "L")
            frames = [np.asarray(image)]
        if frames[0].ndim == 3:
            frames = [frames[0][:, :, :3]]
    if transpose:
        frames = [np.swapaxes(f, 0, 1) for f in frames]
    return [np.ascontiguousarray(f) for f in frames]


def _name_for(key: Any, names: Mapping[Any, str], gray: int | None) -> str:
    if gray is not None and gray in names:
        return names[gray]
    if key in names:
        return names[key]
    if "default" in names:
        return names["default"]
    rgb = key if isinstance(key, tuple) else (key, key, key)
    return "seg_" + "_".join(str(int(c)) for c in rgb)


def split_frame(frame: np.ndarray, names: Mapping[Any, str]) -> list[tuple[str, np.ndarray]]:
    """Binary masks of a frame's labels, by name (same-named labels merged), in label order.

    Raises:
        ValueError: More than :data:`MAX_LABELS_PER_FRAME` labels in a frame.
    """
    if frame.ndim == 2:
        values = [int(v) for v in np.unique(frame) if v != 0]
        keyed = [((v, v, v), v, frame == v) for v in values]
    else:
        flat = frame.reshape(-1, frame.shape[-1])
        colours = [tuple(int(c) for c in row) for row in np.unique(flat, axis=0) if np.any(row != 0)]
        keyed = []
        for colour in colours:
            gray = colour[0] if colour[0] == colour[1] == colour[2] else None
            keyed.append((colour, gray, np.all(frame == np.asarray(colour), axis=-1)))
    if len(keyed) > MAX_LABELS_PER_FRAME:
        raise ValueError(f"A frame has {len(keyed)} labels; at most {MAX_LABELS_PER_FRAME} are supported")
    merged: dict[str, np.ndarray] = {}
    for key, gray, mask in keyed:
        name = _name_for(key, names, gray)
        merged[name] = mask if name not in merged else (merged[name] | mask)
    return list(merged.items())


def png_bytes(mask: np.ndarray) -> bytes:
    """A binary mask as an 8-bit grayscale PNG (0 / 255)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((np.asarray(mask) != 0).astype(np.uint8) * 255, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def volume_bytes(source: str | os.PathLike[str] | np.ndarray, transpose: bool = False) -> tuple[bytes, str]:
    """The bytes and file name to upload for a volume segmentation.

    A NIfTI path is sent as is (unless ``transpose``); an array ``(X, Y, Z)`` (width, height,
    frames) becomes an in-memory NIfTI with an identity affine.

    Raises:
        FileNotFoundError: The path does not exist.
        ValueError: Not a NIfTI path or not a 3-D array.
    """
    import nibabel

    if isinstance(source, np.ndarray):
        array = np.swapaxes(source, 0, 1) if transpose else source
        if array.ndim != 3:
            raise ValueError(f"A volume segmentation array must be 3-D (X, Y, Z), got shape {array.shape}")
        dtype = np.uint8 if array.max(initial=0) < 256 and array.min(initial=0) >= 0 else np.int32
        image = nibabel.Nifti1Image(np.ascontiguousarray(array, dtype=dtype), np.eye(4))
        return gzip.compress(image.to_bytes()), "segmentation.nii.gz"
    path = Path(source)
    if not str(path).lower().endswith((".nii", ".nii.gz")):
        raise ValueError(f"Unsupported volume segmentation file {path.name!r}: use .nii or .nii.gz")
    if not path.exists():
        raise FileNotFoundError(f"Segmentation file not found: {path}")
    if not transpose:
        return path.read_bytes(), path.name
    image = nibabel.load(str(path))
    data = np.swapaxes(np.asanyarray(image.dataobj), 0, 1)
    swapped = nibabel.Nifti1Image(np.ascontiguousarray(data), image.affine)
    return gzip.compress(swapped.to_bytes()), "segmentation.nii.gz"
