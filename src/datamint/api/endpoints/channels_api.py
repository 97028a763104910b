"""Channels API endpoint handler (``api.channels``).

A channel is a name given to resources at upload time (``upload_resources(channel=...)``) to
group them for batch processing or organisation; the server lists each channel with its resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from datamint.api.base_api import ApiConfig
from datamint.api.entity_base_api import EntityBaseApi
from datamint.entities.channel import Channel
from datamint.exceptions import ItemNotFoundError


class ChannelsApi(EntityBaseApi[Channel]):
    """API client for channel-related operations.

    Args:
        config: Connection settings.
        client: A shared ``httpx.Client``.

    Example:
        >>> for channel in api.channels.get_list():
        ...     print(channel.channel_name, len(channel.resource_data))
    """

    return_field = "channels"

    def __init__(self, config: ApiConfig, client: httpx.Client | None = None) -> None:
        super().__init__(config, Channel, "resources/channels", client)

    def _validate_entity_id(self, entity_id: str) -> None:
        if not isinstance(entity_id, str):
            raise ValueError("A channel is identified by its name (a string)")

    def get_list(self, limit: int | None = None, **kwargs: Any) -> Sequence[Channel]:
        """Channels with their resources.

        Args:
            limit: Maximum number of channels to return.
            **kwargs: Filters: ``channel_name`` (exact name) or ``project_name`` (channels of the
                resources of one project).

        Returns:
            The channels, sorted by name; resources uploaded without a channel form one channel
            whose ``channel_name`` is ``None``.
        """
        return super().get_list(limit=limit, **kwargs)

    def get_by_id(self, entity_id: str) -> Channel:
        """The channel with this name.

        Args:
            entity_id: The channel name.

        Raises:
            ItemNotFoundError: No resource was uploaded to a channel with this name.
        """
        return self.get_by_name(entity_id)

    def get_by_name(self, name: str) -> Channel:
        """The channel with this name (same as :meth:`get_by_id`).

        Raises:
            ItemNotFoundError: No resource was uploaded to a channel with this name.
        """
        self._validate_entity_id(name)
        found = self.get_list(channel_name=name) if name else [
            c for c in self.get_list() if c.channel_name is None]
        if not found:
            raise ItemNotFoundError("channel", {"name": name})
        return found[0]
