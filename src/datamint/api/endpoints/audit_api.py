"""Audit trail handler (``api.audit``): who changed or downloaded what, when, from which request."""

from __future__ import annotations

from datetime import date, datetime

from datamint.api.base_api import BaseApi


class AuditApi(BaseApi):
    """Read your organization's audit trail (admins only).

    Every change made through the API (create, update, delete, publish, approve, membership,
    API key issued or revoked) and every download of a resource's file is recorded once.

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.
    """

    def get_list(self, user: str | None = None, entity_type: str | None = None, entity_id: str | None = None,
                 action: str | None = None, from_date: str | date | datetime | None = None,
                 to_date: str | date | datetime | None = None, request_id: str | None = None,
                 limit: int | None = None) -> list[dict]:
        """List audit events, newest first.

        Args:
            user: Only events by this user (email or id).
            entity_type: Only events about this kind of entity, e.g. ``'project'``, ``'user'``,
                ``'api_key'``, ``'resource'``, ``'invitation'``.
            entity_id: Only events about this entity id.
            action: Only this action, e.g. ``'create_project'``, ``'set_project_member'``,
                ``'revoke_api_key'`` (the server route's name).
            from_date: Earliest time, inclusive (a date means its start, UTC).
            to_date: Latest time (a date includes that whole day, UTC).
            request_id: Only the events of this request (its ``X-Request-ID``, also found in
                error messages of the SDK's exceptions).
            limit: Maximum number of events (all when ``None``).

        Returns:
            Dicts with ``id``, ``at``, ``user_id``, ``user_email``, ``action``, ``entity_type``,
            ``entity_id``, ``request_id``, ``method``, ``path``, ``status`` and ``details``.

        Raises:
            PermissionDeniedError: You are not an admin.

        Example:
            >>> for event in api.audit.get_list(entity_type='project', entity_id=project.id):
            ...     print(event['at'], event['user_email'], event['action'])
        """
        params = {"user": user, "entity_type": entity_type, "entity_id": entity_id, "action": action,
                  "request_id": request_id, "from": _iso(from_date), "to": _iso(to_date)}
        return list(self._iter_items("/audit-events", params, limit=limit))


def _iso(value: str | date | datetime | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.isoformat()
