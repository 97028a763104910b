"""The world the authorization matrix test acts in, and how it builds a valid request per route.

:class:`World` creates (directly in the database, for speed) a fresh organization with an admin,
four members (one without project role, an annotator, a reviewer, a manager of project ``P``),
a user whose key is revoked, and another organization's admin. ``REQUESTS`` holds a builder for
each route that needs more than the default path parameters: a body, or a fresh entity for a
destructive route (so that every caller acts on an entity in the same state).

To cover a new route: add its row to docs/permissions.md; add a default for a new path parameter
in :meth:`World.path_defaults`; add a builder to ``REQUESTS`` if it needs a body or a fresh entity.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from datamint.server.auth import repository as auth_repo
from datamint.server.auth import service as auth_service
from datamint.server.auth.models import User
from datamint.server.auth.schemas import InvitationCreate
from datamint.server.db.base import utcnow
from datamint.server.flows import projects as project_flows
from datamint.server.invitations.service import invite
from datamint.server.projects import service as project_service
from datamint.server.projects.models import ProjectMember
from datamint.server.projects.schemas import ProjectCreate
from datamint.server.resources import ingest
from datamint.server.resources import service as resource_service
from datamint.server.resources.receive import ReceivedFile

PROJECT_ROLE = {"annotator": "PROJECT_ANNOTATOR", "reviewer": "PROJECT_REVIEWER",
                "manager": "PROJECT_MANAGER"}


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Actor:
    """One kind of caller: its column name in the table, its key, and its user (if any)."""

    name: str
    key: str | None
    user_id: str | None = None
    email: str | None = None


@dataclass
class Request:
    """What to send: path parameters, JSON body, query parameters and multipart files."""

    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    query: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    content: bytes | None = None
    headers: dict[str, str] | None = None


def _png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 6), 128).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


def _ct_slice() -> bytes:
    """A small single-frame CT instance (a series upload of one file stores it as it is)."""
    from pydicom.uid import generate_uid

    from imaging_data import make_ct_slice, to_bytes

    return to_bytes(make_ct_slice(0, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid(),
                                  size=4))


class World:
    """Organizations, users, keys and a project for the matrix; ``fresh_*`` make new entities."""

    def __init__(self, server: Any) -> None:
        self.db = server.database
        self.store = server.app.state.blob_store
        self.actors: dict[str, Actor] = {}
        with self.db.transaction() as s:
            org, admin, admin_key = auth_service.create_organization(s, _unique("matrix"),
                                                                     f"{_unique('adm')}@m.test")
            self.customer_id = org.id
            self.actors["admin"] = Actor("admin", admin_key, admin.id, admin.email)
            for name in ("member", "annotator", "reviewer", "manager", "revoked key"):
                user = self._user(s)
                _, key = auth_service.issue_key(s, user)
                self.actors[name] = Actor(name, key, user.id, user.email)
            revoked, _ = auth_repo.get_key_with_user(s, auth_service.hash_api_key(self.actors["revoked key"].key))
            revoked.revoked_at = utcnow()
            self.target = self._user(s)
        self.actors["anonymous"] = Actor("anonymous", None)
        self.actors["wrong key"] = Actor("wrong key", "dmk_" + uuid.uuid4().hex * 2)
        other_key = server.new_org()
        with self.db.transaction() as s:
            other = auth_service.authenticate(s, other_key)
        self.actors["other org admin"] = Actor("other org admin", other_key, other.user_id, other.email)
        self.project_id = self.fresh_project()
        self.target_id, self.target_email = self.target.id, self.target.email
        self.resource_id = self.fresh_resource()

    # -- setup helpers -------------------------------------------------------------------------

    def _user(self, s: Any) -> User:
        """A member of the organization, without a password (none is needed here)."""
        user = User(customer_id=self.customer_id, email=f"{_unique('u')}@m.test", roles=["member"])
        s.add(user)
        s.flush()
        return user

    def _principal(self, s: Any, actor: str) -> auth_service.Principal:
        return auth_service.authenticate(s, self.actors[actor].key)

    def path_defaults(self) -> dict[str, str]:
        """The value of each path parameter when a route's builder does not set it."""
        from authz_annotations import annotation_defaults
        from authz_datasets import dataset_defaults
        from authz_dicom import dicom_defaults
        from authz_formats import format_defaults
        from authz_jobs import job_defaults
        from authz_models import model_defaults
        from authz_quality import quality_defaults

        return {"project_id": self.project_id, "email": self.target_email, "user_id": self.target_id,
                "resource_id": self.resource_id, "frame_index": "0", "plane": "axial", "index": "0",
                **annotation_defaults(self), **dataset_defaults(self), **dicom_defaults(self),
                **job_defaults(self), **model_defaults(self), **format_defaults(self), **quality_defaults(self)}

    def fresh_user(self) -> User:
        """A new member of the organization, in no project."""
        with self.db.transaction() as s:
            return self._user(s)

    def fresh_project(self, archived: bool = False) -> str:
        """A new project where annotator, reviewer and manager hold their roles."""
        with self.db.transaction() as s:
            manager = self._principal(s, "manager")
            project = project_flows.create_project(s, manager, ProjectCreate(name=_unique("p")))
            for actor in ("annotator", "reviewer"):
                s.add(ProjectMember(project_id=project.id, user_id=self.actors[actor].user_id,
                                    roles=[PROJECT_ROLE[actor]]))
            if archived:
                project_service.archive_project(s, manager, project.id)
            return project.id

    def fresh_resource(self, deleted: bool = False) -> str:
        """A new PNG resource uploaded by the admin (soft-deleted when asked); its id."""
        session = self.db.session()
        try:
            admin = self._principal(session, "admin")
            upload = ReceivedFile("m.png", "image/png", buffer=io.BytesIO(PNG), size=len(PNG))
            created = ingest.ingest(session, self.store, admin, upload, ingest.UploadForm(filename="m.png"))
            if deleted:
                resource_service.delete(session, admin, [created["id"]])
                session.commit()
            return created["id"]
        finally:
            session.close()

    def fresh_member(self) -> str:
        """A new user who is an annotator of project ``P``; its id."""
        with self.db.transaction() as s:
            user = self._user(s)
            s.add(ProjectMember(project_id=self.project_id, user_id=user.id, roles=["PROJECT_ANNOTATOR"]))
            return user.id

    def fresh_key(self, user_id: str) -> str:
        """A new API key of ``user_id``; the key's id."""
        with self.db.transaction() as s:
            key, _ = auth_service.issue_key(s, auth_repo.get_user(s, user_id))
            return key.id

    def fresh_invitation(self) -> tuple[str, str]:
        """A new invitation into project ``P``; (email, token)."""
        with self.db.transaction() as s:
            body = InvitationCreate(email=f"{_unique('inv')}@m.test", project_id=self.project_id)
            result = invite(s, self._principal(s, "admin"), body, "http://testserver", timedelta(hours=1))
            return result["email"], result["token"]


def _own_key(w: World, a: Actor) -> Request:
    return Request({"key_id": w.fresh_key(a.user_id or w.actors["admin"].user_id or "")})


def _invitation_email(w: World, a: Actor) -> Request:
    return Request({"email": w.fresh_invitation()[0]})


def _accept(w: World, a: Actor) -> Request:
    return Request(json={"token": w.fresh_invitation()[1], "password": "correct horse battery"})


#: ``METHOD /path`` → builder of a valid request for one caller.
REQUESTS: dict[str, Callable[[World, Actor], Request]] = {
    "POST /users": lambda w, a: Request(json={"email": f"{_unique('new')}@m.test"}),
    "PATCH /users/{email}": lambda w, a: Request(json={"firstname": "Changed"}),
    "DELETE /users/{email}": lambda w, a: Request({"email": w.fresh_user().email}),
    "POST /users/invite": lambda w, a: Request(json={"email": f"{_unique('inv')}@m.test",
                                                     "project_id": w.project_id,
                                                     "project_roles": ["PROJECT_REVIEWER"]}),
    "DELETE /users/invitations/{email}/revoke": _invitation_email,
    "POST /invitations/accept": _accept,
    "POST /invitations/describe": lambda w, a: Request(json={"token": w.fresh_invitation()[1]}),
    "POST /auth/session": lambda w, a: Request(json={"api_key": w.actors["member"].key}),
    "POST /users/me/api-keys": lambda w, a: Request(json={"name": "matrix"}),
    "DELETE /users/me/api-keys/{key_id}": _own_key,
    "POST /users/{email}/api-keys": lambda w, a: Request(json={"name": "matrix"}),
    "DELETE /users/{email}/api-keys/{key_id}": lambda w, a: Request({"key_id": w.fresh_key(w.target_id)}),
    "POST /projects": lambda w, a: Request(json={"name": _unique("proj")}),
    "PATCH /projects/{project_id}": lambda w, a: Request(json={"description": "changed"}),
    "DELETE /projects/{project_id}": lambda w, a: Request({"project_id": w.fresh_project()}),
    "POST /projects/{project_id}/restore": lambda w, a: Request({"project_id": w.fresh_project(True)}),
    "POST /projects/{project_id}/members/{user_id}":
        lambda w, a: Request(json={"roles": ["PROJECT_ANNOTATOR"]}),
    "DELETE /projects/{project_id}/members/{user_id}": lambda w, a: Request({"user_id": w.fresh_member()}),
    "POST /resources": lambda w, a: Request(files={"resource": ("m.png", PNG, "image/png")}),
    "POST /resources/series": lambda w, a: Request(files=[("resources", ("s.dcm", _ct_slice(), "application/dicom"))]),
    "DELETE /resources": lambda w, a: Request(query={"resource_ids": w.fresh_resource()}),
    "PUT /resources/tags": lambda w, a: Request(json={"resource_ids": [w.resource_id], "tags": ["m"]}),
    "POST /resources/bulk-publish": lambda w, a: Request(json={"resource_ids": [w.resource_id]}),
    "POST /resources/restore": lambda w, a: Request(json={"ids": [w.fresh_resource(deleted=True)]}),
    "DELETE /resources/{resource_id}": lambda w, a: Request({"resource_id": w.fresh_resource()}),
    "POST /resources/{resource_id}/restore": lambda w, a: Request({"resource_id": w.fresh_resource(deleted=True)}),
    "PUT /resources/{resource_id}/tags": lambda w, a: Request(json={"tags": ["m"]}),
    "POST /projects/{project_id}/resources": lambda w, a: Request(json={"resource_ids_to_add": [w.resource_id]}),
}


def _with_annotation_routes() -> None:
    from authz_annotations import ANNOTATION_REQUESTS
    from authz_datasets import DATASET_REQUESTS
    from authz_dicom import DICOM_REQUESTS
    from authz_formats import FORMAT_REQUESTS
    from authz_jobs import JOB_REQUESTS
    from authz_models import MODEL_REQUESTS
    from authz_quality import QUALITY_REQUESTS

    REQUESTS.update(ANNOTATION_REQUESTS)
    REQUESTS.update(DATASET_REQUESTS)
    REQUESTS.update(DICOM_REQUESTS)
    REQUESTS.update(JOB_REQUESTS)
    REQUESTS.update(MODEL_REQUESTS)
    REQUESTS.update(FORMAT_REQUESTS)
    REQUESTS.update(QUALITY_REQUESTS)


_with_annotation_routes()
