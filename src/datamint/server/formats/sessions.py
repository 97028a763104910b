"""Import sessions: create one for a project, add files to it, read it back, commit it as a job.

::

    POST /projects/{project_id}/imports      201 a new open session (optional worklist_id)
    POST /imports/{session_id}/files         201 add one file (multipart ``file``, optional ``name``: its path)
    GET  /imports/{session_id}               the session, its files (status and message of each) and job
    POST /imports/{session_id}/commit        202 the ``formats.import`` job (``dry_run`` previews only)
    DELETE /imports/{session_id}             204 discard an open session and its files

A session is seen by its creator, the project's managers and the organization's admins (404 for
everybody else); creating one and adding files needs ``project.annotate`` in the project.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from pydantic import ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.annotations.masks import PendingBlobs, with_blobs
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.common.values import Line, RequestBody, line
from datamint.server.db import locks, unit_of_work
from datamint.server.db.base import iso, new_id
from datamint.server.deps import CurrentUser, JobsDep, SessionDep, UnitOfWork
from datamint.server.errors import ConflictError, NotFoundError, ValidationFailedError
from datamint.server.formats.models import ImportFile, ImportSession
from datamint.server.formats.zips import ZipRefused, members
from datamint.server.jobs import service as jobs_service
from datamint.server.projects import repository as projects_repo
from datamint.server.projects.service import visible_project
from datamint.server.worklists import service as worklists_service

KIND = "formats.import"
#: Most files one session takes (seed 003: "up to 1000 files in one import session").
MAX_FILES = 1000
CONFLICTS = ("keep", "skip", "replace")
router = APIRouter(tags=["formats"])


class SessionBody(RequestBody):
    """Body of ``POST /projects/{id}/imports``."""

    model_config = ConfigDict(extra="forbid")

    worklist_id: Line | None = Field(default=None, description="import into this worklist (default: the project's)")


class CommitBody(RequestBody):
    """Body of ``POST /imports/{id}/commit``."""

    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(default=False, description="read and check every file, write nothing: a preview")
    label_map: dict[line(300), line(300)] = Field(default_factory=dict, description="label in the files → label here")
    on_conflict: line(20) = Field(default="keep", description="keep (add beside), skip (identical ones) or replace")
    author: line(320) | None = Field(default=None, description="credit this author (import_author)")
    model_name: line(300) | None = Field(default=None, description="predictions of this model")


def _name(raw: str | None, fallback: str | None) -> str:
    name = (raw or fallback or "").replace("\\", "/").strip()
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts or any("\x00" in p for p in parts) or len(name) > 1000:
        raise ValidationFailedError(f"File name {name!r} is not a relative path such as 'labels/case1.nii.gz'")
    return posixpath.join(*parts)


def to_wire(import_session: ImportSession, files: list[ImportFile] | None = None) -> dict[str, Any]:
    """The wire shape of a session (with its files when given)."""
    out: dict[str, Any] = {
        "id": import_session.id, "project_id": import_session.project_id, "worklist_id": import_session.worklist_id,
        "status": import_session.status, "created_by": import_session.created_by_email,
        "job_id": import_session.job_id, "file_count": import_session.file_count,
        "total_bytes": import_session.total_bytes, "options": import_session.options,
        "created_at": iso(import_session.created_at),
    }
    if files is not None:
        out["files"] = [{"id": f.id, "name": f.name, "size": f.size, "status": f.status, "message": f.message,
                         "created_count": f.created_count} for f in files]
    return out


def _visible(session: Session, me: Principal, session_id: str) -> ImportSession:
    found = session.get(ImportSession, check_uuid(session_id, "import session"))
    if found is None or found.customer_id != me.customer_id:
        raise NotFoundError("Import session")
    if found.created_by == me.user_id or me.is_admin:
        return found
    member = projects_repo.get_member(session, found.project_id, me.user_id)
    if member is None or not policy.project_allowed(me, list(member.roles), policy.ProjectAction.JOBS):
        raise NotFoundError("Import session")
    return found


def _open_for_files(session: Session, me: Principal, session_id: str) -> ImportSession:
    found = _visible(session, me, session_id)
    _, roles = visible_project(session, me, found.project_id)
    policy.require_project(me, roles, policy.ProjectAction.ANNOTATE)
    locked = locks.lock_row(session, ImportSession, found.id)
    if locked is None:
        raise NotFoundError("Import session")
    if locked.status != "open":
        raise ConflictError(f"Import session {locked.id} was committed; start a new session to add files")
    return locked


@router.post("/projects/{project_id}/imports", status_code=201)
def create_session(project_id: str, session: UnitOfWork, me: CurrentUser,
                   body: SessionBody | None = None) -> dict[str, Any]:
    """Open an import session for the project (then add files and commit it)."""
    body = body or SessionBody()
    project, roles = visible_project(session, me, project_id)
    policy.require_project(me, roles, policy.ProjectAction.ANNOTATE)
    worklist_id = None
    if body.worklist_id:
        worklist = worklists_service.allowed_worklist(session, me, body.worklist_id, policy.ProjectAction.ANNOTATE)
        if worklist.project_id != project.id:
            raise NotFoundError("Worklist", "Worklist not found in this project")
        worklist_id = worklist.id
    found = ImportSession(id=new_id(), customer_id=me.customer_id, project_id=project.id, worklist_id=worklist_id,
                          created_by=me.user_id, created_by_email=me.email, status="open", file_count=0,
                          total_bytes=0)
    session.add(found)
    session.flush()
    return to_wire(found, [])


@router.post("/imports/{session_id}/files", status_code=201)
def add_file(session_id: str, request: Request, session: UnitOfWork, me: CurrentUser,
             file: Annotated[UploadFile, File(description="the annotation file (or a zip of them)")],
             name: Annotated[str | None, Form(description="its path in the folder added, e.g. masks/a.png")] = None,
             ) -> dict[str, Any]:
    """Add one file to an open session (up to 1000 per session)."""
    data = file.file  # the spooled part: copied to the blob store in chunks, never read whole
    size = data.seek(0, 2)
    data.seek(0)
    path = _name(name, file.filename)
    if not size:
        raise ValidationFailedError(f"File {path!r} is empty")
    _visible(session, me, session_id)  # 404 before anything is written
    units = _units(path, data)
    data.seek(0)
    key = f"{me.customer_id}/imports/{session_id}/{new_id()}"

    def work(pending: PendingBlobs) -> ImportFile:
        pending.put_all([(key, data)])
        found = _open_for_files(session, me, session_id)
        count = found.file_count  # read under the session's lock
        if count + units > MAX_FILES:
            raise ValidationFailedError(f"An import session takes at most {MAX_FILES} files (a zip's members "
                                        f"count one each); it has {count}"
                                        + (f" and {path} holds {units}" if units > 1 else "")
                                        + ": commit this one and start another")
        if session.scalar(select(ImportFile.id).where(ImportFile.session_id == found.id, ImportFile.name == path)):
            raise ConflictError(f"The session already has a file named {path!r}")
        row = ImportFile(id=new_id(), session_id=found.id, name=path, blob_key=key, size=size, status="pending",
                         created_count=0)
        session.add(row)
        found.file_count = count + units
        found.total_bytes += size
        pending.settle()
        return row

    row = with_blobs(session, request.app.state.blob_store, me.customer_id, work)
    return {"id": row.id, "name": row.name, "size": row.size, "status": row.status}


def _units(path: str, data: BinaryIO) -> int:
    """How many files of the session ``data`` is: a zip's members (at least 1), else 1 (422 for a
    zip with more members than a session takes, or members outside it or named twice)."""
    if not path.lower().endswith(".zip"):
        return 1
    try:
        found = members(data, path, MAX_FILES)
    except ZipRefused as exc:
        raise ValidationFailedError(str(exc)) from None
    return max(len(found or []), 1)  # a zip that cannot be read fails in the job, naming it


@router.get("/imports/{session_id}")
def get_session(session_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """The session, its files (status and message of each, once imported) and its job id."""
    found = _visible(session, me, session_id)
    files = list(session.scalars(select(ImportFile).where(ImportFile.session_id == found.id)
                                 .order_by(ImportFile.name)))
    return to_wire(found, files)


@router.post("/imports/{session_id}/commit", status_code=202)
def commit_session(session_id: str, session: UnitOfWork, me: CurrentUser, jobs: JobsDep,
                   body: CommitBody | None = None) -> dict[str, Any]:
    """Import the session's files as a ``formats.import`` job (202 with the job). With ``dry_run``
    the job only reads and checks them (its result is the preview) and the session stays open."""
    body = body or CommitBody()
    if body.on_conflict not in CONFLICTS:
        raise ValidationFailedError(f"on_conflict must be one of {', '.join(CONFLICTS)}, got {body.on_conflict!r}")
    for source_label, target in body.label_map.items():
        if not source_label.strip() or not target.strip() or len(target) > 300:
            raise ValidationFailedError("label_map maps non-empty labels to non-empty labels (at most 300 characters)")
    found = _open_for_files(session, me, session_id)
    if found.file_count == 0:
        raise ValidationFailedError("The import session has no files; add files before committing")
    params = {"session_id": found.id, **body.model_dump()}
    job = jobs_service.submit(session, jobs, me, KIND, params, project_id=found.project_id,
                              dedupe_key=f"import:{found.id}",
                              duplicate=f"Import session {found.id} is already being imported or previewed")
    found.options = body.model_dump()
    found.job_id = job.id
    if not body.dry_run:
        found.status = "committed"
    return jobs_service.to_wire(job)


@router.delete("/imports/{session_id}", status_code=204)
def discard_session(session_id: str, request: Request, session: UnitOfWork, me: CurrentUser) -> Response:
    """Discard an open session and its files (409 once committed)."""
    found = _open_for_files(session, me, session_id)
    keys = list(session.scalars(select(ImportFile.blob_key).where(ImportFile.session_id == found.id)))
    session.delete(found)
    store = request.app.state.blob_store

    def remove() -> None:
        for key in keys:
            store.delete(key)
    unit_of_work.after_commit(session, remove)
    return Response(status_code=204)
