"""No stored secret (password, password hash, key hash, API key, invitation token) ever leaves the
server in a response body, a header or a log line, except the one-time creation responses."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from datamint.server.audit.models import AuditEvent
from datamint.server.auth.models import ApiKey, Invitation, User


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + " " + str(getattr(record, "__dict__", "")))


@pytest.fixture
def captured_logs() -> Iterator[_Capture]:
    handler = _Capture()
    root, datamint_logger = logging.getLogger(), logging.getLogger("datamint")
    previous = datamint_logger.level
    datamint_logger.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        datamint_logger.setLevel(previous)


def test_no_secret_in_responses_or_logs(server, captured_logs):
    seen: list[tuple[str, str]] = []

    def record(response: httpx.Response) -> None:
        response.read()
        seen.append((f"{response.request.method} {response.request.url.path} -> {response.status_code}",
                     response.text + " " + str(dict(response.headers))))

    admin_key = server.new_org()
    email, invitee = f"s-{uuid.uuid4().hex[:8]}@example.test", f"i-{uuid.uuid4().hex[:8]}@example.test"
    passwords = ["first-Secret-" + uuid.uuid4().hex, "second-Secret-" + uuid.uuid4().hex, "Zq9!xw",
                 "third-Secret-" + uuid.uuid4().hex]
    wrong_key = "dmk_" + uuid.uuid4().hex * 2
    one_time: dict[str, str] = {}
    with httpx.Client(base_url=server.url, headers={"apikey": admin_key},
                      event_hooks={"response": [record]}) as http:
        assert http.post("/users", json={"email": email, "password": passwords[0]}).status_code == 201
        assert http.patch(f"/users/{email}", json={"password": passwords[1]}).status_code == 200
        assert http.patch(f"/users/{email}", json={"password": passwords[2]}).status_code == 422
        assert http.post("/users", json={"email": email, "password": passwords[0]}).status_code == 409
        created = http.post(f"/users/{email}/api-keys", json={"name": "k"})
        user_key = created.json()["key"]
        one_time[user_key] = seen[-1][0]
        http.get(f"/users/{email}/api-keys")
        http.get("/users/me/api-keys")
        invitation = http.post("/users/invite", json={"email": invitee})
        token = invitation.json()["token"]
        one_time[token] = seen[-1][0]
        http.get("/users/invitations")
        accepted = http.post("/invitations/accept", json={"token": token, "password": passwords[3]})
        invitee_key = accepted.json()["api_key"]
        one_time[invitee_key] = seen[-1][0]
        assert http.post("/invitations/accept", json={"token": token}).status_code == 404
        http.get("/users", headers={"apikey": invitee_key})
        http.get("/users/me", headers={"apikey": user_key})
        key_id = next(k["id"] for k in http.get(f"/users/{email}/api-keys").json() if k["name"] == "k")
        assert http.delete(f"/users/{email}/api-keys/{key_id}").status_code == 204
        assert http.get("/projects", headers={"apikey": user_key}).status_code == 401
        assert http.get("/projects", headers={"apikey": wrong_key}).status_code == 401
        http.get(f"/users/{email}")
        http.get("/audit-events")

    with server.database.transaction() as session:
        org = session.scalar(select(User.customer_id).where(User.email == email))
        hashes = [h for h in session.scalars(select(User.password_hash).where(User.customer_id == org)) if h]
        hashes += [h.rsplit("$", 1)[-1] for h in hashes]
        hashes += list(session.scalars(select(ApiKey.key_hash).where(ApiKey.customer_id == org)))
        hashes += list(session.scalars(select(Invitation.token_hash).where(Invitation.customer_id == org)))
        trail = " ".join(str(e.details) + str(e.path) for e in
                         session.scalars(select(AuditEvent).where(AuditEvent.customer_id == org)))
    assert len(hashes) >= 8
    plain = [admin_key, user_key, invitee_key, token, wrong_key, *passwords]
    secrets = plain + hashes

    leaks = []
    for label, text in seen:
        for secret in secrets:
            if secret in text and one_time.get(secret) != label:
                leaks.append(f"response {label} contains {secret[:10]}...")
    for line in captured_logs.lines:
        leaks += [f"log line contains {s[:10]}...: {line[:120]}" for s in secrets if s in line]
    leaks += [f"audit trail contains {s[:10]}..." for s in secrets if s in trail]
    assert not leaks, "\n".join(leaks)
    assert any("datamint.server.access" in line for line in captured_logs.lines)
    assert len(one_time) == 3 and len(seen) > 15
