"""Listed resources as JSON text written by the database (the wire shape of wire protocol §5.2).

Building a listing page of 5,000 wire dicts in Python cost 50 to 80 µs a resource (every column
read into Python objects, three times converted, tags, projects and names looked up, the dicts
built and encoded). Here one statement has the database write each resource's JSON object
(SQLite ``json_object``, PostgreSQL ``row_to_json``) and Python only joins the texts.

The objects have the fields of :func:`datamint.server.resources.wire.to_wire_many` (which stays
the builder for single resources), in the same order and with the same values:
times in UTC as ISO 8601 with ``Z`` (microseconds unless zero), ``metadata`` ``{}`` when unset,
``upload_channel`` ``""`` when unset, tags in their order, projects by name, the uploader's names
(``""`` when unknown). ``tests/server/test_wire_json.py`` compares the two. Whitespace may differ
(PostgreSQL writes ``jsonb`` and nested objects with spaces); the values never do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, String, Text, any_, bindparam, case, cast, exists, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from datamint.server.auth.models import User
from datamint.server.projects.models import Project
from datamint.server.resources.models import ProjectResource, Resource, ResourceTag

_Expr = Any  # a SQL expression (SQLAlchemy's column-element types do not compose well in annotations)


def _time(column: _Expr, postgresql: bool) -> _Expr:
    """``YYYY-MM-DDTHH:MM:SS[.ffffff]Z`` like ``db.base.iso`` (NULL stays NULL). SQLite holds the
    UTC time as ``YYYY-MM-DD HH:MM:SS.ffffff`` text; PostgreSQL's is converted to UTC first."""
    written = (func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US') if postgresql
               else func.replace(column, " ", "T"))
    return func.replace(written, ".000000", "", type_=String).concat("Z")


def _array(element: _Expr, rows: Select[Any], order: Sequence[_Expr], postgresql: bool,
           objects: bool = False) -> _Expr:
    """The JSON array of ``element`` over ``rows`` (a query correlated with the resource) in ``order``.

    SQLite (before 3.44) has no ordered aggregate: it aggregates an ordered subquery, whose order it
    keeps. What comes out of a subquery loses SQLite's "this text is JSON" mark: ``json()`` marks
    the JSON ``objects`` again, and the array itself.
    """
    if postgresql:
        return func.coalesce(rows.with_only_columns(func.json_agg(aggregate_order_by(element, *order)))
                             .scalar_subquery(), literal_column("'[]'::json"))
    ordered = rows.with_only_columns(element.label("item")).order_by(*order).subquery()
    item = func.json(ordered.c.item) if objects else ordered.c.item
    return func.json(select(func.json_group_array(item)).scalar_subquery())


def _fields(postgresql: bool) -> list[tuple[str, _Expr]]:
    """``(key, value)`` of a resource's wire object, in the order of ``wire._wire``."""
    r, u = Resource, User
    obj = func.json_build_object if postgresql else func.json_object
    if postgresql:
        metadata = func.coalesce(func.nullif(r.file_metadata, literal_column("'null'::jsonb")),
                                 literal_column("'{}'::jsonb"))

        def boolean(column: _Expr) -> _Expr:
            return column
    else:
        metadata = func.json(func.coalesce(func.nullif(r.file_metadata, literal_column("'null'")),
                                           literal_column("'{}'")))

        def boolean(column: _Expr) -> _Expr:  # SQLite stores 0/1
            return func.json(case((column, "true"), else_="false"))

    tags = _array(ResourceTag.tag, select(ResourceTag.tag).where(ResourceTag.resource_id == r.id).correlate(r),
                  [ResourceTag.position, ResourceTag.tag], postgresql)
    memberships = (select(Project.id).join(ProjectResource, ProjectResource.project_id == Project.id)
                   .where(ProjectResource.resource_id == r.id).correlate(r))
    projects = _array(obj("id", Project.id, "name", Project.name), memberships, [Project.name, Project.id],
                      postgresql, objects=True)
    # Most resources are in no project: a probe of the membership index answers them.
    in_a_project = exists().where(ProjectResource.resource_id == r.id).correlate(r)
    projects = case((in_a_project, projects), else_=literal_column("'[]'::json" if postgresql else "'[]'"))
    if not postgresql:
        projects = func.json(projects)
    return [
        ("id", r.id), ("storage", r.storage), ("location", r.location), ("filename", r.filename),
        ("mimetype", r.mimetype), ("size", r.size), ("status", r.status), ("modality", r.modality),
        ("metadata", metadata), ("source_filepath", r.source_filepath),
        ("upload_channel", func.coalesce(r.upload_channel, "")), ("upload_mechanism", r.upload_mechanism),
        ("resource_uri", literal_column("'/resources/'").concat(r.id).concat("/file")),
        ("customer_id", r.customer_id), ("created_at", _time(r.created_at, postgresql)),
        ("created_by", r.created_by), ("published", boolean(r.published)),
        ("published_on", _time(r.published_on, postgresql)), ("published_by", r.published_by),
        ("deleted", boolean(r.deleted)), ("deleted_at", _time(r.deleted_at, postgresql)),
        ("deleted_by", r.deleted_by), ("tags", tags), ("instance_uid", r.instance_uid),
        ("series_uid", r.series_uid), ("study_uid", r.study_uid), ("patient_id", r.patient_id),
        ("content_sha256", r.content_sha256),
        ("user_info", obj("firstname", func.coalesce(u.firstname, ""), "lastname", func.coalesce(u.lastname, ""))),
        ("projects", projects),
    ]


def _statement(postgresql: bool) -> Select[Any]:
    """``(id, JSON text)`` of the resources whose ids are the ``ids`` parameter."""
    fields = _fields(postgresql)
    joined = Resource.__table__.outerjoin(User.__table__, User.id == Resource.created_by_id)
    ids = bindparam("ids", type_=String)  # one text parameter: 5,000 values are dumped and checked one by one
    if postgresql:  # row_to_json writes a row compactly, with its columns' names as keys
        chosen = Resource.id == any_(func.string_to_array(ids, ","))
        row = select(*(value.label(key) for key, value in fields)).select_from(joined).where(chosen).subquery("w")
        return select(row.c.id, cast(func.row_to_json(row.table_valued()), Text))
    listed = func.json_each(ids).table_valued("value")
    pairs = [part for key, value in fields for part in (key, value)]
    return (select(Resource.id, func.json_object(*pairs)).select_from(joined)
            .where(Resource.id.in_(select(listed.c.value))))


_STATEMENTS = {dialect: _statement(dialect == "postgresql") for dialect in ("sqlite", "postgresql")}
#: The ``ids`` parameter: a JSON array for SQLite's ``json_each``, comma-separated for PostgreSQL's
#: ``string_to_array`` (ids are UUIDs: no commas).
_IDS: dict[str, Callable[[list[str]], str]] = {"sqlite": json.dumps, "postgresql": ",".join}


def resources_json(session: Session, ids: Sequence[str]) -> dict[str, str]:
    """The wire JSON text of each resource among ``ids`` (any organization: the caller chose the
    ids), by id; ids without a row are absent."""
    if not ids:
        return {}
    dialect = session.get_bind().dialect.name
    rows = session.connection().execute(_STATEMENTS[dialect], {"ids": _IDS[dialect](list(ids))})
    return dict(rows.all())
