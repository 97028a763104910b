"""The workunits table: who spent how long on what.

A workunit is one stretch of work of one user on one resource: ``action`` ``annotate`` (creating
or changing annotations), ``review`` (a review decision or a label-status change by a reviewer),
``status`` (marking one's own work), ``issue`` (opening or discussing an issue), or whatever a
client reports. ``seconds`` is measured by the server from the user's previous activity on the same
resource (see :mod:`datamint.server.workunits.recorder`) or reported by a client (the web app).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, created_at_column, id_column


class Workunit(Base):
    """One stretch of work of one user on one resource."""

    __tablename__ = "workunits"
    __table_args__ = (
        Index("ix_workunits_project_id_created_at", "project_id", "created_at"),
        Index("ix_workunits_user_id_resource_id_created_at", "user_id", "resource_id", "created_at"),
        Index("ix_workunits_worklist_id", "worklist_id"),
    )

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    worklist_id: Mapped[str | None] = mapped_column(ForeignKey("annotation_worklists.id", ondelete="SET NULL"))
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_email: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(20))
    label: Mapped[str | None] = mapped_column(String(300))
    label_set: Mapped[str | None] = mapped_column(String(100))
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    source: Mapped[str] = mapped_column(String(10), default="server")
    started_at: Mapped[datetime]
    created_at: Mapped[datetime] = created_at_column()
