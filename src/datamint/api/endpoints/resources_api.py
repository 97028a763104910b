"""Resources endpoint handler (``api.resources``): upload, list, download, publish, tag, delete."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from datamint.api.endpoints.resource_files import ResourceFiles
from datamint.api.endpoints.resource_issues import ResourceIssues
from datamint.api.endpoints.resource_uploads import ResourceUploads
from datamint.entities.project import Project
from datamint.entities.resource import Resource
from datamint.exceptions import ItemNotFoundError, ValidationError

if TYPE_CHECKING:

    from datamint.entities.annotations import Annotation, AnnotationType

_LOGGER = logging.getLogger(__name__)

ResourceFields: TypeAlias = Literal["modality", "created_by", "published_by", "published_on", "filename", "created_at"]
"""The available fields to order resources: 'modality', 'created_by', 'published_by', 'published_on',
'filename', 'created_at' (default)."""

ResourceStatus: TypeAlias = Literal["new", "inbox", "published", "archived"]
"""The available resource status: 'new' (same as 'inbox'), 'inbox', 'published', 'archived' (deleted)."""

_IN_INBOX_ONLY = "must be in inbox status"
_BULK_DELETE_BATCH = 200


def _iso_date(value: date | str | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


class ResourcesApi(ResourceIssues, ResourceUploads, ResourceFiles):
    """API handler for resource-related endpoints.

    Its verbs come from typed parts over one core: :class:`ResourcesCore` (entities, ids, the
    sibling handlers), :class:`ResourceUploads` (uploads), :class:`ResourceFiles` (downloads) and
    :class:`ResourceIssues` (issue threads on resources).

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.
        annotations_api: The annotations handler (used for segmentations given at upload time).
        projects_api: The projects handler (used to resolve ``publish_to``).
    """

    # -- listing ---------------------------------------------------------------------------------

    def get_list(self, status: ResourceStatus | None = None, from_date: date | str | None = None,
                 to_date: date | str | None = None, tags: Sequence[str] | None = None, modality: str | None = None,
                 mimetype: str | None = None, source_filepath: str | Path | None = None,
                 order_field: ResourceFields | None = None, order_ascending: bool | None = None,
                 channel: str | None = None, project_name: Project | str | list[str] | None = None,
                 filename: str | None = None, limit: int | None = None,
                 deleted: Literal["exclude", "include", "only"] | None = None) -> Sequence[Resource]:
        """Get resources with optional filtering.

        Args:
            status: 'inbox', 'published', 'archived' (deleted ones) or None for all.
            from_date: The start date (inclusive).
            to_date: The end date (exclusive).
            tags: Resources having any of these tags.
            modality: The modality of the resources, e.g. ``'CT'``.
            mimetype: The mimetype of the resources.
            source_filepath: The local path the resource was uploaded from.
            order_field: The field to order the resources. See :data:`ResourceFields`.
            order_ascending: Whether to order the resources in ascending order.
            channel: The upload channel.
            project_name: The project name or a list of project names. If multiple projects are
                provided, only resources belonging to ALL of them are returned.
            filename: The exact file name.
            limit: Maximum number of resources to return.
            deleted: 'exclude' (default), 'include' or 'only' deleted resources.

        Returns:
            The matching resources, newest first unless ordered otherwise.

        Example:
            >>> cts = api.resources.get_list(modality='CT', tags=['liver'], project_name='Liver Review')
        """
        params: dict[str, Any] = {
            "status": status or "", "from": _iso_date(from_date), "to": _iso_date(to_date),
            "modality": modality, "mimetype": mimetype, "order_field": order_field,
            "order_by_asc": None if order_ascending is None else str(bool(order_ascending)).lower(),
            "channel_name": channel, "filename": filename, "deleted": deleted,
        }
        if project_name is not None:
            names = [project_name.name] if isinstance(project_name, Project) else (
                [project_name] if isinstance(project_name, str) else list(project_name))
            params["project"] = json.dumps({"items": names, "filterType": "intersection"})
        if tags is not None:
            params["tags"] = json.dumps({"items": [tags] if isinstance(tags, str) else list(tags),
                                         "filterType": "union"})
        wanted = None
        if source_filepath is not None:
            wanted = os.path.abspath(os.path.expanduser(str(source_filepath)))
            params["source_filepath"] = wanted
        pages = self._iter_pages("/resources", params, limit=limit, return_field=self.return_field)
        resources = [resource for page in pages for resource in self._entities(page)]
        if wanted is not None:
            resources = [r for r in resources if r.source_filepath == wanted]
        return resources

    def get_deleted(self, limit: int | None = None, **kwargs: Any) -> Sequence[Resource]:
        """Deleted (restorable) resources; accepts the filters of :meth:`get_list`."""
        return self.get_list(limit=limit, deleted="only", **kwargs)

    def get_not_annotated(self, limit: int | None = None, **kwargs: Any) -> list[Resource]:
        """Get resources that have no annotations.

        Args:
            limit: Maximum number of resources to return.
            **kwargs: Additional query parameters forwarded to the endpoint (the filters of
                ``GET /resources``, e.g. ``project_name='Liver'`` or ``modality='CT'``).

        Returns:
            List of Resource instances with no annotations.
        """
        params = {k: v for k, v in kwargs.items() if v is not None}
        pages = self._iter_pages("/resources/not-annotated", params, limit=limit, return_field=self.return_field)
        return [resource for page in pages for resource in self._entities(page)]

    def get_annotations(self, resource: str | Resource, annotation_type: AnnotationType | str | None = None
                        ) -> Sequence[Annotation]:
        """Get annotations for a specific resource (model-made ones included).

        Args:
            resource: The resource ID or Resource instance to fetch annotations for.
            annotation_type: Only annotations of this type (e.g. ``'segmentation'``).

        Returns:
            A sequence of Annotation objects associated with the specified resource, oldest first.
        """
        return self.annotations_api.get_list(resource=resource, annotation_type=annotation_type,
                                             load_ai_segmentations=True)

    # -- state -----------------------------------------------------------------------------------

    def publish_resources(self, resources: str | Resource | Sequence[str | Resource]) -> None:
        """Publish resources, changing their status to 'published' (already published ones are skipped).

        Args:
            resources: A resource (id or object) or a sequence of them.

        Raises:
            ItemNotFoundError: A resource does not exist.
        """
        ids = self._ids(resources)
        if len(ids) == 1:
            try:
                self._make_entity_request("POST", ids[0], add_path="publish")
            except ValidationError as err:
                if _IN_INBOX_ONLY not in str(err.server_message or err):
                    raise
                _LOGGER.info("Resource %s is already published", ids[0])
            except ItemNotFoundError as err:
                err.set_params("resource", {"id": ids[0]})
                raise
        elif ids:
            self.bulk_publish(ids)

    def bulk_publish(self, resources: Sequence[str | Resource]) -> None:
        """Publish multiple resources in a single request.

        Args:
            resources: Resource ids or Resource instances.
        """
        self._request("POST", "/resources/bulk-publish", json={"resource_ids": self._ids(resources)})

    def _tag(self, resource: str | Resource | Sequence[str | Resource], tags: Sequence[str], mode: str) -> None:
        unique = list(dict.fromkeys(t.strip() for t in ([tags] if isinstance(tags, str) else tags) if t.strip()))
        ids = self._ids(resource)
        if mode == "set" and isinstance(resource, (str, Resource)):
            self._make_entity_request("PUT", ids[0], add_path="tags", json={"tags": unique})
        else:
            self._request("PUT", "/resources/tags", json={"resource_ids": ids, "tags": unique, "mode": mode})
        objects = [resource] if isinstance(resource, Resource) else [
            r for r in ([] if isinstance(resource, str) else resource) if isinstance(r, Resource)]
        for obj in objects:
            obj.tags = unique if mode == "set" else list(dict.fromkeys([*obj.tags, *unique]))

    def set_tags(self, resource: str | Resource | Sequence[str | Resource], tags: Sequence[str]) -> None:
        """Set tags for one or many resources. IMPORTANT: this replaces all existing tags.

        Args:
            resource: A resource (id or object) or a sequence of them.
            tags: The tags to set (duplicates are dropped).
        """
        self._tag(resource, tags, "set")

    def add_tags(self, resource: str | Resource | Sequence[str | Resource], tags: Sequence[str]) -> None:
        """Add tags to one or many resources. IMPORTANT: this appends to the existing tags.

        Args:
            resource: A resource (id or object) or a sequence of them.
            tags: The tags to add.
        """
        self._tag(resource, tags, "add")

    def bulk_delete(self, entities: Sequence[str | Resource]) -> None:
        """Delete multiple resources (soft delete; see :meth:`bulk_restore`). Faster than one by one.

        Args:
            entities: Resource ids or Resource instances.

        Raises:
            ItemNotFoundError: A resource does not exist (that batch of 200 is not deleted).
        """
        ids = self._ids(list(entities))
        for start in range(0, len(ids), _BULK_DELETE_BATCH):
            batch = ids[start:start + _BULK_DELETE_BATCH]
            self._request("DELETE", "/resources", params={"resource_ids": ",".join(batch)})

    def bulk_restore(self, resources: Sequence[str | Resource]) -> dict[str, list]:
        """Restore deleted resources.

        Returns:
            ``{"restored": [ids], "skipped": [{"id", "reason"}]}`` (reasons: ``not_found``,
            ``not_deleted``, ``file_missing``).
        """
        return self._request("POST", "/resources/restore", json={"ids": self._ids(list(resources))}).json()
