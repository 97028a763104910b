"""Base class of the entities the SDK returns (pydantic models that keep unknown fields)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

if TYPE_CHECKING:
    from datamint.api.entity_base_api import EntityBaseApi


class BaseEntity(BaseModel):
    """An entity of the Datamint server.

    Unknown fields sent by the server are kept (``extra='allow'``). Entities returned by an
    endpoint handler remember it, so methods such as ``project.fetch_resources()`` work.
    """

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True, populate_by_name=True)

    id: str
    _api: EntityBaseApi[Any] | None = PrivateAttr(default=None)

    def asdict(self) -> dict[str, Any]:
        """The entity as a dict, unknown fields included."""
        return self.model_dump(warnings="none")

    def asjson(self) -> str:
        """The entity as a JSON string, unknown fields included."""
        return self.model_dump_json(warnings="none")

    def _require_api(self) -> EntityBaseApi[Any]:
        if self._api is None:
            raise RuntimeError(f"This {type(self).__name__} was not obtained from an Api; "
                               "fetch it with api.<endpoint>.get_by_id(...) to use its methods")
        return self._api

    def _refresh(self) -> BaseEntity:
        """Reload the entity's fields from the server; returns ``self``."""
        fresh = self._require_api().get_by_id(self.id)
        for name, value in fresh.asdict().items():
            setattr(self, name, value)
        return self

    def __str__(self) -> str:
        shown = {k: v for k, v in self.asdict().items() if v not in (None, "", [], {})}
        body = ", ".join(f"{k}={v!r}" for k, v in list(shown.items())[:12])
        return f"{type(self).__name__}({body})"

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        private["_api"] = None  # handlers hold sockets; re-attach after unpickling if needed
        state["__pydantic_private__"] = private
        return state
