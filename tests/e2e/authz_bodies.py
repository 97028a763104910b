"""Ids in request bodies and conflict answers in the authorization matrix (see
tests/e2e/test_authorization_bodies.py and the bodies and conflicts tables of docs/permissions.md).

:func:`strangers` creates the entities a body may name but the caller must not reach: one of each
kind in the other organization, and in project ``Q`` of the same organization, whose only member
is the organization's admin. :func:`with_field` puts such an id into a valid request. ``CONFLICTS``
builds, per row of the conflicts table, a request that meets that conflict.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from authz_world import PNG, Request, World

from datamint.server.annotations import service as annotation_service
from datamint.server.auth import service as auth_service
from datamint.server.auth.models import User
from datamint.server.auth.schemas import InvitationCreate
from datamint.server.datasets import service as datasets_service
from datamint.server.flows import projects as project_flows
from datamint.server.invitations.service import invite
from datamint.server.projects.models import Project
from datamint.server.projects.schemas import ProjectCreate
from datamint.server.resources import ingest
from datamint.server.resources.receive import ReceivedFile
from datamint.server.worklists import service as worklist_service


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Stranger:
    """Entities of one kind of reach, by the name the bodies table uses in *Refers to*."""

    ids: dict[str, str]
    secret: str
    """A description only the entities' owners may read (it must never reach the caller)."""


def _entities(w: World, key: str) -> Stranger:
    """A project (with a description) holding a resource and an annotation in its default worklist."""
    secret = _unique("secret description")
    session = w.db.session()
    try:
        me = auth_service.authenticate(session, key)
        upload = ReceivedFile("s.png", "image/png", buffer=io.BytesIO(PNG), size=len(PNG))
        resource = ingest.ingest(session, w.store, me, upload, ingest.UploadForm(filename="s.png"))["id"]
        project = project_flows.create_project(session, me, ProjectCreate(name=_unique("stranger"),
                                                                            description=secret,
                                                                            resource_ids=[resource]))
        worklist = worklist_service.default_worklist(session, project).id
        (annotation,) = annotation_service.create(session, me, resource, [
            {"type": "label", "identifier": "s", "annotation_worklist_id": worklist}])
        ids = {"resource": resource, "project": project.id, "worklist": worklist, "annotation": annotation,
               "dataset": project.dataset_id, "user": me.email}
        session.commit()
        return Stranger(ids, secret)
    finally:
        session.close()


def strangers(w: World) -> dict[str, Stranger]:
    """``{"other org": ..., "hidden": ...}``: entities of the other organization, and of project
    ``Q`` of the world's organization (created by its admin; no other member)."""
    if not hasattr(w, "_strangers"):
        w._strangers = {"other org": _entities(w, w.actors["other org admin"].key or ""),  # type: ignore[attr-defined]
                        "hidden": _entities(w, w.actors["admin"].key or "")}
    return w._strangers  # type: ignore[attr-defined]


def _set(container: Any, path: list[str], value: str) -> None:
    head, rest = path[0], path[1:]
    listed = head.endswith("[]")
    name = head[:-2] if listed else head
    if not rest:
        container[name] = [value] if listed else value
        return
    child = container.setdefault(name, {} if not listed else [{}])
    for item in (child if listed else [child]):
        _set(item, rest, value)


def with_field(req: Request, body_field: str, value: str) -> Request:
    """``req`` with ``body_field`` (the bodies table's syntax) holding ``value``."""
    if body_field.startswith("form:"):
        name, _, inner = body_field[5:].partition("[].")
        files = dict(req.files or {})
        if inner:  # an id inside the JSON of a form field
            items = json.loads(files[name][1])
            items[0][inner] = value
            files[name] = (None, json.dumps(items))
        else:
            files[name] = (None, value)
        return replace(req, files=files)
    body = json.loads(json.dumps(req.json if req.json is not None else {}))
    if body_field.startswith("[]."):
        for item in body:
            _set(item, body_field[3:].split("."), value)
    else:
        _set(body, body_field.split("."), value)
    return replace(req, json=body)


# -- conflicts ------------------------------------------------------------------------------------


@dataclass
class Conflict:
    """A request that meets one conflict, and what its answer must (not) show."""

    actor: str
    method: str
    url: str
    json: Any = None
    existing_id: str | None = None
    """The id the 409's ``existing`` must carry (None: no ``existing``)."""
    hidden: list[str] = field(default_factory=list)
    """Strings that must not appear anywhere in the answer."""


def _project_name(w: World, project_id: str) -> str:
    with w.db.transaction() as s:
        return s.get(Project, project_id).name  # type: ignore[union-attr]


def _other_org_user(w: World) -> str:
    """The email of a new user of the other organization."""
    with w.db.transaction() as s:
        other = auth_service.authenticate(s, w.actors["other org admin"].key)
        return auth_service.new_user(s, other.customer_id, f"{_unique('twin')}@m.test", None, None, None, None).email


def _invited(w: World) -> str:
    with w.db.transaction() as s:
        body = InvitationCreate(email=f"{_unique('inv')}@m.test")
        return invite(s, w._principal(s, "admin"), body, "http://testserver", timedelta(hours=1))["email"]


def _accept_taken(w: World) -> Conflict:
    with w.db.transaction() as s:
        admin = w._principal(s, "admin")
        made = invite(s, admin, InvitationCreate(email=f"{_unique('late')}@m.test"), "http://t", timedelta(hours=1))
        auth_service.new_user(s, admin.customer_id, made["email"], None, None, None, None)
    return Conflict("anonymous", "POST", "/invitations/accept", {"token": made["token"]})


def _named_key(w: World, user_id: str) -> tuple[str, str]:
    name = _unique("key")
    with w.db.transaction() as s:
        key, _ = auth_service.issue_key(s, s.get(User, user_id), name=name)
        return name, key.id


def _own_key_conflict(w: World) -> Conflict:
    name, key_id = _named_key(w, w.actors["member"].user_id or "")
    return Conflict("member", "POST", "/users/me/api-keys", {"name": name}, existing_id=key_id)


def _user_key_conflict(w: World) -> Conflict:
    name, key_id = _named_key(w, w.target_id)
    return Conflict("admin", "POST", f"/users/{w.target_email}/api-keys", {"name": name}, existing_id=key_id)


def _version_conflict(w: World) -> Conflict:
    from authz_datasets import VERSION, dataset_defaults

    dataset_id = dataset_defaults(w)["dataset_id"]
    with w.db.transaction() as s:
        admin = w._principal(s, "admin")
        existing = datasets_service.get_version(s, admin, dataset_id, VERSION).id
    return Conflict("manager", "POST", f"/datasets/{dataset_id}/versions", {"name": VERSION}, existing_id=existing)


def _sole_manager(w: World) -> tuple[str, str]:
    """A new project whose only manager is the ``manager`` actor; (project id, manager's user id)."""
    return w.fresh_project(), w.actors["manager"].user_id or ""


def _user_managing_alone(w: World) -> str:
    """A new user who alone manages a new project; its email."""
    user = w.fresh_user()
    with w.db.transaction() as s:
        me = auth_service.Principal(user.id, user.email, w.customer_id, ("member",))
        project_flows.create_project(s, me, ProjectCreate(name=_unique("solo")))
    return user.email


def _admin_email(w: World) -> str:
    return w.actors["admin"].email or ""


#: ``(METHOD /path, conflict)`` of the conflicts table → a request that meets it.
CONFLICTS: dict[tuple[str, str], Callable[[World], Conflict]] = {
    ("POST /projects", "the name of a project the caller sees"):
        lambda w: Conflict("manager", "POST", "/projects", {"name": _project_name(w, w.project_id)},
                           existing_id=w.project_id),
    ("POST /projects", "the name of a project the caller does not see"):
        lambda w: Conflict("member", "POST", "/projects",
                           {"name": _project_name(w, strangers(w)["hidden"].ids["project"])},
                           hidden=[strangers(w)["hidden"].ids["project"], strangers(w)["hidden"].secret]),
    ("PATCH /projects/{project_id}", "the name of a project the caller sees"):
        lambda w: Conflict("admin", "PATCH", f"/projects/{w.project_id}",
                           {"name": _project_name(w, strangers(w)["hidden"].ids["project"])},
                           existing_id=strangers(w)["hidden"].ids["project"]),
    ("PATCH /projects/{project_id}", "the name of a project the caller does not see"):
        lambda w: Conflict("manager", "PATCH", f"/projects/{w.project_id}",
                           {"name": _project_name(w, strangers(w)["hidden"].ids["project"])},
                           hidden=[strangers(w)["hidden"].ids["project"], strangers(w)["hidden"].secret]),
    ("POST /users", "the email of a user of the organization"):
        lambda w: Conflict("admin", "POST", "/users", {"email": w.target_email.upper()}, existing_id=w.target_id),
    ("POST /users", "the email of a user of another organization"):
        lambda w: Conflict("admin", "POST", "/users", {"email": _other_org_user(w)}),
    ("POST /users/invite", "the email of a user of the organization"):
        lambda w: Conflict("admin", "POST", "/users/invite", {"email": w.target_email}, existing_id=w.target_id),
    ("POST /users/invite", "the email of a user of another organization"):
        lambda w: Conflict("admin", "POST", "/users/invite", {"email": _other_org_user(w)}),
    ("POST /users/invite", "an email with an open invitation (it is replaced)"):
        lambda w: Conflict("admin", "POST", "/users/invite", {"email": _invited(w)}),
    ("POST /invitations/accept", "the organization has an account with the email"): _accept_taken,
    ("POST /users/me/api-keys", "the name of one of the caller's active keys"): _own_key_conflict,
    ("POST /users/{email}/api-keys", "the name of one of the user's active keys"): _user_key_conflict,
    ("POST /datasets/{dataset_id}/versions", "the name of a version of the dataset"): _version_conflict,
    ("PATCH /users/{email}", "demoting the organization's last admin"):
        lambda w: Conflict("admin", "PATCH", f"/users/{_admin_email(w)}", {"roles": ["member"]}),
    ("DELETE /users/{email}", "deleting the last manager of a project"):
        lambda w: Conflict("admin", "DELETE", f"/users/{_user_managing_alone(w)}"),
    ("POST /projects/{project_id}/members/{user_id}", "demoting the project's last manager"):
        lambda w: (lambda p, u: Conflict("manager", "POST", f"/projects/{p}/members/{u}",
                                         {"roles": ["PROJECT_ANNOTATOR"]}))(*_sole_manager(w)),
    ("DELETE /projects/{project_id}/members/{user_id}", "removing the project's last manager"):
        lambda w: (lambda p, u: Conflict("manager", "DELETE", f"/projects/{p}/members/{u}"))(*_sole_manager(w)),
}
