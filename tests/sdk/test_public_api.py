"""The public surface: every ``__all__`` is sorted and names things that exist; seed entry points import."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import datamint


def _modules_with_all() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(datamint.__path__, "datamint."):
        if ".server" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        if hasattr(module, "__all__"):
            names.append(info.name)
    return names + ["datamint", "datamintapi", "datamintapi.api_handler", "datamintapi.dataset"]


def _isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions — the order ruff's RUF022 keeps."""
    return (0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("name", _modules_with_all())
def test_all_is_sorted_and_complete(name):
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_key), f"{name}.__all__ is not sorted"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes {missing}"


def test_seed_module_paths_import():
    import datamint.api.endpoints as endpoints
    from datamint.api.base_api import ApiConfig, BaseApi
    from datamint.api.endpoints.annotations_api import AnnotationsApi
    from datamint.api.endpoints.annotationsets_api import AnnotationSetsApi
    from datamint.api.endpoints.channels_api import ChannelsApi
    from datamint.api.endpoints.projects_api import ProjectsApi
    from datamint.api.endpoints.resources_api import ResourceFields, ResourcesApi, ResourceStatus
    from datamint.api.endpoints.users_api import UsersApi
    from datamint.api.entity_base_api import (
        CreatableEntityApi,
        CRUDEntityApi,
        DeletableEntityApi,
        EntityBaseApi,
        UpdatableEntityApi,
    )
    from datamintapi import APIHandler, Dataset

    seed_handlers = {AnnotationsApi, AnnotationSetsApi, ChannelsApi, ProjectsApi, ResourcesApi, UsersApi}
    assert seed_handlers <= {getattr(endpoints, name) for name in endpoints.__all__}
    assert AnnotationSetsApi.ENDPOINT_BASE == "/annotationsets"
    from datamint.api.endpoints import AnnotationWorklistApi

    assert AnnotationWorklistApi is AnnotationSetsApi
    assert issubclass(CRUDEntityApi, CreatableEntityApi) and issubclass(CRUDEntityApi, UpdatableEntityApi)
    assert issubclass(CRUDEntityApi, DeletableEntityApi) and issubclass(EntityBaseApi, BaseApi)
    assert issubclass(ProjectsApi, CRUDEntityApi) and issubclass(UsersApi, CreatableEntityApi)
    assert issubclass(ResourcesApi, CreatableEntityApi) and issubclass(ResourcesApi, DeletableEntityApi)
    assert issubclass(AnnotationsApi, CreatableEntityApi) and issubclass(ChannelsApi, EntityBaseApi)
    assert set(ResourceFields.__args__) == {"modality", "created_by", "published_by", "published_on",  # type: ignore[attr-defined]
                                            "filename", "created_at"}
    assert set(ResourceStatus.__args__) == {"new", "inbox", "published", "archived"}  # type: ignore[attr-defined]
    assert ApiConfig("http://x").max_retries == 3 and ApiConfig("http://x").timeout == 30.0
    assert callable(APIHandler) and callable(Dataset) and datamint.Dataset is Dataset
    from datamintapi.api_handler import APIHandler as GuideAPIHandler
    from datamintapi.dataset import DatamintDataset

    assert GuideAPIHandler is APIHandler and DatamintDataset is Dataset
