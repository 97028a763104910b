"""SQL for projects, their datasets and memberships."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from datamint.server.auth.models import User
from datamint.server.projects.models import Project, ProjectMember


def _visible(customer_id: str, user_id: str | None, include_archived: bool) -> Select[tuple[Project]]:
    stmt = select(Project).where(Project.customer_id == customer_id)
    if not include_archived:
        stmt = stmt.where(Project.archived.is_(False))
    if user_id is not None:
        stmt = stmt.where(
            Project.id.in_(select(ProjectMember.project_id).where(ProjectMember.user_id == user_id))
        )
    return stmt


def list_projects(
    session: Session, customer_id: str, user_id: str | None, include_archived: bool, offset: int, limit: int
) -> tuple[Sequence[Project], int]:
    """One page of the projects a caller can see, oldest first, and their total.

    Args:
        user_id: Restrict to projects this user is a member of; ``None`` for every project of
            the organization (admins).
    """
    stmt = _visible(customer_id, user_id, include_archived)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Project.created_at, Project.id).offset(offset).limit(limit)).all()
    return rows, total


def get_project(session: Session, customer_id: str, project_id: str) -> Project | None:
    """The project with this id in this organization."""
    project = session.get(Project, project_id)
    if project is None or project.customer_id != customer_id:
        return None
    return project


def get_by_dataset(session: Session, customer_id: str, dataset_id: str) -> Project | None:
    """The project of this organization that owns the dataset."""
    return session.scalar(select(Project).where(Project.customer_id == customer_id, Project.dataset_id == dataset_id))


def get_by_name(session: Session, customer_id: str, name: str) -> Project | None:
    """The project with this exact name in this organization, archived or not."""
    return session.scalar(select(Project).where(Project.customer_id == customer_id, Project.name == name))


def get_member(session: Session, project_id: str, user_id: str) -> ProjectMember | None:
    """A user's membership of a project."""
    return session.get(ProjectMember, (project_id, user_id))


def roles_by_project(session: Session, user_id: str) -> dict[str, list[str]]:
    """Every project the user is a member of, with the user's roles there."""
    rows = session.execute(select(ProjectMember.project_id, ProjectMember.roles)
                           .where(ProjectMember.user_id == user_id))
    return {project_id: list(roles or []) for project_id, roles in rows}


def memberships_of(session: Session, user_id: str) -> Sequence[ProjectMember]:
    """Every project membership of a user."""
    return session.scalars(select(ProjectMember).where(ProjectMember.user_id == user_id)).all()


def list_members(session: Session, project_id: str) -> Sequence[tuple[ProjectMember, User]]:
    """A project's memberships with their users, ordered by email."""
    stmt = (select(ProjectMember, User).join(User, User.id == ProjectMember.user_id)
            .where(ProjectMember.project_id == project_id).order_by(User.email))
    return [(m, u) for m, u in session.execute(stmt).all()]
