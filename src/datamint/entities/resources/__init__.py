"""Specialised resources, chosen by :func:`datamint.entities.resource.resource_from_dict`."""

from __future__ import annotations

from datamint.entities.resources.dicom_resource import DICOMResource
from datamint.entities.resources.image_resource import ImageResource
from datamint.entities.resources.nifti_resource import NiftiResource
from datamint.entities.resources.video_resource import VideoResource
from datamint.entities.resources.volume_resource import VolumeResource

#: Candidate classes for dispatch, most specific first.
SPECIALISED = (DICOMResource, NiftiResource, VolumeResource, VideoResource, ImageResource)

__all__ = ["SPECIALISED", "DICOMResource", "ImageResource", "NiftiResource", "VideoResource", "VolumeResource"]
