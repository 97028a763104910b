"""Private file modes for patient data, and sweeping of leftovers.

Everything the server writes under its data folder (the SQLite database and its WAL, blobs,
upload spool files) is readable by the server's user only: files ``0600``, folders ``0700``.
Installs made before this rule are fixed when the server starts (:func:`make_tree_private`, once
per folder: a marker file remembers it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
#: Marker left in a folder whose existing files were made private.
MARKER = ".private-modes"
_LOG = logging.getLogger("datamint.server")


def private_dir(path: Path) -> Path:
    """Create ``path`` and every missing parent with mode ``0700`` (existing folders are untouched)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=PRIVATE_DIR)
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    return path


def chmod_quietly(path: Path | str, mode: int) -> bool:
    """``chmod`` that logs instead of failing (a file owned by someone else, a read-only mount)."""
    try:
        os.chmod(path, mode)
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        _LOG.warning("could not make %s private (mode %o): %s", path, mode, exc)
        return False


def make_tree_private(root: Path, marker: Path) -> int:
    """Make every file under ``root`` ``0600`` and every folder ``0700``, once (the file
    ``marker`` records it, so a large store is walked only on the first start after an upgrade).

    Returns:
        How many entries were changed.
    """
    chmod_quietly(root, PRIVATE_DIR)
    if marker.exists():
        return 0
    changed = 0
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = os.path.join(folder, name)
            if os.stat(path, follow_symlinks=False).st_mode & 0o077:
                changed += chmod_quietly(path, PRIVATE_DIR)
        for name in files:
            path = os.path.join(folder, name)
            with contextlib.suppress(FileNotFoundError):
                if not os.path.islink(path) and os.stat(path).st_mode & 0o077:
                    changed += chmod_quietly(path, PRIVATE_FILE)
    fd = os.open(marker, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE)
    os.close(fd)
    if changed:
        _LOG.warning("made %d file(s) and folder(s) under %s private (0600/0700)", changed, root)
    return changed


def sweep_old_files(folder: Path, max_age_s: float, suffix: str = "") -> int:
    """Delete the files directly in ``folder`` (ending in ``suffix``) older than ``max_age_s``
    seconds by modification time: leftovers of uploads a crash interrupted. Younger files may
    belong to an upload still in progress (in this or another server process) and are kept.

    Returns:
        How many files were deleted.
    """
    if not folder.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for entry in os.scandir(folder):
        try:
            if (entry.is_file(follow_symlinks=False) and entry.name.endswith(suffix)
                    and entry.stat().st_mtime < cutoff):
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue  # another process removed it first
    if removed:
        _LOG.warning("removed %d leftover upload spool file(s) from %s", removed, folder)
    return removed
