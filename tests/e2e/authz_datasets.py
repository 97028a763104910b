"""Dataset, version, archive and split routes in the authorization matrix: the entities they act
on and a valid request per route (see tests/e2e/authz_world.py).

Project ``P`` gets the world's resource (with a split) and a version named ``matrix`` that the
read routes use; destructive routes (delete a dataset, delete a version) and single-use download
tokens get fresh entities per call.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from datamint.server.datasets import download, splits
from datamint.server.datasets import service as datasets_service
from datamint.server.projects.models import Project
from datamint.server.resources import repository as resources_repo

if TYPE_CHECKING:
    from authz_world import Request, World

VERSION = "matrix"


def _cache(w: World) -> dict[str, Any]:
    if not hasattr(w, "_dataset_cache"):
        w._dataset_cache = {}  # type: ignore[attr-defined]
    return w._dataset_cache  # type: ignore[attr-defined]


def _dataset_of(w: World, project_id: str) -> str:
    with w.db.transaction() as s:
        return s.scalar(select(Project.dataset_id).where(Project.id == project_id))


def dataset_defaults(w: World) -> dict[str, str]:
    """Defaults of the path parameters of the dataset routes (project ``P``'s dataset and version)."""
    cache = _cache(w)
    if "dataset_id" not in cache:
        session = w.db.session()
        try:
            manager = w._principal(session, "manager")
            project = session.get(Project, w.project_id)
            resources_repo.add_to_project(session, project.id, [w.resource_id], manager.email)
            session.flush()
            splits.assign(session, manager, project.id, [w.resource_id], "val")
            content = datasets_service.create_version(session, w.store, manager, project.dataset_id, VERSION, None)
            session.commit()
            cache.update(dataset_id=project.dataset_id, sha256=content.resources[0].sha256)
        finally:
            session.close()
    return {"dataset_id": cache["dataset_id"], "ref": VERSION, "sha256": cache["sha256"], "fmt": "dicom",
            "token": "unused"}


def _req(**kwargs: Any) -> Request:
    from authz_world import Request

    return Request(**kwargs)


def _token(w: World, a: Any) -> Request:
    dataset_id = dataset_defaults(w)["dataset_id"]
    with w.db.transaction() as s:
        token = download.issue_token(s, w._principal(s, "admin"), dataset_id, "dicom", VERSION)
    return _req(params={"token": token})


def _fresh_version(w: World, a: Any) -> Request:
    dataset_id = dataset_defaults(w)["dataset_id"]
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    session = w.db.session()
    try:
        datasets_service.create_version(session, w.store, w._principal(session, "admin"), dataset_id, name, None)
        session.commit()
    finally:
        session.close()
    return _req(params={"ref": name})


DATASET_REQUESTS: dict[str, Any] = {
    "GET /datasets/download/{token}": _token,
    "DELETE /datasets/{dataset_id}": lambda w, a: _req(params={"dataset_id": _dataset_of(w, w.fresh_project())}),
    "POST /datasets/{dataset_id}/resources": lambda w, a: _req(json={"resource_ids_to_add": [w.resource_id]}),
    # A fresh dataset per call: the version is built by a background job, which must not race the
    # versions the other rows create on project P's dataset.
    "POST /datasets/{dataset_id}/versions": lambda w, a: _req(params={"dataset_id": _dataset_of(w, w.fresh_project())},
                                                              json={"description": "matrix"}),
    "DELETE /datasets/{dataset_id}/versions/{ref}": _fresh_version,
    "POST /projects/{project_id}/splits": lambda w, a: _req(json={"resource_ids": [w.resource_id],
                                                                  "split_name": "train"}),
}
