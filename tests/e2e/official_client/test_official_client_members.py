"""The official datamint 2.45.0 client manages project members and invitations on our server unchanged."""

from __future__ import annotations

import json

from fixtures.official_client import run_official

from conftest import unique


def test_official_client_members_and_invitations(server, api):
    member_email = f"{unique('member')}@example.test"
    api.users.create(member_email)
    invitee = f"{unique('invitee')}@example.test"
    out = run_official(f"""
        import json
        from datamint import Api
        api = Api()
        p = api.projects.create({unique("official-members")!r}, 'members')
        user_id = api.users.get_by_email({member_email!r}).id
        api.projects.set_member(user_id, ['PROJECT_REVIEWER'], p)
        after_set = {{m['user_id']: m['roles'] for m in api.projects.get_members(p)}}
        api.projects.remove_member(user_id, p)
        after_remove = [m['user_id'] for m in api.projects.get_members(p)]
        invitation = api.users.invite({invitee!r}, project=p, project_roles=['PROJECT_ANNOTATOR'])
        listed = [i['email'] for i in api.users.get_invitations(project=p)]
        api.users.revoke_invitation({invitee!r})
        after_revoke = [i['email'] for i in api.users.get_invitations(project=p)]
        print(json.dumps(dict(user_id=user_id, after_set=after_set, after_remove=after_remove,
                              invited=invitation['email'], has_link='invitation_link' in invitation,
                              listed=listed, after_revoke=after_revoke)))
    """, server.url, server.admin_key)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["after_set"][result["user_id"]] == ["PROJECT_REVIEWER"]
    assert result["user_id"] not in result["after_remove"] and len(result["after_remove"]) == 1
    assert result["invited"] == invitee and result["has_link"]
    assert result["listed"] == [invitee] and result["after_revoke"] == []
