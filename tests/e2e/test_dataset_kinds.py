"""The per-kind datasets in use: DataLoader workers downloading through their own connections,
``build_dataset``, joint transforms, splits (random, by patient, the project's stored splits)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from datamint import Api
from datamint.dataset import DatamintDatasetException, ImageDataset, VolumeDataset, build_dataset, collate_fn
from dataset_samples import build_sample, png_image

from conftest import unique


@pytest.fixture(scope="module")
def sample(server, tmp_path_factory):
    api = Api(server.url, server.admin_key)
    built = build_sample(api, tmp_path_factory.mktemp("kinds"))
    yield built
    api.close()


@pytest.fixture(scope="module")
def patients(server, tmp_path_factory):
    """Twelve PNG images of four patients (three images each)."""
    api = Api(server.url, server.admin_key)
    folder = tmp_path_factory.mktemp("patients")
    ids = [api.resources.upload_resource(str(png_image(folder / f"img{i}.png", i)), metadata={"PatientID": f"P{i % 4}"})
           for i in range(12)]
    project = api.projects.create(unique("patients"), "split tests", resources_ids=ids)
    yield project, ids
    api.close()


def _kw(server):
    return {"api_key": server.admin_key, "server_url": server.url}


class FlipWidth:
    """A joint transform: mirrors the image and its masks left-right."""

    def __call__(self, sample):
        sample["image"] = sample["image"][..., ::-1].copy()
        sample["masks"] = sample["masks"][..., ::-1].copy()
        return sample


def test_dataloader_with_two_workers_downloads_and_transforms(server, sample):
    dataset = ImageDataset(sample.project.name, return_as_semantic_segmentation=True, transform=FlipWidth(),
                           **_kw(server))
    assert pickle.loads(pickle.dumps(dataset)).connection._api is None  # config only, no sockets
    loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate_fn)
    (batch,) = list(loader)
    assert batch["image"].shape == (2, 1, 16, 24)
    lesion = dataset.segmentation_labels.index("lesion")
    first = batch["metainfo"][0]["id"] == sample.png1
    masks = batch["masks"][0 if first else 1].numpy()
    assert np.array_equal(masks == lesion, sample.png1_mask[:, ::-1])  # flipped together with the image


def test_albumentations_style_transform_moves_masks_and_boxes_together(server, sample):
    def hflip(image, masks=(), bboxes=(), box_labels=()):
        width = image.shape[1]
        return {"image": image[:, ::-1], "masks": [m[:, ::-1] for m in masks],
                "bboxes": [[width - x2, y1, width - x1, y2] for x1, y1, x2, y2 in bboxes], "box_labels": box_labels}

    dataset = ImageDataset(sample.project.name, return_boxes=True, alb_transform=hflip, **_kw(server))
    item = next(dataset[i] for i in range(len(dataset)) if dataset.records[i].id == sample.png1)
    (author,) = item["masks"]
    assert np.array_equal(item["masks"][author][0].numpy(), sample.png1_mask[:, ::-1])
    assert item["boxes"].tolist() == [[24 - 15, 3, 24 - 5, 9]]


def test_build_dataset_picks_the_kind(server, sample, patients):
    assert type(build_dataset(sample.project.name, **_kw(server))).__name__ == "VolumeDataset"
    images = build_dataset(patients[0].name, **_kw(server))
    assert type(images).__name__ == "ImageDataset" and len(images) == 12
    assert len(VolumeDataset(sample.project.name, **_kw(server))) == 2


def test_random_and_patient_splits(server, patients):
    project, ids = patients
    dataset = ImageDataset(project.name, **_kw(server))
    parts = dataset.split(train=0.5, val=0.25, test=0.25, seed=1)
    assert {k: len(v) for k, v in parts.items()} == {"train": 6, "val": 3, "test": 3}
    assert sorted(r.id for p in parts.values() for r in p.records) == sorted(ids)
    first = [r.id for r in dataset.split(train=0.5, test=0.5, seed=1)["train"].records]
    again = ImageDataset(project.name, **_kw(server)).split(train=0.5, test=0.5, seed=1)  # a new dataset object
    assert [r.id for r in again["train"].records] == first and len(first) == 6  # reproducible with a seed
    other = {r.id for r in dataset.split(train=0.5, test=0.5, seed=2)["train"].records}
    assert other != set(first) and len(other) == 6  # the seed is used: another seed, another split
    by_patient = dataset.split(train=0.5, test=0.5, by_patient=True, seed=3)
    seen = [{r.patient_id for r in part.records} for part in by_patient.values()]
    assert not seen[0] & seen[1] and len(seen[0] | seen[1]) == 4  # no patient in two splits
    assert isinstance(by_patient["train"][0]["image"], torch.Tensor)


def test_stored_splits_round_trip_and_history(server, patients):
    project, ids = patients
    dataset = ImageDataset(project.name, **_kw(server))
    parts = dataset.split(train=0.75, test=0.25, seed=0)
    parts.save(force=True)
    with pytest.raises(ValueError, match="already has split assignments"):
        parts.save()
    api = Api(server.url, server.admin_key)
    stored = api.projects.get_splits(project)
    assert {s.resource_id: s.split_name for s in stored} == {r.id: n for n, p in parts.items() for r in p.records}
    before = max(s.created_at for s in stored)
    again = ImageDataset(project.name, **_kw(server)).split()  # no ratios: the project's splits
    assert {k: sorted(r.id for r in v.records) for k, v in again.items()} == \
        {k: sorted(r.id for r in v.records) for k, v in parts.items()}
    moved = parts["test"].records[0].id
    api.projects.assign_splits([moved], "train", project=project)
    assert api.projects.get_resource_split(moved, project=project).split_name == "train"
    then = {s.resource_id: s.split_name for s in api.projects.get_splits(project, as_of_timestamp=before)}
    assert then[moved] == "test"  # history: the assignment in force back then
    assert len(api.projects.get_splits(project, split_name="train")) == len(parts["train"]) + 1


def test_videos_as_clips_and_as_frames(server, api, videos):
    from datamint.dataset import SlicedVideoDataset, VideoDataset

    rid = api.resources.upload_resource(str(videos["avi"]))
    project = api.projects.create(unique("videos"), "video datasets", resources_ids=[rid])
    api.annotations.add_label_annotation(rid, "motion", frame_index=2)
    clips = VideoDataset(project.name, **_kw(server))
    assert type(build_dataset(project.name, **_kw(server))).__name__ == "VideoDataset"
    clip = clips[0]
    assert clip["image"].shape == (3, 6, 32, 48) and clip["frame_labels"][:, 0].tolist() == [0, 0, 1, 0, 0, 0]
    assert abs(float(clip["image"][:, 3].float().mean()) - 90) < 8  # frame k is a flat gray of 30 * k
    frames = SlicedVideoDataset(project.name, **_kw(server))
    assert len(frames) == 6 and frames[4]["image"].shape == (3, 32, 48)
    assert frames[2]["frame_labels"].tolist() == [1.0] and frames[1]["frame_labels"].tolist() == [0.0]


def test_worklists_choose_the_label_schema(server, sample):
    project = sample.project
    by_id = VolumeDataset(project.name, worklists=[project.worklist_id], **_kw(server))
    assert by_id.segmentation_labels == ["background", "liver", "tumor", "lesion"]
    assert by_id.image_category_names == {"quality": ["good", "poor"]}
    own = {"id": "local", "segmentation_group": {"tumor": {"index": 1}}, "annotations": []}
    chosen = VolumeDataset(project.name, worklists=[own], **_kw(server))
    assert chosen.segmentation_labels == ["background", "tumor", "liver"]  # undeclared names follow
    assert chosen.image_category_names == {}
    inferred = VolumeDataset(project.name, worklists=None, **_kw(server))
    assert inferred.segmentation_labels == ["background", "liver", "tumor"]
    with pytest.raises(DatamintDatasetException, match="No worklist 'nope'"):
        len(VolumeDataset(project.name, worklists=["nope"], **_kw(server)))
