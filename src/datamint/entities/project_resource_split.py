"""The ProjectResourceSplit entity (wire §5.4): a resource's assignment to a named split."""

from __future__ import annotations

from datamint.entities.base_entity import BaseEntity


class ProjectResourceSplit(BaseEntity):
    """A resource of a project assigned to a split such as ``'train'``.

    Attributes:
        split_name: The split. project_id / resource_id: What is assigned.
        created_at / created_by: When and by whom.
        deleted_at / deleted_by: When the assignment ended (``None`` while in force).
    """

    split_name: str
    project_id: str
    resource_id: str
    created_at: str
    created_by: str
    deleted_at: str | None = None
    deleted_by: str | None = None
