"""Unit tests of the dataset package's pure parts: label schemas, targets, readers, splits sizes,
collation, the connection that each worker rebuilds, and lazy torch."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

from datamint.dataset import DatamintDatasetException
from datamint.dataset import targets as t
from datamint.dataset.labels import LabelSchema, choose_worklists, from_worklists
from datamint.dataset.readers import read_mask, read_nifti
from datamint.dataset.sources import Connection, trusted
from datamint.dataset.splits import _counts


def _worklist(groups, specs=(), value_type="single_label"):
    return {"segmentation_group": {n: {"index": i} for n, i in groups.items()},
            "segmentation_data": {"segmentationValueType": value_type}, "annotations": list(specs)}


def test_schema_from_worklists_then_inferred_names():
    annotations = [{"type": "segmentation", "identifier": "zeta"}, {"type": "label", "identifier": "flag"},
                   {"type": "label", "identifier": "motion", "scope": "frame", "frame_index": 2},
                   {"type": "category", "identifier": "q", "value": "other"}]
    schema = from_worklists([_worklist({"liver": 2, "kidney": 1}, [
        {"type": "category", "identifier": "q", "scope": "image", "values": ["good", "poor"]},
        {"type": "square", "identifier": "box", "scope": "image"}])], annotations)
    assert schema.segmentation == {"liver": 2, "kidney": 1, "zeta": 3}
    assert schema.segmentation_names == ["background", "kidney", "liver", "zeta"]
    assert schema.image_labels == ["flag"] and schema.frame_labels == ["motion"] and schema.box_labels == ["box"]
    assert schema.categories == {"q": ["good", "poor", "other"]}


def test_conflicting_worklists_are_an_error_that_says_how_to_choose():
    with pytest.raises(DatamintDatasetException, match="disagree.*worklists=\\[...\\].*worklists=None"):
        from_worklists([_worklist({"liver": 1}), _worklist({"liver": 2})], [])


def test_choosing_worklists_by_id_name_or_dict():
    first, second = ({**_worklist({"liver": 1}), "id": "w1", "name": "first"},
                     {**_worklist({"liver": 2}), "id": "w2", "name": "second"})
    assert choose_worklists([first, second], ["w2"]) == [second]
    assert choose_worklists([first, second], ["first", second]) == [first, second]
    assert from_worklists(choose_worklists([first, second], ["second"]), []).segmentation == {"liver": 2}
    with pytest.raises(DatamintDatasetException, match="No worklist 'third'.*'first', 'second'"):
        choose_worklists([first, second], ["third"])


def test_dataset_arguments_are_checked_before_any_request():
    from datamint.dataset import ImageDataset

    for kwargs in ({}, {"project": "p", "resources": []}, {"resources": [{"id": "r"}], "version": "latest"},
                   {"project": "p", "worklists": "w1"}):
        with pytest.raises(ValueError):
            ImageDataset(server_url="http://127.0.0.1:9", **kwargs)


def test_trusted_sources_and_frames():
    items = [{"source": "imported"}, {"source": "model_pipeline"}, {}]
    assert trusted(items, ("imported", "manual")) == [items[0], items[2]] and trusted(items, None) == items
    assert t.frames_of({"scope": "frame", "frame_index": 2, "frame_range": [2, 4]}) == [2, 3, 4]
    assert t.frames_of({"scope": "image", "frame_index": 1}) is None
    assert t.author_of({"created_by": "a@x", "created_by_model": "m"}) == "m"


def test_semantic_single_and_multi_label():
    grid = (1, 2, 2)
    a = np.array([[[1, 1], [0, 0]]], bool)
    b = np.array([[[0, 1], [1, 0]]], bool)
    instances = [("u", "one", a), ("u", "two", b)]
    single = t.semantic(instances, LabelSchema(segmentation={"one": 1, "two": 2}), grid)
    assert single.tolist() == [[[1, 2], [2, 0]]]  # the higher index wins where masks overlap
    multi = t.semantic(instances, LabelSchema(segmentation={"one": 1, "two": 2}, multi_label=True), grid)
    assert multi.shape == (2, 1, 2, 2) and multi[0].tolist() == a.astype(int).tolist()


def test_label_merge_strategies():
    schema = LabelSchema(image_labels=["a", "b"], categories={"q": ["x", "y"]})
    notes = [{"type": "label", "identifier": "a", "created_by": "u1"},
             {"type": "label", "identifier": "b", "created_by": "u1"},
             {"type": "label", "identifier": "a", "created_by": "u2"},
             {"type": "category", "identifier": "q", "value": "y", "created_by": "u1"},
             {"type": "category", "identifier": "q", "value": "y", "created_by": "u2"},
             {"type": "category", "identifier": "q", "value": "x", "created_by": "u3"}]
    assert t.image_labels(notes, schema, "union").tolist() == [1, 1]
    assert t.image_labels(notes, schema, "intersection").tolist() == [1, 0]
    assert set(t.image_labels(notes, schema, None)) == {"u1", "u2"}
    assert t.image_categories(notes, schema, "mode").tolist() == [1]
    assert t.image_categories(notes, schema, None)["u3"].tolist() == [0]


def test_frame_and_volume_masks_group_into_one_volume_per_author_and_class():
    grid = (3, 2, 2)
    frame = np.array([[1, 0], [0, 0]], bool)
    volume = np.zeros(grid, bool)
    volume[2, 1, 1] = True
    common = {"type": "segmentation", "file": "x", "created_by": "u"}
    annotations = [{**common, "id": "vol", "identifier": "a", "scope": "image"},
                   {**common, "id": "f", "identifier": "a", "scope": "frame", "frame_index": 0, "frame_range": [0, 1]},
                   {**common, "id": "g", "identifier": "b", "scope": "frame", "frame_index": 2}]
    loaded = {"vol": volume}
    found = {(a, n): m for a, n, m in t.segmentation_instances(annotations, grid, lambda a: loaded.get(a["id"], frame),
                                                               group_frames=True)}
    expected = volume.copy()
    expected[0] |= frame
    expected[1] |= frame
    assert set(found) == {("u", "a"), ("u", "b")} and np.array_equal(found[("u", "a")], expected)
    assert found[("u", "b")].sum() == 1 and found[("u", "b")][2, 0, 0]
    assert volume.sum() == 1  # the loaded mask itself is not written into
    single = t.segmentation_instances(annotations, grid, lambda a: loaded.get(a["id"], frame), group_frames=False)
    assert [int(m.sum()) for _, _, m in single] == [1, 2, 1]


def test_frame_mask_of_the_wrong_size_is_a_clear_error():
    with pytest.raises(ValueError, match="height, width"):
        t.segmentation_instances([{"type": "segmentation", "scope": "frame", "frame_index": 0, "file": "x"}],
                                 (2, 4, 4), lambda a: np.ones((3, 3), bool), group_frames=True)


def test_nifti_orientation_and_masks(tmp_path):
    import nibabel

    data = np.arange(24, dtype=np.int16).reshape(4, 3, 2)  # (x, y, z)
    nibabel.save(nibabel.Nifti1Image(data, np.eye(4)), str(tmp_path / "v.nii.gz"))
    loaded = read_nifti(tmp_path / "v.nii.gz")
    assert loaded.array.shape == (2, 3, 4, 1) and loaded.array[1, 2, 3, 0] == data[3, 2, 1]
    assert np.array_equal(read_mask(tmp_path / "v.nii.gz"), data.transpose(2, 1, 0) != 0)


def test_split_sizes_add_up():
    assert _counts(10, {"train": 0.7, "val": 0.15, "test": 0.15}) == {"train": 7, "val": 2, "test": 1}
    assert sum(_counts(7, {"a": 1, "b": 1, "c": 1}).values()) == 7


def test_connection_pickles_config_only_and_is_rebuilt_per_process(monkeypatch):
    conn = Connection("http://127.0.0.1:9", "dmk_x")
    first = conn.api()
    assert conn.api() is first
    clone = pickle.loads(pickle.dumps(conn))
    assert clone._api is None and (clone.server_url, clone.api_key) == ("http://127.0.0.1:9", "dmk_x")
    import os

    pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: pid + 1)  # as in a forked DataLoader worker
    assert conn.api() is not first


def test_collate_stacks_images_and_lists_the_rest():
    import torch

    from datamint.dataset import collate_fn

    batch = collate_fn([{"image": torch.zeros(1, 2, 2), "boxes": torch.zeros(1, 4)},
                        {"image": torch.ones(1, 2, 2), "boxes": torch.zeros(3, 4)}])
    assert batch["image"].shape == (2, 1, 2, 2) and [len(b) for b in batch["boxes"]] == [1, 3]


def test_importing_the_datasets_does_not_import_torch():
    code = "import sys, datamint; from datamint.dataset import ImageDataset, Dataset; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
