"""``datamint sample-data DIR``: write a small synthetic study to try Datamint with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

HELP = ("Write a small synthetic study (no real patient) into DIR, to try the upload, annotation and "
        "dataset examples of the README.\n\n"
        "Files: ct/slice001.dcm ... ct/slice016.dcm (one CT series: 16 slices of 64 rows x 80 columns, "
        "made-up patient data for anonymization to remove), liver_mask.nii.gz (its segmentation, "
        "1 = liver, 2 = tumor, shape 80 x 64 x 16: columns x rows x slices), mr.nii.gz (an MR-like "
        "volume) and xray.png (a chest-X-ray-like image).\n\n"
        "Example:\n\n"
        "  datamint sample-data study\n\n"
        "  datamint upload study/ct study/mr.nii.gz study/xray.png --project 'Liver CT'")


def sample_data_command(
    folder: Annotated[Path, typer.Argument(metavar="DIR", show_default=False,
                                           help="Folder to write into (created if missing)")],
) -> None:
    """Write the sample study (see HELP)."""
    from datamint.imaging.samples import COLS, ROWS, SLICES, write_sample_study

    study = write_sample_study(folder)
    typer.echo(f"Wrote a sample study into {folder}/:")
    typer.echo(f"  ct/slice001.dcm ... ct/slice{SLICES:03d}.dcm  CT series, {SLICES} slices of {ROWS} x {COLS}")
    typer.echo(f"  {study.liver_mask.name:38s} its segmentation (1 liver, 2 tumor), {COLS} x {ROWS} x {SLICES}")
    typer.echo(f"  {study.mr.name:38s} MR-like volume")
    typer.echo(f"  {study.xray.name:38s} X-ray-like image")
    typer.echo(f"Next: datamint upload {folder}/ct {folder}/mr.nii.gz {folder}/xray.png --project 'Liver CT'")
