"""Annotation sets (worklists) endpoint handler (``api.annotationsets``, wire protocol §4.4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import httpx

from datamint.api.base_api import ApiConfig, BaseApi
from datamint.api.entity_base_api import entity_id, is_uuid
from datamint.entities.annotation_worklist import AnnotationWorklist
from datamint.entities.annotations import Annotation, AnnotationSpec
from datamint.entities.project import Project
from datamint.exceptions import ItemNotFoundError

if TYPE_CHECKING:
    from datamint.api.endpoints.annotations_api import AnnotationsApi
    from datamint.entities.resource import Resource

WorkStatus = Literal["opened", "annotated", "closed", "approved", "revision_request"]


def stream_download(api: BaseApi, path: str, params: dict[str, Any], output_path: str | Path,
                    progress_bar: bool) -> None:
    """Stream a GET response to ``output_path`` with an optional tqdm byte progress bar."""
    from tqdm.auto import tqdm

    response = api._request("GET", path, params=params, stream=True, headers={"accept": "*/*"})
    try:
        total = int(response.headers.get("content-length", 0)) or None
        bar = tqdm(total=total, unit="B", unit_scale=True, disable=not progress_bar, desc=Path(output_path).name)
        with bar, open(output_path, "wb") as fh:
            for chunk in response.iter_bytes(1 << 16):
                fh.write(chunk)
                bar.update(len(chunk))
    finally:
        response.close()


def export_params(format: str, annotators: Sequence[str] | None, annotations: Sequence[str] | None,  # noqa: A002
                  from_date: date | str | None, to_date: date | str | None) -> dict[str, Any]:
    """Query parameters of the ``download-annotations`` endpoints."""
    params: dict[str, Any] = {"format": format}
    if from_date is not None:
        params["from"] = from_date.isoformat() if isinstance(from_date, date) else from_date
    if to_date is not None:
        params["to"] = to_date.isoformat() if isinstance(to_date, date) else to_date
    if annotators:
        params["annotators[]"] = list(annotators)
    if annotations:
        params["annotations[]"] = list(annotations)
    return params


class AnnotationSetsApi(BaseApi):
    """API handler for annotation sets (worklists): resources to annotate, their label schema,
    annotators, work statuses, reviews and statistics.

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.
    """

    ENDPOINT_BASE = "/annotationsets"

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None) -> None:
        super().__init__(config, client)

    # -- helpers --------------------------------------------------------------------------------

    def _set_id(self, annotation_set: str | Project | AnnotationWorklist) -> str:
        if isinstance(annotation_set, Project):
            worklist_id = getattr(annotation_set, "worklist_id", None)
            if not worklist_id:
                raise ItemNotFoundError("worklist", {"project": annotation_set.id})
            return worklist_id
        worklist_id = entity_id(annotation_set)
        if not is_uuid(worklist_id):
            raise ValueError(f"Invalid annotation set id {worklist_id!r}: expected a UUID")
        return worklist_id

    def _path(self, annotation_set: str | Project | AnnotationWorklist, suffix: str = "") -> str:
        return f"{self.ENDPOINT_BASE}/{self._set_id(annotation_set)}{suffix}"

    def _entity(self, data: dict[str, Any]) -> AnnotationWorklist:
        worklist = AnnotationWorklist(**data)
        worklist._api = self  # type: ignore[assignment]
        return worklist

    @property
    def _annotations_api(self) -> AnnotationsApi:
        """The annotations handler that the Annotation entities returned here are bound to."""
        from datamint.api.endpoints.annotations_api import AnnotationsApi

        return self._sibling("annotations", lambda: AnnotationsApi(self.config, self.client))

    # -- worklists ------------------------------------------------------------------------------

    def create(self, name: str, resource_ids: list[str], description: str | None = None,
               annotations: list[dict] | None = None, annotators: list[str | dict[str, Any]] | None = None,
               frame_labels: list[str] | None = None, image_labels: list[str] | None = None, *,
               segmentation_data: dict[str, Any] | None = None, project: str | Project | None = None,
               viewable_ai_segmentations: list[str] | None = None, editable_ai_segmentations: list[str] | None = None,
               return_url: str | None = None, readers_per_item: int | None = None) -> str:
        """Create a new annotation worklist.

        Args:
            name: Name of the annotation worklist.
            resource_ids: List of resource IDs to include.
            description: Optional description.
            annotations: Optional list of annotation spec dicts (``type``, ``identifier``,
                ``scope``, ``required``, ``values`` for categories).
            annotators: Optional list of annotators: email addresses, or dicts
                ``{"email": ..., "expertise_level": "learner"|"trained"|"expert", "status": "active"|"frozen"}``
                (the official client's form).
            frame_labels: Optional list of frame label names.
            image_labels: Optional list of image label names.
            segmentation_data: ``{"segmentationValueType", "definitions": [{identifier, color, index}]}``.
            project: The project (id or Project) the worklist belongs to.
            viewable_ai_segmentations: Models whose segmentations annotators can see.
            editable_ai_segmentations: Models whose segmentations annotators can edit.
            return_url: Where the web app returns after annotating.
            readers_per_item: How many independent readers annotate each resource (1 to 20; more
                than 1 needs ``project``). Each reader's labels go to the label set
                ``reader:<email>``, hidden from the other readers until all N are done with the item.

        Returns:
            The ID of the created annotation set.

        Example:
            >>> wid = api.annotationsets.create('Round 1', [r.id for r in resources], annotators=['ann@x.org'],
            ...                                 image_labels=['fracture'], project=project)
        """
        body: dict[str, Any] = {"name": name, "resource_ids": list(resource_ids)}
        optional = {"description": description, "annotations": annotations, "annotators": annotators,
                    "frame_labels": frame_labels, "image_labels": image_labels, "segmentation_data": segmentation_data,
                    "viewable_ai_segmentations": viewable_ai_segmentations,
                    "editable_ai_segmentations": editable_ai_segmentations, "return_url": return_url,
                    "project_id": project.id if isinstance(project, Project) else project,
                    "readers_per_item": readers_per_item}
        body.update({k: v for k, v in optional.items() if v is not None})
        data = self._request("POST", self.ENDPOINT_BASE, json=body).json()
        return data if isinstance(data, str) else data["id"]

    def get_by_id(self, annotation_set_id: str) -> AnnotationWorklist:
        """One worklist.

        Raises:
            ItemNotFoundError: It does not exist or belongs to a project you are not a member of.
        """
        return self._entity(self._request("GET", self._path(annotation_set_id)).json())

    def get_by_project(self, project: str | Project) -> list[AnnotationWorklist]:
        """Every worklist of a project (id or Project)."""
        project_id = project.id if isinstance(project, Project) else project
        return [self._entity(w) for w in self._request("GET", f"/projects/{project_id}/worklists").json()]

    def update(self, annotation_set_id: str, **kwargs: Any) -> None:
        """Partially update an annotation worklist.

        Args:
            annotation_set_id: The annotation set ID to update.
            **kwargs: Fields to update (e.g. ``name``, ``annotators``, ``resource_ids``,
                ``status``, ``annotations``, ``segmentation_data``).
        """
        self._request("PATCH", self._path(annotation_set_id), json=kwargs)

    def get_readers(self, annotation_set: str) -> dict[str, Any]:
        """Reader slots of each item of a multi-reader worklist, and which items are complete."""
        return self._request("GET", self._path(annotation_set, "/readers")).json()

    def get_agreement(self, annotation_set: str, include_incomplete: bool = False) -> dict[str, Any]:
        """The agreement between the worklist's readers.

        Per item, label and pair of readers: Dice, IoU, HD95, Hausdorff and mean surface distance
        (mm) of masks, matched IoU of boxes; per label: Cohen's kappa per pair and Fleiss' kappa of
        classifications; and a ``summary`` of means per label and per pair (definitions in
        ``docs/quality.md``).

        Args:
            annotation_set: The worklist id.
            include_incomplete: Also compare items not all readers have finished.

        Example:
            >>> report = api.annotationsets.get_agreement(wid)
            >>> [(r['label'], r['mean_dice']) for r in report['summary']['by_label'] if r['kind'] == 'mask']
        """
        return self._request("GET", self._path(annotation_set, "/agreement"),
                             params={"include_incomplete": str(include_incomplete).lower()}).json()

    def start_agreement(self, annotation_set: str, include_incomplete: bool = False) -> dict[str, Any]:
        """Compute the agreement report in the background (large worklists).

        Returns:
            The job (``id``, ``status``...); ``api.jobs.wait(job['id']).result`` is the report of
            :meth:`get_agreement`.
        """
        return self._request("POST", self._path(annotation_set, "/agreement/jobs"),
                             params={"include_incomplete": str(include_incomplete).lower()}).json()

    def download_agreement(self, annotation_set: str, output_path: str | Path, progress_bar: bool = False) -> None:
        """Save the agreement report as CSV (one row per measurement)."""
        stream_download(self, self._path(annotation_set, "/agreement"), {"format": "csv"}, output_path,
                        progress_bar)

    def create_consensus(self, annotation_set: str, method: Literal["majority", "staple"] = "majority",
                         resource_ids: Sequence[str] | None = None) -> dict[str, Any]:
        """Write the readers' consensus of the complete items into the ``consensus`` label set.

        Masks are combined by majority vote or STAPLE, categories by majority (items without a
        strict majority are listed in ``no_majority``). Promote the result into ground truth with
        ``api.projects.promote_labelset(project, 'consensus')``.

        Returns:
            ``{"created": [ids], "replaced": n, "items": n, "no_majority": [...]}``.
        """
        body: dict[str, Any] = {"method": method}
        if resource_ids is not None:
            body["resource_ids"] = list(resource_ids)
        return self._request("POST", self._path(annotation_set, "/consensus"), json=body).json()

    def get_workunits_statistics(self, annotation_set: str) -> dict[str, Any]:
        """Time spent in a worklist per user, per label, per user and label, and per action."""
        return self._request("GET", self._path(annotation_set, "/workunits-statistic")).json()

    def get_annotations_specs(self, annotation_set: str | Project) -> Sequence[AnnotationSpec]:
        """Get the annotations specs for a given annotation set ID or Project."""
        data = self._request("GET", self._path(annotation_set)).json()
        return [AnnotationSpec.create(**spec) for spec in data.get("annotations") or []]

    # -- segmentation group ---------------------------------------------------------------------

    def get_segmentation_group(self, annotation_set: str | Project) -> dict:
        """Get the segmentation group (``{"groups": {identifier: {color, index}}}``) of a set."""
        return self._request("GET", self._path(annotation_set, "/segmentation-group")).json()

    def update_segmentation_group(self, annotation_set: str | Project, definitions: list[dict],
                                  segmentation_value_type: str = "single_label",
                                  renames: list[str] | None = None) -> None:
        """Replace the segmentation-group definitions for an annotation set.

        Args:
            annotation_set: The annotation set ID or Project instance.
            definitions: List of definition dicts with keys ``identifier``, ``color``, and ``index``.
            segmentation_value_type: ``'single_label'`` (default) or ``'multi_label'``.
            renames: Optional rename pairs ``'old:new'``; existing segmentations are renamed too.
        """
        body: dict[str, Any] = {"segmentationData": {"segmentationValueType": segmentation_value_type,
                                                     "definitions": list(definitions)}}
        if renames:
            body["renames"] = list(renames)
        self._request("PUT", self._path(annotation_set, "/segmentation-group"), json=body)

    def delete_segmentation_group(self, annotation_set: str | Project, identifier: str) -> None:
        """Remove one label of the segmentation group."""
        self._request("DELETE", self._path(annotation_set, f"/segmentation-group/{identifier}"))

    def upload_segmentation_group(self, annotation_set: str | Project, file: str | Path | IO[bytes],
                                  replace_existing: bool = False) -> dict:
        """Load segmentation labels from a .yaml/.yml/.csv/.json file (≤ 10 MB)."""
        if isinstance(file, (str, Path)):
            name, data = Path(file).name, Path(file).read_bytes()
        else:
            name, data = getattr(file, "name", "labels.yaml"), file.read()
        return self._request("POST", self._path(annotation_set, "/segmentation-group/upload"),
                             files={"file": (Path(str(name)).name, data)},
                             data={"replace_existing": str(bool(replace_existing)).lower()}).json()

    # -- resources and annotators ---------------------------------------------------------------

    def update_resources(self, annotation_set: str | Project, resource_ids_to_add: Sequence[str] | None = None,
                         resource_ids_to_delete: Sequence[str] | None = None) -> dict:
        """Add and remove resources of a worklist."""
        body = {"resource_ids_to_add": list(resource_ids_to_add or []),
                "resource_ids_to_delete": list(resource_ids_to_delete or [])}
        return self._request("POST", self._path(annotation_set, "/resources"), json=body).json()

    def set_annotator(self, annotation_set: str | Project, user: str, status: Literal["active", "frozen"] = "active",
                      expertise_level: Literal["learner", "trained", "expert"] | None = None,
                      return_url: str | None = None) -> dict:
        """Assign an annotator (user id or email) or change its status."""
        body = {k: v for k, v in {"status": status, "expertise_level": expertise_level,
                                  "return_url": return_url}.items() if v is not None}
        return self._request("POST", self._path(annotation_set, f"/annotators/{user}"), json=body).json()

    def remove_annotator(self, annotation_set: str | Project, user: str) -> None:
        """Unassign an annotator (user id or email)."""
        self._request("DELETE", self._path(annotation_set, f"/annotators/{user}"))

    # -- work -----------------------------------------------------------------------------------

    def update_annotation_status(self, annotation_set: str | Project, resource: str | Resource, status: WorkStatus,
                                 annotator: str | None = None, message: str | None = None,
                                 path: str | None = None) -> list[dict]:
        """Set a work status: annotators set ``opened``/``annotated``/``closed`` on their work;
        reviewers set ``approved``/``revision_request`` on an ``annotator``'s work with a message.

        Returns:
            Every status of the resource in the worklist.
        """
        body = {k: v for k, v in {"status": status, "annotator": annotator, "message": message,
                                  "path": path}.items() if v is not None}
        return self._request("POST", self._path(annotation_set, f"/resources/{entity_id(resource)}/status"),
                             json=body).json()

    def get_annotation_statuses(self, annotation_set: str | Project, status: str | None = None,
                                user_id: str | None = None, resource_id: str | None = None) -> list[dict]:
        """Work statuses of the worklist's resources."""
        params = {k: v for k, v in {"status": status, "user_id": user_id, "resource_id": resource_id}.items() if v}
        return self._request("GET", self._path(annotation_set, "/annotation-statuses"), params=params).json()

    def reset_annotator_status(self, annotation_set: str | Project, resource: str | Resource, email: str) -> None:
        """Forget an annotator's status on a resource."""
        self._request("DELETE", self._path(annotation_set,
                                           f"/resources/{entity_id(resource)}/annotator/{email}/status-reset"))

    def get_annotator_status(self, annotation_set: str | Project, email: str) -> dict:
        """One annotator's progress in the worklist."""
        return self._request("GET", self._path(annotation_set, f"/users/{email}")).json()

    def _annotations(self, annotation_set: str | Project, resource: str | Resource, kind: str,
                     all: bool | None, annotator: str | None) -> list[Annotation]:  # noqa: A002
        params = {k: v for k, v in {"all": None if all is None else str(all).lower(), "annotator": annotator}.items()
                  if v is not None}
        data = self._request("GET", self._path(annotation_set, f"/resources/{entity_id(resource)}/{kind}"),
                             params=params).json()
        return [self._annotations_api._init_entity_obj(**a) for a in data]

    def get_annotations(self, annotation_set: str | Project, resource: str | Resource, all: bool | None = None,  # noqa: A002
                        annotator: str | None = None) -> list[Annotation]:
        """Annotations of a resource in the worklist (yours, or everyone's with ``all=True``)."""
        return self._annotations(annotation_set, resource, "annotations", all, annotator)

    def get_segmentations(self, annotation_set: str | Project, resource: str | Resource, all: bool | None = None,  # noqa: A002
                          annotator: str | None = None) -> list[Annotation]:
        """Segmentations of a resource in the worklist (yours, or everyone's with ``all=True``)."""
        return self._annotations(annotation_set, resource, "segmentations", all, annotator)

    def upload_annotations(self, worklist_id: str, resource: str | Resource, payload: str | list[dict[str, Any]],
                           images: Sequence[str | Path | IO[bytes] | bytes] | None = None) -> dict:
        """Create (or, with an ``id``, update) segmentations of a resource in a worklist.

        Args:
            worklist_id: The worklist.
            resource: The resource (id or Resource).
            payload: A JSON array (or list) of ``{id?, identifier, frame_index, width, height, set_name?}``.
            images: One mask per payload item, in order (PNG for frames, NIfTI for volumes).

        Returns:
            ``{"ids": [...], "created": [...], "updated": [...]}``.
        """
        import json

        text = payload if isinstance(payload, str) else json.dumps(payload)
        files = []
        for i, image in enumerate(images or []):
            if isinstance(image, (str, Path)):
                files.append(("images", (Path(image).name, Path(image).read_bytes())))
            else:
                data = image if isinstance(image, bytes) else image.read()
                files.append(("images", (f"image_{i}", data)))
        return self._request("POST", self._path(worklist_id, f"/resources/{entity_id(resource)}/segmentations"),
                             data={"payload": text}, files=files or None).json()

    def get_ai_segmentations(self, annotation_set: str | Project, resource: str | Resource) -> list[Annotation]:
        """Model-made segmentations of a resource in the worklist."""
        return self._annotations(annotation_set, resource, "ai_segmentations", None, None)

    # -- statistics and export ------------------------------------------------------------------

    def get_annotators_statistics(self, annotation_set: str | Project, email: str | None = None) -> list[dict]:
        """Per-annotator progress."""
        params = {"email": email} if email else None
        return self._request("GET", self._path(annotation_set, "/annotators-statistic"), params=params).json()

    def get_annotations_statistics(self, annotation_set: str | Project) -> list[dict]:
        """Annotation counts per label."""
        return self._request("GET", self._path(annotation_set, "/annotations-statistic")).json()

    def download_annotations(self, annotation_set: str | Project, output_path: str | Path, format: str = "csv",  # noqa: A002
                             annotators: list[str] | None = None, annotations: list[str] | None = None,
                             from_date: date | str | None = None, to_date: date | str | None = None,
                             progress_bar: bool = True) -> None:
        """Save the worklist's annotations as CSV (``format='csv'``) or Excel (``'xlsx'``)."""
        stream_download(self, self._path(annotation_set, "/download-annotations"),
                        export_params(format, annotators, annotations, from_date, to_date), output_path, progress_bar)


#: The official client's name for this handler.
AnnotationWorklistApi = AnnotationSetsApi
