"""Rules for invitations: invite by email, list, revoke, and accept with the one-time token.

No email is sent (the server has no mail transport): the invitation response carries the link,
and an admin passes it on. The token is shown once; only its hash is stored, so inviting the
same address again is how a lost link is replaced (the old token stops working).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlparse

from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.audit import recorder
from datamint.server.auth import repository as repo
from datamint.server.auth import service as users
from datamint.server.auth.models import Invitation, Organization
from datamint.server.auth.schemas import InvitationAccept, InvitationCreate
from datamint.server.auth.security import generate_invitation_token, hash_api_key
from datamint.server.auth.service import Principal
from datamint.server.common.ids import check_uuid
from datamint.server.db import locks
from datamint.server.db.base import iso, utcnow
from datamint.server.errors import ConflictError, GoneError, NotFoundError, ValidationFailedError
from datamint.server.projects import member_service
from datamint.server.projects import repository as projects_repo
from datamint.server.projects.service import visible_project
from datamint.server.worklists import repository as worklists_repo

_UNUSABLE = "Invitation not found: the link is unknown, was already used, or was revoked"


def invite(
    session: Session, me: Principal, body: InvitationCreate, base_url: str, ttl: timedelta
) -> dict[str, Any]:
    """Invite ``body.email`` into the caller's organization (and optionally a project).

    Returns:
        The invitation, plus ``token`` and ``invitation_link``, shown only this once.

    Raises:
        ConflictError: The caller's organization has a user with this email (attached); an
            account in another organization plays no part.
        NotFoundError: The project or the worklist is not visible to the caller.
        ValidationFailedError: Bad email, roles, worklist or return URL.
    """
    email = users.check_email(body.email)
    project_id, roles = _project_grant(session, me, body)
    worklist_id = _worklist_grant(session, me, body.annotation_worklist_id, project_id)
    locks.serialize(session, "invitation", me.customer_id, repo.email_key(email))
    existing = repo.get_user_by_email(session, me.customer_id, email)
    if existing is not None:
        raise ConflictError(f"A user with email {email!r} already exists; add them to projects directly",
                            existing=users.user_to_wire(existing))
    token = generate_invitation_token()
    invitation = next(iter(repo.open_invitations(session, me.customer_id, email=email)), None)
    if invitation is None:
        invitation = Invitation(customer_id=me.customer_id, email=email)
        session.add(invitation)
    invitation.firstname, invitation.lastname = body.firstname, body.lastname
    invitation.return_url = _check_return_url(body.return_url)
    invitation.project_id, invitation.project_roles = project_id, roles
    invitation.annotation_worklist_id = worklist_id
    invitation.token_hash = hash_api_key(token)
    invitation.invited_by, invitation.invited_by_email = me.user_id, me.email
    invitation.created_at = utcnow()
    invitation.expires_at = invitation.created_at + ttl
    session.flush()
    query = {"token": token, **({"return_url": invitation.return_url} if invitation.return_url else {})}
    link = f"{base_url.rstrip('/')}/invitations/accept?{urlencode(query)}"
    return {**invitation_to_wire(invitation), "token": token, "invitation_link": link}


def list_invitations(session: Session, me: Principal, project_id: str | None) -> list[dict[str, Any]]:
    """Pending (and expired, not yet replaced) invitations of the organization, oldest first."""
    pid = check_uuid(project_id, "project") if project_id else None
    return [invitation_to_wire(i) for i in repo.open_invitations(session, me.customer_id, project_id=pid)]


def revoke(session: Session, me: Principal, email: str) -> None:
    """Revoke the open invitation of ``email``; its link stops working.

    Raises:
        NotFoundError: No open invitation for this email in the caller's organization.
    """
    open_ones = repo.open_invitations(session, me.customer_id, email=email)
    if not open_ones:
        raise NotFoundError("Invitation")
    for invitation in open_ones:
        invitation.revoked_at = utcnow()


def describe(session: Session, token: str) -> dict[str, Any]:
    """What the accept page shows before the invitee accepts: the email, names and organization.

    Raises:
        NotFoundError: The token is unknown, used or revoked.
        GoneError: The invitation expired.
    """
    invitation = _usable(session, token)
    organization = session.get(Organization, invitation.customer_id)
    return {"email": invitation.email, "firstname": invitation.firstname, "lastname": invitation.lastname,
            "organization": organization.name if organization is not None else None,
            "expires_at": iso(invitation.expires_at)}


def _usable(session: Session, token: str) -> Invitation:
    invitation = repo.get_invitation_by_token_hash(session, hash_api_key(token.strip()))
    if invitation is None or invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise NotFoundError("Invitation", _UNUSABLE)
    if _expired(invitation):
        raise GoneError("This invitation has expired; ask an admin to invite you again")
    return invitation


def accept(session: Session, body: InvitationAccept) -> dict[str, Any]:
    """Create the invitee's account from a one-time token.

    The user joins the inviting organization as a member, joins the invitation's project with
    its roles, and gets a first API key, returned here once.

    Raises:
        NotFoundError: The token is unknown, used or revoked.
        GoneError: The invitation expired.
        ConflictError: An account with this email exists already.
    """
    invitation = _usable(session, body.token)
    # The same lock as invite(): accepting and re-inviting one email never interleave.
    locks.serialize(session, "invitation", invitation.customer_id, repo.email_key(invitation.email))
    invitation = _usable(session, body.token)  # again, under the lock
    if repo.get_user_by_email(session, invitation.customer_id, invitation.email) is not None:
        raise ConflictError(f"An account for {invitation.email!r} exists already; use its API key")
    user = users.new_user(session, invitation.customer_id, invitation.email, body.password,
                          body.firstname or invitation.firstname, body.lastname or invitation.lastname, ["member"])
    if not repo.claim_invitation(session, invitation.id, user.id, utcnow()):
        raise NotFoundError("Invitation", _UNUSABLE)
    project = (projects_repo.get_project(session, invitation.customer_id, invitation.project_id)
               if invitation.project_id else None)
    if project is not None:
        member_service.lock_project(session, project)
        member_service.upsert_member(session, project, user, list(invitation.project_roles or []))
    _, plaintext = users.issue_key(session, user, name="first key")
    recorder.describe(session, actor=user, entity_type="invitation", entity_id=invitation.id,
                      details={"user_id": user.id, "project_id": invitation.project_id})
    return {
        "user": users.user_to_wire(user),
        "api_key": plaintext,
        "project_id": project.id if project is not None else None,
        "project_roles": list(invitation.project_roles or []) if project is not None else [],
        "annotation_worklist_id": invitation.annotation_worklist_id,
        "return_url": invitation.return_url,
    }


def invitation_to_wire(invitation: Invitation) -> dict[str, Any]:
    """The wire shape of an invitation (never its token or hash)."""
    if invitation.accepted_at is not None:
        status = "accepted"
    elif invitation.revoked_at is not None:
        status = "revoked"
    else:
        status = "expired" if _expired(invitation) else "pending"
    return {
        "id": invitation.id,
        "email": invitation.email,
        "firstname": invitation.firstname,
        "lastname": invitation.lastname,
        "customer_id": invitation.customer_id,
        "project_id": invitation.project_id,
        "project_roles": list(invitation.project_roles or []),
        "annotation_worklist_id": invitation.annotation_worklist_id,
        "return_url": invitation.return_url,
        "invited_by": invitation.invited_by_email,
        "status": status,
        "created_at": iso(invitation.created_at),
        "expires_at": iso(invitation.expires_at),
    }


def _expired(invitation: Invitation) -> bool:
    return invitation.expires_at <= utcnow()


def _project_grant(session: Session, me: Principal, body: InvitationCreate) -> tuple[str | None, list[str]]:
    """The project and roles an invitation grants, checked against what the caller may grant."""
    if not body.project_id:
        if body.project_roles:
            raise ValidationFailedError("project_roles need a project_id")
        return None, []
    project, my_roles = visible_project(session, me, body.project_id)
    policy.require_project(me, my_roles, policy.ProjectAction.MEMBERS_MANAGE)
    roles = member_service.check_project_roles(body.project_roles or ["PROJECT_ANNOTATOR"])
    return project.id, roles


def _worklist_grant(session: Session, me: Principal, worklist_id: str | None, project_id: str | None) -> str | None:
    """The worklist an invitation points the invitee to: one the caller sees, in the invited project.

    Raises:
        NotFoundError: No such worklist for the caller (other organizations' included).
        ValidationFailedError: The worklist is not in the invitation's project.
    """
    if not worklist_id:
        return None
    worklist = worklists_repo.get(session, me.customer_id, check_uuid(worklist_id, "worklist"))
    if worklist is None or (worklist.project_id is not None and worklist.project_id != project_id
                            and not _sees_project(session, me, worklist.project_id)):
        raise NotFoundError("Worklist")
    if worklist.project_id != project_id:
        raise ValidationFailedError(f"Worklist {worklist.id} is not in the invitation's project; send its project_id "
                                    "(the invitee must be a member to see it)")
    return worklist.id


def _sees_project(session: Session, me: Principal, project_id: str) -> bool:
    return me.is_admin or projects_repo.get_member(session, project_id, me.user_id) is not None


def _check_return_url(url: str | None) -> str | None:
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationFailedError(f"Invalid return_url {url!r}: expected an http(s) URL")
    return url
