"""The legacy ``Dataset`` of the datamintapi guide (seed 002): its two examples run as written (with a
small ToTensor of ours instead of torchvision's) in a DataLoader with 2 workers, plus its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydicom.uid import generate_uid
from torch.utils.data import DataLoader

import datamint
import datamintapi
from datamint import Api
from datamint.dataset import DatamintDatasetException
from fixtures.files import make_ct_slice

from conftest import unique

SIZE = 16
SEXES = ["F", "M", "F", "M", "F", "M"]
FRACTURED = {1, 2, 4}


class ToTensor:
    """What torchvision's ToTensor does for our arrays: (H, W[, C]) → float (C, H, W)."""

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        if image.ndim == 2:
            image = image[:, :, None]
        return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)).astype(np.float32))


class XrayFractureDataset(datamintapi.Dataset):
    """The seed's example, verbatim apart from the class it reads."""

    def __getitem__(self, idx):
        image, dicom_metainfo, metainfo = super().__getitem__(idx)

        # Get all relevant information from the dicom_metainfo object
        patient_sex = dicom_metainfo.PatientSex

        # Get all relevant information from the metainfo object
        has_fracture = "fracture" in metainfo["labels"]
        has_fracture = torch.tensor(has_fracture, dtype=torch.int32)

        return image, patient_sex, has_fracture


def test_the_guide_class_path_is_the_dataset():
    import datamintapi.dataset

    assert datamintapi.dataset.DatamintDataset is datamintapi.Dataset is datamint.Dataset
    assert issubclass(XrayFractureDataset, datamintapi.dataset.DatamintDataset)


@pytest.fixture(scope="module")
def xrays(server, tmp_path_factory):
    """Six single-frame DICOM images (patients F/M alternating); three are labelled 'fracture'."""
    api = Api(server.url, server.admin_key)
    folder = tmp_path_factory.mktemp("xrays")
    paths, expected = [], {}
    for i, sex in enumerate(SEXES):
        ds = make_ct_slice(0, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid(),
                           size=SIZE, patient=f"Patient^{i}")
        ds.PatientSex, ds.PatientID = sex, f"P{i}"
        ds.PixelData = (np.full((SIZE, SIZE), 10 * i, dtype="<i2")).tobytes()
        path = folder / f"xray{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(str(path))
    ids = api.resources.upload_resources(paths, anonymize=False, assemble_dicoms=False)
    project = api.projects.create(unique("TestCTdataset"), "legacy dataset")
    api.projects.add_resources(ids, project)
    for i, rid in enumerate(ids):
        if i in FRACTURED:
            api.annotations.add_label_annotation(rid, "fracture")
        expected[10 * i] = (SEXES[i], int(i in FRACTURED))
    api.datasets.create_version(project.dataset_id)
    yield project, expected
    api.close()


def test_seed_example_subclass_in_a_dataloader_with_two_workers(server, xrays, tmp_path):
    project, expected = xrays
    dataset = XrayFractureDataset(root=str(tmp_path / "data"), dataset_name=project.name, version="latest",
                                  api_key=server.admin_key, server_url=server.url, transform=ToTensor())
    dataloader = DataLoader(dataset, batch_size=4, shuffle=True, num_workers=2)
    seen = {}
    for images, patients_sex, labels in dataloader:
        assert images.shape[1:] == (1, SIZE, SIZE) and images.dtype == torch.float32
        assert labels.dtype == torch.int32
        for image, sex, label in zip(images, patients_sex, labels, strict=True):
            seen[int(image[0, 0, 0])] = (sex, int(label))
    assert seen == expected


def test_seed_example_with_collate_fn_loads_all_data_and_metadata(server, xrays, tmp_path):
    project, expected = xrays
    device = torch.device("cpu")
    dataset = datamint.Dataset(root=str(tmp_path / "data"), dataset_name=project.name, version="latest",
                               api_key=server.admin_key, server_url=server.url, transform=ToTensor())

    def collate_fn(batch):
        images = [item[0] for item in batch]
        dicom_metainfo = [item[1] for item in batch]
        metainfo = [item[2] for item in batch]

        return torch.stack(images), dicom_metainfo, metainfo

    dataloader = DataLoader(dataset, batch_size=4, collate_fn=collate_fn, shuffle=True, num_workers=2)
    count = 0
    for images, dicom_metainfo, metainfo in dataloader:
        images = images.to(device)
        for image, header, info in zip(images, dicom_metainfo, metainfo, strict=True):
            sex, fractured = expected[int(image[0, 0, 0])]
            assert header.PatientSex == sex and "PixelData" not in header
            assert ("fracture" in info["labels"]) == bool(fractured)
            assert info["mimetype"] == "application/dicom" and len(info["sha256"]) == 64
            count += 1
    assert count == len(SEXES) and dataset.labels_set == ["fracture"]


def test_without_transform_images_are_channel_first_tensors(server, xrays, tmp_path):
    project, _ = xrays
    dataset = datamint.Dataset(tmp_path / "d", project.name, api_key=server.admin_key, server_url=server.url)
    image, header, info = dataset[0]
    assert isinstance(image, torch.Tensor) and image.shape == (1, SIZE, SIZE) and image.dtype == torch.int16
    assert info["version"] == 1 and "Dataset(" in repr(dataset)


def test_clear_errors(server, xrays, tmp_path):
    project, _ = xrays
    kw = {"api_key": server.admin_key, "server_url": server.url}
    with pytest.raises(DatamintDatasetException, match="No dataset named 'no-such-dataset'.*project"):
        datamint.Dataset(tmp_path, "no-such-dataset", **kw)
    with pytest.raises(DatamintDatasetException, match="has no version '42'"):
        datamint.Dataset(tmp_path, project.name, version=42, **kw)
    with pytest.raises(DatamintDatasetException, match="not downloaded yet.*download=True"):
        datamint.Dataset(tmp_path / "empty", project.name, download=False)


def test_latest_of_a_never_versioned_dataset_freezes_version_1(server, xrays, tmp_path, caplog):
    """The seed 002 flow as written: upload, then Dataset(root, name, version='latest')."""
    api = Api(server.url, server.admin_key)
    project, _ = xrays
    ids = [r.id for r in api.projects.get_project_resources(project)]
    fresh = api.projects.create(unique("unversioned"), "no versions", resources_ids=ids[:2])
    with caplog.at_level("WARNING", logger="datamint.dataset.sources"):
        first = datamint.Dataset(tmp_path, fresh.name, api_key=server.admin_key, server_url=server.url)
    assert len(first) == 2 and first.version == 1 and "had no version yet" in caplog.text
    (version,) = api.datasets.get_versions(fresh.dataset_id)
    assert (version.number, version.name, version.resource_count) == (1, "v1", 2)
    api.projects.add_resources(ids[2:3], fresh)
    again = datamint.Dataset(tmp_path, fresh.name, api_key=server.admin_key, server_url=server.url)
    assert len(again) == 2 and [v.number for v in api.datasets.get_versions(fresh.dataset_id)] == [1]

    email, member_key = server.new_user(["member"])
    other = api.projects.create(unique("unversioned"), "no versions", resources_ids=ids[:1])
    api.projects.set_member(other, email, ["PROJECT_REVIEWER"])  # may export, may not create versions
    with pytest.raises(DatamintDatasetException, match="no version yet.*ask a manager"):
        datamint.Dataset(tmp_path, other.name, api_key=member_key, server_url=server.url)
    assert api.datasets.get_versions(other.dataset_id) == []


def test_a_dataset_named_dot_dot_stays_inside_root(server, tmp_path):
    """The folder is named after the dataset (the project's name, chosen by whoever created it): a
    project named '..' made ``Dataset(root, '..')`` fill root's parent with its blobs and manifests."""
    from fixtures.projects import png_image

    api = Api(server.url, server.admin_key)
    resource = api.resources.upload_resource(str(png_image(tmp_path / "dots.png", 3)))
    api.projects.create("..", "a name that is a path", resources_ids=[resource])
    parent = tmp_path / "parent"
    root = parent / "root"
    root.mkdir(parents=True)
    dataset = datamint.Dataset(root, "..", api_key=server.admin_key, server_url=server.url)
    assert len(dataset) == 1 and dataset.dataset_dir == root / "__"
    assert sorted(p.name for p in parent.iterdir()) == ["root"]
    assert sorted(p.name for p in root.iterdir()) == ["__"]
    assert sorted(p.name for p in (root / "__").iterdir()) == ["blobs", "versions"]
