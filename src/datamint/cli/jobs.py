"""``datamint jobs``: list, show, follow, cancel and read the logs of background jobs."""

from __future__ import annotations

from typing import Annotated

import typer

from datamint.api.client import Api
from datamint.entities.job import Job

app = typer.Typer(help="Background jobs on the server (dataset versions, and later deploys, inference, exports): "
                       "list them, follow one, read its logs, cancel it.", no_args_is_help=True)

JobId = Annotated[str, typer.Argument(help="The job's id (see 'datamint jobs list')")]
Follow = Annotated[bool, typer.Option("--follow", "-f", help="Keep following until the job ends")]


def _line(job: Job) -> str:
    progress = job.progress or {}
    done = f"{progress.get('done', 0)}/{progress['total']}" if progress.get("total") else ""
    step = f"  {job.current_step}" if job.current_step else ""
    return f"{job.id}  {job.kind:<18} {job.status:<10} {done:>9}  {job.created_at or ''}  {job.created_by or ''}{step}"


@app.command("list")
def list_jobs(
    kind: Annotated[str | None, typer.Option(help="Only this kind, e.g. datasets.version")] = None,
    status: Annotated[str | None, typer.Option(help="queued, running, completed, failed or cancelled")] = None,
    project: Annotated[str | None, typer.Option(help="Only the jobs of this project (id)")] = None,
    creator: Annotated[str | None, typer.Option(help="Only the jobs of this user (email)")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most jobs to show")] = 50,
) -> None:
    """List the jobs you may see, newest first.

    Example: datamint jobs list --status running
    """
    with Api() as api:
        jobs = api.jobs.get_list(kind=kind, status=status, project=project, creator=creator, limit=limit)
    if not jobs:
        typer.echo("No jobs.")
    for job in jobs:
        typer.echo(_line(job))


@app.command("show")
def show(job_id: JobId, follow: Follow = False) -> None:
    """Show a job's state; with --follow, a progress bar until it ends.

    Example: datamint jobs show 3f2c... --follow
    """
    with Api() as api:
        job = api.jobs.get_by_id(job_id)
        if follow:
            api.jobs.wait(job, progress_bar=True)
    typer.echo(_line(job))
    if job.result is not None:
        typer.echo(f"result: {job.result}")
    if job.error_message:
        typer.secho(f"error: {job.error_message}" + (f"  [at {job.error_where}]" if job.error_where else ""),
                    fg=typer.colors.RED)
    if follow and job.status != "completed":
        raise typer.Exit(1)


@app.command("logs")
def logs(job_id: JobId, follow: Follow = False,
         tail: Annotated[int | None, typer.Option(min=1, help="Only the last N lines")] = None) -> None:
    """Print a job's log lines with their times; with --follow, until the job ends.

    Example: datamint jobs logs 3f2c... --follow
    """
    with Api() as api:
        lines = api.jobs.logs(job_id, tail=tail)
        for line in lines:
            typer.echo(f"{line['at']}  {line['line']}")
        if follow:
            after = lines[-1]["seq"] if lines else 0
            for line in api.jobs.follow_logs(job_id, after=after):
                typer.echo(f"{line['at']}  {line['line']}")


@app.command("cancel")
def cancel(job_id: JobId, follow: Follow = False) -> None:
    """Cancel a job: a queued one at once, a running one at its next step (--follow waits for it).

    Example: datamint jobs cancel 3f2c...
    """
    with Api() as api:
        job = api.jobs.cancel(job_id)
        if follow:
            api.jobs.wait(job, progress_bar=False)
    typer.echo(_line(job))
