"""The typed core of ``api.annotations``: what every part of the handler builds on (creating
annotations, a resource's geometry, the sibling handlers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx

from datamint.api.base_api import ApiConfig
from datamint.api.dto.annotation_dto import CreateAnnotationDto
from datamint.api.entity_base_api import CreatableEntityApi, DeletableEntityApi, is_uuid
from datamint.entities.annotations import Annotation, AnnotationType, annotation_from_dict
from datamint.exceptions import ServerError
from datamint.imaging.resource_geometry import ResourceGeometry

if TYPE_CHECKING:
    from datamint.api.endpoints.resources_api import ResourcesApi
    from datamint.entities.resource import Resource

#: What ``create`` accepts for one annotation.
AnnotationInput = CreateAnnotationDto | Annotation | dict[str, Any]


class AnnotationsCore(CreatableEntityApi[Annotation], DeletableEntityApi[Annotation]):
    """The base of :class:`~datamint.api.endpoints.annotations_api.AnnotationsApi` and its parts.

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.
        models_api: The models handler (kept for compatibility).
        resources_api: The resources handler, used to build Resource entities.
    """

    return_field = "annotations"

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None, models_api: Any = None,
                 resources_api: ResourcesApi | None = None) -> None:
        super().__init__(config, Annotation, "annotations", client)
        self._models_api = models_api
        if resources_api is not None:
            self._siblings["resources"] = resources_api
        self._geometries: dict[str, ResourceGeometry] = {}

    def _init_entity_obj(self, **data: Any) -> Annotation:
        annotation = annotation_from_dict(data)
        annotation._api = self
        return annotation

    # -- collaborators --------------------------------------------------------------------------

    @property
    def resources_api(self) -> ResourcesApi:
        """The resources handler (the ``Api``'s own when this handler belongs to one)."""
        from datamint.api.endpoints.resources_api import ResourcesApi

        return self._sibling("resources", lambda: ResourcesApi(self.config, self.client, annotations_api=self))

    def _resource_id(self, resource: str | Resource) -> str:
        resource_id = resource if isinstance(resource, str) else resource.id
        if not is_uuid(resource_id):
            raise ValueError(f"Invalid resource id {resource_id!r}: expected a UUID")
        return resource_id

    def _get_resource(self, annotation: Annotation) -> Resource:
        if not annotation.resource_id:
            raise ValueError("This annotation has no resource_id")
        return self.resources_api.get_by_id(annotation.resource_id)

    def _project_worklist(self, project: str | None) -> str | None:
        if project is None:
            return None
        from datamint.api.endpoints.projects_api import ProjectsApi

        projects = self._sibling("projects", lambda: ProjectsApi(self.config, self.client))
        return getattr(projects._resolve(project), "worklist_id", None)

    def _geometry(self, resource: str | Resource, metadata: Any = None) -> ResourceGeometry:
        """How points convert for ``resource``: fetched once per resource (DICOM header, NIfTI affine)."""
        if metadata is not None:
            if hasattr(metadata, "affine") and hasattr(metadata, "header"):
                return ResourceGeometry.from_affine(metadata.affine)
            return ResourceGeometry.from_dataset(metadata)
        resource_id = self._resource_id(resource)
        if resource_id not in self._geometries:
            info = self._request("GET", f"/resources/{resource_id}").json()
            mimetype = info.get("mimetype", "")
            if mimetype == "application/dicom":
                data = self._request("GET", f"/resources/{resource_id}/file",
                                     headers={"accept": "application/octet-stream"}).content
                found = ResourceGeometry.from_dicom_bytes(data)
            elif mimetype == "application/nifti" and (info.get("metadata") or {}).get("affine") is not None:
                found = ResourceGeometry.from_affine(info["metadata"]["affine"])
            else:
                found = ResourceGeometry("pixels")
            self._geometries[resource_id] = found
        return self._geometries[resource_id]

    def to_pixel_points(self, resource: str | Resource, points: Sequence[Sequence[float]]
                        ) -> list[tuple[float, float, float]]:
        """Stored annotation points converted to ``(column, row, frame)`` of the resource.

        Args:
            resource: The resource the points belong to.
            points: ``(x, y, z)`` points as stored (patient mm for DICOM/NIfTI, pixels for images).
        """
        geometry = self._geometry(resource)
        return [geometry.to_pixel(*(list(p) + [0.0] * 3)[:3]) for p in points]

    # -- create ---------------------------------------------------------------------------------

    @staticmethod
    def _item(value: AnnotationInput) -> dict[str, Any]:
        if isinstance(value, CreateAnnotationDto):
            return value.to_dict()
        if isinstance(value, Annotation):
            return value.to_create_dict()
        if isinstance(value, dict):
            return {k: (v.value if isinstance(v, AnnotationType) else v) for k, v in value.items() if v is not None}
        raise TypeError(f"Cannot create an annotation from {type(value).__name__}")

    def create(self, resource: str | Resource,
               annotation_dto: AnnotationInput | Sequence[AnnotationInput]) -> Any:
        """Create one or more annotations for a resource.

        Args:
            resource: The resource unique id or Resource instance.
            annotation_dto: A create DTO, typed annotation entity, raw payload dictionary, or a
                sequence of those values.

        Returns:
            The id of the created annotation if a single annotation was provided, or a list of
            ids (in order) if a sequence was given.

        Raises:
            ValidationError: The server refused an item (nothing is created).

        Example:
            >>> dto = CreateAnnotationDto('category', 'tumour', 'image', value='benign')
            >>> annotation_id = api.annotations.create(resource, dto)
        """
        single = isinstance(annotation_dto, (CreateAnnotationDto, Annotation, dict))
        items = [self._item(annotation_dto)] if single else [self._item(a) for a in annotation_dto]  # type: ignore[union-attr]
        ids = self._post_items(self._resource_id(resource), items)
        return ids[0] if single else ids

    def _post_items(self, resource_id: str, items: list[dict[str, Any]]) -> list[str]:
        response = self._request("POST", f"/annotations/{resource_id}/annotations", json=items)
        return self._ids(response.json())

    @staticmethod
    def _ids(data: Any) -> list[str]:
        """The created ids in a create response (an ``error`` body raises)."""
        if isinstance(data, dict) and "error" in data:
            raise ServerError(str(data["error"]))
        return [d["id"] if isinstance(d, dict) else d for d in data]
