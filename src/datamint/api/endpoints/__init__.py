"""One handler per area of the API."""

from __future__ import annotations

from datamint.api.endpoints.annotations_api import AnnotationsApi
from datamint.api.endpoints.annotationsets_api import AnnotationSetsApi, AnnotationWorklistApi
from datamint.api.endpoints.audit_api import AuditApi
from datamint.api.endpoints.channels_api import ChannelsApi
from datamint.api.endpoints.datasetsinfo_api import DatasetsInfoApi
from datamint.api.endpoints.deploy_model_api import DeployModelApi
from datamint.api.endpoints.inference_api import InferenceApi
from datamint.api.endpoints.models_api import ModelsApi
from datamint.api.endpoints.projects_api import ProjectsApi
from datamint.api.endpoints.resources_api import ResourcesApi
from datamint.api.endpoints.users_api import UsersApi

__all__ = [
    "AnnotationSetsApi",
    "AnnotationWorklistApi",
    "AnnotationsApi",
    "AuditApi",
    "ChannelsApi",
    "DatasetsInfoApi",
    "DeployModelApi",
    "InferenceApi",
    "ModelsApi",
    "ProjectsApi",
    "ResourcesApi",
    "UsersApi",
]
