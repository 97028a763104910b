"""The permission tables: docs/permissions.md and server/policy.py must say the same thing."""

from __future__ import annotations

import pytest

from datamint.server import policy
from datamint.server.auth.service import ORG_ROLES, Principal
from datamint.server.errors import ForbiddenError
from fixtures.authz.permissions_doc import SPECIAL_ACTIONS, body_rows, conflict_rows, grants, route_rows

ORG_ROLE_OF_ACTOR = {"member": "member", "annotator": "member", "reviewer": "member", "manager": "member",
                     "admin": "admin"}
PROJECT_ROLE_OF_ACTOR = {"annotator": "PROJECT_ANNOTATOR", "reviewer": "PROJECT_REVIEWER",
                         "manager": "PROJECT_MANAGER"}


def _principal(*roles: str) -> Principal:
    return Principal("u", "u@example.test", "c", tuple(roles))


def test_organization_table_matches_the_document():
    in_code = {a.value: {role for role, acts in policy.ORG_TABLE.items() if a in acts} for a in policy.Action}
    assert grants("org-actions") == in_code
    assert set(policy.ORG_TABLE) == set(ORG_ROLES)


def test_project_table_matches_the_document():
    in_code = {a.value: {role for role, acts in policy.PROJECT_TABLE.items() if a in acts}
               for a in policy.ProjectAction}
    assert grants("project-actions") == in_code
    assert set(policy.PROJECT_TABLE) == set(policy.PROJECT_ROLES)


def test_every_route_row_names_a_known_action():
    known = {a.value for a in policy.Action} | {a.value for a in policy.ProjectAction} | set(SPECIAL_ACTIONS)
    unknown = {key: row.action for key, row in route_rows().items() if row.action not in known}
    assert not unknown, f"route rows with unknown actions: {unknown}"


def _is_success(status: int) -> bool:
    return 200 <= status < 300


def _contradictions() -> list[str]:
    """Statuses in the routes table that contradict the role × action tables."""
    org, project = grants("org-actions"), grants("project-actions")
    problems = []
    for key, row in route_rows().items():
        exp = row.expected
        if row.action == "public":
            problems += [f"{key}: public route gives {actor} {s}"
                         for actor, s in exp.items() if not _is_success(s)]
            continue
        problems += [f"{key}: {actor} must get 401" for actor in ("anonymous", "wrong key", "revoked key")
                     if exp[actor] != 401]
        if row.action in org:
            for actor, role in ORG_ROLE_OF_ACTOR.items():
                granted = role in org[row.action]
                if (exp[actor] == 403 and granted) or (_is_success(exp[actor]) and not granted):
                    problems.append(f"{key}: {actor} gets {exp[actor]} but '{role}' "
                                    f"{'grants' if granted else 'does not grant'} {row.action}")
        if row.action in project:
            problems += [f"{key}: {actor} must get 404 for project data"
                         for actor in ("other org admin", "member") if exp[actor] != 404]
            if not _is_success(exp["admin"]):
                problems.append(f"{key}: organization admins hold every project action")
            for actor, role in PROJECT_ROLE_OF_ACTOR.items():
                granted = role in project[row.action]
                if (exp[actor] == 403 and granted) or (_is_success(exp[actor]) and not granted):
                    problems.append(f"{key}: {actor} gets {exp[actor]} but {role} "
                                    f"{'grants' if granted else 'does not grant'} {row.action}")
    return problems


def test_route_statuses_agree_with_the_role_tables():
    problems = _contradictions()
    assert not problems, "\n".join(problems)


def test_require_allows_and_forbids_by_table():
    policy.require(_principal("member"), policy.Action.PROJECTS_CREATE)
    policy.require(_principal("admin"), policy.Action.AUDIT_READ)
    with pytest.raises(ForbiddenError, match="audit.read"):
        policy.require(_principal("member"), policy.Action.AUDIT_READ)
    with pytest.raises(ForbiddenError):
        policy.require(_principal(), policy.Action.USERS_READ)
    with pytest.raises(ForbiddenError):
        policy.require(_principal("superuser"), policy.Action.USERS_READ)


def test_project_roles_by_table():
    member = _principal("member")
    assert policy.project_allowed(member, ["PROJECT_ANNOTATOR"], policy.ProjectAction.ANNOTATE)
    assert not policy.project_allowed(member, ["PROJECT_ANNOTATOR"], policy.ProjectAction.REVIEW)
    both = ["PROJECT_ANNOTATOR", "PROJECT_REVIEWER"]
    assert policy.project_allowed(member, both, policy.ProjectAction.REVIEW)
    assert not policy.project_allowed(member, None, policy.ProjectAction.READ)
    assert policy.project_allowed(_principal("admin"), None, policy.ProjectAction.MEMBERS_MANAGE)
    with pytest.raises(ForbiddenError, match="project.members.manage"):
        policy.require_project(member, ["PROJECT_REVIEWER"], policy.ProjectAction.MEMBERS_MANAGE)


def test_body_and_conflict_tables_are_well_formed():
    rows = body_rows()
    assert rows and all(r.refers_to in {"resource", "project", "worklist", "annotation", "dataset", "user", "none"}
                        for r in rows)
    assert all(r.other_org is None and r.hidden is None for r in rows if r.refers_to == "none")
    assert all(r.hidden is None for r in rows if r.refers_to in ("resource", "user") or r.caller == "admin")
    known = route_rows()
    assert {r.key for r in rows} <= set(known) and {f"{c.method} {c.path}" for c in conflict_rows()} <= set(known)
    assert all(c.status in (201, 409) and (c.status == 409 or not c.existing) for c in conflict_rows())
