"""``datamint models``: the registered models of a project, deploys and predictions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from datamint.api.client import Api

app = typer.Typer(help="Models: list the registry and the deployed images, deploy a model version, run a deployed "
                       "model on resources (see docs/models.md).", no_args_is_help=True)

Name = Annotated[str, typer.Argument(help="The registered model ('project name/model' to name its project)")]
Alias = Annotated[str | None, typer.Option(help="The model alias, e.g. champion")]
Version = Annotated[int | None, typer.Option(min=1, help="The model version number")]


@app.command("list")
def list_models(project: Annotated[str | None, typer.Option(help="The project (id); default: "
                                                                "DATAMINT_PROJECT_ID or your only project")] = None,
                ) -> None:
    """List the project's registered models (latest versions, aliases) and your deployed images.

    Example: datamint models list --project 3f2c...
    """
    with Api() as api:
        models = api.models.get_all(project=project)
        images = api.deploy.list_images()
    if not models:
        typer.echo("No registered models.")
    for m in models:
        versions = ", ".join(f"v{v['version']}" for v in m.get("latest_versions", []))
        aliases = ", ".join(f"{a['alias']}=v{a['version']}" for a in m.get("aliases", []))
        typer.echo(f"{m['name']:<32} {versions:<12} {aliases}")
    for image in images:
        typer.echo(f"deployed: {image['image_name']:<40} version {image['model_version']}  "
                   f"modes {','.join(image['supported_modes'])}")


@app.command("deploy")
def deploy(name: Name, alias: Alias = None, version: Version = None,
           image_name: Annotated[str | None, typer.Option(help="The deployed image's name")] = None,
           wait: Annotated[bool, typer.Option(help="Follow the job until it ends")] = True) -> None:
    """Deploy a model version (default: the latest); exit 1 unless the deploy completes.

    Example: datamint models deploy lesion-seg --alias champion
    """
    with Api() as api:
        job = api.deploy.start(name, model_version=version, model_alias=alias, image_name=image_name)
        typer.echo(f"deploy job {job.id}")
        if not wait:
            return
        job.wait(progress_bar=True)
    if job.status != "completed":
        typer.secho(f"deploy {job.status}: {job.error_message or ''}", fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.echo(f"deployed {job.image_name}:{job.image_tag} (version {job.model_version})")


@app.command("predict")
def predict(name: Name, resources: Annotated[list[str], typer.Argument(
                help="Resource ids, or paths of local files (sent with the request, not made resources)")],
            mode: Annotated[str, typer.Option(help="default, image, volume, frame or slice")] = "default",
            alias: Alias = None, version: Version = None,
            index: Annotated[int | None, typer.Option(help="Frame index (frame) or slice index (slice)")] = None,
            axis: Annotated[str, typer.Option(help="Slice axis: axial, sagittal or coronal")] = "axial",
            save: Annotated[bool, typer.Option(help="Save the predictions as annotations")] = False,
            worklist: Annotated[str | None, typer.Option(help="Worklist (id) to save them into")] = None) -> None:
    """Run a deployed model on resources (or local files) and print its predictions; exit 1 unless it completes.

    Example: datamint models predict lesion-seg 9a1b... --mode volume --alias champion --save --worklist 77c0...
    """
    options = {"worklist_id": worklist} if worklist else None
    common = {"model_version": version, "model_alias": alias, "save_results": save,
              "save_results_options": options}
    files = [r for r in resources if Path(r).is_file()]
    ids = [r for r in resources if r not in files]
    one = {"file_path": files[0]} if files else {"resource_id": ids[0]}
    with Api() as api:
        inference = api.inference
        if mode == "default":
            job = inference.predict(name, resource_ids=ids or None, file_paths=files or None, **common)
        elif mode in ("image", "volume"):
            if len(resources) != 1:
                raise typer.BadParameter(f"--mode {mode} takes one resource")
            method = inference.predict_image if mode == "image" else inference.predict_volume
            job = method(name, **one, **common)
        elif mode == "frame":
            job = inference.predict_frame(name, index or 0, **one, **common)
        elif mode == "slice":
            job = inference.predict_slice(name, index or 0, axis, **one, **common)  # type: ignore[arg-type]
        else:
            raise typer.BadParameter(f"unknown mode {mode!r}: use default, image, volume, frame or slice")
        inference.wait(job, progress_bar=True)
    if job.status != "completed":
        typer.secho(f"inference {job.status}: {job.error_message or ''}", fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.echo(json.dumps({"predictions": job.predictions, "annotation_ids": job.annotation_ids}, indent=1))
