"""Fixtures for datamint.imaging tests (helpers live in imaging_data.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from imaging_data import make_ct_slice, write_video
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid


@pytest.fixture
def ct_series() -> Callable[..., list[Dataset]]:
    """Factory: ``ct_series(n=10, shuffle=True)`` → slices of one series, in shuffled order."""

    def build(n: int = 10, *, size: int = 32, shuffle: bool = True, seed: int = 7) -> list[Dataset]:
        study, series, frame = generate_uid(), generate_uid(), generate_uid()
        slices = [make_ct_slice(i, study=study, series=series, frame_of_reference=frame, size=size) for i in range(n)]
        if shuffle:
            order = np.random.default_rng(seed).permutation(n)
            slices = [slices[i] for i in order]
        return slices

    return build


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An MJPG .avi and an mp4v .mp4, 6 frames of 48×32 at 10 fps."""
    folder = tmp_path_factory.mktemp("videos")
    return {
        "avi": write_video(folder / "clip.avi", "MJPG"),
        "mp4": write_video(folder / "clip.mp4", "mp4v"),
    }
