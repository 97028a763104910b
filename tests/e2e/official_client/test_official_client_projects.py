"""The official datamint 2.45.0 client works against our server unchanged (projects and users)."""

from __future__ import annotations

import json

from fixtures.official_client import run_official

from conftest import unique


def test_official_client_projects_and_users(server):
    name = unique("official")
    email = f"{unique('official')}@example.test"
    out = run_official(f"""
        import json
        from datamint import Api
        from datamint.exceptions import EntityAlreadyExistsError
        api = Api()
        p = api.projects.create({name!r}, 'made by the official client')
        again = api.projects.create({name!r}, 'x', exists_ok=True)
        try:
            api.projects.create({name!r}, 'x')
            dup = 'no error'
        except EntityAlreadyExistsError:
            dup = 'EntityAlreadyExistsError'
        found = api.projects.get_by_name({name!r})
        api.projects.delete(p)
        archived = api.projects.get_by_id(p.id).archived
        api.users.create({email!r}, firstname='Off')
        user = api.users.get_by_email({email!r})
        print(json.dumps(dict(id=p.id, again=again.id, dup=dup, found=found.id, archived=archived,
                              count=p.resource_count, user=user.email, first=user.firstname)))
    """, server.url, server.admin_key)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["again"] == result["id"] == result["found"]
    assert result["dup"] == "EntityAlreadyExistsError"
    assert result["archived"] is True and result["count"] == 0
    assert (result["user"], result["first"]) == (email, "Off")


def test_official_client_rejects_a_wrong_key(server):
    out = run_official("""
        from datamint import Api
        try:
            Api(api_key='dmk_wrong')
            print('connected')
        except Exception as exc:
            print(type(exc).__name__)
    """, server.url, server.admin_key)
    assert out.strip().splitlines()[-1] == "NetworkError"  # how 2.45.0 reports a 401 at connect time
