"""Annotation and worklist routes in the authorization matrix: the entities they act on and a
valid request per route (see tests/e2e/authz_world.py).

Project ``P`` gets a PNG resource and a small NIfTI resource, its default worklist is the one
the routes act on, and annotations written by the organization's admin are what non-authors
(reviewers, managers) change or approve. Destructive routes get fresh entities per call.
"""

from __future__ import annotations

import gzip
import io
import json
from typing import TYPE_CHECKING, Any

import numpy as np

from datamint.server.annotations import files
from datamint.server.annotations import service as annotation_service
from datamint.server.annotations.masks import PendingBlobs
from datamint.server.auth.models import User
from datamint.server.projects.models import Project, ProjectMember
from datamint.server.resources import ingest
from datamint.server.resources import repository as resources_repo
from datamint.server.worklists import service as worklist_service
from datamint.server.worklists.models import WorklistAnnotator, WorkStatus
from datamint.server.worklists.schemas import WorklistCreate

if TYPE_CHECKING:
    from authz_world import Request, World


def _nifti() -> bytes:
    import nibabel

    volume = np.zeros((8, 6, 2), np.uint8)
    volume[1, 1, 1] = 1
    return gzip.compress(nibabel.Nifti1Image(volume, np.eye(4)).to_bytes())


NIFTI = _nifti()


def _cache(w: World) -> dict[str, Any]:
    if not hasattr(w, "_annotation_cache"):
        w._annotation_cache = {}  # type: ignore[attr-defined]
    return w._annotation_cache  # type: ignore[attr-defined]


def _admin(w: World, session: Any) -> Any:
    return w._principal(session, "admin")


def _project_resource(w: World, name: str = "png") -> str:
    cache = _cache(w)
    if name not in cache:
        session = w.db.session()
        try:
            admin = _admin(w, session)
            data, filename = (NIFTI, "v.nii.gz") if name == "nifti" else (None, None)
            if data is None:
                rid = w.fresh_resource()
            else:
                form = ingest.UploadForm(filename=filename)
                rid = ingest.ingest(session, w.store, admin, io.BytesIO(data), form)["id"]
            resources_repo.add_to_project(session, w.project_id, [rid], admin.email)
            session.commit()
            cache[name] = rid
        finally:
            session.close()
    return cache[name]


def worklist_id(w: World) -> str:
    """The default worklist of project ``P``."""
    cache = _cache(w)
    if "worklist" not in cache:
        with w.db.transaction() as s:
            project = s.get(Project, w.project_id)
            cache["worklist"] = worklist_service.default_worklist(s, project).id
    return cache["worklist"]


def _annotation(w: World, kind: str = "label", with_file: bool = False) -> str:
    """A new annotation by the admin in P's worklist on P's PNG resource (with a mask if asked)."""
    rid, wid = _project_resource(w), worklist_id(w)
    session = w.db.session()
    try:
        admin = _admin(w, session)
        (aid,) = annotation_service.create(session, admin, rid, [{"type": kind, "identifier": "m",
                                                                  "annotation_worklist_id": wid}])
        session.commit()
        if with_file:
            pending = PendingBlobs(w.store, session, admin.customer_id)
            files.upload_file(session, pending, admin, rid, aid, _png())
            session.commit()
        return aid
    finally:
        session.close()


def _png() -> bytes:
    from authz_world import PNG

    return PNG


def _file_annotation(w: World) -> str:
    cache = _cache(w)
    if "file_annotation" not in cache:
        cache["file_annotation"] = _annotation(w, "segmentation", with_file=True)
    return cache["file_annotation"]


def _fresh_member(w: World) -> User:
    with w.db.transaction() as s:
        user = w._user(s)
        s.add(ProjectMember(project_id=w.project_id, user_id=user.id, roles=["PROJECT_ANNOTATOR"]))
        s.expunge(user)
        return user


def _assigned_annotator(w: World) -> str:
    user = _fresh_member(w)
    with w.db.transaction() as s:
        s.add(WorklistAnnotator(worklist_id=worklist_id(w), user_id=user.id))
    return user.email


def _status_holder(w: World) -> str:
    user = _fresh_member(w)
    with w.db.transaction() as s:
        s.add(WorkStatus(worklist_id=worklist_id(w), resource_id=_project_resource(w), user_id=user.id,
                         status="annotated", updated_by=user.email))
    return user.email


def _labelled_worklist(w: World) -> str:
    session = w.db.session()
    try:
        admin = _admin(w, session)
        body = WorklistCreate(name="labels", project_id=w.project_id,
                              segmentation_data={"definitions": [{"identifier": "lbl"}]})
        created = worklist_service.create(session, admin, body).id
        session.commit()
        return created
    finally:
        session.close()


def annotation_defaults(w: World) -> dict[str, str]:
    """Defaults of the path parameters of the annotation and worklist routes."""
    return {"worklist_id": worklist_id(w), "annotation_id": _file_annotation(w), "user": w.target_email,
            "identifier": "lbl", "kind": "annotations"}


def _req(w: World, **kwargs: Any) -> Request:
    from authz_world import Request

    return Request(**kwargs)


def _on_png(w: World, **kwargs: Any) -> Request:
    params = {"resource_id": _project_resource(w), **kwargs.pop("params", {})}
    return _req(w, params=params, **kwargs)


def _item(w: World) -> list[dict[str, Any]]:
    return [{"type": "label", "identifier": "x", "annotation_worklist_id": worklist_id(w)}]


ANNOTATION_REQUESTS: dict[str, Any] = {
    "POST /annotations/search": lambda w, a: _req(w, json={"resource_id": _project_resource(w)}),
    "POST /annotations/delete-batch": lambda w, a: _req(w, json={"ids": [_annotation(w)]}),
    "PATCH /annotations/{annotation_id}": lambda w, a: _req(w, params={"annotation_id": _annotation(w)},
                                                            json={"identifier": "renamed"}),
    "DELETE /annotations/{annotation_id}": lambda w, a: _req(w, params={"annotation_id": _annotation(w)}),
    "PATCH /annotations/{annotation_id}/approve": lambda w, a: _req(w, params={"annotation_id": _annotation(w)}),
    "POST /annotations/{resource_id}/annotations": lambda w, a: _on_png(w, json=_item(w)),
    "POST /annotations/{resource_id}/annotations/{annotation_id}/file":
        lambda w, a: _on_png(w, params={"annotation_id": _annotation(w, "segmentation")},
                             files={"file": ("m", _png(), "image/png")}),
    "GET /annotations/{resource_id}/annotations/{annotation_id}/file": lambda w, a: _on_png(w),
    "POST /annotations/{resource_id}/segmentations/file":
        lambda w, a: _req(w, params={"resource_id": _project_resource(w, "nifti")},
                          files={"file": ("s.nii.gz", NIFTI, "application/nifti"),
                                 "segmentation_map": (None, json.dumps({"1": "x"})),
                                 "annotation_worklist_id": (None, worklist_id(w))}),
    "PUT /annotations/{resource_id}/frame-ranges":
        lambda w, a: _on_png(w, json={"identifier": "f", "type": "label", "annotation_worklist_id": worklist_id(w),
                                      "values": [{"frame_ranges": [{"start": 0, "end": 1}]}]}),
    "GET /annotations/{resource_id}/frame-ranges": lambda w, a: _on_png(w),
    "POST /annotationsets": lambda w, a: _req(w, json={"name": "m", "resource_ids": [], "project_id": w.project_id}),
    "PATCH /annotationsets/{worklist_id}": lambda w, a: _req(w, json={"description": "changed"}),
    "PUT /annotationsets/{worklist_id}/segmentation-group":
        lambda w, a: _req(w, params={"worklist_id": _labelled_worklist(w)},
                          json={"segmentationData": {"definitions": [{"identifier": "lbl"}]}}),
    "DELETE /annotationsets/{worklist_id}/segmentation-group/{identifier}":
        lambda w, a: _req(w, params={"worklist_id": _labelled_worklist(w)}),
    "POST /annotationsets/{worklist_id}/segmentation-group/upload":
        lambda w, a: _req(w, params={"worklist_id": _labelled_worklist(w)},
                          files={"file": ("l.yaml", b"segmentation_names: [lbl]", "text/yaml")}),
    "POST /annotationsets/{worklist_id}/resources":
        lambda w, a: _req(w, json={"resource_ids_to_add": [_project_resource(w)]}),
    "POST /annotationsets/{worklist_id}/annotators/{user}": lambda w, a: _req(w, json={}),
    "DELETE /annotationsets/{worklist_id}/annotators/{user}":
        lambda w, a: _req(w, params={"user": _assigned_annotator(w)}),
    "POST /annotationsets/{worklist_id}/resources/{resource_id}/status":
        lambda w, a: _on_png(w, json={"status": "opened"}),
    "DELETE /annotationsets/{worklist_id}/resources/{resource_id}/annotator/{email}/status-reset":
        lambda w, a: _on_png(w, params={"email": _status_holder(w)}),
    "GET /annotationsets/{worklist_id}/resources/{resource_id}/{kind}": lambda w, a: _on_png(w),
    "POST /annotationsets/{worklist_id}/resources/{resource_id}/segmentations":
        lambda w, a: _on_png(w, files={"payload": (None, json.dumps([{"identifier": "s", "frame_index": 0}])),
                                       "images": ("m.png", _png(), "image/png")}),
    "POST /projects/{project_id}/resources/{resource_id}/status": lambda w, a: _on_png(w, json={"status": "opened"}),
    "DELETE /projects/{project_id}/resources/{resource_id}/annotator/{email}/status-reset":
        lambda w, a: _on_png(w, params={"email": _status_holder(w)}),
}
