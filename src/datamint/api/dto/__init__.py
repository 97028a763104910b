"""Data transfer objects sent by the SDK."""

from __future__ import annotations

from datamint.api.dto.annotation_dto import CreateAnnotationDto

__all__ = ["CreateAnnotationDto"]
