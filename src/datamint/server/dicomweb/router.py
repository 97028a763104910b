"""DICOMweb routes under ``/dicomweb``: QIDO-RS, WADO-RS and STOW-RS (``docs/dicomweb.md``).

Authentication is the API's (``Authorization: Bearer <key>`` or ``apikey``); every route acts on
the caller's organization's DICOM resources: searching and retrieving need ``resources.read``,
storing needs ``resources.upload``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from datamint.server.deps import CurrentUser, SessionDep, StorageDep
from datamint.server.dicomweb import multipart, qido, stow, wado
from datamint.server.resources.receive import spool_dir
from datamint.server.transport.routes import body_kind

router = APIRouter(prefix="/dicomweb", tags=["dicomweb"])

DICOM_JSON = "application/dicom+json"
_INSTANCE = "/studies/{study_uid}/series/{series_uid}/instances/{instance_uid}"


def base_url(request: Request) -> str:
    """The DICOMweb root: the configured public URL, else as the client reached it."""
    public = request.app.state.settings.public_url
    return (public or str(request.base_url)).rstrip("/") + router.prefix


def _json(body: Any, status_code: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status_code, media_type=DICOM_JSON)


def _search(request: Request, session: SessionDep, me: CurrentUser, level: str, study_uid: str | None = None,
            series_uid: str | None = None) -> Response:
    q = qido.parse_query(level, list(request.query_params.multi_items()), study_uid=study_uid,
                         series_uid=series_uid)
    return _json(qido.search(session, me, q, base_url(request)))


# -- QIDO-RS ------------------------------------------------------------------------------------

@router.get("/studies")
def search_studies(request: Request, session: SessionDep, me: CurrentUser) -> Response:
    """QIDO-RS: the studies matching the query parameters (DICOM JSON)."""
    return _search(request, session, me, "study")


@router.get("/series")
def search_series(request: Request, session: SessionDep, me: CurrentUser) -> Response:
    """QIDO-RS: the series of any study matching the query parameters."""
    return _search(request, session, me, "series")


@router.get("/instances")
def search_instances(request: Request, session: SessionDep, me: CurrentUser) -> Response:
    """QIDO-RS: the instances of any study matching the query parameters."""
    return _search(request, session, me, "instance")


@router.get("/studies/{study_uid}/series")
def search_study_series(study_uid: str, request: Request, session: SessionDep, me: CurrentUser) -> Response:
    """QIDO-RS: the series of one study."""
    return _search(request, session, me, "series", study_uid)


@router.get("/studies/{study_uid}/instances")
def search_study_instances(study_uid: str, request: Request, session: SessionDep, me: CurrentUser) -> Response:
    """QIDO-RS: the instances of one study."""
    return _search(request, session, me, "instance", study_uid)


@router.get("/studies/{study_uid}/series/{series_uid}/instances")
def search_series_instances(study_uid: str, series_uid: str, request: Request, session: SessionDep,
                            me: CurrentUser) -> Response:
    """QIDO-RS: the instances of one series."""
    return _search(request, session, me, "instance", study_uid, series_uid)


# -- WADO-RS ------------------------------------------------------------------------------------

def _instances(session: SessionDep, store: StorageDep, me: CurrentUser, study_uid: str, series_uid: str | None,
               instance_uid: str | None) -> Response:
    rows = wado.find(session, me, study_uid, series_uid, instance_uid)
    wado.check_blobs(store, rows)
    boundary = multipart.new_boundary()
    return StreamingResponse(wado.instances_body(store, rows, boundary),
                             media_type=multipart.related_type("application/dicom", boundary))


@router.get("/studies/{study_uid}")
def retrieve_study(study_uid: str, session: SessionDep, store: StorageDep, me: CurrentUser) -> Response:
    """WADO-RS: every instance of a study (multipart/related, application/dicom as stored)."""
    return _instances(session, store, me, study_uid, None, None)


@router.get("/studies/{study_uid}/series/{series_uid}")
def retrieve_series(study_uid: str, series_uid: str, session: SessionDep, store: StorageDep,
                    me: CurrentUser) -> Response:
    """WADO-RS: every instance of a series."""
    return _instances(session, store, me, study_uid, series_uid, None)


@router.get(_INSTANCE)
def retrieve_instance(study_uid: str, series_uid: str, instance_uid: str, session: SessionDep, store: StorageDep,
                      me: CurrentUser) -> Response:
    """WADO-RS: one instance."""
    return _instances(session, store, me, study_uid, series_uid, instance_uid)


def _metadata(request: Request, session: SessionDep, store: StorageDep, me: CurrentUser, study_uid: str,
              series_uid: str | None, instance_uid: str | None) -> Response:
    rows = wado.find(session, me, study_uid, series_uid, instance_uid, with_headers=True)
    return Response(wado.metadata(session, store, rows, base_url(request)), media_type=DICOM_JSON)


@router.get("/studies/{study_uid}/metadata")
def retrieve_study_metadata(study_uid: str, request: Request, session: SessionDep, store: StorageDep,
                            me: CurrentUser) -> Response:
    """WADO-RS: the metadata (DICOM JSON, from the database) of every instance of a study."""
    return _metadata(request, session, store, me, study_uid, None, None)


@router.get("/studies/{study_uid}/series/{series_uid}/metadata")
def retrieve_series_metadata(study_uid: str, series_uid: str, request: Request, session: SessionDep,
                             store: StorageDep, me: CurrentUser) -> Response:
    """WADO-RS: the metadata of every instance of a series."""
    return _metadata(request, session, store, me, study_uid, series_uid, None)


@router.get(_INSTANCE + "/metadata")
def retrieve_instance_metadata(study_uid: str, series_uid: str, instance_uid: str, request: Request,
                               session: SessionDep, store: StorageDep, me: CurrentUser) -> Response:
    """WADO-RS: the metadata of one instance."""
    return _metadata(request, session, store, me, study_uid, series_uid, instance_uid)


@router.get(_INSTANCE + "/frames/{frames}")
def retrieve_frames(study_uid: str, series_uid: str, instance_uid: str, frames: str, request: Request,
                    session: SessionDep, store: StorageDep, me: CurrentUser) -> Response:
    """WADO-RS: frames (1-based, comma-separated) as multipart/related application/octet-stream."""
    row = wado.find(session, me, study_uid, series_uid, instance_uid)[0]
    numbers = wado.parse_frame_list(frames, row.number_of_frames)
    part_type, parts = wado.frames(store, row, numbers, request.headers.get("accept", ""))
    boundary = multipart.new_boundary()
    body = b"".join(multipart.write_related(((part_type, [p]) for p in parts), boundary))
    media, _, syntax = part_type.partition("; transfer-syntax=")
    return Response(body, media_type=multipart.related_type(media, boundary, syntax))


def _rendered(request: Request, session: SessionDep, store: StorageDep, me: CurrentUser, study_uid: str,
              series_uid: str, instance_uid: str, frame: int, window: str | None, quality: int | None) -> Response:
    row = wado.find(session, me, study_uid, series_uid, instance_uid)[0]
    index = wado.parse_frame_list(str(frame), row.number_of_frames)[0]
    image, media = wado.rendered(store, row, index, request.headers.get("accept", ""), window, quality)
    return Response(image, media_type=media)


Window = Annotated[str | None, Query(description="center,width[,linear|linear_exact|sigmoid]")]
Quality = Annotated[int | None, Query(ge=1, le=100, description="JPEG quality")]


@router.get(_INSTANCE + "/rendered")
def retrieve_rendered_instance(study_uid: str, series_uid: str, instance_uid: str, request: Request,
                               session: SessionDep, store: StorageDep, me: CurrentUser, window: Window = None,
                               quality: Quality = None) -> Response:
    """WADO-RS: the instance's first frame as JPEG (default) or PNG, with its window or ``window=``."""
    return _rendered(request, session, store, me, study_uid, series_uid, instance_uid, 1, window, quality)


@router.get(_INSTANCE + "/frames/{frame}/rendered")
def retrieve_rendered_frame(study_uid: str, series_uid: str, instance_uid: str, frame: int, request: Request,
                            session: SessionDep, store: StorageDep, me: CurrentUser, window: Window = None,
                            quality: Quality = None) -> Response:
    """WADO-RS: one frame (1-based) as JPEG (default) or PNG."""
    return _rendered(request, session, store, me, study_uid, series_uid, instance_uid, frame, window, quality)


@router.get(_INSTANCE + "/bulk/{tag}")
def retrieve_bulk_data(study_uid: str, series_uid: str, instance_uid: str, tag: str, session: SessionDep,
                       store: StorageDep, me: CurrentUser) -> Response:
    """WADO-RS: the value of a bulk data attribute named by a metadata ``BulkDataURI``."""
    row = wado.find(session, me, study_uid, series_uid, instance_uid)[0]
    boundary = multipart.new_boundary()
    body = b"".join(multipart.write_related([("application/octet-stream", [wado.bulk(store, row, tag)])],
                                            boundary))
    return Response(body, media_type=multipart.related_type("application/octet-stream", boundary))


# -- STOW-RS ------------------------------------------------------------------------------------

async def _store(request: Request, session: SessionDep, store: StorageDep, me: CurrentUser, study_uid: str | None,
                 project_id: str | None) -> Response:
    stow.authorize(me)
    folder = spool_dir(store, request.app.state.settings.data_dir / "upload-spool")
    parts = await multipart.read_related(request.headers.get("content-type", ""), request.stream(), folder)
    try:
        status, answer = await run_in_threadpool(stow.store, session, store, me, parts, study_uid=study_uid,
                                                  project_id=project_id, base_url=base_url(request))
    finally:
        for part in parts:
            part.discard()
    return _json(answer, status)


ProjectParam = Annotated[str | None, Query(description="Also add the stored instances to this project "
                                                       "(needs project.manage there)")]


@router.post("/studies")
@body_kind("upload")
async def store_instances(request: Request, session: SessionDep, store: StorageDep, me: CurrentUser,
                          project_id: ProjectParam = None) -> Response:
    """STOW-RS: store the instances of a multipart/related body (anonymized if the organization says so)."""
    return await _store(request, session, store, me, None, project_id)


@router.post("/studies/{study_uid}")
@body_kind("upload")
async def store_study_instances(study_uid: str, request: Request, session: SessionDep, store: StorageDep,
                                me: CurrentUser, project_id: ProjectParam = None) -> Response:
    """STOW-RS: store instances that must belong to study ``study_uid`` (others are refused)."""
    return await _store(request, session, store, me, study_uid, project_id)
