"""``datamint upload`` (and the legacy ``datamint-upload``): send a folder or files to the server.

Shows what will be sent, asks before sending (``--yes`` skips the question), uploads with a
progress bar (DICOM de-identified unless ``--retain-pii``), and ends with a report of each file
that failed and why. The exit code is 1 when any file failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from datamint.cli.upload_files import kind_counts, select_files

HELP = ("Upload DICOM, NIfTI, image and video files (a folder or single files) to the server.\n\n"
        "Examples:\n\n"
        "  datamint upload ./study -r --channel 'CT scans' --tag liver\n\n"
        "  datamint upload scan1.dcm scan2.dcm --project 'Liver Review' --yes\n\n"
        "DICOM files are de-identified (DICOM PS3.15 Basic Profile) unless --retain-pii is given.")


def parse_retain_attribute(value: str) -> tuple[int, int] | str:
    """``0x0010,0x0020`` → ``(0x10, 0x20)``; a keyword such as ``PatientID`` is kept as it is.

    Raises:
        typer.BadParameter: The value is neither.
    """
    text = value.strip()
    if "," in text:
        try:
            group, element = (int(part.strip(), 16) for part in text.split(","))
        except ValueError:
            raise typer.BadParameter(f"{value!r}: expected 0xGGGG,0xEEEE (hexadecimal) or a DICOM keyword")
        return group, element
    if text.isidentifier():
        return text
    raise typer.BadParameter(f"{value!r}: expected 0xGGGG,0xEEEE (hexadecimal) or a DICOM keyword")


def parse_mung(value: str | None) -> list[int] | str | None:
    """``all`` or comma-separated positive folder depths (``1,2``).

    Raises:
        typer.BadParameter: Anything else.
    """
    if value is None:
        return None
    if value.strip().lower() == "all":
        return "all"
    try:
        depths = [int(part) for part in value.split(",")]
    except ValueError:
        depths = []
    if not depths or any(d <= 0 for d in depths):
        raise typer.BadParameter("--mungfilename expects 'all' or comma-separated positive integers, e.g. 1,2")
    return depths


def _split_reports(files: list[Path]) -> tuple[list[Path], list[Path], int]:
    """Separate DICOM reports (SR, KO, PR, ...) from the files to upload.

    Returns:
        The files to upload, the reports, and how many of the files to upload are DICOM (by content).
    """
    from datamint.imaging import HEAD_SIZE, is_dicom_report, read_dicom, sniff_mimetype

    keep, reports, dicoms = [], [], 0
    for path in files:
        with open(path, "rb") as fh:
            is_dicom = sniff_mimetype(fh.read(HEAD_SIZE)) == "application/dicom"
        try:
            report = is_dicom and is_dicom_report(read_dicom(str(path), stop_before_pixels=True, check=False))
        except ValueError:
            report = False
        (reports if report else keep).append(path)
        if is_dicom and not report:
            dicoms += 1
    return keep, reports, dicoms


def upload_command(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files and folders to upload")] = None,
    path: Annotated[list[Path] | None, typer.Option("--path", help="Same as PATHS (repeatable)")] = None,
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Descend into sub-folders")] = False,
    max_depth: Annotated[int | None, typer.Option("--max-depth", min=1, help="With -r: how many levels")] = None,
    include: Annotated[list[str] | None, typer.Option("--include", help="Only files matching this glob")] = None,
    exclude: Annotated[list[str] | None, typer.Option("--exclude", help="Leave out files matching this glob")] = None,
    include_extensions: Annotated[list[str] | None, typer.Option(
        "--include-extensions", help="Only these extensions, e.g. 'dcm nii.gz'")] = None,
    exclude_extensions: Annotated[list[str] | None, typer.Option(
        "--exclude-extensions", help="More extensions to leave out")] = None,
    no_default_exclusions: Annotated[bool, typer.Option(
        "--no-default-exclusions", help="Also send .txt/.json/.xml/... and hidden files found in folders")] = False,
    channel: Annotated[str | None, typer.Option("--channel", "--name", help="Channel to group the uploads")] = None,
    project: Annotated[str | None, typer.Option("--project", help="Project (name or id) to add them to")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Tag for every file (repeatable)")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="Publish directly instead of the inbox")] = False,
    retain_pii: Annotated[bool, typer.Option("--retain-pii", help="Do not de-identify DICOM files")] = False,
    retain_attribute: Annotated[list[str] | None, typer.Option(
        "--retain-attribute", help="Keep this DICOM attribute when de-identifying: 0xGGGG,0xEEEE or keyword")] = None,
    mungfilename: Annotated[str | None, typer.Option(
        "--mungfilename", help="'all' or folder depths (1,2) to prefix to file names")] = None,
    no_assemble_dicoms: Annotated[bool, typer.Option(
        "--no-assemble-dicoms", help="Upload each DICOM slice on its own instead of one file per series")] = False,
    auto_detect_json: Annotated[bool, typer.Option(
        "--auto-detect-json/--no-auto-detect-json", help="Use <name>.json next to a NIfTI as its metadata")] = True,
    segmentation_path: Annotated[Path | None, typer.Option(
        "--segmentation-path", "--segmentation_path", help="Segmentation file for the uploaded file")] = None,
    segmentation_names: Annotated[str | None, typer.Option(
        "--segmentation-names", "--segmentation_names", help="Name of the segmentation")] = None,
    transpose_segmentation: Annotated[bool, typer.Option("--transpose-segmentation")] = False,
    ai_model: Annotated[str | None, typer.Option("--ai-model", help="Model credited for the segmentations")] = None,
    yes: Annotated[bool, typer.Option("-y", "--yes", help="Do not ask for confirmation")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="List every file")] = False,
) -> None:
    """Upload files (see HELP)."""
    roots = [*(paths or []), *(path or [])]
    if not roots:
        raise typer.BadParameter("give at least one file or folder to upload")
    retain = [parse_retain_attribute(v) for v in retain_attribute or []]
    mung = parse_mung(mungfilename)
    try:
        selection = select_files(roots, recursive=recursive, max_depth=max_depth, include=include or [],
                                 exclude=exclude or [], include_extensions=include_extensions,
                                 exclude_extensions=exclude_extensions, default_exclusions=not no_default_exclusions,
                                 auto_detect_json=auto_detect_json)
    except FileNotFoundError as exc:
        typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    files, reports, dicoms = _split_reports(selection.files)
    kept = set(files)
    metadata = [m for f, m in zip(selection.files, selection.metadata, strict=True) if f in kept]
    kinds = kind_counts(files)
    anonymize = not retain_pii and dicoms > 0
    typer.echo(f"{len(files)} file(s) to upload, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB: "
               + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    for reason, count in sorted(selection.skipped.items()):
        typer.echo(f"  skipped {count}: {reason}")
    if reports:
        typer.echo(f"  skipped {len(reports)} DICOM report(s) (SR/KO/PR/...)")
    if sum(1 for m in metadata if m):
        typer.echo(f"  {sum(1 for m in metadata if m)} JSON sidecar(s) used as metadata")
    typer.echo(f"  channel: {channel or '-'}   project: {project or '-'}   tags: {', '.join(tag or []) or '-'}   "
               f"de-identify DICOM: {'yes' if anonymize else 'no'}   publish: {'yes' if publish or project else 'no'}")
    if verbose:
        for f in files:
            typer.echo(f"  {f}")
    if not files:
        typer.echo("Nothing to upload.")
        return
    if not yes and not typer.confirm("Upload these files?", default=False):
        typer.echo("Cancelled; nothing was uploaded.")
        raise typer.Exit(1)
    results = _upload(files, metadata, channel=channel, project=project, tags=tag, publish=publish,
                      anonymize=anonymize, retain=retain, mung=mung, assemble=not no_assemble_dicoms,
                      segmentation=(segmentation_path, segmentation_names, transpose_segmentation, ai_model))
    failures = [(f, r) for f, r in zip(files, results, strict=True) if isinstance(r, BaseException)]
    typer.echo(f"Uploaded {len(files) - len(failures)} of {len(files)} file(s) "
               f"as {len({r for r in results if isinstance(r, str)})} resource(s).")
    if failures:
        typer.secho(f"{len(failures)} file(s) failed:", fg=typer.colors.RED, err=True)
        for f, err in failures:
            typer.secho(f"  {f}: {err}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _upload(files: list[Path], metadata: list[Path | None], *, channel: str | None, project: str | None,
            tags: list[str] | None, publish: bool, anonymize: bool, retain: list[Any], mung: Any, assemble: bool,
            segmentation: tuple[Path | None, str | None, bool, str | None]) -> list[Any]:
    from datamint.api.client import Api

    seg_path, seg_names, transpose, ai_model = segmentation
    seg_files = None
    if seg_path is not None:
        seg_files = _pair_segmentations(files, seg_path, seg_names)
    with Api() as api:
        return list(api.resources.upload_resources(
            [str(f) for f in files], on_error="skip", progress_bar=True, anonymize=anonymize,
            anonymize_retain_codes=retain, tags=tags, mung_filename=mung, channel=channel, publish=publish,
            publish_to=project, segmentation_files=seg_files, transpose_segmentation=transpose, ai_model=ai_model,
            assemble_dicoms=assemble and seg_files is None, discard_dicom_reports=False,
            metadata=[str(m) if m else None for m in metadata]))


def _pair_segmentations(files: list[Path], seg_path: Path, names: str | None) -> list[dict[str, Any] | None]:
    """Segmentations per file: a file for a single upload, or the files of a folder named after each upload."""
    if seg_path.is_file():
        if len(files) != 1:
            raise typer.BadParameter("--segmentation-path is a file: upload exactly one file with it, "
                                     "or give a folder of segmentations named after the uploaded files")
        return [{"files": [str(seg_path)], "names": names}]
    if not seg_path.is_dir():
        raise typer.BadParameter(f"--segmentation-path {seg_path} does not exist")
    by_stem: dict[str, list[str]] = {}
    for p in sorted(seg_path.iterdir()):
        if p.is_file():
            by_stem.setdefault(p.name.split(".")[0], []).append(str(p))
    return [{"files": list(by_stem[stem]), "names": names} if (stem := f.name.split(".")[0]) in by_stem else None
            for f in files]


def legacy_main(argv: list[str] | None = None) -> None:
    """Entry point of the legacy ``datamint-upload`` console script (same options as ``datamint upload``)."""
    from datamint.cli.main import run_cli

    legacy = typer.Typer(name="datamint-upload", help=HELP, pretty_exceptions_enable=False, add_completion=False)
    legacy.command(help=HELP)(upload_command)
    run_cli(legacy, argv)
