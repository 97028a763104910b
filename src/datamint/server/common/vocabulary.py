"""The annotation vocabulary shared by worklist label schemas and annotations: the types, the
scopes and the longest identifier (wire protocol §7)."""

from __future__ import annotations

ANNOTATION_TYPES = ("segmentation", "area", "distance", "angle", "point", "line", "region", "square", "circle",
                    "category", "label", "integer", "float", "text", "spline")
SCOPES = ("image", "frame")
MAX_IDENTIFIER = 300
