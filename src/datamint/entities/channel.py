"""The Channel entity (wire protocol §5.4): the resources uploaded under one channel name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from datamint.entities.base_entity import BaseEntity

if TYPE_CHECKING:
    from datamint.entities.resource import Resource


class ChannelResourceData(BaseModel):
    """A resource of a channel, as the channel listing describes it."""

    model_config = ConfigDict(extra="allow")

    created_by: str
    customer_id: str
    resource_id: str
    resource_file_name: str
    resource_mimetype: str


class Channel(BaseEntity):
    """An upload channel: a name given at upload time to group resources.

    ``id`` is the channel name (``""`` for resources uploaded without a channel, whose
    ``channel_name`` is ``None``).

    Attributes:
        channel_name: The name, or ``None`` for the resources uploaded without one.
        resource_data: The channel's resources (id, file name, mimetype, uploader).
        resource_count: Number of resources.
        created_at: Time of the first upload. updated_at: Time of the latest upload.
    """

    channel_name: str | None = None
    resource_data: list[ChannelResourceData] = Field(default_factory=list)
    resource_count: int | None = None
    deleted: bool = False
    created_at: str | None = None
    updated_at: str | None = None

    def __init__(self, **data: Any) -> None:
        data.setdefault("id", data.get("channel_name") or "")
        super().__init__(**data)

    def get_resource_ids(self) -> list[str]:
        """Ids of the channel's resources."""
        return [item.resource_id for item in self.resource_data]

    def fetch_resources(self) -> Sequence[Resource]:
        """The channel's resources as full Resource entities (one listing request)."""
        from datamint.api.endpoints.resources_api import ResourcesApi

        api = self._require_api()
        resources_api = api._sibling("resources", lambda: ResourcesApi(api.config, api.client))
        if self.channel_name:
            return resources_api.get_list(channel=self.channel_name)
        wanted = set(self.get_resource_ids())
        return [r for r in resources_api.get_list() if r.id in wanted]
