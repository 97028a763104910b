"""Annotations endpoint handler (``api.annotations``, wire protocol §4.3, §7, §8)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, overload

from datamint.api.endpoints.annotation_files import AnnotationFiles
from datamint.api.endpoints.annotation_helpers import AnnotationHelpers
from datamint.api.endpoints.import_sessions import ImportSession
from datamint.api.entity_base_api import entity_id, is_uuid
from datamint.entities.annotations import Annotation, AnnotationType
from datamint.exceptions import ServerError
from datamint.imaging import segmentation_masks as masks

if TYPE_CHECKING:
    from datamint.entities.resource import Resource


def _iso(value: date | str | None) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


class AnnotationsApi(AnnotationHelpers, AnnotationFiles):
    """API handler for annotations: create, list, masks, approval, deletion.

    Its verbs come from typed parts over one core: :class:`AnnotationsCore` (``create``, the
    resource's geometry, the sibling handlers), :class:`AnnotationHelpers` (the ``add_*`` and
    ``create_*`` shortcuts) and :class:`AnnotationFiles` (segmentation files and masks).

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.
        models_api: The models handler (kept for compatibility; models are not checked against a
            registry: the server has none yet).
        resources_api: The resources handler, used to build Resource entities.
    """

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
        from datamint.api.endpoints.jobs_api import JobsApi
        from datamint.api.endpoints.projects_api import ProjectsApi

        if isinstance(project, str) and not is_uuid(project):
            project_id = self._sibling("projects", lambda: ProjectsApi(self.config, self.client))._project_id(project)
        else:
            project_id = entity_id(project)
        body = {"worklist_id": worklist} if worklist else {}
        data = self._request("POST", f"/projects/{project_id}/imports", json=body).json()
        jobs = self._sibling("jobs", lambda: JobsApi(self.config, self.client))
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

