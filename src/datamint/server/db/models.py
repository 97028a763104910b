"""Imports every area's tables so that :data:`metadata` describes the whole schema.

Alembic's environment and the schema-drift test read this module; add one import per new area.
"""

from __future__ import annotations

from datamint.server.annotations import models as annotation_models  # noqa: F401
from datamint.server.audit import models as audit_models  # noqa: F401
from datamint.server.auth import models as auth_models  # noqa: F401
from datamint.server.datasets import models as dataset_models  # noqa: F401
from datamint.server.db.base import Base
from datamint.server.formats import models as format_models  # noqa: F401
from datamint.server.jobs import models as job_models  # noqa: F401
from datamint.server.models import models as model_models  # noqa: F401
from datamint.server.projects import models as project_models  # noqa: F401
from datamint.server.quality import models as quality_models  # noqa: F401
from datamint.server.resources import models as resource_models  # noqa: F401
from datamint.server.worklists import models as worklist_models  # noqa: F401
from datamint.server.workunits import models as workunit_models  # noqa: F401

metadata = Base.metadata
