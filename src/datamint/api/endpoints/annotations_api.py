"""Annotations endpoint handler (``api.annotations``, wire protocol §4.3, §7, §8)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx

from datamint.api.base_api import ApiConfig
from datamint.api.dto.annotation_dto import CreateAnnotationDto
from datamint.api.endpoints import annotation_masks as masks
from datamint.api.endpoints.annotation_files import AnnotationFilesMixin
from datamint.api.endpoints.annotation_geometry import ResourceGeometry
from datamint.api.endpoints.annotation_helpers import AnnotationHelpersMixin
from datamint.api.endpoints.import_sessions import ImportSession
from datamint.api.entity_base_api import CreatableEntityApi, DeletableEntityApi, is_uuid
from datamint.entities.annotations import Annotation, AnnotationType, annotation_from_dict
from datamint.exceptions import ServerError

if TYPE_CHECKING:
    from datamint.api.endpoints.resources_api import ResourcesApi
    from datamint.entities.resource import Resource

AnnotationInput = CreateAnnotationDto | Annotation | dict[str, Any]


def _iso(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


class AnnotationsApi(AnnotationHelpersMixin, AnnotationFilesMixin, CreatableEntityApi[Annotation],
                     DeletableEntityApi[Annotation]):
    """API handler for annotations: create, list, masks, approval, deletion.

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.
        models_api: The models handler (kept for compatibility; models are not checked against a
            registry: the server has none yet).
        resources_api: The resources handler, used to build Resource entities.
    """

    return_field = "annotations"

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None, models_api: Any = None,
                 resources_api: ResourcesApi | None = None) -> None:
        super().__init__(config, Annotation, "annotations", client)
        self._models_api = models_api
        self._resources_api = resources_api
        self._geometries: dict[str, ResourceGeometry] = {}

    def _init_entity_obj(self, **data: Any) -> Annotation:
        annotation = annotation_from_dict(data)
        annotation._api = self
        return annotation

    # -- collaborators --------------------------------------------------------------------------

    @property
    def resources_api(self) -> ResourcesApi:
        """The resources handler (the ``Api``'s own when this handler belongs to one)."""
        if self._resources_api is None:
            if self._api_instance is not None:
                self._resources_api = self._api_instance.resources
            else:
                from datamint.api.endpoints.resources_api import ResourcesApi

                self._resources_api = ResourcesApi(self.config, self.client, annotations_api=self)
        return self._resources_api

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
        projects = self._api_instance.projects if self._api_instance is not None else None
        if projects is None:
            from datamint.api.endpoints.projects_api import ProjectsApi

            projects = ProjectsApi(self.config, self.client)
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

    # -- listing --------------------------------------------------------------------------------

    @overload
    def get_list(self, resource: str | Resource | Sequence[str | Resource] | None = ...,
                 annotation_type: AnnotationType | str | None = ..., annotator_email: str | None = ...,
                 date_from: date | None = ..., date_to: date | None = ..., dataset_id: str | None = ...,
                 worklist_id: str | None = ..., status: Literal["new", "published"] | None = ...,
                 load_ai_segmentations: bool | None = ..., limit: int | None = ...,
                 group_by_resource: Literal[False] = False, **kwargs: Any) -> Sequence[Annotation]: ...

    @overload
    def get_list(self, resource: str | Resource | Sequence[str | Resource] | None = ...,
                 annotation_type: AnnotationType | str | None = ..., annotator_email: str | None = ...,
                 date_from: date | None = ..., date_to: date | None = ..., dataset_id: str | None = ...,
                 worklist_id: str | None = ..., status: Literal["new", "published"] | None = ...,
                 load_ai_segmentations: bool | None = ..., limit: int | None = ...,
                 group_by_resource: Literal[True] = ..., **kwargs: Any) -> Sequence[Sequence[Annotation]]: ...

    def get_list(self, resource: str | Resource | Sequence[str | Resource] | None = None,
                 annotation_type: AnnotationType | str | None = None, annotator_email: str | None = None,
                 date_from: date | None = None, date_to: date | None = None, dataset_id: str | None = None,
                 worklist_id: str | None = None, status: Literal["new", "published"] | None = None,
                 load_ai_segmentations: bool | None = None, limit: int | None = None,
                 group_by_resource: bool = False, label_set: str | Sequence[str] | None = None,
                 **kwargs: Any) -> Any:
        """Retrieve a list of annotations with optional filtering, oldest first.

        Args:
            resource: The resource unique id(s) or Resource instance(s): one, a list, or None
                for annotations of every resource.
            annotation_type: Filter by annotation type (e.g., 'segmentation', 'category').
            annotator_email: Filter by annotator email address.
            date_from: Annotations created on or after this date.
            date_to: Annotations created on or before this date.
            dataset_id: Filter by dataset unique id (the resources of its projects).
            worklist_id: Filter by annotation worklist unique id.
            status: 'new' or 'published' (approved).
            load_ai_segmentations: ``False`` leaves out annotations produced by models.
            limit: Maximum number of annotations to return.
            group_by_resource: Return one list per resource, in the order of ``resource``.
            label_set: Only annotations of this label set (or these): ``'ground-truth'``,
                ``'model:<model>'``, ``'reader:<email>'``, ``'consensus'`` or a custom set.
                ``None`` returns every set.
            **kwargs: More body filters: ``source``, ``deleted``, ``identifier``, ``model_id``,
                ``project_id``.

        Returns:
            List of annotations, or list of lists if grouped by resource.

        Example:
            >>> boxes = api.annotations.get_list(resource=ct, annotation_type='square')
        """
        body: dict[str, Any] = {
            "annotation_type": getattr(annotation_type, "value", annotation_type), "annotatorEmail": annotator_email,
            "from": _iso(date_from), "to": _iso(date_to), "dataset_id": dataset_id,
            "annotation_worklist_id": worklist_id, "status": status, "load_ai_segmentations": load_ai_segmentations,
            "label_set": label_set if label_set is None or isinstance(label_set, str) else list(label_set),
            **kwargs,
        }
        resource_ids: list[str] | None = None
        if isinstance(resource, str) or (resource is not None and hasattr(resource, "id")):
            body["resource_id"] = self._resource_id(resource)  # type: ignore[arg-type]
            resource_ids = [body["resource_id"]]
        elif resource is not None:
            resource_ids = [self._resource_id(r) for r in resource]
            body["resource_ids"] = resource_ids
        body = {k: v for k, v in body.items() if v is not None}
        items = self._iter_items("/annotations/search", method="POST", body=body, limit=limit,
                                 return_field=self.return_field)
        annotations = [self._init_entity_obj(**item) for item in items]
        if not group_by_resource:
            return annotations
        order = resource_ids or list(dict.fromkeys(a.resource_id for a in annotations))
        groups: dict[str, list[Annotation]] = {rid: [] for rid in order}  # type: ignore[misc]
        for annotation in annotations:
            groups.setdefault(annotation.resource_id, []).append(annotation)  # type: ignore[arg-type]
        return [groups[rid] for rid in order]  # type: ignore[index]

    def get_deleted(self, resource: str | Resource | Sequence[str | Resource] | None = None,
                    limit: int | None = None) -> Sequence[Annotation]:
        """Deleted annotations (of some resources, or all)."""
        return self.get_list(resource=resource, limit=limit, deleted=True)

    # -- change ---------------------------------------------------------------------------------

    def patch(self, annotation: str | Annotation, identifier: str | None = None,  # type: ignore[override]
              project_id: str | None = None) -> None:
        """Partially update an annotation's metadata.

        Args:
            annotation: The annotation unique id or Annotation instance.
            identifier: Optional new identifier/label for the annotation.
            project_id: Optional project ID to associate with the annotation.

        Raises:
            DatamintException: If the update fails.
        """
        body = {k: v for k, v in {"identifier": identifier, "project_id": project_id}.items() if v is not None}
        response = self._make_entity_request("PATCH", annotation, json=body)
        data = response.json() if response.content else None
        if isinstance(data, dict) and "error" in data:
            raise ServerError(str(data["error"]))

    def promote(self, annotation: str | Annotation, to: str = "ground-truth") -> Annotation:
        """Copy an annotation into another label set, keeping its provenance.

        The copy's ``promoted_from`` is the source's id; the source (a model's prediction, a
        reader's label) stays where it is. Promoting the same annotation twice returns the first copy.

        Args:
            annotation: The annotation id or Annotation instance.
            to: The target label set (default ``'ground-truth'``).

        Returns:
            The new annotation in ``to``.

        Raises:
            ValidationError: Unknown target set, or the annotation is already in it.

        Example:
            >>> gt = api.annotations.promote(prediction)  # prediction.label_set == 'model:liver-net'
        """
        annotation_id = annotation if isinstance(annotation, str) else annotation.id
        response = self._request("POST", f"/annotations/{annotation_id}/promote", json={"to": to})
        return self._init_entity_obj(**response.json())

    def import_session(self, project: str | Any, worklist: str | None = None, background: bool = False,
                       **commit_options: Any) -> ImportSession:
        """Open an import session for a project: add files, folders or bytes, then commit (seed 003's
        ``create_import_session``). Used as a context manager it commits on exit and, unless
        ``background``, waits for the import.

        Args:
            project: The project (id or Project) the annotations go to.
            worklist: A worklist of the project (default: the project's own).
            background: Return from the ``with`` block once committed, without waiting.
            **commit_options: ``dry_run``, ``label_map``, ``on_conflict``, ``author``, ``model_name``
                (see :meth:`ImportSession.commit`).

        Returns:
            The open :class:`ImportSession`.

        Example:
            >>> with api.annotations.import_session(project) as session:
            ...     session.add_path("coco/annotations.json")
            >>> session.job.result["created"]
        """
        api = getattr(self, "_api_instance", None)
        if isinstance(project, str):
            project_id = project if is_uuid(project) or api is None else api.projects._project_id(project)
        else:
            project_id = project.id
        body = {"worklist_id": worklist} if worklist else {}
        data = self._request("POST", f"/projects/{project_id}/imports", json=body).json()
        if api is not None:
            jobs = api.jobs
        else:
            from datamint.api.endpoints.jobs_api import JobsApi

            jobs = JobsApi(self.config, self.client)
        return ImportSession(self, jobs, data, background=background, commit_options=commit_options)

    create_import_session = import_session

    def approve(self, annotation: str | Annotation) -> None:
        """Approve an annotation (its status becomes ``published``).

        Args:
            annotation: The annotation unique id or Annotation instance.
        """
        self._make_entity_request("PATCH", annotation, add_path="approve")

    def delete_batch(self, annotation_ids: list[str | Annotation]) -> None:
        """Delete multiple annotations in a single request (all or none).

        Args:
            annotation_ids: List of annotation unique ids or Annotation instances.
        """
        ids = [self._entid(a) for a in annotation_ids]  # type: ignore[arg-type]
        for annotation_id in ids:
            self._validate_entity_id(annotation_id)
        if ids:
            self._request("POST", "/annotations/delete-batch", json={"ids": ids})

    @staticmethod
    def standardize_segmentation_names(name: str | dict | None) -> dict:
        """Standardize segmentation names to a consistent format.

        Args:
            name: ``None`` (named ``'default'``), a string (every label), ``{value: name}`` or
                ``{(r, g, b): name}``.

        Returns:
            Standardized name dictionary (``'default'`` holds the name of unlisted labels).
        """
        return masks.standardize_names(name)

    # -- frame ranges ---------------------------------------------------------------------------

    def set_frame_ranges(self, resource: str | Resource, identifier: str,
                         type: Literal["text", "category", "integer", "float", "label"],  # noqa: A002
                         values: Sequence[dict[str, Any]], worklist_id: str | None = None) -> dict[str, Any]:
        """Replace your frame annotations of one identifier with values over frame ranges.

        Args:
            resource: The resource.
            identifier: The label.
            type: The annotation type.
            values: ``[{"value": v, "frame_ranges": [(start, end), ...]}]``, ranges half-open.
            worklist_id: The worklist.

        Returns:
            ``{"created": [...ids], "deleted": [...ids]}``.
        """
        body: dict[str, Any] = {"identifier": identifier, "type": type, "values": [
            {"value": v.get("value"), "frame_ranges": [
                r if isinstance(r, dict) else {"start": int(r[0]), "end": int(r[1])} for r in v["frame_ranges"]]}
            for v in values]}
        if worklist_id is not None:
            body["annotation_worklist_id"] = worklist_id
        return self._request("PUT", f"/annotations/{self._resource_id(resource)}/frame-ranges", json=body).json()

    def get_frame_ranges(self, resource: str | Resource, worklist_id: str | None = None,
                         created_by: str | None = None) -> list[dict[str, Any]]:
        """Frame annotations of a resource grouped into records with half-open ``frame_ranges``."""
        params = {k: v for k, v in {"annotation_worklist_id": worklist_id, "created_by": created_by}.items() if v}
        return self._request("GET", f"/annotations/{self._resource_id(resource)}/frame-ranges", params=params).json()

