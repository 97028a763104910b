"""Generic handlers for endpoints that list, fetch, create, update and delete one entity type."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import httpx

from datamint.api.base_api import ApiConfig, BaseApi
from datamint.entities.base_entity import BaseEntity
from datamint.exceptions import EntityAlreadyExistsError, ItemNotFoundError, ServerError

T = TypeVar("T", bound=BaseEntity)
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(value: str) -> bool:
    """Whether ``value`` is a canonical 8-4-4-4-12 hex UUID."""
    return bool(_UUID_RE.match(value or ""))


def entity_id(entity: str | BaseEntity) -> str:
    """The id of an entity given as an entity or as its id (the SDK's one helper for this).

    Args:
        entity: An entity (``Project``, ``Resource``, ...) or an id string.

    Returns:
        The id string, unchanged when a string was given.

    Example:
        >>> entity_id("123e4567-e89b-12d3-a456-426614174000")
        '123e4567-e89b-12d3-a456-426614174000'
    """
    return entity if isinstance(entity, str) else entity.id


def entity_ids(entities: str | BaseEntity | Sequence[str | BaseEntity]) -> list[str]:
    """The ids of one entity or id, or of a sequence of them (see :func:`entity_id`)."""
    if isinstance(entities, (str, BaseEntity)):
        return [entity_id(entities)]
    return [entity_id(e) for e in entities]


class EntityBaseApi(BaseApi, Generic[T]):
    """Base API handler for entity-related endpoints with CRUD operations.

    Args:
        config: Connection settings.
        entity_class: The entity type this handler returns.
        endpoint_base: The path under the server URL, e.g. ``"projects"``.
        client: A shared ``httpx.Client``.
    """

    #: Key under which the server nests items in its "nested" list shape (wire §2).
    return_field: str | None = None

    def __init__(self, config: ApiConfig, entity_class: type[T], endpoint_base: str,
                 client: httpx.Client | None = None) -> None:
        super().__init__(config, client)
        self.entity_class = entity_class
        self.endpoint_base = endpoint_base.strip("/")

    # -- helpers -------------------------------------------------------------------------

    @property
    def _thing(self) -> str:
        return self.entity_class.__name__.lower()

    def _validate_entity_id(self, entity_id: str) -> None:
        if not isinstance(entity_id, str) or not is_uuid(entity_id):
            raise ValueError(f"Invalid {self._thing} id {entity_id!r}: expected a UUID "
                             "such as '123e4567-e89b-12d3-a456-426614174000'")

    def _entid(self, entity: str | BaseEntity) -> str:
        """The id this handler addresses ``entity`` by (:func:`entity_id`; users override it: email)."""
        return entity_id(entity)

    def _init_entity_obj(self, **data: Any) -> T:
        """Build an entity from server data and attach this handler to it."""
        entity = self.entity_class(**data)
        entity._api = self
        return entity

    def _make_entity_request(self, method: str, entity: str | BaseEntity, add_path: str = "",
                             **kwargs: Any) -> httpx.Response:
        """A request on ``/{base}/{id}{add_path}``; a 404 names the entity and its id."""
        entity_id = self._entid(entity)
        self._validate_entity_id(entity_id)
        suffix = f"/{add_path.lstrip('/')}" if add_path else ""
        try:
            return self._request(method, f"/{self.endpoint_base}/{entity_id}{suffix}", **kwargs)
        except ItemNotFoundError as err:
            if not add_path:
                err.set_params(self._thing, {"id": entity_id})
            raise

    # -- verbs ---------------------------------------------------------------------------

    def get_list(self, limit: int | None = None, **kwargs: Any) -> Sequence[T]:
        """Get entities with optional filtering.

        Args:
            limit: Maximum number of entities to return (all when ``None``).
            **kwargs: Filters passed as query parameters.

        Returns:
            List of entity instances.

        Raises:
            DatamintException: If the request fails.
        """
        items = self._iter_items(f"/{self.endpoint_base}", kwargs, limit=limit, return_field=self.return_field)
        return [self._init_entity_obj(**item) for item in items]

    def get_all(self, limit: int | None = None) -> Sequence[T]:
        """Get all entities, walking every page.

        Args:
            limit: Maximum number of entities to return (all when ``None``).

        Returns:
            List of entity instances.
        """
        return self.get_list(limit=limit)

    def get_by_id(self, entity_id: str) -> T:
        """Get a specific entity by its ID.

        Args:
            entity_id: Unique identifier for the entity.

        Returns:
            Entity instance.

        Raises:
            ItemNotFoundError: If the entity does not exist (or is not visible to you).
            ValueError: If ``entity_id`` is not a UUID.
        """
        response = self._make_entity_request("GET", entity_id)
        return self._init_entity_obj(**response.json())


class CreatableEntityApi(EntityBaseApi[T]):
    """Extension of EntityBaseApi for entities that support creation."""

    def _create(self, entity_data: dict[str, Any], return_entity: bool = True, exists_ok: bool = False,
                unique_key: dict[str, Any] | None = None) -> Any:
        """POST a new entity.

        Args:
            entity_data: The JSON body.
            return_entity: Return the entity rather than its id.
            exists_ok: On 409, return the existing entity (or id) instead of raising.
            unique_key: How the duplicate is identified, for the error message.

        Raises:
            EntityAlreadyExistsError: The entity exists and ``exists_ok`` is false.
        """
        try:
            response = self._request("POST", f"/{self.endpoint_base}", json=entity_data)
        except EntityAlreadyExistsError as err:
            err.entity_type = self._thing
            err.params = dict(unique_key or {})
            err.message = f"{self._thing} already exists for {err.params}"
            if not exists_ok:
                raise
            existing = err.existing or {}
            if return_entity:
                if existing:
                    return self._init_entity_obj(**existing)
                body = err.response.json() if err.response is not None else {}
                return self.get_by_id(body["id"]) if body.get("id") else None
            return existing.get("id") or (err.response.json().get("id") if err.response is not None else None)
        data = response.json()
        if isinstance(data, dict) and "error" in data:
            raise ServerError(str(data["error"]), status_code=response.status_code)
        if isinstance(data, str):
            return self.get_by_id(data) if return_entity else data
        if isinstance(data, dict):
            return self._init_entity_obj(**data) if return_entity else data.get("id")
        return data

    def create(self, *args: Any, **kwargs: Any) -> str | T:
        """Create an entity; each handler defines its own parameters."""
        raise NotImplementedError("Subclasses define create() with their own parameters")


class UpdatableEntityApi(EntityBaseApi[T]):
    """Extension of EntityBaseApi for entities that support partial updates."""

    def patch(self, entity: str | T, entity_data: dict[str, Any]) -> T:
        """Partially update an existing entity.

        Args:
            entity: Unique identifier for the entity or the entity instance.
            entity_data: Dictionary containing fields to update. Only provided fields will be updated.

        Returns:
            Updated entity instance.

        Raises:
            ItemNotFoundError: If the entity does not exist.
        """
        response = self._make_entity_request("PATCH", entity, json=entity_data)
        data = response.json() if response.content else None
        if isinstance(data, dict) and "id" in data:
            return self._init_entity_obj(**data)
        return self.get_by_id(self._entid(entity))

    def partial_update(self, entity: str | T, entity_data: dict[str, Any]) -> T:
        """Alias for :meth:`patch` to partially update an entity."""
        return self.patch(entity, entity_data)


class DeletableEntityApi(EntityBaseApi[T]):
    """Extension of EntityBaseApi for entities that support soft deletion."""

    def delete(self, entity: str | T) -> None:
        """Delete an entity.

        Args:
            entity: Unique identifier for the entity to delete or the entity instance itself.

        Raises:
            ItemNotFoundError: If the entity does not exist.
        """
        self._make_entity_request("DELETE", entity)

    def bulk_delete(self, entities: Sequence[str | T]) -> None:
        """Delete multiple entities, concurrently.

        Args:
            entities: Sequence of unique identifiers for the entities to delete or the entity
                instances themselves.

        Raises:
            DatamintException: The first failure, after every deletion was attempted.
        """
        ids = [self._entid(e) for e in entities]
        for entity_id in ids:
            self._validate_entity_id(entity_id)

        def _job(entity_id: str) -> Any:
            return lambda client: self._arequest(client, "DELETE", f"/{self.endpoint_base}/{entity_id}")

        results = self._run_concurrently([_job(i) for i in ids], return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]

    def restore(self, entity: str | T) -> T:
        """Restore a deleted (archived) entity.

        Args:
            entity: The entity or its id.

        Returns:
            The restored entity.
        """
        response = self._make_entity_request("POST", entity, add_path="restore")
        data = response.json()
        return self._init_entity_obj(**data) if isinstance(data, dict) and "id" in data else self.get_by_id(
            self._entid(entity))


class CRUDEntityApi(CreatableEntityApi[T], UpdatableEntityApi[T], DeletableEntityApi[T]):
    """Full CRUD API handler for entities supporting create, read, update, delete operations."""
