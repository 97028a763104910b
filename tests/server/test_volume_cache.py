"""The viewer's volume cache: one decompression per gzipped NIfTI, bounded size, least recently used out."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace

import nibabel
import numpy as np
import pytest

from datamint.imaging.errors import CorruptFileError
from datamint.server.resources.volume_cache import VolumeCache
from datamint.server.storage.local import LocalBlobStore


def _nifti_gz(tmp_path, name: str, fill: int) -> SimpleNamespace:
    path = tmp_path / f"{name}.nii.gz"
    nibabel.save(nibabel.Nifti1Image(np.full((20, 20, 20), fill, dtype=np.int16), np.eye(4)), str(path))
    return SimpleNamespace(location=name, size=path.stat().st_size, path=path)


def test_gzipped_niftis_are_decompressed_once_and_the_oldest_is_dropped(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    first, second = _nifti_gz(tmp_path, "a", 1), _nifti_gz(tmp_path, "b", 2)
    for r in (first, second):
        store.put(r.location, r.path.read_bytes())
    entry_size = 352 + 20 * 20 * 20 * 2  # NIfTI-1 header + int16 voxels
    cache = VolumeCache(tmp_path / "cache", max_bytes=entry_size + 100)  # room for one volume

    with cache.nifti_path(store, first) as path:
        assert os.path.getsize(path) == entry_size and np.asarray(nibabel.load(path).dataobj)[3, 4, 5] == 1
        built = os.path.getmtime(path)
    with cache.nifti_path(store, first) as again:
        assert again == path and os.path.getmtime(again) >= built  # the same file, not rebuilt
    with cache.nifti_path(store, second) as other:
        assert np.asarray(nibabel.load(other).dataobj)[0, 0, 0] == 2
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [os.path.basename(other)]


def test_concurrent_readers_wait_for_one_build(tmp_path, monkeypatch):
    store = LocalBlobStore(tmp_path / "blobs")
    volume = _nifti_gz(tmp_path, "c", 3)
    store.put(volume.location, volume.path.read_bytes())
    cache = VolumeCache(tmp_path / "cache", max_bytes=1 << 30)
    builds = []
    real = cache._entry

    def counting(name, build):
        return real(name, lambda tmp: (builds.append(tmp), build(tmp)))

    monkeypatch.setattr(cache, "_entry", counting)
    paths = []

    def read():
        with cache.nifti_path(store, volume) as path:
            paths.append(path)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(set(paths)) == 1


def test_a_truncated_gzip_is_refused_and_leaves_no_entry(tmp_path):
    store = LocalBlobStore(tmp_path / "blobs")
    volume = _nifti_gz(tmp_path, "d", 4)
    store.put(volume.location, volume.path.read_bytes()[:volume.size // 2])
    cache = VolumeCache(tmp_path / "cache", max_bytes=1 << 30)
    with pytest.raises(CorruptFileError, match="truncated"):
        with cache.nifti_path(store, volume):
            pass
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_gzip_longer_than_its_header_announces_is_cut_at_the_announced_size(tmp_path):
    import gzip

    store = LocalBlobStore(tmp_path / "blobs")
    volume = _nifti_gz(tmp_path, "e", 5)
    bomb = gzip.compress(gzip.decompress(volume.path.read_bytes()) + bytes(64 << 20))  # 64 MiB of zeros after
    store.put(volume.location, bomb)
    volume.size = len(bomb)
    cache = VolumeCache(tmp_path / "cache", max_bytes=1 << 30)
    with cache.nifti_path(store, volume) as path:
        assert os.path.getsize(path) <= 352 + 16000 + (1 << 20), "inflated past the header's size"
        assert np.asarray(nibabel.load(path).dataobj)[1, 2, 3] == 5
