"""Uploading resources: ``upload_resources`` / ``upload_resource`` (wire protocol §6).

:class:`ResourceUploads` is a part of :class:`~datamint.api.endpoints.resources_api.ResourcesApi`;
the steps live in :mod:`datamint.api._upload` (``prepare``: files into upload units; ``send``: sending them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, Literal

from datamint.api._upload import prepare as up
from datamint.api._upload import send
from datamint.api.endpoints.resources_core import ResourcesCore
from datamint.entities.project import Project

if TYPE_CHECKING:
    import pydicom


class ResourceUploads(ResourcesCore):
    """Upload verbs of the resources handler (a part of ``ResourcesApi``)."""

    def upload_resources(self, files_path: Sequence[str | IO | pydicom.Dataset] | str, mimetype: str | None = None,
                         anonymize: bool = False, anonymize_retain_codes: Sequence[tuple] = [],  # noqa: B006
                         on_error: Literal["raise", "skip"] = "raise", tags: Sequence[str] | None = None,
                         mung_filename: Sequence[int] | Literal["all"] | None = None, channel: str | None = None,
                         publish: bool = False, publish_to: Project | str | None = None,
                         segmentation_files: Sequence[Sequence[str] | dict] | None = None,
                         transpose_segmentation: bool = False, ai_model: str | None = None,
                         modality: str | None = None, assemble_dicoms: bool = True,
                         metadata: Sequence[str | dict | None] | None = None, discard_dicom_reports: bool = True,
                         progress_bar: bool = False, on_duplicate: Literal["keep", "skip"] = "keep",
                         ) -> Sequence[str | Exception]:
        """Upload multiple resources, 20 at a time.

        Args:
            files_path: Paths, binary file objects or ``pydicom.Dataset`` objects (mixed), or a
                directory (its files, not recursive).
            mimetype: The mimetype of every file; guessed from content, then name, when None.
            anonymize: De-identify DICOM files with the DICOM PS3.15 Basic Profile before sending.
                Off by default (as in the official client): DICOM is sent with its patient data
                unless you pass ``True`` (``datamint upload`` de-identifies by default).
            anonymize_retain_codes: Attributes to keep when anonymizing, e.g. ``[(0x0010, 0x0020)]``.
            on_error: ``'raise'`` raises the first failure (files not yet started are not sent);
                ``'skip'`` puts each failure's exception in its place in the returned list.
            tags: Tags for every resource.
            mung_filename: ``'all'``, or folder depths to prefix to the file name (1 = the file's
                own folder); see :mod:`datamint.api._upload.prepare`.
            channel: The channel to upload to (an arbitrary name to group resources).
            publish: Publish directly (status 'published' instead of 'inbox').
            publish_to: A project (object, name or id) to add the resources to; implies ``publish``.
            segmentation_files: Per file, segmentation files to attach: ``{'files': [...],
                'names': ...}`` (NIfTI volumes or PNG masks).
            transpose_segmentation: Transpose the segmentation arrays before uploading them.
            ai_model: Name of the AI model to credit for the segmentations.
            modality: The modality of every resource (else taken from each file's metadata).
            assemble_dicoms: Upload the single-frame instances of a series as one multi-frame DICOM.
            metadata: One dict or JSON file path (or None) per file.
            discard_dicom_reports: Skip DICOM reports (SR, KO, PR, ...), with a warning.
            progress_bar: Show a tqdm progress bar.
            on_duplicate: When a file's content is already in your organization (same bytes, or the
                same original files you uploaded before, anonymized or not): ``'keep'`` uploads it
                again as a new resource (the default, as the official client does) and logs a
                warning; ``'skip'`` uploads nothing and returns the existing resource's id (adding
                it to ``publish_to``). See docs/resources.md.

        Returns:
            One resource id (or, with ``on_error='skip'``, exception) per uploaded input file, in
            input order; files of an assembled series all map to the assembled resource's id.
            Discarded reports have no entry. Ids are :class:`~datamint.api._upload.send.UploadedId`
            strings whose ``duplicate_of`` and ``skipped`` tell about duplicates.

        Raises:
            ValueError: A single file was given (use :meth:`upload_resource`), or bad arguments.
            ItemNotFoundError: ``publish_to`` names no project you can see.

        Example:
            >>> ids = api.resources.upload_resources(['a.dcm', 'b.dcm', 'c.png'], anonymize=True,
            ...                                      publish_to='Liver Review', progress_bar=True)
        """
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be either 'raise' or 'skip'")
        if on_duplicate not in ("keep", "skip"):
            raise ValueError("on_duplicate must be either 'keep' or 'skip'")
        inputs = up.collect_inputs(files_path, metadata)
        if segmentation_files is not None:
            segmentation_files = list(segmentation_files)
            if len(segmentation_files) != len(inputs):
                raise ValueError("segmentation_files must have one entry per file")
            assemble_dicoms = False
        project_id = None
        if publish_to is not None:
            project_id = self.projects_api._resolve(publish_to).id
            publish = True
        if assemble_dicoms:  # grouping series needs every header; otherwise each batch reads its own as it goes
            up.read_headers(inputs)
            if discard_dicom_reports:
                inputs = up.drop_reports(inputs)
        units = up.plan_units(inputs, assemble_dicoms)
        options = up.UploadOptions(mimetype=mimetype, anonymize=anonymize, retain_codes=list(anonymize_retain_codes),
                                   tags=[t.strip() for t in (tags or []) if t and t.strip()],
                                   mung_filename=mung_filename, modality=modality,
                                   discard_reports=discard_dicom_reports)
        form = {"source": "api", "bypass_inbox": "true" if publish else "false", "on_duplicate": on_duplicate}
        if channel is not None:
            form["channel"] = channel
        if project_id is not None:
            form["project_id"] = project_id
        by_index = send.send_units(self, units, options, form, on_error, progress_bar)
        up.warn_skipped_reports([item.name for item in inputs if isinstance(by_index[item.index], up.SkippedReport)])
        inputs = [item for item in inputs if not isinstance(by_index[item.index], up.SkippedReport)]
        results: list[Any] = [by_index[item.index] for item in inputs]
        send.report_duplicates([item.name for item in inputs], results, on_duplicate)
        if segmentation_files is not None:
            results = send.attach_segmentations(self.annotations_api, results, inputs, segmentation_files,
                                              transpose_segmentation, ai_model)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures and on_error == "raise":
            raise next((f for f in failures if not isinstance(f, send.UploadAbortedError)), failures[0])
        return results

    def upload_resource(self, file_path: str | IO | pydicom.Dataset, mimetype: str | None = None,
                        anonymize: bool = False, anonymize_retain_codes: Sequence[tuple] = [],  # noqa: B006
                        tags: Sequence[str] | None = None, mung_filename: Sequence[int] | Literal["all"] | None = None,
                        channel: str | None = None, publish: bool = False, publish_to: Project | str | None = None,
                        segmentation_files: dict | None = None, transpose_segmentation: bool = False,
                        modality: str | None = None, metadata: dict | str | None = None,
                        discard_dicom_reports: bool = True, on_duplicate: Literal["keep", "skip"] = "keep") -> str:
        """Upload a single resource.

        Args:
            file_path: The path to the file, a binary file object or a ``pydicom.Dataset``.
            mimetype: The mimetype; guessed from content, then name, when None.
            anonymize: De-identify a DICOM file (PS3.15 Basic Profile) before sending.
            anonymize_retain_codes: The tags to retain when anonymizing.
            tags: The tags to add to the resource.
            mung_filename: How to build the file name from the path (see :meth:`upload_resources`).
            channel: The channel to upload the resource to.
            publish: Whether to publish directly (status 'published').
            publish_to: The project name, id or object to add the resource to (implies publish).
            segmentation_files: ``{'files': [...], 'names': {1: 'Brain', ...}}``.
            transpose_segmentation: Whether to transpose the segmentation files.
            modality: The modality of the resource.
            metadata: A dict or a JSON file path stored with the resource.
            discard_dicom_reports: Refuse DICOM reports (raises ValueError for one).
            on_duplicate: ``'keep'`` (default) or ``'skip'``: see :meth:`upload_resources`.

        Returns:
            The resource ID of the uploaded resource (of the existing one when a duplicate was skipped).

        Raises:
            ItemNotFoundError: ``publish_to`` names no project you can see.
            DatamintException: The server refused the file (the message says why).

        Example:
            >>> rid = api.resources.upload_resource('path/to/file.dcm', tags=['case1'], channel='study')
        """
        results = self.upload_resources(
            [file_path], mimetype=mimetype, anonymize=anonymize, anonymize_retain_codes=anonymize_retain_codes,
            on_error="raise", tags=tags, mung_filename=mung_filename, channel=channel, publish=publish,
            publish_to=publish_to, segmentation_files=None if segmentation_files is None else [segmentation_files],
            transpose_segmentation=transpose_segmentation, modality=modality, assemble_dicoms=False,
            metadata=None if metadata is None else [metadata], discard_dicom_reports=discard_dicom_reports,
            on_duplicate=on_duplicate)
        if not results:
            raise ValueError(f"{getattr(file_path, 'name', file_path)} is a DICOM report (SR/KO/PR/...) and "
                             "discard_dicom_reports=True; pass discard_dicom_reports=False to upload it")
        return results[0]  # an UploadedId (a str)

    def create(self, file_path: str | IO | pydicom.Dataset, **kwargs: Any) -> str:
        """Same as :meth:`upload_resource` (the generic create verb of entity handlers)."""
        return self.upload_resource(file_path, **kwargs)
