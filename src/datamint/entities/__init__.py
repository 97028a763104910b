"""Entities returned by the SDK (pydantic models that keep unknown server fields)."""

from __future__ import annotations

from datamint.entities.base_entity import BaseEntity
from datamint.entities.channel import Channel, ChannelResourceData
from datamint.entities.datasetinfo import DatasetInfo, DatasetVersion
from datamint.entities.job import Job, JobFailedError
from datamint.entities.project import Project
from datamint.entities.project_resource_split import ProjectResourceSplit
from datamint.entities.resource import Resource, resource_from_dict
from datamint.entities.resources import DICOMResource, ImageResource, NiftiResource, VideoResource, VolumeResource
from datamint.entities.user import User

__all__ = [
    "BaseEntity",
    "Channel",
    "ChannelResourceData",
    "DICOMResource",
    "DatasetInfo",
    "DatasetVersion",
    "ImageResource",
    "Job",
    "JobFailedError",
    "NiftiResource",
    "Project",
    "ProjectResourceSplit",
    "Resource",
    "User",
    "VideoResource",
    "VolumeResource",
    "resource_from_dict",
]
