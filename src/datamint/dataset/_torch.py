"""Lazy access to PyTorch: the dataset classes import it only when they build tensors."""

from __future__ import annotations

from typing import Any

_INSTALL = "PyTorch is needed for datamint datasets: pip install 'datamint[torch]'"


def torch() -> Any:
    """The ``torch`` module.

    Raises:
        ImportError: PyTorch is not installed (the message says how to install it).
    """
    try:
        import torch as module
    except ImportError as exc:  # pragma: no cover - torch is installed in the dev environment
        raise ImportError(_INSTALL) from exc
    return module


def as_tensor(array: Any) -> Any:
    """A tensor sharing memory with a NumPy array when possible (non-writable arrays are copied)."""
    import numpy as np

    t = torch()
    if isinstance(array, np.ndarray):
        if not array.flags.writeable:
            array = array.copy()
        if array.dtype == np.uint16:
            array = array.astype(np.int32)
        elif array.dtype == np.uint32:
            array = array.astype(np.int64)
        return t.from_numpy(array)
    return t.as_tensor(array)
