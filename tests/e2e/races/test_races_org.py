"""Invariants of users, admins, invitations, keys, project names and members under 16 requests at once.

Each test fires :data:`races.N` identical or conflicting requests together (one thread and one
connection each) at the live server, then checks that the invariant holds exactly and that every
answer was a success or a 409 with a message. Where a request may legitimately be refused by
authorization because an earlier one of the burst took its caller's role away (a demoted admin),
that 403 is allowed explicitly; no 5xx ever is.
"""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from datamint.server.auth.models import ApiKey, Invitation, User
from datamint.server.projects.models import Project, ProjectMember
from fixtures.names import unique
from fixtures.races import Call, N, assert_clean, at_once, same, statuses


def _client(server, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"apikey": key}, timeout=60)


def _admins(server, key: str) -> list[str]:
    with _client(server, key) as c:
        return sorted(u["email"] for u in c.get("/users", params={"limit": 1000}).json()["data"]
                      if "admin" in u["roles"])


def _lost_admin_role(response: httpx.Response) -> bool:
    """A request authenticated after an earlier one of the burst demoted its caller."""
    return response.status_code == 403 and "users.manage" in response.json()["message"]


def test_sixteen_creations_of_one_email_make_one_user(server):
    admin = server.new_org()
    email = f"{unique('same')}@example.test"
    calls = [Call(admin, "POST", "/users", json={"email": email if i % 2 else email.upper()}) for i in range(N)]
    responses = at_once(server.url, calls)
    assert_clean(responses)
    assert statuses(responses).count(201) == 1
    created = next(r.json() for r in responses if r.status_code == 201)
    assert all(r.json()["existing"]["id"] == created["id"] for r in responses if r.status_code == 409)
    with server.database.transaction() as s:
        assert s.scalar(select(func.count()).select_from(User).where(func.lower(User.email) == email.lower())) == 1


def test_two_admins_demoting_each_other_leave_one_admin(server):
    first = server.new_org()
    second_email, second = server.new_user(roles=["admin"], admin_key=first)
    first_email = next(e for e in _admins(server, first) if e != second_email)
    calls = [Call(first, "PATCH", f"/users/{second_email}", json={"roles": ["member"]}) if i % 2 else
             Call(second, "PATCH", f"/users/{first_email}", json={"roles": ["member"]}) for i in range(N)]
    responses = at_once(server.url, calls)
    assert_clean(responses, allowed=_lost_admin_role)
    assert 200 in statuses(responses)
    survivors = _admins(server, first)  # listing users needs no admin role
    assert len(survivors) == 1 and survivors[0] in (first_email, second_email)


def test_two_admins_deleting_each_other_leave_one_admin(server):
    first = server.new_org()
    second_email, second = server.new_user(roles=["admin"], admin_key=first)
    first_email = next(e for e in _admins(server, first) if e != second_email)
    calls = [Call(first, "DELETE", f"/users/{second_email}") if i % 2 else
             Call(second, "DELETE", f"/users/{first_email}") for i in range(N)]
    responses = at_once(server.url, calls)

    def gone(response: httpx.Response) -> bool:  # the caller's account (and key) or the target is gone
        return response.status_code in (401, 404)

    assert_clean(responses, allowed=gone)
    assert statuses(responses).count(204) == 1
    with server.database.transaction() as s:
        left = s.scalars(select(User.email).where(User.email.in_([first_email, second_email]))).all()
    assert len(left) == 1


def _project_with_two_managers(server, admin: str) -> tuple[str, str, str]:
    one, one_key = server.new_user(admin_key=admin)
    two, _ = server.new_user(admin_key=admin)
    with _client(server, one_key) as c:
        project = c.post("/projects", json={"name": unique("p")}).json()["id"]
        assert c.post(f"/projects/{project}/members/{two}", json={"roles": ["PROJECT_MANAGER"]}).status_code == 200
    return project, one, two


def _managers(server, admin: str, project: str) -> list[str]:
    with _client(server, admin) as c:
        return [m["email"] for m in c.get(f"/projects/{project}/members").json() if "PROJECT_MANAGER" in m["roles"]]


def test_demoting_both_managers_at_once_leaves_one(server):
    admin = server.new_org()
    project, one, two = _project_with_two_managers(server, admin)
    calls = [Call(admin, "POST", f"/projects/{project}/members/{one if i % 2 else two}",
                  json={"roles": ["PROJECT_ANNOTATOR"]}) for i in range(N)]
    responses = at_once(server.url, calls)
    assert_clean(responses)
    assert len(_managers(server, admin, project)) == 1
    assert 409 in statuses(responses) and 200 in statuses(responses)
    assert all("last PROJECT_MANAGER" in r.json()["message"] for r in responses if r.status_code == 409)


def test_removing_both_managers_at_once_leaves_one(server):
    admin = server.new_org()
    project, one, two = _project_with_two_managers(server, admin)
    calls = [Call(admin, "DELETE", f"/projects/{project}/members/{one if i % 2 else two}") for i in range(N)]
    responses = at_once(server.url, calls)

    def already_removed(response: httpx.Response) -> bool:
        return response.status_code == 404 and response.json()["message"].startswith("Project member not found")

    assert_clean(responses, allowed=already_removed)
    assert statuses(responses).count(204) == 1
    assert len(_managers(server, admin, project)) == 1


def test_sixteen_invitations_of_one_email_leave_one_open(server):
    admin = server.new_org()
    with _client(server, admin) as c:
        project = c.post("/projects", json={"name": unique("p")}).json()["id"]
    email = f"{unique('inv')}@example.test"
    calls = [Call(admin, "POST", "/users/invite",
                  json={"email": email if i % 2 else email.upper(), **({"project_id": project} if i % 3 else {})})
             for i in range(N)]
    responses = at_once(server.url, calls)
    assert_clean(responses)
    assert statuses(responses) == [201] * N
    with _client(server, admin) as c:
        listed = [i for i in c.get("/users/invitations").json() if i["email"].lower() == email]
    assert len(listed) == 1
    with server.database.transaction() as s:
        open_rows = s.scalar(select(func.count()).select_from(Invitation).where(
            func.lower(Invitation.email) == email, Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None)))
    assert open_rows == 1
    accepted = [httpx.post(f"{server.url}/invitations/accept", json={"token": r.json()["token"]}).status_code
                for r in responses]
    assert accepted.count(201) == 1 and set(accepted) == {201, 404}


def test_sixteen_projects_with_one_name_make_one(server):
    admin = server.new_org()
    name = unique("same-name")
    responses = at_once(server.url, same(Call(admin, "POST", "/projects", json={"name": name})))
    assert_clean(responses)
    assert statuses(responses).count(201) == 1
    created = next(r.json()["id"] for r in responses if r.status_code == 201)
    assert {r.json()["existing"]["id"] for r in responses if r.status_code == 409} == {created}
    with server.database.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Project).where(Project.name == name)) == 1


def test_sixteen_keys_with_one_name_make_one(server):
    _, key = server.new_user()
    responses = at_once(server.url, same(Call(key, "POST", "/users/me/api-keys", json={"name": "laptop"})))
    assert_clean(responses)
    assert statuses(responses).count(201) == 1
    refused = [r.json() for r in responses if r.status_code == 409]
    assert all("already has an API key named 'laptop'" in body["message"] for body in refused)
    assert all("key" not in r.json()["existing"] and "key_hash" not in r.json()["existing"]
               for r in responses if r.status_code == 409)
    with _client(server, key) as c:
        named = [k for k in c.get("/users/me/api-keys").json() if k["name"] == "laptop" and not k["revoked"]]
    assert len(named) == 1


def test_sixteen_additions_of_one_member_make_one_membership(server):
    admin = server.new_org()
    email, _ = server.new_user(admin_key=admin)
    with _client(server, admin) as c:
        project = c.post("/projects", json={"name": unique("p")}).json()["id"]
    responses = at_once(server.url, same(Call(admin, "POST", f"/projects/{project}/members/{email}",
                                              json={"roles": ["PROJECT_REVIEWER"]})))
    assert_clean(responses)
    assert statuses(responses) == [200] * N
    with server.database.transaction() as s:
        user_id = s.scalar(select(User.id).where(User.email == email))
        rows = s.scalars(select(ProjectMember).where(ProjectMember.project_id == project,
                                                      ProjectMember.user_id == user_id)).all()
        assert [r.roles for r in rows] == [["PROJECT_REVIEWER"]]
    with server.database.transaction() as s:
        assert s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.user_id == user_id)) == 1
