"""Issue 9 §3: hostile values sent to every string and JSON field of every route (from the OpenAPI
document) on both databases, as an organization admin: only 2xx/4xx come back, and afterwards the
listings everyone shares still answer 200 with JSON.

A value class is sent to one field at a time, the other fields keeping plausible values (real ids
of a project, resource, annotation, worklist and dataset made beforehand), so the hostile value
reaches the service rather than being stopped by a missing neighbour. Destructive routes (DELETE)
get unknown ids in their other path parameters, so the world the sweep relies on stays intact.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom.uid import generate_uid

from fixtures.files import image_bytes, make_ct_slice, to_bytes

from conftest import BACKENDS, LiveServer, fresh_pg_database, start_server, unique

#: Strings every text field, query parameter, path parameter and form field gets.
HOSTILE_TEXT: dict[str, str] = {
    "lone-surrogate": "a\ud800b",
    "nul": "a\x00b",
    "crlf": "a\r\nX-Injected: yes",
    "control": "a\x1b[31m\x07\x7fb",
    "over-long": "x" * 70_000,
    "just-over-a-column": "y" * 2001,
    "far-future": "9999-12-31T23:00:00-05:00",
    "far-past": "0001-01-01T00:00:00+05:00",
}
#: JSON values every field of a JSON body gets (whatever type it declares).
DEEP = "[" * 1000 + "]" * 1000
HOSTILE_JSON: dict[str, str] = {
    "nan": "NaN",
    "infinity": "-Infinity",
    "deep-array": DEEP,
    "deep-object": '{"a":' * 1000 + "1" + "}" * 1000,
    "nan-inside": '{"a": [1, NaN]}',
    "surrogate-key": '{"\\ud800": 1}',
    "nul-inside": '{"a": "\\u0000"}',
    "huge-int": str(2**70),
}
#: Classes sent to path and query parameters (lengths once: URLs are cut at 8,000 characters).
URL_CLASSES = {"path": ("nul", "crlf", "over-long"),
               "query": ("lone-surrogate", "nul", "crlf", "control", "over-long", "far-future", "far-past")}
#: Stands for a fresh unique name in each request.
UNIQUE = "__UNIQUE_NAME__"
#: Listings that must still answer 200 after the sweep.
LISTINGS = ("/resources", "/resources?limit=500", "/resources/not-annotated", "/resources/channels", "/projects",
            "/users", "/datasets", "/jobs", "/audit-events", "/users/me", "/dicom/settings", "/dicomweb/studies")


#: backend → probe label → status code, to compare the backends (the same request, the same answer).
ANSWERS: dict[str, dict[str, int]] = {}


@pytest.fixture(scope="module", params=BACKENDS)
def hostile_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own (on PostgreSQL, its own database: the session's already has an admin)."""
    folder = tmp_path_factory.mktemp(f"hostile-{request.param}")
    if request.param == "sqlite":
        yield from start_server("sqlite", request, folder)
        return
    with fresh_pg_database() as url:
        yield from start_server("postgresql", request, folder, database_url=url)


class World:
    """Real entities whose ids fill path parameters and id fields."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http
        png = image_bytes("PNG")
        up = http.post("/resources", files={"resource": ("world.png", png, "image/png")},
                       data={"bypass_inbox": "true"})
        assert up.status_code == 201, up.text
        self.resource_id = up.json()["id"]
        project = http.post("/projects", json={"name": f"hostile-{uuid.uuid4().hex[:8]}",
                                               "resource_ids": [self.resource_id]})
        assert project.status_code in (200, 201), project.text
        self.project_id = project.json()["id"]
        ann = http.post(f"/annotations/{self.resource_id}/annotations",
                        json=[{"identifier": "finding", "type": "category", "scope": "image", "value": "yes"}])
        assert ann.status_code == 201, ann.text
        self.annotation_id = ann.json()[0]
        worklists = http.get(f"/projects/{self.project_id}/worklists").json()
        self.worklist_id = (worklists[0] if isinstance(worklists, list) else worklists["data"][0])["id"]
        datasets = http.get("/datasets").json()
        self.dataset_id = datasets["data"][0]["id"] if datasets.get("data") else str(uuid.uuid4())
        self.email = http.get("/users/me").json()["email"]
        self.png = png

    def path_value(self, name: str, destructive: bool) -> str:
        """A plausible value for path parameter ``name`` (unknown ids on destructive routes)."""
        ids = {"project_id": self.project_id, "resource_id": self.resource_id, "annotation_id": self.annotation_id,
               "worklist_id": self.worklist_id, "dataset_id": self.dataset_id}
        if name in ids:
            return str(uuid.uuid4()) if destructive else ids[name]
        return {"email": self.email, "user": self.email, "plane": "axial", "index": "0", "frame_index": "0",
                "kind": "annotations", "fmt": "zip", "ref": "1", "sha256": "0" * 64, "frames": "1", "frame": "1",
                "tag": "7FE00010", "identifier": "finding"}.get(name, str(uuid.uuid4()))

    def field_value(self, name: str, schema: dict[str, Any], spec: dict[str, Any]) -> Any:
        """A plausible JSON value for a body field."""
        ids = {"project_id": self.project_id, "resource_id": self.resource_id,
               "annotation_worklist_id": self.worklist_id, "dataset_id": self.dataset_id}
        if name in ids:
            return ids[name]
        if name in ("resource_ids", "resource_ids_to_add", "ids"):
            return [self.resource_id] if name != "ids" else [str(uuid.uuid4())]
        if name in ("email", "annotatorEmail"):
            return f"h-{uuid.uuid4().hex[:8]}@example.test"
        if name == "name":  # names are unique: each request gets its own (see Operation.json_kwargs)
            return UNIQUE
        return example(schema, spec)


def resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Follow ``$ref`` and take the first non-null branch of ``anyOf``."""
    while True:
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "anyOf" in schema:
            branches = [s for s in schema["anyOf"] if s.get("type") != "null"]
            schema = branches[0] if branches else {}
        else:
            return schema


def example(schema: dict[str, Any], spec: dict[str, Any]) -> Any:
    """A minimal valid-looking value of ``schema``."""
    schema = resolve(schema, spec)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "string":
        return "x"
    if kind in ("integer", "number"):
        return 0
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    if kind == "object":
        return {name: example(sub, spec) for name, sub in schema.get("properties", {}).items()
                if name in schema.get("required", [])}
    return "x"


def encode_query(value: str) -> str:
    """Percent-encode ``value`` as the raw bytes a hostile client sends (lone surrogates included)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


class Operation:
    """One route of the OpenAPI document with plausible values for each of its fields."""

    def __init__(self, path: str, method: str, op: dict[str, Any], spec: dict[str, Any], world: World) -> None:
        self.path, self.method, self.spec, self.world = path, method, spec, world
        self.label = f"{method.upper()} {path}"
        self.params = op.get("parameters", [])
        destructive = method == "delete"  # its other path parameters get unknown ids
        self.path_values = {p["name"]: world.path_value(p["name"], destructive)
                            for p in self.params if p["in"] == "path"}
        content = op.get("requestBody", {}).get("content", {})
        self.base_json: Any = None
        self.kinds: dict[str, str | None] = {}  # body field → its JSON type (None: any)
        if "application/json" in content:
            schema = resolve(content["application/json"].get("schema", {}), spec)
            self.base_json = {name: world.field_value(name, sub, spec)
                              for name, sub in schema.get("properties", {}).items()}
            self.kinds = {name: resolve(sub, spec).get("type") for name, sub in schema.get("properties", {}).items()}
            if path.endswith("/annotations") and method == "post":  # a JSON array of create items
                self.base_json = [{"identifier": "finding", "type": "category", "scope": "image", "value": "yes"}]
        self.form_fields: dict[str, Any] = {}
        if "multipart/form-data" in content:
            schema = resolve(content["multipart/form-data"].get("schema", {}), spec)
            self.form_fields = {name: resolve(sub, spec) for name, sub in schema.get("properties", {}).items()}

    def url(self, overrides: dict[str, str], query: str = "") -> str:
        values = {**{k: quote(v, safe="") for k, v in self.path_values.items()}, **overrides}
        return self.path.format(**values) + (f"?{query}" if query else "")

    def json_kwargs(self, raw: str | None = None) -> dict[str, Any]:
        if self.base_json is None:
            return {}
        text = (raw if raw is not None else json.dumps(self.base_json)).replace(UNIQUE, f"n-{uuid.uuid4().hex[:12]}")
        return {"content": text.encode("utf-8", "surrogatepass"), "headers": {"content-type": "application/json"}}

    def is_file(self, name: str) -> bool:
        return self.form_fields[name].get("format") == "binary" or name == "images"

    def form_kwargs(self, name: str | None = None, value: bytes = b"", filename: str = "mask.png") -> dict[str, Any]:
        if not self.form_fields:
            return {}
        files, data = {}, {}
        for field_name in self.form_fields:
            if self.is_file(field_name):
                files[field_name] = (filename, self.world.png, "image/png")
            elif field_name == name:
                data[field_name] = value
            elif field_name == "payload":
                data[field_name] = "[]"
        return {"files": files, "data": data}

    def body_kwargs(self) -> dict[str, Any]:
        return {**self.json_kwargs(), **self.form_kwargs()}

    def probes(self) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """(label, method, url, request kwargs) for each hostile value in each field."""
        label, method = self.label, self.method
        if method in ("post", "put", "patch"):  # python-multipart refuses boundaries over 256 characters
            boundary = "b" * 300
            body = f'--{boundary}\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--{boundary}--\r\n'
            for ctype in ("multipart/form-data", 'multipart/related; type="application/dicom"'):
                yield (f"{label} {ctype.split(';')[0]} boundary of 300 characters", method, self.url({}),
                       {"content": body.encode(), "headers": {"content-type": f"{ctype}; boundary={boundary}"}})
        for param in self.params:
            where = param["in"]
            for cls in URL_CLASSES[where] if where in URL_CLASSES else ():
                encoded = encode_query(HOSTILE_TEXT[cls][:8000])  # URLs stay under what HTTP clients send
                if where == "path":
                    url = self.url({param["name"]: encoded})
                elif where == "query":
                    url = self.url({}, f"{quote(param['name'])}={encoded}")
                yield f"{label} {where} {param['name']}={cls}", method, url, self.body_kwargs()
        if self.base_json is not None:
            for cls in ("nan", "deep-array", "deep-object"):
                yield f"{label} whole body={cls}", method, self.url({}), self.json_kwargs(HOSTILE_JSON[cls])
        if isinstance(self.base_json, dict):
            for name in self.base_json:
                for cls, raw in body_values(self.kinds.get(name)):
                    body = json.dumps({**self.base_json, name: "__HOSTILE__"}).replace('"__HOSTILE__"', raw)
                    yield f"{label} body {name}={cls}", method, self.url({}), self.json_kwargs(body)
        elif isinstance(self.base_json, list):
            for name in self.base_json[0]:
                for cls, raw in body_values(None):
                    body = json.dumps([{**self.base_json[0], name: "__HOSTILE__"}]).replace('"__HOSTILE__"', raw)
                    yield f"{label} body [0].{name}={cls}", method, self.url({}), self.json_kwargs(body)
        form_values = [*HOSTILE_TEXT.items(), ("json-nan", '{"a": NaN}'), ("json-deep", DEEP),
                       ("json-surrogate", '{"a": "\\ud800"}'), ("json-nul", '{"a": "\\u0000"}')]
        if self.form_fields:
            for cls, value in HOSTILE_TEXT.items():
                if cls != "lone-surrogate":  # not encodable in a multipart header; decoded as U+FFFD anyway
                    yield f"{label} file name={cls}", method, self.url({}), self.form_kwargs(filename=value + ".png")
        for name in self.form_fields:
            if self.is_file(name):
                continue
            for cls, value in form_values:
                yield (f"{label} form {name}={cls}", method, self.url({}),
                       self.form_kwargs(name, value.encode("utf-8", "surrogatepass")))


def body_values(kind: str | None) -> list[tuple[str, str]]:
    """(class, raw JSON) sent to a body field of JSON type ``kind``: every class to text, arrays,
    objects and untyped fields; to numbers and booleans, the classes that concern them (NaN,
    Infinity and huge integers are refused for the whole document, whatever field holds them)."""
    text = [(c, json.dumps(v)) for c, v in HOSTILE_TEXT.items() if c != "far-past"]
    if kind in ("integer", "number"):
        return [text[1], *((c, HOSTILE_JSON[c]) for c in ("nan", "infinity", "huge-int"))]
    if kind == "boolean":
        return [text[1], ("nan", HOSTILE_JSON["nan"])]
    if kind == "string":
        return [*text, *((c, HOSTILE_JSON[c]) for c in ("nan", "deep-array"))]
    if kind == "array":  # the hostile value as an element
        return [(c, f"[{raw}]") for c, raw in [*text, *HOSTILE_JSON.items()]]
    return [*text, *HOSTILE_JSON.items()]


def probes(spec: dict[str, Any], world: World) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(label, method, url, request kwargs) for each hostile value in each field of each route."""
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            yield from Operation(path, method, op, spec, world).probes()


def test_hostile_values_in_every_field_give_4xx_and_leave_listings_working(hostile_server: LiveServer) -> None:
    with httpx.Client(base_url=hostile_server.url, headers={"apikey": hostile_server.admin_key}, timeout=60) as http:
        world = World(http)
        spec = http.get("/openapi.json").json()
        failures: list[str] = []
        statuses = ANSWERS[hostile_server.backend] = {}
        sent = 0
        for label, method, url, kwargs in probes(spec, world):
            try:
                response = http.request(method.upper(), url, **kwargs)
            except httpx.HTTPError as exc:  # a dropped connection is a failure too
                failures.append(f"{label}: {type(exc).__name__}: {exc}")
                continue
            sent += 1
            statuses[label] = response.status_code
            if response.status_code >= 500:
                failures.append(f"{label}: {response.status_code} {response.text[:200]}")
        assert sent > 2000
        assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:60])
        # The same request gets the same answer on both databases (limits only PostgreSQL enforces,
        # such as column lengths and NUL, are enforced alike before either database is asked).
        for other, answers in ANSWERS.items():
            if other != hostile_server.backend:
                differ = [f"{label}: {other} {answers[label]}, {hostile_server.backend} {status}"
                          for label, status in statuses.items() if answers.get(label) != status]
                assert not differ, "\n".join(differ[:40])

        for listing in LISTINGS:
            response = http.get(listing)
            assert response.status_code == 200, f"{listing}: {response.status_code} {response.text[:300]}"
            response.json()
        search = http.post("/annotations/search", json={"limit": 500})
        assert search.status_code == 200, search.text
        for resource in http.get("/resources", params={"limit": 500}).json()["data"]:
            assert http.get(f"/resources/{resource['id']}").status_code == 200



# -- the instances the review found, each with its exact answer (the session's server, both DBs) --


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"apikey": server.admin_key}, timeout=30) as client:
        yield client


def _refused(response: httpx.Response, status: int, phrase: str) -> None:
    assert response.status_code == status, response.text
    assert phrase in response.json()["message"], response.json()["message"]


@pytest.mark.parametrize(("metadata", "phrase"), [
    ('{"a": "\\ud800"}', "a string contains a lone UTF-16 surrogate"),
    ('{"a": NaN}', "NaN is not a JSON number"),
    ('{"a": 1e999}', "NaN and Infinity are not JSON numbers"),
    ('{"a": "\\u0000"}', "a string contains a NUL character"),
    ('{"a":' * 1000 + "1" + "}" * 1000, "nested deeper than 32 levels"),
    ('{"a": 123456789012345678901234567890}', "an integer is outside the 64-bit range"),
])
def test_upload_metadata_no_backend_can_hold_is_422_and_creates_nothing(http, metadata, phrase):
    name = f"poison-{uuid.uuid4().hex[:8]}.png"
    response = http.post("/resources", files={"resource": (name, image_bytes("PNG"), "image/png")},
                         data={"metadata": metadata.encode("utf-8", "surrogatepass")})
    _refused(response, 422, phrase)
    assert http.get("/resources", params={"filename": name}).json()["totalCount"] == 0
    assert http.get("/resources").status_code == 200


def test_out_of_range_times_are_422(http):
    far = "9999-12-31T23:00:00-05:00"
    _refused(http.get("/resources", params={"from": far}), 422, "outside the supported range of times")
    _refused(http.get("/audit-events", params={"to": "0001-01-01T00:00:00+05:00"}), 422, "outside the supported range")
    _refused(http.post("/annotations/search", json={"from": far}), 422, "outside the supported range")
    assert http.get("/resources", params={"from": "9999-12-30T00:00:00Z"}).json()["totalCount"] == 0


def test_values_only_postgresql_enforces_are_refused_on_both(http, server):
    _refused(http.post("/projects", json={"name": "a\x00b"}), 422, "contains a NUL character")
    _refused(http.post("/projects", json={"name": "p" * 301}), 422, "at most 300 characters")
    _refused(http.get("/resources/channels", params={"channel_name": "a\x00"}), 422,
             "Invalid query parameter 'channel_name': contains a NUL character")
    _refused(http.post("/resources", files={"resource": ("a.png", image_bytes("PNG"), "image/png")},
                       data={"source": "s" * 21}), 422, "'source': is longer than 20 characters")


def test_a_multipart_boundary_over_256_characters_is_400(http):
    boundary = "b" * 300
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="resource"; filename="a.png"\r\n'
            f"Content-Type: image/png\r\n\r\n").encode() + image_bytes("PNG") + f"\r\n--{boundary}--\r\n".encode()
    response = http.post("/resources", content=body,
                         headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    _refused(response, 400, "Boundary length 300 exceeds maximum of 256")
    stow = http.post("/dicomweb/studies", content=body,
                     headers={"content-type": f'multipart/related; type="application/dicom"; boundary={boundary}'})
    _refused(stow, 400, "Boundary length 300 exceeds maximum of 256")


def test_identifiers_are_one_line_and_mask_downloads_name_any_identifier_safely(http):
    up = http.post("/resources", files={"resource": ("m.png", image_bytes("PNG"), "image/png")})
    rid = up.json()["id"]
    item = {"type": "segmentation", "scope": "frame", "frame_index": 0}
    crlf = http.post(f"/annotations/{rid}/annotations",
                     json=[{**item, "identifier": "liver\r\nSet-Cookie: x=1"}])
    _refused(crlf, 422, "'identifier' contains control characters (line breaks are not allowed here)")
    odd = 'rein "gauche"; résumé\\'
    created = http.post(f"/annotations/{rid}/annotations", json=[{**item, "identifier": odd}])
    assert created.status_code == 201, created.text
    aid = created.json()[0]
    mask = np.zeros((30, 40), dtype=np.uint8)
    mask[5:9, 5:9] = 255
    buf = io.BytesIO()
    Image.fromarray(mask).save(buf, format="PNG")
    attached = http.post(f"/annotations/{rid}/annotations/{aid}/file", files={"file": ("m.png", buf.getvalue())})
    assert attached.status_code == 200, attached.text
    download = http.get(f"/annotations/{rid}/annotations/{aid}/file")
    assert download.status_code == 200
    header = download.headers["content-disposition"]
    assert header == ("attachment; filename=\"rein _gauche_; r_sum__.png\"; "
                      "filename*=UTF-8''rein%20%22gauche%22%3B%20r%C3%A9sum%C3%A9%5C.png")
    assert unquote(header.split("filename*=UTF-8''")[1]) == odd + ".png"


def test_a_dicom_file_with_nul_padded_text_is_stored_without_the_nuls(http):
    ds = make_ct_slice(0, study=generate_uid(), series=generate_uid(), frame_of_reference=generate_uid())
    ds.PatientName = "Doe^Jo\x00hn"
    ds.PatientID = "P\x00-7"
    up = http.post("/resources", files={"resource": ("nul.dcm", to_bytes(ds), "application/dicom")})
    assert up.status_code == 201, up.text  # what a file says is kept as well as it can be, not refused
    metadata = http.get(f"/resources/{up.json()['id']}").json()["metadata"]
    assert "\x00" not in json.dumps(metadata)
    assert http.get("/resources", params={"limit": 500}).status_code == 200
    found = http.get("/dicomweb/studies", params={"StudyInstanceUID": ds.StudyInstanceUID})
    assert found.status_code == 200
    assert found.json()[0]["00100020"]["Value"] == ["P-7"]


@pytest.mark.parametrize(("body", "phrase"), [
    ('{"name": "exp\\u0000x"}', "a string contains a NUL character"),
    ('{"name": "exp-\\ud800"}', "a string contains a lone UTF-16 surrogate"),
    ('{"name": "exp-nan", "tags": [{"key": "k", "value": NaN}]}', "NaN and Infinity are not JSON numbers"),
])
def test_the_mlflow_api_refuses_what_its_tables_cannot_hold(http, body, phrase):
    project = http.post("/projects", json={"name": unique("mlflow")}).json()["id"]
    answer = http.post("/api/2.0/mlflow/experiments/create", params={"project_id": project},
                       content=body.encode(), headers={"content-type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error_code"] == "INVALID_PARAMETER_VALUE" and phrase in answer.json()["message"]
    search = http.post("/api/2.0/mlflow/experiments/search", params={"project_id": project}, json={"max_results": 10})
    assert search.status_code == 200, search.text
