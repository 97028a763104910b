"""Tables of the models area: the deployments of registered models (MLflow's own tables hold the rest).

A deployment is what a deploy job produced: a registered model's version, checked to load and
serve in this server's workers, under a tag (``champion``, ``3``, ``latest``...). Inference jobs
run deployments only; ``image_name`` is the ``name:tag`` the official client shows as the
deployed image.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from datamint.server.db.base import Base, created_at_column, id_column


class ModelDeployment(Base):
    """A registered model's version, deployed under a tag in one project."""

    __tablename__ = "model_deployments"
    __table_args__ = (UniqueConstraint("project_id", "model_name", "tag"),)

    id: Mapped[str] = id_column()
    customer_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    model_name: Mapped[str] = mapped_column(String(256))
    tag: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[int] = mapped_column(Integer)
    image_name: Mapped[str] = mapped_column(String(400))
    source: Mapped[str] = mapped_column(Text)
    supported_modes: Mapped[list[Any]] = mapped_column()
    annotation_specs: Mapped[list[Any]] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deploy_job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    created_by: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = created_at_column()
