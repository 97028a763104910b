"""The legacy ``APIHandler`` (``from datamintapi import APIHandler``), kept working over :class:`~datamint.Api`.

Scripts written for the older client keep running: the methods keep their names and the
dict-shaped results they returned (``resources[0]['id']``). New code should use ``Api``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import IO, Any, Literal

from datamint.api.client import Api


class APIHandler:
    """Legacy client facade.

    Args:
        root_url: Server URL (default: ``DATAMINT_API_URL`` or the config file).
        api_key: API key (default: ``DATAMINT_API_KEY`` or the config file written by
            ``datamint-config``).
        check_connection: Check the URL and key at once.

    Example:
        >>> from datamintapi import APIHandler
        >>> handler = APIHandler(api_key='my_api_key')
        >>> rid = handler.upload_resources('/path/to/dicom.dcm', anonymize=True, labels=['case1'])
    """

    def __init__(self, root_url: str | None = None, api_key: str | None = None, check_connection: bool = True) -> None:
        self.api = Api(server_url=root_url, api_key=api_key, check_connection=check_connection)

    @property
    def root_url(self) -> str:
        """The server URL in use."""
        return self.api.config.server_url

    def upload_resources(self, files_path: str | IO | Sequence[str | IO], mimetype: str | None = None,
                         anonymize: bool = False, anonymize_retain_codes: Sequence[tuple] = (),
                         on_error: Literal["raise", "skip"] = "raise", labels: Sequence[str] | None = None,
                         tags: Sequence[str] | None = None,
                         mung_filename: Sequence[int] | int | Literal["all"] | None = None,
                         channel: str | None = None, publish: bool = False, publish_to: str | None = None,
                         segmentation_files: Any = None, transpose_segmentation: bool = False,
                         modality: str | None = None, assemble_dicoms: bool = True, metadata: Any = None,
                         discard_dicom_reports: bool = True, progress_bar: bool = False) -> str | list[Any]:
        """Upload one file (returns its id) or several (returns a list of ids or, with
        ``on_error='skip'``, exceptions).

        Args:
            files_path: One path or file object, a list of them, or a directory.
            labels: Old name of ``tags``; both are applied.
            mung_filename: ``'all'`` or folder depths to prefix to the file name (``1`` turns
                ``path/to/dicom.dcm`` into ``to_dicom.dcm``).
            Others: as :meth:`datamint.api.endpoints.resources_api.ResourcesApi.upload_resources`.
        """
        all_tags = [*(labels or []), *(tags or [])] or None
        single = isinstance(files_path, (str, Path)) and not Path(files_path).is_dir() or hasattr(files_path, "read")
        if single:
            seg = segmentation_files[0] if isinstance(segmentation_files, list) else segmentation_files
            meta = metadata[0] if isinstance(metadata, list) else metadata
            return self.api.resources.upload_resource(
                files_path, mimetype=mimetype, anonymize=anonymize, anonymize_retain_codes=list(anonymize_retain_codes),
                tags=all_tags, mung_filename=mung_filename, channel=channel, publish=publish,  # type: ignore[arg-type]
                publish_to=publish_to, segmentation_files=seg, transpose_segmentation=transpose_segmentation,
                modality=modality, metadata=meta, discard_dicom_reports=discard_dicom_reports)
        return list(self.api.resources.upload_resources(
            files_path, mimetype=mimetype, anonymize=anonymize, anonymize_retain_codes=list(anonymize_retain_codes),
            on_error=on_error, tags=all_tags, mung_filename=mung_filename, channel=channel,  # type: ignore[arg-type]
            publish=publish, publish_to=publish_to, segmentation_files=segmentation_files,
            transpose_segmentation=transpose_segmentation, modality=modality, assemble_dicoms=assemble_dicoms,
            metadata=metadata, discard_dicom_reports=discard_dicom_reports, progress_bar=progress_bar))

    def get_resources(self, status: str | None = None, from_date: date | str | None = None,
                      to_date: date | str | None = None, labels: Sequence[str] | None = None,
                      tags: Sequence[str] | None = None, modality: str | None = None, mimetype: str | None = None,
                      return_ids_only: bool = False, order_field: str | None = None,
                      order_ascending: bool | None = None, channel: str | None = None,
                      project_name: str | list[str] | None = None, filename: str | None = None,
                      limit: int | None = None) -> list[Any]:
        """Resources as dicts (or only their ids), with the filters of ``ResourcesApi.get_list``.

        Args:
            status: ``'inbox'``, ``'published'`` or ``'archived'``.
            labels: Old name of ``tags``.
            return_ids_only: Return the ids instead of dicts.
        """
        all_tags = [*(labels or []), *(tags or [])] or None
        resources = self.api.resources.get_list(
            status=status, from_date=from_date, to_date=to_date, tags=all_tags, modality=modality,  # type: ignore[arg-type]
            mimetype=mimetype, order_field=order_field, order_ascending=order_ascending,  # type: ignore[arg-type]
            channel=channel, project_name=project_name, filename=filename, limit=limit)
        return [r.id for r in resources] if return_ids_only else [r.asdict() for r in resources]

    def get_resources_by_ids(self, ids: str | Sequence[str]) -> dict[str, Any] | list[dict[str, Any]]:
        """One resource (for one id) or a list of them, as dicts."""
        if isinstance(ids, str):
            return self.api.resources.get_by_id(ids).asdict()
        return [self.api.resources.get_by_id(i).asdict() for i in ids]

    def download_resource_file(self, resource_id: str, save_path: str | None = None, auto_convert: bool = True,
                               add_extension: bool = False) -> Any:
        """The file's bytes, or (``auto_convert``) a pydicom Dataset, PIL image, ``cv2.VideoCapture``
        or nibabel image; also saved to ``save_path`` when given."""
        return self.api.resources.download_resource_file(resource_id, save_path=save_path,  # type: ignore[call-overload]
                                                         auto_convert=auto_convert, add_extension=add_extension)

    def publish_resource(self, resource_id: str | Sequence[str], project_name: str | None = None) -> None:
        """Publish resources (status ``published``); with ``project_name``, also add them to that project."""
        self.api.resources.publish_resources(resource_id)
        if project_name is not None:
            self.api.projects.add_resources(resource_id, project_name)

    def upload_segmentation(self, resource_id: str, file_path: str, name: Any = None, **kwargs: Any) -> list[str]:
        """Upload a segmentation for a resource: a NIfTI volume (one annotation per label of
        ``name``, a ``{value: name}`` dict or a str for label 1) or a PNG mask / array of frames.

        Returns:
            The ids of the created annotations.
        """
        annotations = self.api.resources.annotations_api
        if str(file_path).lower().endswith((".nii", ".nii.gz")):
            return annotations.upload_volume_segmentation(resource_id, file_path, name, **kwargs)
        return annotations.upload_segmentations(resource_id, file_path, name, **kwargs)
