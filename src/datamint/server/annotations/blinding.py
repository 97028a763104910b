"""Blind reading in multi-reader worklists: the annotations a reader may not see yet (the other
readers' labels of items not complete). Which worklists the caller reads blind is the worklists'
rule (:func:`datamint.server.worklists.readers.blind_worklist_ids`); this module applies it to
annotations."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from datamint.server.annotations.models import Annotation
from datamint.server.identity import Principal
from datamint.server.worklists.models import ItemCompletion
from datamint.server.worklists.readers import blind_worklist_ids


def visible_condition(me: Principal, blind: list[str]) -> ColumnElement[bool] | None:
    """The SQL condition hiding other readers' labels of incomplete items (``None``: nothing hidden)."""
    if not blind:
        return None
    completed = exists().where(ItemCompletion.worklist_id == Annotation.worklist_id,
                               ItemCompletion.resource_id == Annotation.resource_id)
    return or_(Annotation.worklist_id.is_(None), Annotation.worklist_id.not_in(blind),
               Annotation.created_by_id == me.user_id, Annotation.is_model.is_(True), completed)


def hidden_from(session: Session, me: Principal, annotation: Annotation) -> bool:
    """Whether one annotation is another reader's label the caller may not see yet."""
    if annotation.worklist_id is None or annotation.created_by_id == me.user_id or annotation.is_model:
        return False
    if annotation.worklist_id not in blind_worklist_ids(session, me):
        return False
    return session.get(ItemCompletion, (annotation.worklist_id, annotation.resource_id)) is None


def visible_rows(session: Session, me: Principal, rows: Sequence[Annotation]) -> list[Annotation]:
    """``rows`` without the other readers' labels of incomplete items (one query for all of them)."""
    blind = set(blind_worklist_ids(session, me))
    if not blind:
        return list(rows)
    suspects = {(a.worklist_id, a.resource_id) for a in rows
                if a.worklist_id in blind and a.created_by_id != me.user_id and not a.is_model}
    if not suspects:
        return list(rows)
    complete = set(session.execute(select(ItemCompletion.worklist_id, ItemCompletion.resource_id).where(
        ItemCompletion.worklist_id.in_({w for w, _ in suspects}),
        ItemCompletion.resource_id.in_({r for _, r in suspects}))).tuples())
    return [a for a in rows if (a.worklist_id, a.resource_id) not in suspects or a.created_by_id == me.user_id
            or a.is_model or (a.worklist_id, a.resource_id) in complete]
