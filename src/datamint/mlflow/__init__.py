"""Models on Datamint with MLflow: the model contract, logging, and the active project.

``datamint.mlflow`` needs the ``mlflow`` package (``pip install 'datamint[ml]'``)::

    import mlflow
    import datamint.mlflow as dm

    dm.set_project("Liver CT")                      # MLflow calls now go to this project
    class Seg(dm.DatamintModel):
        annotation_specs = [{"type": "segmentation", "identifier": "liver", "scope": "image"}]
        def predict_volume(self, inputs, **params):
            return [[dm.Mask("liver", x.pixels > 100)] for x in inputs]

    with mlflow.start_run():
        dm.log_model(Seg(), registered_model_name="liver-seg")
"""

from __future__ import annotations

from typing import Any

from datamint.mlflow.env import get_active_project_id, set_project, setup_mlflow_environment

_LAZY = {
    "DatamintModel": "datamint.mlflow.model", "ModelInput": "datamint.mlflow.model", "Mask": "datamint.mlflow.model",
    "Box": "datamint.mlflow.model", "Point": "datamint.mlflow.model", "Category": "datamint.mlflow.model",
    "MODES": "datamint.mlflow.model", "log_model": "datamint.mlflow.flavor", "load_model": "datamint.mlflow.flavor",
    "tag_dataset_version": "datamint.mlflow.flavor", "METADATA_KEY": "datamint.mlflow.flavor",
}

__all__ = [
    "METADATA_KEY", "MODES", "Box", "Category", "DatamintModel", "Mask", "ModelInput", "Point",
    "get_active_project_id", "load_model", "log_model", "set_project", "setup_mlflow_environment",
    "tag_dataset_version",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'datamint.mlflow' has no attribute {name!r}")
