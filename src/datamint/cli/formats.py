"""``datamint export``, ``datamint import`` and ``datamint download``: annotations out and in in
the field's formats (docs/formats.md), and resources or dataset versions into a folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from datamint.api.client import Api

EXPORT_HELP = ("Export a project's annotations in a format (coco, yolo, voc, csv_fourcorner, csv_widthheight, "
               "png_masks, nifti, dicom_seg, datamint) as a zip, with a progress bar.\n\n"
               "Example: datamint export 'Liver CT' --format nifti --split train=0.8,val=0.2 --seed 1 --out exports/")
IMPORT_HELP = ("Import annotation files or folders (COCO, YOLO, VOC, CSV, PNG masks, NIfTI label maps, DICOM SEG, "
               "RT-STRUCT, Datamint JSON, or a zip of them) into a project. Files that fail are listed with their "
               "line and a hint; the others are imported. Exit code 1 when a file failed.\n\n"
               "Example: datamint import 'Liver CT' coco/annotations.json --map Liver=liver --dry-run")
DOWNLOAD_HELP = ("Download resources (of a project, by filters or ids) or a dataset version into a folder, with a "
                 "progress bar; run it again to resume (files already there are kept).\n\n"
                 "Example: datamint download data/ --project 'Liver CT' --modality CT\n"
                 "Example: datamint download data/ --dataset 'Liver CT' --version latest --format nifti")


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for value in values or []:
        for part in value.split(","):
            if "=" not in part:
                raise typer.BadParameter(f"{what} takes NAME=VALUE pairs, got {part!r}")
            key, _, val = part.partition("=")
            out[key.strip()] = val.strip()
    return out


def _option_value(text: str) -> object:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def export_command(
    project: Annotated[str, typer.Argument(help="The project's name or id")],
    format: Annotated[str, typer.Option("--format", "-f", help="coco, yolo, voc, csv_fourcorner, csv_widthheight, "  # noqa: A002
                                                               "png_masks, nifti, dicom_seg or datamint")] = "coco",
    out: Annotated[Path, typer.Option(help="Folder (or file) for the archive")] = Path("."),
    worklist: Annotated[str | None, typer.Option(help="Only this worklist (id)")] = None,
    label: Annotated[list[str] | None, typer.Option("--label", help="Only this label (repeat)")] = None,
    annotator: Annotated[list[str] | None, typer.Option("--annotator", help="Only this annotator (repeat)")] = None,
    status: Annotated[list[str] | None, typer.Option("--status", help="new or published (repeat)")] = None,
    split: Annotated[str | None, typer.Option(help="Split by patient, e.g. train=0.8,val=0.2")] = None,
    seed: Annotated[int, typer.Option(help="The split's seed")] = 0,
    option: Annotated[list[str] | None, typer.Option("--option", "-o",
                                                     help="Format option NAME=VALUE, e.g. task=segment")] = None,
) -> None:
    """Export annotations (see EXPORT_HELP)."""
    ratios = {k: float(v) for k, v in _pairs([split] if split else None, "--split").items()}
    options = {k: _option_value(v) for k, v in _pairs(option, "--option").items()}
    with Api() as api:
        job = api.projects.export(project, format=format, worklist=worklist, labels=label, annotators=annotator,
                                  statuses=status, split_ratios=ratios or None, seed=seed, options=options)
        typer.echo(f"export job {job.id} started")
        job.wait(progress_bar=True).raise_for_status()
        if out.suffix != ".zip":
            out.mkdir(parents=True, exist_ok=True)
        path = job.download(out, progress_bar=True)
        for line in job.logs():
            if line["level"] == "warning":
                typer.secho(line["line"], fg=typer.colors.YELLOW)
    result = job.result or {}
    typer.echo(f"{result.get('annotations', 0)} annotation(s) of {result.get('resources', 0)} resource(s) → {path}")


def import_command(
    project: Annotated[str, typer.Argument(help="The project's name or id")],
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to import (a zip counts as a folder)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only check the files and show what would be created")]
    = False,
    map_: Annotated[list[str] | None, typer.Option("--map", help="Rename labels: FILE_LABEL=LABEL (repeat)")] = None,
    on_conflict: Annotated[str, typer.Option(help="keep, skip (identical ones) or replace")] = "keep",
    author: Annotated[str | None, typer.Option(help="Credit this author")] = None,
    model: Annotated[str | None, typer.Option(help="The annotations are predictions of this model")] = None,
    worklist: Annotated[str | None, typer.Option(help="Import into this worklist (id)")] = None,
) -> None:
    """Import annotation files (see IMPORT_HELP)."""
    with Api() as api:
        target = api.projects._resolve(project)
        session = api.annotations.import_session(target, worklist=worklist)
        for path in paths:
            if not path.exists():
                raise typer.BadParameter(f"{path} does not exist")
            session.add_path(path)
        job = session.commit(dry_run=dry_run, label_map=_pairs(map_, "--map"), on_conflict=on_conflict,
                             author=author, model_name=model)
        job.wait(progress_bar=True).raise_for_status()
    result = job.result or {}
    for item in result.get("files", []):
        color = typer.colors.RED if item["status"] == "failed" else None
        typer.secho(f"{item['status']:<10} {item['name']}  {item['annotations']} annotation(s)", fg=color)
        for problem in item.get("problems", []):
            typer.secho("    " + problem.replace("\n\n", "\n    "), fg=typer.colors.RED)
    verb = "would be created" if dry_run else "created"
    typer.echo(f"{result.get('created', 0)} annotation(s) {verb}; {result.get('failed_files', 0)} file(s) failed")
    if result.get("unknown_labels"):
        typer.echo(f"labels the worklist lacks: {result['unknown_labels']} (use --map)")
    if result.get("failed_files"):
        raise typer.Exit(1)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip("._") or "file"


def download_command(
    dest: Annotated[Path, typer.Argument(help="The folder to download into")],
    project: Annotated[str | None, typer.Option(help="Resources of this project (name)")] = None,
    ids: Annotated[list[str] | None, typer.Option("--id", help="This resource (repeat)")] = None,
    modality: Annotated[str | None, typer.Option(help="Only this modality, e.g. CT")] = None,
    channel: Annotated[str | None, typer.Option(help="Only this channel")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only resources with this tag (repeat)")] = None,
    dataset: Annotated[str | None, typer.Option(help="A dataset (name or id) instead of resources")] = None,
    version: Annotated[str | None, typer.Option(help="The dataset's version: latest, a number or a name")] = None,
    format: Annotated[str, typer.Option("--format", help="Dataset archive format: dicom, nifti, png, jpg, tiff "  # noqa: A002
                                                          "or npy")] = "dicom",
    force: Annotated[bool, typer.Option("--force", help="Download again what is already there")] = False,
) -> None:
    """Download resources or a dataset (see DOWNLOAD_HELP)."""
    dest.mkdir(parents=True, exist_ok=True)
    with Api() as api:
        if dataset:
            found = api.datasets.get_by_id(dataset) if re.fullmatch(r"[0-9a-f-]{36}", dataset) else \
                api.datasets.get_by_name(dataset)
            if found is None:
                raise typer.BadParameter(f"No dataset named {dataset!r}")
            target = dest / f"{_safe(found.name)}-{version or 'current'}-{format}.zip"
            if target.exists() and not force:
                typer.echo(f"{target} is already there (--force downloads it again)")
                return
            partial = target.with_suffix(".zip.part")
            api.datasets.download(found, partial, format=format, progress_bar=True,  # type: ignore[arg-type]
                                  version=int(version) if version and version.isdigit() else version)
            partial.replace(target)
            typer.echo(f"dataset → {target}")
            return
        if ids:
            resources = [api.resources.get_by_id(i) for i in ids]
        elif project or modality or channel or tag:
            resources = list(api.resources.get_list(project_name=project, modality=modality, channel=channel,
                                                    tags=tag))
        else:
            raise typer.BadParameter("Say what to download: --project, --modality, --channel, --tag, --id or "
                                     "--dataset")
        paths = [str(dest / f"{r.id}_{_safe(r.filename)}") for r in resources]
        kept = sum(1 for p in paths if Path(p).exists()) if not force else 0
        api.resources.download_multiple_resources(resources, paths, overwrite=force)
    typer.echo(f"{len(resources)} resource(s) in {dest} ({kept} already there)")
