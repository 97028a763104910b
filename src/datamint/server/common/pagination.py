"""Offset/limit paging (wire protocol §2) and the list envelope ``{"data": [...], "totalCount": N}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

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
