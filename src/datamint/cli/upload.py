"""``datamint upload`` (and the legacy ``datamint-upload``): send a folder or files to the server.

Checks the server URL and key first, shows what will be sent (files that hold no medical image
are named with the type they will be stored as), asks before sending (``--yes`` skips the
question; without a terminal it is required), uploads with a progress bar (DICOM de-identified
unless ``--retain-pii``; files already on the server kept or skipped, ``--on-duplicate``), and
ends with what was stored as what and each file that failed and why. The exit code is 1 when any
file failed.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from datamint.cli.help import TYPER_SETTINGS, PlainHelpCommand
from datamint.cli.upload_files import select_files, sniff_files

HELP = ("Upload DICOM, NIfTI, image and video files (a folder or single files) to the server.\n\n"
        "Examples:\n\n"
        "  datamint upload ./study -r --channel 'CT scans' --tag liver\n\n"
        "  datamint upload scan1.dcm scan2.dcm --project 'Liver Review' --yes\n\n"
        "DICOM files are de-identified (DICOM PS3.15 Basic Profile) unless --retain-pii is given; the slices "
        "of a series become one multi-frame resource. The server URL and key come from 'datamint config'. "
        "Files already on the server (same content) are uploaded again unless --on-duplicate skip.")


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


Option = typer.Option


def upload_command(
    paths: Annotated[list[Path] | None, typer.Argument(metavar="PATHS", show_default=False,
                                                       help="Files and folders to upload")] = None,
    path: Annotated[list[Path] | None, Option("--path", metavar="PATH", help="Same as PATHS (repeatable)")] = None,
    recursive: Annotated[bool, Option("-r", "--recursive", help="Descend into sub-folders")] = False,
    max_depth: Annotated[int | None, Option("--max-depth", min=1, metavar="N",
                                            help="With -r: how many levels of sub-folders")] = None,
    include: Annotated[list[str] | None, Option("--include", metavar="GLOB",
                                                help="Only files matching this pattern (repeatable)")] = None,
    exclude: Annotated[list[str] | None, Option("--exclude", metavar="GLOB",
                                                help="Leave out files matching this pattern (repeatable)")] = None,
    include_extensions: Annotated[list[str] | None, Option(
        "--include-extensions", metavar="EXT", help="Only these extensions, e.g. 'dcm nii.gz'")] = None,
    exclude_extensions: Annotated[list[str] | None, Option(
        "--exclude-extensions", metavar="EXT", help="More extensions to leave out of folders")] = None,
    no_default_exclusions: Annotated[bool, Option(
        "--no-default-exclusions", help="Also send .txt/.json/.xml/... and hidden files found in folders")] = False,
    channel: Annotated[str | None, Option("--channel", "--name", metavar="NAME",
                                          help="Channel to group the uploads")] = None,
    project: Annotated[str | None, Option("--project", metavar="PROJECT",
                                          help="Project (name or id) to add them to; publishes them")] = None,
    tag: Annotated[list[str] | None, Option("--tag", metavar="TAG", help="Tag for every file (repeatable)")] = None,
    publish: Annotated[bool, Option("--publish", help="Publish directly instead of the inbox")] = False,
    retain_pii: Annotated[bool, Option("--retain-pii", help="Do not de-identify DICOM files")] = False,
    retain_attribute: Annotated[list[str] | None, Option(
        "--retain-attribute", metavar="TAG",
        help="Keep this DICOM attribute when de-identifying: 0xGGGG,0xEEEE or a keyword (repeatable)")] = None,
    mungfilename: Annotated[str | None, Option(
        "--mungfilename", metavar="all|1,2", help="Prefix folder names to file names: all, or folder depths")] = None,
    no_assemble_dicoms: Annotated[bool, Option(
        "--no-assemble-dicoms", help="Upload each DICOM slice on its own instead of one file per series")] = False,
    auto_detect_json: Annotated[bool, Option(
        "--auto-detect-json/--no-auto-detect-json", help="Use <name>.json next to a NIfTI as its metadata")] = True,
    segmentation_path: Annotated[Path | None, Option(
        "--segmentation-path", "--segmentation_path", metavar="PATH",
        help="A segmentation (NIfTI or PNG mask) for the one file uploaded, or a folder of segmentations "
             "named after the uploaded files (scan1.nii.gz for scan1.dcm)")] = None,
    segmentation_names: Annotated[str | None, Option(
        "--segmentation-names", "--segmentation_names", metavar="NAME", help="Name (label) of the segmentations")
    ] = None,
    transpose_segmentation: Annotated[bool, Option(
        "--transpose-segmentation", help="Swap the first two axes of the segmentations (rows and columns) "
                                         "before uploading them")] = False,
    ai_model: Annotated[str | None, Option("--ai-model", metavar="NAME",
                                           help="Model credited for the segmentations")] = None,
    on_duplicate: Annotated[str, Option(
        "--on-duplicate", metavar="keep|skip",
        help="A file already on the server (same content): keep both (default) or skip it")] = "keep",
    yes: Annotated[bool, Option("-y", "--yes", help="Do not ask for confirmation (needed without a terminal)")] = False,
    verbose: Annotated[bool, Option("--verbose", help="List every file")] = False,
) -> None:
    """Upload files (see HELP)."""
    roots = [*(paths or []), *(path or [])]
    if not roots:
        raise typer.BadParameter("give at least one file or folder to upload")
    if on_duplicate not in ("keep", "skip"):
        raise typer.BadParameter(f"--on-duplicate must be keep or skip, not {on_duplicate!r}")
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
    api = _connect()  # a wrong URL or key ends here, before the plan is shown
    sniffed = sniff_files(selection.files)
    files = [f for f in selection.files if f not in sniffed.reports]
    metadata = [m for f, m in zip(selection.files, selection.metadata, strict=True) if f not in sniffed.reports]
    anonymize = not retain_pii and sniffed.dicoms > 0
    _show_plan(api, files, selection, sniffed, metadata, verbose,
               f"  channel: {channel or '-'}   project: {project or '-'}   tags: {', '.join(tag or []) or '-'}   "
               f"de-identify DICOM: {'yes' if anonymize else 'no'}   publish: {'yes' if publish or project else 'no'}"
               f"   duplicates: {on_duplicate}")
    if not files:
        typer.echo("Nothing to upload.")
        return
    if not yes:
        if not sys.stdin.isatty():
            typer.secho("Error: no terminal to ask whether to upload; pass --yes to upload without asking",
                        fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        if not typer.confirm("Upload these files?", default=False):
            typer.echo("Cancelled; nothing was uploaded.")
            raise typer.Exit(1)
    with api:
        results = _upload(api, files, metadata, channel=channel, project=project, tags=tag, publish=publish,
                          anonymize=anonymize, retain=retain, mung=mung, assemble=not no_assemble_dicoms,
                          on_duplicate=on_duplicate,
                          segmentation=(segmentation_path, segmentation_names, transpose_segmentation, ai_model))
    _report(files, results, sniffed, on_duplicate)


def _connect() -> Any:
    from datamint.api.client import Api

    return Api(check_connection=True)


def _show_plan(api: Any, files: list[Path], selection: Any, sniffed: Any, metadata: list[Path | None],
               verbose: bool, settings: str) -> None:
    kinds = sniffed.counts
    typer.echo(f"{len(files)} file(s) to upload to {api.config.server_url}, "
               f"{sum(f.stat().st_size for f in files) / 1e6:.1f} MB: "
               + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    for reason, count in sorted(selection.skipped.items()):
        typer.echo(f"  skipped {count}: {reason}")
    if sniffed.reports:
        typer.echo(f"  skipped {len(sniffed.reports)} DICOM report(s) (SR/KO/PR/...)")
    for other in sniffed.others:
        typer.echo(f"  {other.name}: not a medical image, image or video ({sniffed.mimetypes[other]}); "
                   "it will be stored as a plain file")
    if sum(1 for m in metadata if m):
        typer.echo(f"  {sum(1 for m in metadata if m)} JSON sidecar(s) used as metadata")
    typer.echo(settings)
    if verbose:
        for f in files:
            typer.echo(f"  {f}")


def _report(files: list[Path], results: list[Any], sniffed: Any, on_duplicate: str) -> None:
    failures = [(f, r) for f, r in zip(files, results, strict=True) if isinstance(r, BaseException)]
    done = [(f, r) for f, r in zip(files, results, strict=True) if not isinstance(r, BaseException)]
    skipped = [(f, r) for f, r in done if getattr(r, "skipped", False)]
    copies = [(f, r) for f, r in done if getattr(r, "duplicate_of", None) and not getattr(r, "skipped", False)]
    created = {str(r) for _, r in done if not getattr(r, "skipped", False)}
    typer.echo(f"Uploaded {len(done) - len(skipped)} of {len(files)} file(s) as {len(created)} resource(s).")
    stored = Counter(getattr(r, "mimetype", None) or sniffed.mimetypes[f] for f, r in done
                     if not getattr(r, "skipped", False))
    if stored:
        typer.echo("Stored as: " + ", ".join(f"{n} {m}" for m, n in sorted(stored.items())))
    if skipped:
        typer.echo(f"Skipped {len(skipped)} file(s) already on the server (same content): "
                   + ", ".join(f"{f.name} = {r}" for f, r in skipped[:10]) + (" ..." if len(skipped) > 10 else ""))
    if copies:
        typer.secho(f"{len(copies)} file(s) were already on the server and were uploaded again "
                    "(--on-duplicate skip skips them): "
                    + ", ".join(f"{f.name} (as {r.duplicate_of})" for f, r in copies[:10])
                    + (" ..." if len(copies) > 10 else ""), fg=typer.colors.YELLOW)
    if failures:
        typer.secho(f"{len(failures)} file(s) failed:", fg=typer.colors.RED, err=True)
        for f, err in failures:
            message = str(err)
            message = message[len(f.name) + 2:] if message.startswith(f"{f.name}: ") else message
            typer.secho(f"  {f}: {message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)


def _upload(api: Any, files: list[Path], metadata: list[Path | None], *, channel: str | None, project: str | None,
            tags: list[str] | None, publish: bool, anonymize: bool, retain: list[Any], mung: Any, assemble: bool,
            on_duplicate: str, segmentation: tuple[Path | None, str | None, bool, str | None]) -> list[Any]:
    seg_path, seg_names, transpose, ai_model = segmentation
    seg_files = None
    if seg_path is not None:
        seg_files = _pair_segmentations(files, seg_path, seg_names)
    duplicates_log = logging.getLogger("datamint.upload.duplicates")
    level = duplicates_log.level
    duplicates_log.setLevel(logging.ERROR)  # _report says it, per file
    try:
        return list(api.resources.upload_resources(
            [str(f) for f in files], on_error="skip", progress_bar=True, anonymize=anonymize,
            anonymize_retain_codes=retain, tags=tags, mung_filename=mung, channel=channel, publish=publish,
            publish_to=project, segmentation_files=seg_files, transpose_segmentation=transpose, ai_model=ai_model,
            assemble_dicoms=assemble and seg_files is None, discard_dicom_reports=False,
            metadata=[str(m) if m else None for m in metadata], on_duplicate=on_duplicate))
    finally:
        duplicates_log.setLevel(level)


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

    legacy = typer.Typer(name="datamint-upload", help=HELP, add_completion=False, **TYPER_SETTINGS)
    legacy.command(help=HELP, cls=PlainHelpCommand)(upload_command)
    run_cli(legacy, argv)
