"""Logging and loading :class:`~datamint.mlflow.model.DatamintModel` with MLflow.

A Datamint model is an MLflow ``python_function`` model whose ``MLmodel`` metadata carries a
``datamint`` section: its class, supported modes and label schema (annotation specs). The
server's deploy job reads that section to check the model before it serves it.
"""

from __future__ import annotations

from typing import Any

import mlflow
import mlflow.pyfunc

from datamint.mlflow.model import DatamintModel

#: Key of the Datamint section in the ``MLmodel`` file's metadata.
METADATA_KEY = "datamint"


def model_metadata(model: DatamintModel, annotation_specs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The ``datamint`` metadata section of ``model``."""
    from datamint import __version__

    specs = annotation_specs if annotation_specs is not None else type(model).annotation_specs
    return {"class": f"{type(model).__module__}.{type(model).__qualname__}",
            "supported_modes": type(model).supported_modes(), "annotation_specs": list(specs or []),
            "batch_size": type(model).batch_size, "datamint_version": __version__}


def log_model(model: DatamintModel, name: str = "model", *, registered_model_name: str | None = None,
              annotation_specs: list[dict[str, Any]] | None = None, pip_requirements: Any = None,
              extra_pip_requirements: Any = None, artifacts: dict[str, str] | None = None,
              code_paths: list[str] | None = None, dataset_version: Any = None, **kwargs: Any) -> Any:
    """Log a :class:`DatamintModel` to the active MLflow run (and register it).

    Args:
        model: The model instance (cloudpickled by MLflow; or pass code_paths for its module).
        name: The model's name within the run.
        registered_model_name: Also register it under this name (a new version each time).
        annotation_specs: Its label schema; default: the class's ``annotation_specs``.
        pip_requirements: Its requirements (default: inferred by MLflow). The server's deploy job
            compares them with its workers' packages: a model whose requirements they lack runs in
            an environment of its own, built from them (``docs/models.md``, "Serving environment").
        extra_pip_requirements: Requirements added to the inferred ones.
        artifacts: Files the model needs at load time (``context.artifacts``).
        code_paths: Local code to ship with the model.
        dataset_version: A :class:`~datamint.entities.datasetinfo.DatasetVersion` (or
            ``(dataset_id, version number)``) the model was trained on: the run is tagged with it,
            so the model version and the dataset version show each other (lineage).
        **kwargs: Passed to ``mlflow.pyfunc.log_model`` (``input_example``, ``signature``...).

    Returns:
        MLflow's ``ModelInfo`` (``model_uri``, ``registered_model_version``...).

    Raises:
        TypeError: ``model`` is not a DatamintModel.
        ValueError: It implements no ``predict_*`` method.
    """
    if not isinstance(model, DatamintModel):
        raise TypeError(f"log_model needs a DatamintModel subclass instance, got {type(model).__name__}")
    if not type(model).supported_modes():
        raise ValueError(f"{type(model).__name__} implements no predict_* method: add predict_image, "
                         "predict_frame, predict_slice, predict_volume or predict_default")
    if dataset_version is not None:
        tag_dataset_version(dataset_version)
    metadata = {**(kwargs.pop("metadata", None) or {}), METADATA_KEY: model_metadata(model, annotation_specs)}
    return mlflow.pyfunc.log_model(name=name, python_model=model, registered_model_name=registered_model_name,
                                   pip_requirements=pip_requirements, extra_pip_requirements=extra_pip_requirements,
                                   artifacts=artifacts, code_paths=code_paths, metadata=metadata, **kwargs)


#: Run tags that name the dataset version a run trained on.
DATASET_ID_TAG = "datamint.dataset_id"
DATASET_VERSION_TAG = "datamint.dataset_version"


def tag_dataset_version(version: Any, run_id: str | None = None) -> None:
    """Tag the active run (or ``run_id``) with the dataset version it trains on.

    Args:
        version: A ``DatasetVersion`` (with ``dataset_id`` and ``number``), or a pair
            ``(dataset_id, number)``.
        run_id: The run; default: the active run.
    """
    if isinstance(version, (tuple, list)):
        dataset_id, number = version
    else:
        dataset_id, number = version.dataset_id, version.number
    tags = {DATASET_ID_TAG: str(dataset_id), DATASET_VERSION_TAG: str(int(number))}
    if run_id is None:
        mlflow.set_tags(tags)
    else:
        client = mlflow.MlflowClient()
        for key, value in tags.items():
            client.set_tag(run_id, key, value)


def load_model(model_uri: str) -> DatamintModel:
    """Load a logged Datamint model (``models:/name@champion``, ``runs:/...``) as the model object.

    Raises:
        TypeError: The model at ``model_uri`` is not a DatamintModel.
    """
    python_model = mlflow.pyfunc.load_model(model_uri).unwrap_python_model()
    if not isinstance(python_model, DatamintModel):
        raise TypeError(f"{model_uri} holds a {type(python_model).__name__}, not a DatamintModel")
    return python_model
