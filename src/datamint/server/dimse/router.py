"""``/dicom/settings``: how the organization receives DICOM over the network (admins).

The settings govern STOW-RS (anonymization, channel) and the C-STORE listener (also series
assembly, the target project and the allowed calling AE titles). Rules in
:mod:`datamint.server.resources.dicom_settings`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import ConfigDict, Field

from datamint.server.common.values import Line, RequestBody, line
from datamint.server.deps import CurrentUser, SessionDep, UnitOfWork
from datamint.server.resources import dicom_settings

router = APIRouter(prefix="/dicom", tags=["dicom"])


class DicomSettingsBody(RequestBody):
    """The organization's DICOM receive settings."""

    model_config = ConfigDict(extra="forbid")

    anonymize: bool = Field(False, description="De-identify received instances (PS3.15 basic profile)")
    assemble: bool = Field(False, description="C-STORE: assemble each series into one multi-frame resource")
    project_id: Line | None = Field(None, description="C-STORE: add received resources to this project")
    channel: line(300) = Field("", description="Upload channel of received resources")
    calling_ae_titles: list[line(16)] = Field(default_factory=list, max_length=1000,
                                         description="AE titles allowed to send to the DICOM listener")


@router.get("/settings")
def get_dicom_settings(session: SessionDep, me: CurrentUser) -> dict[str, Any]:
    """The organization's DICOM receive settings."""
    return dicom_settings.read(session, me)


@router.put("/settings")
def put_dicom_settings(body: DicomSettingsBody, session: UnitOfWork, me: CurrentUser) -> dict[str, Any]:
    """Replace the organization's DICOM receive settings; C-STORE then stores as the caller."""
    result = dicom_settings.save(session, me, body.anonymize, body.assemble, body.project_id, body.channel,
                                 body.calling_ae_titles)
    return result
