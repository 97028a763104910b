"""The authorization matrix, continued: ids inside request bodies, and what conflicts reveal.

The bodies and conflicts tables of docs/permissions.md are the specification. For every id a
body can carry, a valid request from the row's caller is sent once as it is (it must succeed) and
once with the id replaced by one of another organization and one of a project the caller does not
see; the answers must be the documented ones. Every conflict of the table is provoked and its
answer checked: the status, whether it carries the existing entity, and that nothing the caller
may not read leaks into it.
"""

from __future__ import annotations

import re

import httpx
import pytest

from fixtures.authz.bodies import CONFLICTS, strangers, with_field
from fixtures.authz.permissions_doc import PATH_PARAM_RE, body_rows, conflict_rows
from fixtures.authz.world import PNG, REQUESTS, Request, World

_ID_FIELD = re.compile(r"(^|_)ids?($|_)|^annotators?$")


@pytest.fixture(scope="module")
def world(server) -> World:
    return World(server)


def _schema_fields(schema: dict, components: dict, path: str = "", seen: tuple[str, ...] = ()) -> set[str]:
    """Id-like fields of a request body schema, in the bodies table's syntax."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return set() if name in seen else _schema_fields(components[name], components, path, (*seen, name))
    found: set[str] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found |= _schema_fields(sub, components, path, seen)
    if schema.get("type") == "array" and isinstance(schema.get("items"), dict):
        found |= _schema_fields(schema["items"], components, path + "[]", seen)
    for name, prop in (schema.get("properties") or {}).items():
        here = f"{path}.{name}" if path else name
        if _ID_FIELD.search(name):
            is_list = prop.get("type") == "array" or any(s.get("type") == "array" for s in prop.get("anyOf", []))
            found.add(here + ("[]" if is_list else ""))
        found |= _schema_fields(prop, components, here, seen)
    return found


def test_every_id_in_a_body_has_a_row(server):
    schema = server.app.openapi()
    components = schema.get("components", {}).get("schemas", {})
    documented = {(r.key, r.field.removeprefix("form:")) for r in body_rows()}
    missing = []
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            for content in op.get("requestBody", {}).get("content", {}).values():
                for name in _schema_fields(content.get("schema", {}), components):
                    if (f"{method.upper()} {path}", name) not in documented:
                        missing.append(f"{method.upper()} {path}: {name}")
    assert not missing, ("ids in request bodies without a row in the bodies table of docs/permissions.md: "
                         f"{sorted(missing)}")
    stale = sorted({r.key for r in body_rows()} - {f"{m.upper()} {p}" for p, ops in schema["paths"].items()
                                                   for m in ops})
    assert not stale, f"bodies rows for routes that do not exist: {stale}"


def _send(client: httpx.Client, world: World, key: str, actor: str, req: Request) -> httpx.Response:
    method, path = key.split(" ", 1)
    params = {**world.path_defaults(), **req.params}
    url = PATH_PARAM_RE.sub(lambda m: params[m.group(1)], path)
    headers = {"apikey": world.actors[actor].key} if world.actors[actor].key else {}
    return client.request(method, url, headers=headers, json=req.json, params=req.query, files=req.files)


def _build(world: World, key: str, actor: str) -> Request:
    builder = REQUESTS.get(key)
    return builder(world, world.actors[actor]) if builder else Request()


def test_ids_in_bodies_are_resolved_as_the_caller_sees_them(server, world):
    reach = strangers(world)
    mismatches = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for row in body_rows():
            cases = [(name, status) for name, status in (("other org", row.other_org), ("hidden", row.hidden))
                     if status is not None]
            if not cases:
                continue
            baseline = _send(client, world, row.key, row.caller, _build(world, row.key, row.caller))
            if not baseline.is_success:
                mismatches.append(f"{row.key} as {row.caller}: the request itself fails: {baseline.status_code} "
                                  f"{baseline.text[:120]}")
                continue
            for name, expected in cases:
                value = reach[name].ids[row.refers_to]
                req = with_field(_build(world, row.key, row.caller), row.field, value)
                response = _send(client, world, row.key, row.caller, req)
                if response.status_code != expected:
                    mismatches.append(f"{row.key} {row.field} ({name}): expected {expected}, got "
                                      f"{response.status_code}: {response.text[:160]}")
                elif expected == 404 and " not found" not in response.json()["message"]:
                    mismatches.append(f"{row.key} {row.field} ({name}): 404 without '<Thing> not found'")
                if reach[name].secret in response.text:
                    mismatches.append(f"{row.key} {row.field} ({name}): the answer leaks the stranger's data")
    assert not mismatches, "ids in bodies answered otherwise than docs/permissions.md says:\n" + "\n".join(mismatches)


def test_conflicts_answer_as_documented(server, world):
    rows = conflict_rows()
    assert {(f"{r.method} {r.path}", r.conflict) for r in rows} == set(CONFLICTS), \
        "every row of the conflicts table needs a builder in tests/e2e/authz_bodies.py (and only those)"
    mismatches = []
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for row in rows:
            case = CONFLICTS[(f"{row.method} {row.path}", row.conflict)](world)
            assert case.actor == row.caller, f"{row.method} {row.path} ({row.conflict}): acts as {case.actor}"
            key = world.actors[case.actor].key
            response = client.request(case.method, case.url, json=case.json, headers={"apikey": key} if key else {})
            body = response.json() if response.content else {}
            problem = None
            if response.status_code != row.status:
                problem = f"status {response.status_code}"
            elif row.status == 409 and not body.get("message"):
                problem = "a 409 without a message"
            elif ("existing" in body) != row.existing:
                problem = f"'existing' {'missing' if row.existing else 'present'}"
            elif row.existing and case.existing_id and body["existing"]["id"] != case.existing_id:
                problem = f"existing is {body['existing'].get('id')}, not {case.existing_id}"
            elif row.status == 409 and any(secret in response.text for secret in case.hidden):
                problem = "the answer leaks what the caller may not see"
            if problem:
                mismatches.append(f"{row.method} {row.path} ({row.conflict}): {problem}: {response.text[:200]}")
    assert not mismatches, "conflicts answered otherwise than docs/permissions.md says:\n" + "\n".join(mismatches)


def test_moving_an_annotation_needs_manage_where_it_leaves(server):
    """``PATCH /annotations/{id}`` with ``project_id`` checks the project the annotation leaves,
    not only the one it joins (an annotator or reviewer must not carry annotations out)."""
    admin_key = server.new_org()
    annotator_email, annotator_key = server.new_user(admin_key=admin_key)
    reviewer_email, reviewer_key = server.new_user(admin_key=admin_key)
    admin = httpx.Client(base_url=server.url, headers={"apikey": admin_key}, timeout=60)
    resource = admin.post("/resources", files={"resource": ("a.png", PNG, "image/png")}).json()["id"]
    source, destination = (admin.post("/projects", json={"name": f"{n}-{resource[:8]}", "resource_ids": [resource]})
                           .json() for n in ("from", "to"))
    for project in (source, destination):
        for email, role in ((annotator_email, "PROJECT_ANNOTATOR"), (reviewer_email, "PROJECT_REVIEWER")):
            assert admin.post(f"/projects/{project['id']}/members/{email}", json={"roles": [role]}).status_code == 200
    mine = httpx.Client(base_url=server.url, headers={"apikey": annotator_key}, timeout=60)
    (annotation,) = mine.post(f"/annotations/{resource}/annotations", json=[
        {"type": "label", "identifier": "x", "annotation_worklist_id": source["worklist_id"]}]).json()
    reviewer = httpx.Client(base_url=server.url, headers={"apikey": reviewer_key}, timeout=60)

    for client in (mine, reviewer):  # project.annotate / project.review where it is, but not project.manage
        refused = client.patch(f"/annotations/{annotation}", json={"project_id": destination["id"]})
        assert refused.status_code == 403 and "project.manage" in refused.json()["message"]
    assert admin.get(f"/annotations/{annotation}").json()["project_id"] == source["id"]
    same_place = mine.patch(f"/annotations/{annotation}", json={"project_id": source["id"], "identifier": "x"})
    assert same_place.status_code == 200  # naming the project it is in moves nothing

    elsewhere = admin.post("/projects", json={"name": f"empty-{resource[:8]}"}).json()
    not_there = admin.patch(f"/annotations/{annotation}", json={"project_id": elsewhere["id"]})
    assert not_there.status_code == 422 and "is not in project" in not_there.json()["message"]
    moved = admin.patch(f"/annotations/{annotation}", json={"project_id": destination["id"]})
    assert moved.status_code == 200
    assert (moved.json()["project_id"], moved.json().get("annotation_worklist_id")) == (destination["id"], None)
    for client in (admin, mine, reviewer):
        client.close()
