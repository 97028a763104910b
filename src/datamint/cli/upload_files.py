"""Finding the files ``datamint upload`` sends: folders, depth, patterns, extensions, JSON sidecars."""

from __future__ import annotations

import fnmatch
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: Extensions skipped unless ``--no-default-exclusions``: documents, configs, scripts, archives.
DEFAULT_EXCLUDED_EXTENSIONS = frozenset({
    "txt", "json", "xml", "doc", "docx", "xls", "xlsx", "csv", "tsv", "md", "rtf", "pdf", "yaml", "yml", "ini",
    "cfg", "toml", "log", "py", "ipynb", "sh", "bat", "ps1", "js", "html", "htm", "css", "exe", "dll", "so",
    "zip", "tar", "7z", "rar", "db", "sqlite", "sqlite3", "lnk", "url",
})
_SYSTEM_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "__pycache__", ".git", "DICOMDIR"})


@dataclass
class Selection:
    """Which files to upload, and what the rules left out."""

    files: list[Path] = field(default_factory=list)
    metadata: list[Path | None] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def extension(path: Path) -> str:
    """Lower-case extension without the dot; ``nii.gz`` for gzipped NIfTI."""
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        return "nii.gz"
    return name.rsplit(".", 1)[1] if "." in name else ""


def _walk(root: Path, recursive: bool, max_depth: int | None) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SYSTEM_NAMES)
        if not recursive or (max_depth is not None and depth >= max_depth):
            dirnames[:] = []
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _matches(path: Path, relative: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(path.name, p) or fnmatch.fnmatch(relative, p) for p in patterns)


def _normalise_extensions(values: Sequence[str] | None) -> set[str]:
    return {v.lower().lstrip(".") for value in values or [] for v in value.replace(",", " ").split() if v}


def select_files(paths: Sequence[Path], *, recursive: bool = False, max_depth: int | None = None,
                 include: Sequence[str] = (), exclude: Sequence[str] = (),
                 include_extensions: Sequence[str] | None = None, exclude_extensions: Sequence[str] | None = None,
                 default_exclusions: bool = True, auto_detect_json: bool = True) -> Selection:
    """Collect the files under ``paths`` that the rules keep.

    Args:
        paths: Files (always kept unless excluded by a pattern) and folders.
        recursive: Descend into sub-folders; ``max_depth`` limits how deep (1 = direct sub-folders).
        include: Glob patterns on the file name or its path relative to the folder; when given,
            only matching files are kept.
        exclude: Glob patterns of files to leave out.
        include_extensions: Only these extensions (``dcm``, ``nii.gz``, ...).
        exclude_extensions: More extensions to leave out.
        default_exclusions: Leave out :data:`DEFAULT_EXCLUDED_EXTENSIONS` and system files.
        auto_detect_json: Pair ``<name>.json`` next to a NIfTI file as its metadata.

    Raises:
        FileNotFoundError: A path does not exist.
    """
    only = _normalise_extensions(include_extensions)
    explicit = _normalise_extensions(exclude_extensions)
    from_folders = explicit | (set(DEFAULT_EXCLUDED_EXTENSIONS) if default_exclusions else set())
    selection = Selection()
    for root in paths:
        if not root.exists():
            raise FileNotFoundError(f"No such file or folder: {root}")
        in_folder = root.is_dir()
        candidates = [(p, p.relative_to(root).as_posix()) for p in _walk(root, recursive, max_depth)] \
            if in_folder else [(root, root.name)]
        for path, relative in candidates:
            ext = extension(path)
            reason = None
            if exclude and _matches(path, relative, exclude):
                reason = "excluded by pattern"
            elif include and not _matches(path, relative, include):
                reason = "not matching --include"
            elif in_folder and default_exclusions and (path.name in _SYSTEM_NAMES or path.name.startswith(".")):
                reason = "system or hidden file"
            elif only and ext not in only:
                reason = "extension not included"
            elif ext in (from_folders if in_folder else explicit):
                reason = f".{ext} files"
            if reason:
                selection.skipped[reason] += 1
            else:
                selection.files.append(path)
    for path in selection.files:
        sidecar = None
        if auto_detect_json and extension(path) in ("nii", "nii.gz"):
            stem = path.name[: -len(".nii.gz")] if path.name.lower().endswith(".nii.gz") else path.stem
            candidate = path.with_name(f"{stem}.json")
            sidecar = candidate if candidate.is_file() else None
        selection.metadata.append(sidecar)
    return selection


@dataclass
class Sniffed:
    """What the content of the files to upload is (read from their first bytes, not their names)."""

    kinds: dict[Path, str] = field(default_factory=dict)
    mimetypes: dict[Path, str] = field(default_factory=dict)
    reports: list[Path] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        """How many files of each kind, reports excluded."""
        return Counter(kind for path, kind in self.kinds.items() if path not in self.reports)

    @property
    def others(self) -> list[Path]:
        """Files that hold no medical image, image or video (stored as plain files)."""
        return [path for path, kind in self.kinds.items() if kind == "other"]

    @property
    def dicoms(self) -> int:
        """DICOM files to upload (reports excluded)."""
        return self.counts["DICOM"]


def sniff_files(files: Sequence[Path]) -> Sniffed:
    """Classify ``files`` by content: DICOM (and DICOM reports: SR, KO, PR, ...), NIfTI, image,
    video, or other (with the mimetype it will be stored as)."""
    from datamint.imaging import HEAD_SIZE, guess_mimetype, is_dicom_report, read_dicom, sniff_mimetype

    found = Sniffed()
    for path in files:
        with open(path, "rb") as fh:
            mimetype = sniff_mimetype(fh.read(HEAD_SIZE)) or guess_mimetype(path.name) or "application/octet-stream"
        found.mimetypes[path] = mimetype
        if mimetype == "application/dicom":
            try:
                if is_dicom_report(read_dicom(str(path), stop_before_pixels=True, check=False)):
                    found.reports.append(path)
            except ValueError:
                pass
            kind = "DICOM"
        elif mimetype == "application/nifti":
            kind = "NIfTI"
        elif mimetype.startswith("image/"):
            kind = "image"
        elif mimetype.startswith("video/"):
            kind = "video"
        else:
            kind = "other"
        found.kinds[path] = kind
    return found
