"""Plain 2-D images (PNG, JPEG, TIFF, ...)."""

from __future__ import annotations

from typing import ClassVar

from datamint.entities.resource import Resource


class ImageResource(Resource):
    """A 2-D image."""

    storage_aliases: ClassVar[tuple[str, ...]] = ("ImageResource", "ImageResourceHandler")
    mimetype_prefixes: ClassVar[tuple[str, ...]] = ("image/",)

    @property
    def width(self) -> int | None:
        """Width in pixels."""
        return self._coerce_int(self.metadata.get("width"))

    @property
    def height(self) -> int | None:
        """Height in pixels."""
        return self._coerce_int(self.metadata.get("height"))

    def get_dimensions(self) -> tuple[int | None, int | None]:
        """``(width, height)`` in pixels."""
        return self.width, self.height
