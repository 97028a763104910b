"""Offset/limit paging (wire protocol §2) and the list envelope ``{"data": [...], "totalCount": N}``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query

#: Largest page a client may ask for; the official client asks for exactly this many.
MAX_PAGE = 5000
#: Largest offset accepted (beyond any real listing; keeps the value inside a 64-bit integer).
MAX_OFFSET = 10**12


@dataclass(frozen=True)
class Page:
    """Which slice of a listing to return."""

    offset: int = 0
    limit: int = 100


def _page(
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Number of items to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"Page size, at most {MAX_PAGE}")] = 100,
) -> Page:
    return Page(offset=offset, limit=limit)


PageDep = Annotated[Page, Depends(_page)]


def envelope(items: list[Any], total: int) -> dict[str, Any]:
    """The list envelope every paginated endpoint returns."""
    return {"data": items, "totalCount": total}


def envelope_json(items: Sequence[str], total: int, **fields: Any) -> bytes:
    """The list envelope as JSON bytes, around items that already are JSON texts (a listing
    whose database writes each item), with further top-level ``fields``."""
    tail = orjson.dumps({"totalCount": total, **fields})
    return b'{"data":[' + ",".join(items).encode() + b"]," + tail[1:]
