"""How an organization receives DICOM over the network: the rules of ``/dicom/settings``.

One row per organization (:class:`~datamint.server.resources.models.DicomReceiveSettings`) and
its calling AE titles (:class:`~datamint.server.resources.models.DicomAeTitle`, unique across
organizations, so a sender belongs to one organization). STOW-RS anonymizes as these settings
say; the C-STORE listener also assembles series and stores into the project and channel named
here, as the admin who saved them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from datamint.imaging.dicom_anonymize import UidMapper
from datamint.server import policy
from datamint.server.auth.models import User
from datamint.server.auth.service import Principal
from datamint.server.db import locks
from datamint.server.db.base import utcnow
from datamint.server.errors import ConflictError, ValidationFailedError
from datamint.server.resources.membership import managed_project
from datamint.server.resources.models import DicomAeTitle, DicomReceiveSettings

_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII without backslash


def current(session: Session, customer_id: str) -> DicomReceiveSettings:
    """The organization's settings (defaults, not stored, when it never saved any)."""
    row = session.get(DicomReceiveSettings, customer_id)
    if row is None:
        row = DicomReceiveSettings(customer_id=customer_id, anonymize=False, assemble=False, project_id=None,
                                   channel="", receiver_id=None, uid_secret="")
    return row


def ae_titles(session: Session, customer_id: str) -> list[str]:
    """The organization's allowed calling AE titles, sorted."""
    return sorted(session.scalars(select(DicomAeTitle.ae_title).where(DicomAeTitle.customer_id == customer_id)))


def to_wire(session: Session, row: DicomReceiveSettings) -> dict[str, Any]:
    """The settings as returned by ``GET /dicom/settings``."""
    return {"anonymize": row.anonymize, "assemble": row.assemble, "project_id": row.project_id,
            "channel": row.channel, "receiver_id": row.receiver_id,
            "calling_ae_titles": ae_titles(session, row.customer_id)}


def read(session: Session, me: Principal) -> dict[str, Any]:
    """The caller's organization's settings (``dicom.manage``)."""
    policy.require(me, policy.Action.DICOM_MANAGE)
    return to_wire(session, current(session, me.customer_id))


def _clean_titles(titles: Sequence[str]) -> list[str]:
    cleaned = []
    for title in titles:
        text = str(title).strip()
        if not _AE_TITLE.match(text):
            raise ValidationFailedError(f"Invalid AE title {title!r}: 1 to 16 printable ASCII characters, "
                                        "no backslash")
        cleaned.append(text)
    return sorted(set(cleaned))


def save(session: Session, me: Principal, anonymize: bool, assemble: bool, project_id: str | None,
         channel: str, calling_ae_titles: Sequence[str]) -> dict[str, Any]:
    """Replace the caller's organization's settings; the caller becomes the C-STORE receiver.

    Raises:
        ForbiddenError: The caller may not manage DICOM settings, or the project.
        ConflictError: An AE title already belongs to another organization (409).
    """
    policy.require(me, policy.Action.DICOM_MANAGE)
    titles = _clean_titles(calling_ae_titles)
    if len(channel) > 300:
        raise ValidationFailedError("channel is longer than 300 characters")
    project = managed_project(session, me, project_id) if project_id else None
    locks.serialize(session, "dicom-settings", me.customer_id)  # one settings row; its titles replaced whole
    row = session.get(DicomReceiveSettings, me.customer_id)
    if row is None:
        row = DicomReceiveSettings(customer_id=me.customer_id, uid_secret=secrets.token_hex(32))
        session.add(row)
    row.anonymize, row.assemble, row.channel = anonymize, assemble, channel.strip()
    row.project_id = project.id if project else None
    row.receiver_id, row.updated_at = me.user_id, utcnow()
    session.execute(delete(DicomAeTitle).where(DicomAeTitle.customer_id == me.customer_id,
                                               DicomAeTitle.ae_title.not_in(titles)))
    present = set(ae_titles(session, me.customer_id))
    session.add_all(DicomAeTitle(ae_title=t, customer_id=me.customer_id) for t in titles if t not in present)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise ConflictError("An AE title in calling_ae_titles already sends to another organization; "
                            "AE titles must be unique across organizations")
    return to_wire(session, row)


def anonymizer(row: DicomReceiveSettings) -> UidMapper | None:
    """The organization's UID mapper when it anonymizes (same secret: same new UIDs every time)."""
    return UidMapper(row.uid_secret) if row.anonymize and row.uid_secret else None


def all_calling_ae_titles(session: Session) -> list[str]:
    """Every allowed calling AE title of every organization."""
    return list(session.scalars(select(DicomAeTitle.ae_title)))


def receiver_for(session: Session, ae_title: str) -> tuple[DicomReceiveSettings, Principal] | None:
    """The settings and the receiving user of the organization that owns ``ae_title``.

    Returns ``None`` when the title is unknown or its organization has no receiver left.
    """
    owner = session.get(DicomAeTitle, ae_title.strip())
    if owner is None:
        return None
    row = session.get(DicomReceiveSettings, owner.customer_id)
    user = session.get(User, row.receiver_id) if row is not None and row.receiver_id else None
    if row is None or user is None:
        return None
    return row, Principal(user.id, user.email, user.customer_id, tuple(user.roles or ()))
