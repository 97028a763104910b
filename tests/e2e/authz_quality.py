"""Label-quality routes in the authorization matrix (see tests/e2e/authz_world.py): label sets,
label statuses, issues and workunits of project ``P``.

Destructive or state-changing routes get fresh entities per call: a registered label set to
delete, a resource of ``P`` whose label status is still ``unlabeled``, an issue opened by the
admin to close or delete.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from authz_annotations import _annotation, _project_resource, worklist_id

from datamint.server.annotations.models import LabelSet
from datamint.server.quality.models import Issue
from datamint.server.resources import repository as resources_repo

if TYPE_CHECKING:
    from authz_world import Request, World


def _req(**kwargs: Any) -> Request:
    from authz_world import Request

    return Request(**kwargs)


def _fresh_label_set(w: World) -> str:
    name = f"set-{uuid.uuid4().hex[:8]}"
    with w.db.transaction() as s:
        s.add(LabelSet(customer_id=w.customer_id, project_id=w.project_id, name=name, description="",
                       created_by=w.actors["manager"].email or ""))
    return name


def _fresh_project_resource(w: World) -> str:
    rid = w.fresh_resource()
    with w.db.transaction() as s:
        resources_repo.add_to_project(s, w.project_id, [rid], "matrix")
    return rid


def _fresh_issue(w: World) -> str:
    admin = w.actors["admin"]
    with w.db.transaction() as s:
        issue = Issue(customer_id=w.customer_id, project_id=w.project_id, resource_id=_project_resource(w),
                      description="matrix", status="open", created_by=admin.email or "",
                      created_by_id=admin.user_id or "")
        s.add(issue)
        s.flush()
        return issue.id


def _promotable(w: World) -> str:
    """An admin's annotation in P (each caller promotes its own fresh one)."""
    return _annotation(w)


def quality_defaults(w: World) -> dict[str, str]:
    """Path parameters of the label-quality routes: ``name`` (a label set) and ``issue_id``."""
    if not hasattr(w, "_quality_issue"):
        w._quality_issue = _fresh_issue(w)  # type: ignore[attr-defined]
    return {"name": "ground-truth", "issue_id": w._quality_issue}  # type: ignore[attr-defined]


QUALITY_REQUESTS: dict[str, Any] = {
    "POST /projects/{project_id}/labelsets":
        lambda w, a: _req(json={"name": f"set-{uuid.uuid4().hex[:8]}", "description": "matrix"}),
    "DELETE /projects/{project_id}/labelsets/{name}": lambda w, a: _req(params={"name": _fresh_label_set(w)}),
    "POST /projects/{project_id}/labelsets/{name}/promote":
        lambda w, a: _req(params={"name": "model:matrix"}, json={"to": "ground-truth",
                                                                  "resource_ids": [_project_resource(w)]}),
    "POST /annotations/{annotation_id}/promote":
        lambda w, a: _req(params={"annotation_id": _promotable(w)}, json={"to": "consensus"}),
    "GET /projects/{project_id}/resources/{resource_id}/label-status":
        lambda w, a: _req(params={"resource_id": _project_resource(w)}),
    "PUT /projects/{project_id}/resources/{resource_id}/label-status":
        lambda w, a: _req(params={"resource_id": _fresh_project_resource(w)}, json={"status": "labeled"}),
    "POST /resources/{resource_id}/issues":
        lambda w, a: _req(params={"resource_id": _project_resource(w)},
                          json={"description": "matrix", "project_id": w.project_id}
                          if a.name in ("annotator", "reviewer", "manager", "admin") else {"description": "m"}),
    "GET /resources/{resource_id}/issues": lambda w, a: _req(params={"resource_id": _project_resource(w)}),
    "PATCH /issues/{issue_id}": lambda w, a: _req(params={"issue_id": _fresh_issue(w)}, json={"status": "closed"}),
    "POST /issues/{issue_id}/comments": lambda w, a: _req(json={"text": "matrix"}),
    "DELETE /issues/{issue_id}": lambda w, a: _req(params={"issue_id": _fresh_issue(w)}),
    "POST /projects/{project_id}/clone": lambda w, a: _req(json={"name": f"clone-{uuid.uuid4().hex[:8]}"}),
    "POST /annotationsets/{worklist_id}/consensus":
        lambda w, a: _req(json={"method": "majority", "resource_ids": [_project_resource(w)]}),
    "POST /projects/{project_id}/resources/{resource_id}/workunits":
        lambda w, a: _req(params={"resource_id": _project_resource(w)},
                          json={"seconds": 3, "worklist_id": worklist_id(w)}),
}
