"""The annotation-workflow methods of ``api.projects``: the project's worklists, work statuses,
reviews, statistics, models and annotation export (wire protocol §4.1)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from datamint.api.endpoints.annotationsets_api import export_params, stream_download
from datamint.api.endpoints.projects_core import ProjectsCore
from datamint.api.entity_base_api import entity_id

if TYPE_CHECKING:
    from datamint.entities.annotation_worklist import AnnotationWorklist
    from datamint.entities.annotations import AnnotationSpec
    from datamint.entities.project import Project
    from datamint.entities.resource import Resource


class ProjectWork(ProjectsCore):
    """Worklists, progress, reviews, statistics and export of a project (a part of ``ProjectsApi``)."""

    def _worklist_id(self, project: str | Project) -> str:
        worklist_id = getattr(self._resolve(project), "worklist_id", None)
        if worklist_id is None:
            worklist_id = getattr(self.get_by_id(self._project_id(project)), "worklist_id", None)
        if worklist_id is None:
            from datamint.exceptions import ItemNotFoundError

            raise ItemNotFoundError("worklist", {"project": self._project_id(project)})
        return worklist_id

    def export(self, project: str | Project, format: str = "coco", *,  # noqa: A002 - the seed's word
               worklist: str | AnnotationWorklist | None = None, version: int | str | None = None,
               annotators: Sequence[str] | None = None,
               statuses: Sequence[str] | None = None, labels: Sequence[str] | None = None,
               resources: Sequence[str | Resource] | None = None, splits: Sequence[str] | None = None,
               include_model: bool = True, split_ratios: dict[str, float] | None = None, seed: int = 0,
               options: dict[str, Any] | None = None, wait: bool = False, path: str | Path | None = None,
               progress_bar: bool = True, timeout: float | None = None) -> Any:
        """Export the project's annotations in a named format, as a background job (see docs/formats.md).

        Args:
            project: The project ID, name or Project instance.
            format: ``'coco'``, ``'yolo'``, ``'voc'``, ``'csv_fourcorner'``, ``'csv_widthheight'``,
                ``'png_masks'``, ``'nifti'``, ``'dicom_seg'`` or ``'datamint'`` (lossless JSON + masks).
            worklist: Only this worklist of the project.
            version: Export a version of the project's dataset (``'latest'``, its number or name):
                its frozen annotations and masks, not the live ones.
            annotators: Only these annotators' annotations (emails).
            statuses: Only annotations of these statuses (``'new'``, ``'published'``).
            labels: Only these labels (identifiers).
            resources: Only these resources (ids or Resource objects).
            splits: Only the resources of these project splits.
            include_model: Include model predictions.
            split_ratios: Split the export by patient, e.g. ``{'train': 0.8, 'val': 0.2}``: no patient
                lands in two parts; each part goes in its own folder of the archive.
            seed: The split's seed (the same seed gives the same split).
            options: Format options, e.g. ``{'nnunet': True}`` for NIfTI, ``{'keep_hours': 48}``.
            wait: Wait for the job to end (progress bar) and raise if it failed.
            path: Also download the archive there once done (implies ``wait``).
            progress_bar: Show progress bars while waiting and downloading.
            timeout: Most seconds to wait.

        Returns:
            The export ``Job`` (``job.wait()``, ``job.download(path)``, ``job.result`` names the
            archive), or the downloaded file's path when ``path`` is given.

        Example:
            >>> job = api.projects.export("Liver CT", format="nifti", split_ratios={"train": .8, "val": .2}, seed=1)
            >>> job.wait().download("exports/")
        """
        body: dict[str, Any] = {"format": format, "include_model": include_model, "options": dict(options or {})}
        if worklist is not None:
            body["worklist_id"] = worklist if isinstance(worklist, str) else worklist.id
        if version is not None:
            body["version"] = str(version)
        for key, value in (("annotators", annotators), ("statuses", statuses), ("labels", labels),
                           ("splits", splits)):
            if value is not None:
                body[key] = list(value)
        if resources is not None:
            body["resource_ids"] = [entity_id(r) for r in resources]
        if split_ratios:
            body["split"] = {"ratios": dict(split_ratios), "seed": seed}
        response = self._project_request("POST", project, "exports", json=body)
        from datamint.api.endpoints.jobs_api import JobsApi

        jobs = self._sibling("jobs", lambda: JobsApi(self.config, self.client))
        job = jobs._init_entity_obj(**response.json())
        if wait or path is not None:
            jobs.wait(job, timeout=timeout, progress_bar=progress_bar).raise_for_status()
        if path is not None:
            return jobs.download(job, path, progress_bar=progress_bar)
        return job

    def get_worklist(self, project: str | Project) -> dict:
        """Get the annotation worklist object (the project's default worklist) for a project.

        Args:
            project: The project ID, name or Project instance.

        Returns:
            The worklist data dict (name, annotators, annotations specs, resource_ids, ...).
        """
        return self._request("GET", f"/annotationsets/{self._worklist_id(project)}").json()

    def get_worklists(self, project: str | Project) -> list[AnnotationWorklist]:
        """Every worklist of a project."""
        return self._worklists_api().get_by_project(self._project_id(project))

    def get_annotations_specs(self, project: str | Project) -> Sequence[AnnotationSpec]:
        """Get the annotations specs (expected labels) of a project's worklist.

        Args:
            project: The project id or Project instance.

        Returns:
            A sequence of AnnotationSpec instances.
        """
        from datamint.entities.annotations import AnnotationSpec

        return [AnnotationSpec.create(**spec) for spec in self.get_worklist(project).get("annotations") or []]

    # -- work statuses and reviews ----------------------------------------------------------------

    def set_work_status(self, project: str | Project, resource: str | Resource,
                        status: Literal["opened", "annotated", "closed", "approved", "revision_request"]) -> None:
        """Set the status of your work on a resource of the project ('opened', 'annotated',
        'closed'); reviewers may set 'approved' or 'revision_request'.

        Args:
            project: The project.
            resource: The resource (id or Resource).
            status: The new status.
        """
        self._project_request("POST", project, f"resources/{entity_id(resource)}/status", json={"status": status})

    def get_annotation_statuses(self, project: str | Project, status: str | None = None,
                                user_id: str | None = None, resource_id: str | None = None) -> list[dict]:
        """Get per-resource annotation (work) statuses for a project.

        Args:
            project: The project ID or Project instance.
            status: Optional status filter.
            user_id: Optional user ID (or email) filter.
            resource_id: Optional resource ID filter.

        Returns:
            List of annotation status dicts (``resource_id``, ``email``, ``status``, ...).
        """
        params = {k: v for k, v in {"status": status, "user_id": user_id, "resource_id": resource_id}.items() if v}
        return self._project_request("GET", project, "annotation-statuses", params=params).json()

    def reset_annotator_status(self, project: str | Project, resource: str | Resource, annotator: str) -> None:
        """Reset annotation status for a specific annotator (email) on a resource."""
        self._project_request("DELETE", project, f"resources/{entity_id(resource)}/annotator/{annotator}/status-reset")

    def get_review_messages(self, project: str | Project, annotator: str | None = None,
                            resource_id: str | None = None, statuses: list[str] | None = None) -> list[dict]:
        """Get review feedback messages for a project.

        Args:
            project: The project ID or Project instance.
            annotator: Optional annotator email filter.
            resource_id: Optional resource ID filter.
            statuses: Optional list of status strings to filter by.

        Returns:
            List of review message dicts, oldest first.
        """
        params: dict[str, Any] = {k: v for k, v in {"annotator": annotator, "resourceId": resource_id}.items() if v}
        if statuses:
            params["statuses"] = list(statuses)
        return self._project_request("GET", project, "reviewmessages", params=params).json()

    # -- statistics -------------------------------------------------------------------------------

    def get_annotations_stats(self, project: str | Project) -> dict:
        """Get aggregate annotation statistics (counts per type, label, status, author) for a project."""
        return self._project_request("GET", project, "annotations-statistic").json()

    def get_annotators_stats(self, project: str | Project, email: str | None = None) -> list[dict]:
        """Get per-annotator completion statistics for a project (optionally one annotator's)."""
        params = {"email": email} if email else None
        return self._project_request("GET", project, "annotators-statistic", params=params).json()

    def get_annotator_status(self, project: str | Project, email: str) -> dict:
        """Get a specific annotator's progress status in a project."""
        return self._project_request("GET", project, f"users/{email}/status").json()

    def get_files_matrix_stats(self, project: str | Project) -> dict:
        """Get a matrix of resource × annotator completion statistics."""
        return self._project_request("GET", project, "files-matrix-statistic").json()

    def get_models(self, project: str | Project) -> list[dict]:
        """List ML models associated with a project: the models whose predictions are among its
        annotations (the server has no model registry yet).

        Returns:
            ``[{"name": model_name}, ...]``.
        """
        data = self._request("GET", f"/datamint/api/v1/model-info/get-models/{self._project_id(project)}").json()
        return [{"name": name} for name in data.get("model_names", [])]

    # -- export -----------------------------------------------------------------------------------

    def download_annotations(self, project: str | Project, output_path: str | Path, format: str = "csv",  # noqa: A002
                             annotators: list[str] | None = None, annotations: list[str] | None = None,
                             from_date: str | date | None = None, to_date: str | date | None = None,
                             progress_bar: bool = True) -> None:
        """Download annotation data as a CSV or Excel file.

        Args:
            project: The project ID or Project instance.
            output_path: Local file path to save the downloaded data.
            format: Export format, ``'csv'`` (default) or ``'xlsx'``.
            annotators: Optional list of annotator emails to include.
            annotations: Optional list of annotation identifiers to include.
            from_date: Optional start date filter (ISO string).
            to_date: Optional end date filter (ISO string, inclusive).
            progress_bar: Whether to display a progress bar.

        Example:
            >>> api.projects.download_annotations('Liver Review', 'labels.xlsx', format='xlsx')
        """
        stream_download(self, f"/projects/{self._project_id(project)}/download-annotations",
                        export_params(format, annotators, annotations, from_date, to_date), output_path, progress_bar)
