"""The members of a zip added to an import session, checked before the job reads them.

A zip counts as a folder of its members: each member is a file of the session (its limit of
files applies to them) and a unit of the import with its own row. So the number of entries is
read from the archive's end record before its central directory is parsed (a zip of a million
empty entries is 100 MB on the wire but holds a million entry objects once parsed), and every
member name must be a relative path naming one file: ``..`` segments and two entries that name
the same file once normalized (``a.json`` and ``./a.json``) are refused rather than skipped or
overwritten silently.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from typing import BinaryIO


class ZipRefused(ValueError):
    """The zip cannot be imported as it is; the message says why (for a 422 or the job's log)."""


#: Most bytes of central directory per entry accepted (an entry takes 46 plus its name, extra
#: field and comment): the directory is parsed only when ``limit`` entries could fill it.
DIRECTORY_BYTES_PER_ENTRY = 4096


def _seekable(data: bytes | BinaryIO) -> BinaryIO:
    if isinstance(data, bytes):
        return io.BytesIO(data)
    data.seek(0)
    return data


def end_record(data: bytes | BinaryIO) -> tuple[int, int] | None:
    """``(entries, central directory bytes)`` as the zip's end record declares them (``None``: not a zip)."""
    # zipfile's own reader of the end record (ZIP64 included); parsing the directory comes later.
    record = zipfile._EndRecData(_seekable(data))  # type: ignore[attr-defined]
    if record is None:
        return None
    return int(record[zipfile._ECD_ENTRIES_TOTAL]), int(record[zipfile._ECD_SIZE])  # type: ignore[attr-defined]


def members(data: bytes | BinaryIO, name: str, limit: int) -> list[tuple[str, str]] | None:
    """``(member, path)`` of each file of the zip, ``path`` its normalized relative name.

    Args:
        data: The zip's bytes, or a seekable binary file holding it (read, not closed).
        name: The zip's name in the session (for messages).
        limit: Most entries accepted.

    Returns:
        The members in the archive's order, or ``None`` when ``data`` is not a readable zip.

    Raises:
        ZipRefused: More than ``limit`` entries, a member outside the zip's folder, or two members
            with one name.
    """
    declared = end_record(data)
    if declared is None:
        return None
    count, directory = declared
    if count > limit:
        raise _too_many(name, count, limit)
    if directory > limit * DIRECTORY_BYTES_PER_ENTRY:
        raise ZipRefused(f"{name}: its directory of entries ({directory} bytes) is larger than {limit} files "
                         "need; the zip is damaged or not made by an archiver")
    try:
        with zipfile.ZipFile(_seekable(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        return None
    if len(infos) > limit:  # a directory holding more entries than its end record says
        raise _too_many(name, len(infos), limit)
    out: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for info in infos:
        member = info.filename
        if member.endswith("/"):
            continue
        path = posixpath.normpath(member.replace("\\", "/")).lstrip("/")
        if path in ("", ".") or path == ".." or path.startswith("../") or "\x00" in path:
            raise ZipRefused(f"{name}: member {member!r} is not a relative path inside the zip")
        if path in seen:
            raise ZipRefused(f"{name}: members {seen[path]!r} and {member!r} name the same file {path!r}")
        seen[path] = member
        out.append((member, path))
    return out


def _too_many(name: str, count: int, limit: int) -> ZipRefused:
    return ZipRefused(f"{name} holds {count} entries; an import session takes at most {limit} files "
                      "(a zip's members count one each): split it into smaller zips and sessions")
