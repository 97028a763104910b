"""Datasets endpoints (wire §4.6), dataset versions, archive downloads, and project splits (§4.1).

Versions (our addition; the Segments.ai seed's "releases")::

    POST   /datasets/{id}/versions                      {name?, description?} → 202 Job (jobs.dataset_versions_router)
    GET    /datasets/{id}/versions                      paginated DatasetVersion list, oldest first
    GET    /datasets/{id}/versions/{ref}                ref = latest | <number> | <name>
    DELETE /datasets/{id}/versions/{ref}                204
    GET    /datasets/{id}/versions/{ref}/manifest       resources (sha256), annotations (masks), label schema
    GET    /datasets/{id}/versions/{ref}/blobs/{sha256} one file (resource or mask) of the version
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from datamint.server.common.http import RESOURCE_ARRAY_RESPONSE, FastJSONResponse, content_disposition
from datamint.server.common.pagination import PageDep, envelope
from datamint.server.datasets import download, service, splits
from datamint.server.datasets import snapshot as snap
from datamint.server.datasets.schemas import DatasetResourcesBody, SplitsBody
from datamint.server.deps import CurrentUser, SessionDep, StorageDep, UnitOfWork
from datamint.server.errors import NotFoundError
from datamint.server.storage.base import BlobNotFoundError

router = APIRouter(prefix="/datasets", tags=["datasets"])
project_router = APIRouter(prefix="/projects", tags=["projects"])

VersionQuery = Annotated[str | None, Query(description="latest, a version number or name; omitted: the "
                                                        "dataset as it is now")]


@router.get("")
def list_datasets(session: SessionDep, me: CurrentUser, page: PageDep,
                  includeArchived: bool = False) -> dict[str, Any]:  # noqa: N803
    """The datasets (one per project) the caller can see, paginated (DatasetInfo)."""
    items, total = service.list_datasets(session, me, includeArchived, page.offset, page.limit)
    return envelope(items, total)


@router.get("/download/{token}")
def download_archive(token: str, session: UnitOfWork, me: CurrentUser, store: StorageDep) -> StreamingResponse:
    """Stream the zip archive a download token stands for (once; tokens expire after 15 minutes)."""
    filename, chunks = download.redeem(session, store, me, token)
    return StreamingResponse(chunks, media_type="application/zip",
                             headers={"Content-Disposition": content_disposition(filename)})


@router.get("/{dataset_id}")
def get_dataset(dataset_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One dataset (DatasetInfo)."""
    return service.get_dataset(session, me, dataset_id)


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, session: UnitOfWork, me: CurrentUser) -> Response:
    """Archive the dataset's project (restorable with ``POST /projects/{id}/restore``; versions stay)."""
    service.delete_dataset(session, me, dataset_id)
    return Response(status_code=204)


@router.get("/{dataset_id}/resources", responses=RESOURCE_ARRAY_RESPONSE)
def get_dataset_resources(dataset_id: str, session: SessionDep, me: CurrentUser,
                          version: VersionQuery = None) -> Response:
    """The dataset's resources now (the body of ``GET /projects/{id}/resources``, written by the
    database and streamed), or those of one version (with their ``sha256``); a bare array."""
    if version in (None, ""):
        return StreamingResponse(service.live_resources_body(session, me, dataset_id), media_type="application/json")
    return FastJSONResponse(service.version_resources(session, me, dataset_id, str(version)))


@router.post("/{dataset_id}/resources")
def update_dataset_resources(dataset_id: str, body: DatasetResourcesBody, session: UnitOfWork,
                             me: CurrentUser) -> dict[str, Any]:
    """Add or remove resources of the dataset (that is, of its project)."""
    result = service.update_resources(session, me, dataset_id, body.resource_ids_to_add or [],
                                      body.resource_ids_to_delete or [], body.all_files_selected, body.project_id)
    return result


@router.get("/{dataset_id}/download/{fmt}")
def request_download(dataset_id: str, fmt: str, session: UnitOfWork, me: CurrentUser,
                     version: VersionQuery = None) -> str:
    """A single-use token (a JSON string) for ``GET /datasets/download/{token}``.

    Formats: dicom (files as uploaded), nifti, png, npy.
    """
    token = download.issue_token(session, me, dataset_id, fmt, version)
    return token


@router.get("/{dataset_id}/versions")
def list_versions(dataset_id: str, session: SessionDep, me: CurrentUser, page: PageDep) -> dict[str, Any]:
    """The dataset's versions, oldest first."""
    items, total = service.list_versions(session, me, dataset_id, page.offset, page.limit)
    return envelope(items, total)


@router.get("/{dataset_id}/versions/{ref}")
def get_version(dataset_id: str, ref: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """One version: ``latest``, its number, or its name."""
    return snap.version_to_wire(service.get_version(session, me, dataset_id, ref))


@router.delete("/{dataset_id}/versions/{ref}", status_code=204)
def delete_version(dataset_id: str, ref: str, request: Request, session: UnitOfWork, me: CurrentUser,
                   store: StorageDep) -> Response:
    """Delete a version; mask copies no other version holds are deleted with it (once the deletion
    has committed)."""
    keys = service.delete_version(session, me, dataset_id, ref)
    service.delete_unused_blobs_after_commit(session, request.app.state.database, store, me.customer_id, keys)
    return Response(status_code=204)


@router.get("/{dataset_id}/versions/{ref}/manifest")
def get_manifest(dataset_id: str, ref: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """The version's manifest: resources with ``sha256``, annotations with their mask's hash, label schema."""
    return service.manifest(session, me, dataset_id, ref)


@router.get("/{dataset_id}/versions/{ref}/blobs/{sha256}")
def get_blob(dataset_id: str, ref: str, sha256: str, session: SessionDep, me: CurrentUser,
             store: StorageDep) -> Response:
    """One file of a version by its SHA-256: a resource as uploaded, or a mask as it was."""
    key, size, mimetype = service.version_blob(session, me, dataset_id, ref, sha256)
    try:
        path = store.local_path(key)
        if path is not None:
            return FileResponse(path, media_type=mimetype)
        chunks = store.iter_chunks(key)
    except BlobNotFoundError:
        raise NotFoundError("Blob", "Blob not found: the file is missing from storage")
    return StreamingResponse(chunks, media_type=mimetype, headers={"Content-Length": str(size)})


# -- splits ---------------------------------------------------------------------------------------


@project_router.get("/{project_id}/splits")
def get_splits(project_id: str, session: SessionDep, me: CurrentUser, split_name: str | None = None,
               as_of_timestamp: str | None = None) -> list[dict[str, Any]]:
    """The project's split assignments (bare array), now or as of a past time."""
    return splits.list_splits(session, me, project_id, split_name, as_of_timestamp)


@project_router.post("/{project_id}/splits")
def assign_splits(project_id: str, body: SplitsBody, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Put resources of the project into a named split (their previous split ends)."""
    result = splits.assign(session, me, project_id, body.resource_ids, body.split_name)
    return result


@project_router.get("/{project_id}/resources/{resource_id}/split")
def get_resource_split(project_id: str, resource_id: str, session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """The current split of one resource; 404 when it is in none."""
    return splits.resource_split(session, me, project_id, resource_id)
