"""Revision 0008_race_invariants on a database with data: rows that break its new constraints
are repaired, and nothing else is lost (SQLite rebuilds ``users``; with foreign keys enforced that would have
emptied every table that references it)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from datamint.server.auth.models import ApiKey, Invitation, Organization, User
from datamint.server.datasets.models import ProjectResourceSplit
from datamint.server.db import migrate
from datamint.server.db.session import Database
from datamint.server.projects.models import Dataset, Project, ProjectMember
from datamint.server.resources.models import ProjectResource, Resource
from datamint.server.worklists.models import Worklist

#: The revision before 0008_race_invariants.
BEFORE = "0007_upload_duplicates"
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _seed(db: Database) -> dict[str, str]:
    """Data as the previous revision allowed it, duplicates included; the ids the test checks."""
    with db.transaction() as s:
        org = Organization(id="00000000-0000-4000-8000-000000000001", name="Lab", created_at=T0)
        s.add(org)
        s.flush()
        user = User(id="00000000-0000-4000-8000-000000000002", customer_id=org.id, email="ana@lab.test",
                    roles=["admin"], created_at=T0)
        s.add(user)
        s.flush()
        keys = [ApiKey(id=f"00000000-0000-4000-8000-00000000001{i}", user_id=user.id, customer_id=org.id, name=name,
                       prefix=f"dmk_{i}", key_hash=f"{i}" * 64, created_at=_at(i), revoked_at=revoked)
                for i, (name, revoked) in enumerate([("laptop", None), ("laptop", None), ("laptop (2)", None),
                                                     ("laptop", _at(9)), (None, None), (None, None)])]
        s.add_all(keys)
        dataset = Dataset(id="00000000-0000-4000-8000-000000000020", customer_id=org.id, name="P", created_by="a")
        s.add(dataset)
        s.flush()
        project = Project(id="00000000-0000-4000-8000-000000000021", customer_id=org.id, name="P", created_by="a",
                          dataset_id=dataset.id)
        s.add(project)
        s.flush()
        s.add(ProjectMember(project_id=project.id, user_id=user.id, roles=["PROJECT_MANAGER"]))
        resource = Resource(id="00000000-0000-4000-8000-000000000030", customer_id=org.id, storage="local",
                            location="k", filename="a.png", mimetype="image/png", size=1, status="inbox",
                            created_by="a", created_by_id=user.id)
        s.add(resource)
        s.flush()
        s.add(ProjectResource(project_id=project.id, resource_id=resource.id, added_by="a"))
        s.add_all(ProjectResourceSplit(id=f"00000000-0000-4000-8000-00000000004{i}", project_id=project.id,
                                       resource_id=resource.id, split_name=name, created_at=_at(i), created_by="a")
                  for i, name in enumerate(["train", "val", "test"]))
        s.add_all(Worklist(id=f"00000000-0000-4000-8000-00000000005{i}", customer_id=org.id, project_id=project.id,
                           is_project_default=True, name=f"w{i}", created_by="a", created_at=_at(i)) for i in range(2))
        s.add_all(Invitation(id=f"00000000-0000-4000-8000-00000000006{i}", customer_id=org.id, email="bo@lab.test",
                             token_hash=f"t{i}".ljust(64, "0"), created_at=_at(i), expires_at=_at(60),
                             accepted_at=_at(3) if i == 2 else None) for i in range(3))
    return {"org": org.id, "user": user.id, "project": project.id}


def test_race_invariants_repairs_duplicates_and_loses_nothing(empty_database):
    migrate.upgrade(empty_database.engine, BEFORE)
    ids = _seed(empty_database)
    migrate.upgrade(empty_database.engine)
    assert migrate.current_revisions(empty_database.engine) == migrate.head_revisions(empty_database.engine)
    with empty_database.transaction() as s:
        names = s.execute(select(ApiKey.name, ApiKey.revoked_at.is_not(None)).order_by(ApiKey.created_at)).all()
        assert [tuple(n) for n in names] == [("laptop", False), ("laptop (3)", False), ("laptop (2)", False),
                                             ("laptop", True), (None, False), (None, False)]
        assert s.scalar(select(func.count()).select_from(ProjectMember)) == 1  # no cascade from the users rebuild
        assert s.scalar(select(func.count()).select_from(ProjectResource)) == 1
        splits = s.execute(select(ProjectResourceSplit.split_name, ProjectResourceSplit.deleted_at,
                                  ProjectResourceSplit.deleted_by).order_by(ProjectResourceSplit.created_at)).all()
        assert [(n, d, b) for n, d, b in splits] == [("train", _at(2), "migration race_invariants"),
                                                     ("val", _at(2), "migration race_invariants"), ("test", None, None)]
        defaults = s.execute(select(Worklist.name, Worklist.is_project_default).order_by(Worklist.name)).all()
        assert [tuple(d) for d in defaults] == [("w0", True), ("w1", False)]
        invitations = s.execute(select(Invitation.token_hash, Invitation.revoked_at.is_(None),
                                       Invitation.accepted_at.is_(None)).order_by(Invitation.created_at)).all()
        assert [(t[:2], open_, pending) for t, open_, pending in invitations] == [
            ("t0", False, True), ("t1", True, True), ("t2", True, False)]

        # The new rules hold from now on: the same email in another organization is allowed...
        other = Organization(name="Elsewhere")
        s.add(other)
        s.flush()
        s.add(User(customer_id=other.id, email="ana@lab.test", roles=["admin"]))
        s.flush()
    # ...but not twice in one organization, nor a second current split of a resource.
    for row in (User(customer_id=ids["org"], email="ana@lab.test", roles=[]),
                ProjectResourceSplit(project_id=ids["project"], resource_id="00000000-0000-4000-8000-000000000030",
                                     split_name="x", created_by="a"),
                ApiKey(user_id=ids["user"], customer_id=ids["org"], name="laptop", prefix="p", key_hash="z" * 64)):
        with pytest.raises(sa.exc.IntegrityError), empty_database.transaction() as s:
            s.add(row)
            s.flush()


def test_race_invariants_downgrades_to_platform_wide_emails(empty_database):
    migrate.upgrade(empty_database.engine)
    _seed_single = Organization(name="Solo")
    with empty_database.transaction() as s:
        s.add(_seed_single)
        s.flush()
        s.add(User(customer_id=_seed_single.id, email="x@solo.test", roles=["admin"]))
    from alembic import command

    command.downgrade(migrate.alembic_config(empty_database.engine), BEFORE)
    with empty_database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM users")).scalar() == 1
        uniques = {u["name"] for u in sa.inspect(conn).get_unique_constraints("users")}
    assert "uq_users_email" in uniques and "uq_users_customer_id_email" not in uniques
