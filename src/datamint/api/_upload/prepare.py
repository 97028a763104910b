"""Client-side preparation of uploads (wire protocol §6.1), used by ``ResourcesApi.upload_resources``.

What happens to the inputs, in order:

1. Inputs (paths, binary file objects, ``pydicom.Dataset`` objects, or one directory, read
   non-recursively) become :class:`UploadInput` items; each one's start is read once
   (:func:`read_headers`), its content type sniffed from it and, for DICOM, its header parsed from
   it: all of them first when series are assembled (grouping needs them), else each batch's just
   before it is sent, so reading them overlaps the upload.
2. DICOM reports (SR, KO, PR, ... — :func:`datamint.imaging.is_dicom_report`) are dropped when
   ``discard_dicom_reports`` is set, with a warning naming them (when their header is read,
   before planning or before sending: :class:`SkippedReport`).
3. With ``assemble_dicoms``, single-frame instances of one series
   (:func:`datamint.imaging.group_series`) become one :class:`UploadUnit` that is uploaded as one
   multi-frame DICOM; everything else is one unit per input.
4. Each unit is prepared in a worker thread (:func:`prepare_unit`): DICOM is anonymized with the
   PS3.15 Basic Profile when asked (one :class:`~datamint.imaging.UidMapper` per upload call, so
   studies and series still group), series are assembled, the file name is munged, the mimetype
   is decided from the content (then the name), ``left``/``right`` tags are added from the DICOM
   laterality, and the metadata (dict or JSON file) is loaded.

``mung_filename``: ``'all'`` joins every part of the path as given with ``_``
(``path/to/dicom.dcm`` → ``path_to_dicom.dcm``); integers are folder depths counted upwards from
the file's own folder (1 = the folder holding the file, 2 = its parent, ...), and the chosen folder
names are prefixed in path order (``path/to/dicom.dcm`` with ``1`` → ``to_dicom.dcm``, with
``[1, 2]`` → ``path_to_dicom.dcm``). Depths beyond the path are ignored.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import IO, Any, Literal

from datamint.imaging import (
    HEAD_SIZE,
    UidMapper,
    anonymize_dataset,
    assemble_series,
    assembled_filename,
    group_series,
    guess_mimetype,
    is_dicom_report,
    read_dicom,
    sniff_mimetype,
)
from datamint.imaging._sources import read_head
from datamint.imaging.dicom_io import HEADER_READ, read_dicom_header, write_dicom_bytes
from datamint.imaging.metadata import laterality_tag

_LOG = logging.getLogger("datamint.upload")
DICOM = "application/dicom"
OCTET_STREAM = "application/octet-stream"
MungRule = Sequence[int] | int | Literal["all"] | None


@dataclass
class UploadInput:
    """One file the caller asked to upload."""

    index: int
    source: str | IO[bytes]
    name: str
    path: str | None
    metadata: dict[str, Any] | str | None = None
    sniffed: str | None = None  # the content's mimetype, set by read_headers
    header: Any = None  # pydicom Dataset (without pixels) for DICOM inputs, set by read_headers
    head_read: bool = False  # read_headers has read this input's start (sniffed, header read)

    @property
    def is_dicom(self) -> bool:
        """Whether the content is DICOM."""
        return self.header is not None


@dataclass
class UploadUnit:
    """What one ``POST /resources`` sends: one input, or a series of inputs assembled into one file."""

    inputs: list[UploadInput]
    assemble: bool = False

    def is_rewritten(self, options: UploadOptions) -> bool:
        """Whether the unit's DICOM is read whole and written anew (assembled or anonymized): CPU work."""
        return self.assemble or (options.anonymize and self.inputs[0].is_dicom)


@dataclass
class UploadOptions:
    """The upload parameters that shape each file."""

    mimetype: str | None = None
    anonymize: bool = False
    retain_codes: Sequence[Any] = ()
    tags: list[str] = field(default_factory=list)
    mung_filename: MungRule = None
    modality: str | None = None
    uid_map: UidMapper = field(default_factory=UidMapper)
    discard_reports: bool = False  # reports found when a unit is sent are skipped (SkippedReport)


@dataclass
class PreparedFile:
    """A file ready to be sent, and the form fields that go with it."""

    filename: str
    fileobj: IO[bytes]
    mimetype: str
    size: int
    tags: list[str]
    source_filepath: str | None
    metadata_json: str | None
    modality: str | None
    owned: bool = True
    failures: dict[int, Exception] = field(default_factory=dict)
    source_sha256: str | None = None  # the original file(s), when the content sent was rewritten

    def close(self) -> None:
        """Close the file object unless it belongs to the caller."""
        if self.owned:
            self.fileobj.close()


def _name_of(obj: Any) -> str | None:
    name = getattr(obj, "name", None)
    return name if isinstance(name, str) and name else None


def collect_inputs(files_path: Any, metadata: Sequence[dict[str, Any] | str | None] | None) -> list[UploadInput]:
    """Turn the caller's ``files_path`` into :class:`UploadInput` items (see the module docstring).

    Raises:
        ValueError: ``files_path`` is a single file (use ``upload_resource``), or ``metadata`` does
            not have one entry per file.
        FileNotFoundError: A path does not exist.
    """
    import pydicom

    if isinstance(files_path, (str, os.PathLike)):
        folder = Path(files_path).expanduser()
        if not folder.is_dir():
            raise ValueError(f"upload_resources() takes a list of files or a directory; {files_path!s} is a "
                             "single file: use upload_resource() for one file")
        files_path = sorted(str(p) for p in folder.iterdir() if p.is_file())
    elif isinstance(files_path, (pydicom.Dataset, io.IOBase)) or hasattr(files_path, "read"):
        raise ValueError("upload_resources() takes a sequence of files; use upload_resource() for one file")
    items = list(files_path)
    if metadata is not None and len(metadata) != len(items):
        raise ValueError(f"metadata must have one entry per file: got {len(metadata)} for {len(items)} files")
    inputs = []
    for i, item in enumerate(items):
        meta = metadata[i] if metadata is not None else None
        if isinstance(item, pydicom.Dataset):
            name = os.path.basename(str(item.filename)) if isinstance(item.filename, str) and item.filename \
                else f"{item.get('SOPInstanceUID', f'dataset_{i}')}.dcm"
            buffer = io.BytesIO(write_dicom_bytes(item))
            buffer.name = name
            inputs.append(UploadInput(i, buffer, name, None, meta))
        elif isinstance(item, (str, os.PathLike)):
            path = os.path.expanduser(os.fspath(item))
            if not os.path.isfile(path):
                raise FileNotFoundError(f"File not found: {path}")
            inputs.append(UploadInput(i, path, os.path.basename(path), path, meta))
        elif hasattr(item, "read"):
            path = _name_of(item)
            name = os.path.basename(path) if path else f"file_{i}"
            inputs.append(UploadInput(i, item, name, path, meta))
        else:
            raise ValueError(f"Cannot upload {type(item).__name__}: give paths, binary file objects or "
                             "pydicom.Dataset objects")
    return inputs


def read_headers(inputs: Sequence[UploadInput]) -> None:
    """Sniff the content type of every input and read the DICOM header (no pixels) of DICOM ones
    (each input once: inputs read already are left as they are).

    Each input's first :data:`~datamint.imaging.dicom_io.HEADER_READ` bytes are read once: the
    type is sniffed from their start, and a DICOM header that ends within them is parsed from them
    (:func:`~datamint.imaging.dicom_io.read_dicom_header`). Non-DICOM inputs keep ``header=None``;
    :func:`prepare_unit` relies on ``sniffed`` being set.

    Raises:
        OSError: An input cannot be read (the inputs before it are read).
    """
    for item in inputs:
        if item.head_read:
            continue
        head = read_head(item.source, HEADER_READ)
        item.sniffed = sniff_mimetype(head[:HEAD_SIZE])
        item.head_read = True
        if item.sniffed == DICOM:
            try:
                item.header = read_dicom_header(item.source, head)
            except ValueError as exc:
                _LOG.warning("%s looks like DICOM but its header cannot be read (%s); sending it as is",
                             item.name, exc)


class SkippedReport(Exception):
    """Put in place of a DICOM report found when its unit was about to be sent, with
    ``discard_dicom_reports``: nothing was uploaded, and the input has no entry in the result."""


def is_report(item: UploadInput) -> bool:
    """Whether the input is a DICOM report (its header read by :func:`read_headers`)."""
    return item.is_dicom and is_dicom_report(item.header)


def warn_skipped_reports(names: Sequence[str]) -> None:
    """Log, in one warning, which DICOM reports were left out of the upload."""
    if names:
        _LOG.warning("Skipped %d DICOM report(s) (SR/KO/PR/...; pass discard_dicom_reports=False to upload "
                     "them): %s", len(names), ", ".join(names[:10]) + (" ..." if len(names) > 10 else ""))


def drop_reports(inputs: list[UploadInput]) -> list[UploadInput]:
    """Remove DICOM reports (SR, KO, PR, ...) and log which ones were skipped."""
    kept: list[UploadInput] = []
    skipped: list[UploadInput] = []
    for item in inputs:
        (skipped if is_report(item) else kept).append(item)
    warn_skipped_reports([item.name for item in skipped])
    return kept


def plan_units(inputs: Sequence[UploadInput], assemble: bool) -> list[UploadUnit]:
    """One unit per input, or (with ``assemble``) one per stackable DICOM series."""
    if not assemble:
        return [UploadUnit([item]) for item in inputs]
    dicoms = [item for item in inputs if item.is_dicom]
    by_header = {id(item.header): item for item in dicoms}
    units: dict[int, UploadUnit] = {}
    for group in group_series([item.header for item in dicoms]):
        members = [by_header[id(ds)] for ds in group]
        unit = UploadUnit(members, assemble=len(members) > 1)
        units[members[0].index] = unit
    for item in inputs:
        if not item.is_dicom:
            units[item.index] = UploadUnit([item])
    return [units[k] for k in sorted(units)]


def mung(path: str, rule: MungRule) -> str:
    """The file name for ``path`` under a ``mung_filename`` rule (see the module docstring)."""
    if rule is None:
        return os.path.basename(path)
    parts = [p for p in PurePath(path).parts if p not in (PurePath(path).anchor, "")]
    if not parts:
        return os.path.basename(path)
    if rule == "all":
        return "_".join(parts)
    depths = [rule] if isinstance(rule, int) else list(rule)
    folders = parts[:-1]
    chosen = sorted({d for d in depths if 1 <= d <= len(folders)}, reverse=True)
    return "_".join([folders[-d] for d in chosen] + [parts[-1]])


def _add_laterality(tags: list[str], ds: Any) -> None:
    if (side := laterality_tag(ds)) and side not in tags:
        tags.append(side)


def load_metadata(meta: dict[str, Any] | str | None) -> dict[str, Any] | None:
    """The metadata dict of one file, read from a JSON file when a path is given.

    Raises:
        ValueError: The file is not a JSON object.
    """
    if meta is None or isinstance(meta, dict):
        return meta
    with open(os.path.expanduser(str(meta)), encoding="utf-8") as fh:
        try:
            value = json.load(fh)
        except ValueError as exc:
            raise ValueError(f"Metadata file {meta} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"Metadata file {meta} must hold a JSON object")
    return value


def _open(source: str | IO[bytes]) -> tuple[IO[bytes], int]:
    if isinstance(source, str):
        fh = open(source, "rb")  # noqa: SIM115 - closed by PreparedFile.close
        return fh, os.fstat(fh.fileno()).st_size
    source.seek(0, 2)
    size = source.tell()
    source.seek(0)
    return source, size


def _content_mimetype(item: UploadInput, declared: str | None) -> str:
    if declared:
        return declared
    if item.sniffed and item.sniffed != "application/json":
        return item.sniffed
    return guess_mimetype(item.name) or item.sniffed or OCTET_STREAM


def source_digest(inputs: Sequence[UploadInput]) -> str:
    """SHA-256 of the original file(s) of a unit: of the file's bytes, or for a series of several
    files, of their sorted hex digests joined by newlines (the order of the slices does not matter).

    The server uses it to recognise a re-upload of the same files whose bytes were rewritten
    (anonymized with new UIDs, or assembled) before sending (``on_duplicate``).
    """
    digests = []
    for item in inputs:
        digest = hashlib.sha256()
        if isinstance(item.source, str):
            with open(item.source, "rb") as fh:
                for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    digest.update(chunk)
        else:
            item.source.seek(0)
            for chunk in iter(lambda src=item.source: src.read(1 << 20), b""):
                digest.update(chunk)
            item.source.seek(0)
        digests.append(digest.hexdigest())
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("\n".join(sorted(digests)).encode()).hexdigest()


def prepare_unit(unit: UploadUnit, options: UploadOptions) -> PreparedFile:
    """Build the file and form fields of one unit (CPU and disk work: run it in a thread)."""
    first = unit.inputs[0]
    tags = list(options.tags)
    metadata = load_metadata(first.metadata)
    modality = options.modality
    if modality is None and metadata:
        modality = next((str(v) for k, v in metadata.items() if str(k).lower() == "modality"), None)
    source_filepath = os.path.abspath(first.path) if first.path else None
    failures: dict[int, Exception] = {}
    if unit.is_rewritten(options):
        datasets = []
        for item in unit.inputs:
            try:
                datasets.append(read_dicom(item.source, check=unit.assemble))
            except ValueError as exc:  # a broken slice fails alone; the rest of its series goes on
                failures[item.index] = exc
        if not datasets:
            raise next(iter(failures.values()))
        ds = assemble_series(datasets) if len(datasets) > 1 else datasets[0]
        _add_laterality(tags, ds)
        if options.anonymize:
            anonymize_dataset(ds, options.retain_codes, options.uid_map)
        data = write_dicom_bytes(ds)
        assembled = unit.assemble and len(datasets) > 1
        filename = assembled_filename(ds) if assembled else mung(first.path or first.name, options.mung_filename)
        read = [item for item in unit.inputs if item.index not in failures]
        return PreparedFile(filename, io.BytesIO(data), DICOM, len(data), tags, source_filepath,
                            json.dumps(metadata) if metadata is not None else None, modality, failures=failures,
                            source_sha256=source_digest(read))
    if first.is_dicom:
        _add_laterality(tags, first.header)
    mimetype = _content_mimetype(first, options.mimetype)
    fileobj, size = _open(first.source)
    filename = mung(first.path or first.name, options.mung_filename)
    return PreparedFile(filename, fileobj, mimetype, size, tags, source_filepath,
                        json.dumps(metadata) if metadata is not None else None, modality,
                        owned=isinstance(first.source, str))
