"""The typed core of ``api.resources``: what every part of the handler builds on (resource
entities, ids, the sibling handlers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from datamint.api.base_api import ApiConfig
from datamint.api.entity_base_api import CreatableEntityApi, DeletableEntityApi
from datamint.entities.resource import Resource, resources_from_dicts

if TYPE_CHECKING:
    from datamint.api.endpoints.annotations_api import AnnotationsApi
    from datamint.api.endpoints.projects_api import ProjectsApi

#: Payloads validated per pydantic call (about 10 ms of work, the interpreter lock held throughout).
_SLICE = 1000


class ResourcesCore(CreatableEntityApi[Resource], DeletableEntityApi[Resource]):
    """The base of :class:`~datamint.api.endpoints.resources_api.ResourcesApi` and its parts.

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.
        annotations_api: The annotations handler (used for segmentations given at upload time).
        projects_api: The projects handler (used to resolve ``publish_to``).
    """

    return_field = "resources"

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None, annotations_api: Any = None,
                 projects_api: ProjectsApi | None = None) -> None:
        super().__init__(config, Resource, "resources", client)
        self._siblings.update({k: v for k, v in (("annotations", annotations_api), ("projects", projects_api)) if v})

    # -- collaborators ---------------------------------------------------------------------------

    @property
    def projects_api(self) -> ProjectsApi:
        """The projects handler (the ``Api``'s own when this handler belongs to one)."""
        from datamint.api.endpoints.projects_api import ProjectsApi

        return self._sibling("projects", lambda: ProjectsApi(self.config, self.client, resources_api=self))

    @property
    def annotations_api(self) -> AnnotationsApi:
        """The annotations handler (the ``Api``'s own when this handler belongs to one)."""
        from datamint.api.endpoints.annotations_api import AnnotationsApi

        return self._sibling("annotations", lambda: AnnotationsApi(self.config, self.client, resources_api=self))

    def _init_entity_obj(self, **data: Any) -> Resource:
        return self._entities([data])[0]

    def _entities(self, payloads: Sequence[dict[str, Any]]) -> list[Resource]:
        """Resource entities of server payloads (:func:`resources_from_dicts`), linked to this
        handler. Validated 1,000 at a time: between slices, the worker that fetches the next
        listing page gets the interpreter lock to send its request (``BaseApi._iter_pages``)."""
        resources: list[Resource] = []
        for start in range(0, len(payloads), _SLICE):
            resources += resources_from_dicts(payloads[start:start + _SLICE])
        for resource in resources:
            resource._api = self
        return resources

    def _ids(self, resources: str | Resource | Sequence[str | Resource]) -> list[str]:
        if isinstance(resources, (str, Resource)):
            resources = [resources]
        ids = [self._entid(r) for r in resources]
        for rid in ids:
            self._validate_entity_id(rid)
        return ids
