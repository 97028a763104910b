"""``api.jobs`` and ``datamint jobs`` against the real server (both databases): wait over SSE with a
progress bar, the polling fallback, timeouts, entity methods, and the CLI's list/show/logs/cancel."""

from __future__ import annotations

import httpx
import pytest
from jobs_helpers import submit, terminal, wait_for
from typer.testing import CliRunner

from datamint.cli.jobs import app as jobs_app
from datamint.entities.job import Job, JobFailedError
from datamint.exceptions import ItemNotFoundError, JobTimeoutError


def test_wait_follows_the_stream_with_a_progress_bar(api, server, capsys):
    job_id = submit(server, server.admin_key, "probe.steps", {"steps": 3, "delay": 0.3})
    seen = []
    job = api.jobs.wait(job_id, progress_bar=True, on_status=lambda j: seen.append((j.status, j.progress["done"])))
    assert isinstance(job, Job) and job.status == "completed" and job.is_done
    assert job.result == {"steps": 3, "attempt": 1} and job.progress_percentage == 100
    assert seen[-1] == ("completed", 3) and [d for _, d in seen] == sorted(d for _, d in seen)
    assert "probe.steps" in capsys.readouterr().err  # tqdm's bar, named after the job's kind
    assert job.raise_for_status() is job
    assert [line["line"] for line in job.logs(tail=1)] == ["completed"]
    assert [line["seq"] for line in api.jobs.logs(job_id)] == list(range(1, 7))  # queued, started, 3 steps, completed


def test_wait_falls_back_to_polling_when_the_stream_breaks(api, server, monkeypatch):
    job_id = submit(server, server.admin_key, "probe.steps", {"steps": 2, "delay": 0.5})

    def broken(self, job, read_timeout=None):
        yield self._make_entity_request("GET", job).json()
        raise httpx.ReadError("connection reset")

    monkeypatch.setattr(type(api.jobs), "stream_status", broken)
    job = api.jobs.wait(job_id, progress_bar=False, poll_interval=0.1)
    assert (job.status, job.result) == ("completed", {"steps": 2, "attempt": 1})


def test_timeout_cancel_refresh_and_failure(api, server):
    job = api.jobs.get_by_id(submit(server, server.admin_key, "probe.steps", {"steps": 1, "delay": 60}))
    with pytest.raises(JobTimeoutError, match="did not end within 0.5 s; it is still (queued|running)"):
        job.wait(timeout=0.5, progress_bar=False)
    assert job.cancel() is job and job.cancel_requested
    job.wait(timeout=30, progress_bar=False)
    assert job.refresh().status == "cancelled"
    with pytest.raises(JobFailedError, match=f"Job {job.id} \\(probe.steps\\) was cancelled"):
        job.raise_for_status()
    failed = api.jobs.wait(submit(server, server.admin_key, "probe.steps", {"steps": 1, "fail_at": 0}),
                           progress_bar=False)
    reason = "failed: RuntimeError: probe failed at step 1 as asked \\[at jobs_probe.py:"
    with pytest.raises(JobFailedError, match=reason):
        failed.raise_for_status()
    assert [j.id for j in api.jobs.get_list(kind="probe.steps", status="failed", limit=1)] == [failed.id]
    with pytest.raises(ItemNotFoundError):
        api.jobs.get_by_id("00000000-0000-4000-8000-000000000000")


def test_cli_list_show_logs_and_cancel(server, monkeypatch):
    monkeypatch.setenv("DATAMINT_API_URL", server.url)
    monkeypatch.setenv("DATAMINT_API_KEY", server.admin_key)
    runner = CliRunner()
    done = submit(server, server.admin_key, "probe.steps", {"steps": 2, "delay": 0.2})
    shown = runner.invoke(jobs_app, ["show", done, "--follow"])
    assert shown.exit_code == 0, shown.output
    assert f"{done}  probe.steps" in shown.output and "completed" in shown.output
    assert "result: {'steps': 2, 'attempt': 1}" in shown.output
    listed = runner.invoke(jobs_app, ["list", "--kind", "probe.steps", "--status", "completed", "--limit", "1"])
    assert listed.exit_code == 0 and listed.output.startswith(done)
    logs = runner.invoke(jobs_app, ["logs", done])
    assert [line.split("  ", 1)[1] for line in logs.output.splitlines()][-3:] == [
        "step 1 of 2 (attempt 1)", "step 2 of 2 (attempt 1)", "completed"]
    running = submit(server, server.admin_key, "probe.steps", {"steps": 3, "delay": 0.7})
    followed = runner.invoke(jobs_app, ["logs", running, "--follow"])
    assert followed.output.rstrip().endswith("completed") and "step 3 of 3 (attempt 1)" in followed.output
    slow = submit(server, server.admin_key, "probe.steps", {"steps": 1, "delay": 60})
    wait_for(server.url, server.admin_key, slow, lambda j: j["status"] == "running")
    cancelled = runner.invoke(jobs_app, ["cancel", slow, "--follow"])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    failed = runner.invoke(jobs_app, ["show", slow, "--follow"])
    assert failed.exit_code == 1  # a job that did not complete
    assert wait_for(server.url, server.admin_key, slow, terminal)["status"] == "cancelled"
