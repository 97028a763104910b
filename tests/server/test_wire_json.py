"""The JSON a listing page's database writes (``resources.wire_json``) holds the same fields, in the
same order, with the same values as the Python wire dicts of single resources (``wire.to_wire_many``),
on both backends, for the values that differ most between the two writers: times with and without
microseconds, text that needs escaping, nested metadata with floats and unicode, unset values, tag
order, several projects, an uploader without names or without a user row."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from datamint.server.auth.models import Organization, User
from datamint.server.projects.models import Dataset, Project
from datamint.server.resources import repository as repo
from datamint.server.resources import wire, wire_json
from datamint.server.resources.models import ProjectResource, Resource, ResourceTag

ORG = "00000000-0000-4000-8000-000000000001"
DATASET = "00000000-0000-4000-8000-000000000031"
NAMED, UNNAMED = "00000000-0000-4000-8000-000000000011", "00000000-0000-4000-8000-000000000012"
METADATA = {"width": 512, "spacing": [0.1, 1e-05, 2.5e16], "ratio": -0.0, "note": 'é "q" \\ \n\t\u0001 🩻',
            "nested": {"ok": True, "none": None, "list": [{"a": 1}, []]}, "big": 2**62}


def _rid(i: int) -> str:
    return f"00000000-0000-4000-8000-0000000001{i:02d}"


def _resource(i: int, **values: object) -> Resource:
    base = dict(id=_rid(i), customer_id=ORG, storage="DicomResource", location=f"k/{i}", filename="a.dcm",
                mimetype="application/dicom", size=10, status="inbox", created_by="u@lab.test",
                created_by_id=NAMED, created_at=datetime(2026, 11, 1, 9, 0, 0, 123456, tzinfo=timezone.utc))
    return Resource(**{**base, **values})


def test_database_json_equals_the_python_wire_dicts(migrated_database):
    db = migrated_database
    with db.transaction() as s:
        s.add(Organization(id=ORG, name="Lab"))
        s.flush()
        s.add_all([User(id=NAMED, customer_id=ORG, email="u@lab.test", firstname="Zoë", lastname='O"Neil', roles=[]),
                   User(id=UNNAMED, customer_id=ORG, email="v@lab.test", roles=[])])
        s.add(Dataset(id=DATASET, customer_id=ORG, name="d", created_by="u@lab.test"))
        s.flush()
        s.add_all([Project(id=f"00000000-0000-4000-8000-00000000002{n}", customer_id=ORG, name=name,
                           created_by="u@lab.test", dataset_id=DATASET)
                   for n, name in enumerate(("zeta", "Alpha", "beta"))])
        s.add_all([
            _resource(0, filename='scan "1"\\\n\u00e9.dcm', file_metadata=METADATA,
                      source_filepath="/data/é/x.dcm", upload_channel="c1", modality="CT", size=2**40,
                      status="published", published=True, published_by="u@lab.test",
                      published_on=datetime(2026, 11, 2, 10, 30, tzinfo=timezone.utc),
                      instance_uid="1.2.3", series_uid="1.2", study_uid="1", patient_id="P-1",
                      content_sha256="ab" * 32),
            _resource(1, created_at=datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc), file_metadata=None,
                      created_by_id=UNNAMED, deleted=True, deleted_by="u@lab.test",
                      deleted_at=datetime(2026, 11, 3, 0, 0, 0, 1, tzinfo=timezone.utc)),
            _resource(2, created_by_id="00000000-0000-4000-8000-000000000099", file_metadata={}),
        ])
        s.flush()
        s.add_all([ResourceTag(resource_id=_rid(0), tag=tag, position=p) for p, tag in enumerate(("z", "a", "m"))])
        s.add_all([ProjectResource(project_id=f"00000000-0000-4000-8000-00000000002{n}", resource_id=_rid(0),
                                   added_by="u@lab.test") for n in range(3)])
        s.add(ProjectResource(project_id="00000000-0000-4000-8000-000000000021", resource_id=_rid(2),
                              added_by="u@lab.test"))

    ids = [_rid(i) for i in range(3)]
    with db.transaction() as s:
        written = wire_json.resources_json(s, [*ids, _rid(9)])  # an id without a row is left out
        expected = wire.to_wire_many(s, [s.get(Resource, rid) for rid in ids])
    assert sorted(written) == ids
    for want in expected:
        got = json.loads(written[want["id"]])
        assert list(got) == list(want)  # same fields, same order
        assert got == want
    zero, one, two = expected
    assert zero["created_at"] == "2026-11-01T09:00:00.123456Z" and one["created_at"] == "2026-11-01T09:00:00Z"
    assert zero["tags"] == ["z", "a", "m"] and [p["name"] for p in zero["projects"]] == ["Alpha", "beta", "zeta"]
    assert one["metadata"] == {} and one["user_info"] == {"firstname": "", "lastname": ""}
    assert two["user_info"] == {"firstname": "", "lastname": ""} and len(two["projects"]) == 1


def test_a_listing_page_carries_the_written_objects_in_order(migrated_database):
    db = migrated_database
    with db.transaction() as s:
        s.add(Organization(id=ORG, name="Lab"))
        s.flush()
        s.add_all([_resource(i, created_at=datetime(2026, 11, 1, 9, i, tzinfo=timezone.utc)) for i in range(5)])
    with db.transaction() as s:
        page = repo.list_resources(s, ORG, repo.ResourceFilters(), 1, 3)
    assert page.ids == [_rid(3), _rid(2), _rid(1)] and page.total == 5
    assert [json.loads(item)["id"] for item in page.items] == page.ids
    assert page.next_after == (datetime(2026, 11, 1, 9, 1, tzinfo=timezone.utc), _rid(1))
