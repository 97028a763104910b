"""What a progress, statistics or export request covers: one worklist, or every worklist of a
project, with the matching annotations and resources."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from datamint.server import policy
from datamint.server.annotations import repository as annotations_repo
from datamint.server.annotations.models import Annotation
from datamint.server.auth.service import Principal
from datamint.server.errors import ForbiddenError
from datamint.server.policy import ProjectAction
from datamint.server.projects.models import Project
from datamint.server.projects.service import visible_project
from datamint.server.resources import repository as resources_repo
from datamint.server.worklists import repository as repo
from datamint.server.worklists import service
from datamint.server.worklists.models import Worklist


@dataclass
class Scope:
    """A worklist or a project, as seen by one caller.

    Attributes:
        worklists: The worklists covered.
        project: The project, when the scope is a whole project.
        roles: The caller's roles in the project (``None``: not a member).
    """

    worklists: list[Worklist]
    project: Project | None
    roles: list[str] | None
    me: Principal

    @property
    def worklist_ids(self) -> list[str]:
        """Ids of the covered worklists."""
        return [w.id for w in self.worklists]

    @property
    def name(self) -> str:
        """The project's or the worklist's name (for export file names)."""
        return self.project.name if self.project is not None else self.worklists[0].name

    def annotations(self, session: Session) -> ColumnElement[bool]:
        """The condition selecting the scope's annotations."""
        if self.project is not None:
            return annotations_repo.project_scope(session, self.project.id)
        return Annotation.worklist_id == self.worklists[0].id

    def resource_ids(self, session: Session) -> list[str]:
        """Live resources covered (the project's, or the worklist's)."""
        if self.project is not None:
            return repo.project_resource_ids(session, self.project.id)
        return service.resource_ids_of(session, self.worklists)[self.worklists[0].id]

    def resource_count(self, session: Session) -> int:
        """How many live resources are covered (a count query for a project)."""
        if self.project is not None:
            return resources_repo.count_project_resources(session, [self.project.id])[self.project.id]
        return len(self.resource_ids(session))

    def allowed(self, action: ProjectAction) -> bool:
        """Whether the caller may perform ``action`` here."""
        try:
            self.require(action)
        except ForbiddenError:
            return False
        return True

    def require(self, action: ProjectAction) -> None:
        """Raise 403 unless the caller may perform ``action`` here."""
        if self.project is not None:
            policy.require_project(self.me, self.roles, action)
        else:
            service.require(self.me, self.worklists[0], self.roles, action)


def of_project(session: Session, me: Principal, project_id: str) -> Scope:
    """Every worklist of a project the caller can see (404 otherwise)."""

    project, roles = visible_project(session, me, project_id)
    worklists = list(repo.of_projects(session, [project.id])) or [service.default_worklist(session, project)]
    return Scope(worklists, project, roles, me)


def of_worklist(session: Session, me: Principal, worklist_id: str) -> Scope:
    """One worklist the caller can see (404 otherwise)."""
    worklist, roles = service.visible_worklist(session, me, worklist_id)
    return Scope([worklist], None, roles, me)
