"""The jobs runtime's rules held by the database, without HTTP, on both databases: the unit of work,
atomic claims, the commit fence of a cancelled or taken-over job, the sweeper's decisions."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from datamint.server.auth.service import authenticate, create_organization
from datamint.server.config import Settings
from datamint.server.db import unit_of_work
from datamint.server.db.base import utcnow
from datamint.server.errors import ConflictError
from datamint.server.jobs import registry, service
from datamint.server.jobs import repository as repo
from datamint.server.jobs.context import JobCancelled, JobContext, JobLost
from datamint.server.jobs.models import Job, JobLog
from datamint.server.jobs.runtime import JobRuntime
from datamint.server.storage.local import LocalBlobStore


@pytest.fixture
def job_id(migrated_database):
    with migrated_database.transaction() as s:
        org, admin, _ = create_organization(s, "units", "a@units.test")
        job = Job(customer_id=org.id, kind="units.job", created_by=admin.id, created_by_email=admin.email, params={})
        s.add(job)
        s.flush()
        return job.id


def _job(database, job_id):
    with database.transaction() as s:
        return s.get(Job, job_id)


def test_after_commit_callbacks_run_after_the_commit_and_never_after_a_rollback(migrated_database, job_id):
    calls = []
    with migrated_database.transaction() as s:
        s.execute(update(Job).where(Job.id == job_id).values(progress_message="changed"))
        unit_of_work.after_commit(s, lambda: calls.append(_job(migrated_database, job_id).progress_message))
        assert calls == []
    assert calls == ["changed"]  # the callback saw the committed row
    with pytest.raises(RuntimeError), migrated_database.transaction() as s:
        unit_of_work.after_commit(s, lambda: calls.append("rolled back"))
        raise RuntimeError("boom")
    with migrated_database.transaction() as s:
        pass
    assert calls == ["changed"]


def test_a_savepoint_is_no_commit_for_after_commit_callbacks(migrated_database, job_id):
    """SQLAlchemy sends ``after_commit`` when a savepoint is released: the callbacks still wait for
    the unit's commit; a savepoint rolled back drops only what was registered inside it."""
    calls = []
    with migrated_database.transaction() as s:
        s.execute(update(Job).where(Job.id == job_id).values(progress_message="changed"))
        unit_of_work.after_commit(s, lambda: calls.append(("first", _job(migrated_database, job_id).progress_message)))
        with s.begin_nested():
            unit_of_work.after_commit(s, lambda: calls.append(("kept", None)))
        with pytest.raises(RuntimeError), s.begin_nested():
            unit_of_work.after_commit(s, lambda: calls.append(("rolled back", None)))
            with s.begin_nested():
                unit_of_work.after_commit(s, lambda: calls.append(("inner, rolled back", None)))
            raise RuntimeError("boom")
        unit_of_work.after_commit(s, lambda: calls.append(("last", None)))
        assert calls == []  # two savepoints released, one rolled back: nothing ran yet
    assert calls == [("first", "changed"), ("kept", None), ("last", None)]
    with pytest.raises(RuntimeError), migrated_database.transaction() as s:
        with s.begin_nested():
            unit_of_work.after_commit(s, lambda: calls.append(("unit rolled back", None)))
        raise RuntimeError("boom")
    assert len(calls) == 3


def test_jobs_submitted_together_are_sent_once_their_rows_are_committed(migrated_database, job_id):
    """Each job is created in a savepoint (its dedupe key): a job sent at the next one's savepoint
    would reach a worker that cannot see its row yet, which drops the message (the job then waited
    for the sweeper's redispatch, 10 minutes)."""
    registry.register("units.many", lambda ctx: None)
    with migrated_database.transaction() as s:
        _, _, key = create_organization(s, "many", "a@many.test")
        me = authenticate(s, key)

    class Visibility:
        """A runtime whose queue records whether another session sees each job it is given."""

        def __init__(self) -> None:
            self.seen: list[bool] = []

        def send(self, job_ids: list[str]) -> None:
            for sent in job_ids:
                with migrated_database.transaction() as other:
                    self.seen.append(other.get(Job, sent) is not None)

    runtime = Visibility()
    with migrated_database.transaction() as s:
        ids = [service.submit(s, runtime, me, "units.many", {"n": n}).id for n in range(5)]
        assert runtime.seen == []
    assert runtime.seen == [True] * 5 and len(set(ids)) == 5


def test_commit_turns_a_constraint_violation_into_409(migrated_database, job_id):
    session = migrated_database.session()
    try:
        session.add_all([JobLog(job_id=job_id, seq=1, line="a"), JobLog(job_id=job_id, seq=1, line="b")])
        with pytest.raises(ConflictError, match="conflicts with another one"):
            unit_of_work.commit(session)
        assert session.scalar(select(JobLog).where(JobLog.job_id == job_id)) is None
    finally:
        session.close()


def test_exactly_one_of_many_simultaneous_claims_wins(migrated_database, job_id):
    barrier, wins = threading.Barrier(8), []

    def claim(n):
        barrier.wait()
        with migrated_database.transaction() as s:
            if repo.claim(s, job_id, f"w{n}", utcnow() + timedelta(minutes=1)):
                wins.append(n)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    job = _job(migrated_database, job_id)
    assert len(wins) == 1 and (job.status, job.attempt, job.lease_owner) == ("running", 1, f"w{wins[0]}")


def _claimed_context(database, job_id, worker="w1"):
    with database.transaction() as s:
        assert repo.claim(s, job_id, worker, utcnow() + timedelta(minutes=1))
    return JobContext(_job(database, job_id), database, None, worker, 60)  # type: ignore[arg-type]


def test_a_cancelled_or_taken_over_job_commits_nothing(migrated_database, job_id):
    ctx = _claimed_context(migrated_database, job_id)
    with migrated_database.transaction() as s:
        assert repo.request_cancel(s, job_id)
    with pytest.raises(JobCancelled), ctx.transaction() as s:
        s.add(JobLog(job_id=job_id, seq=99, line="half a result"))
    with migrated_database.transaction() as s:
        s.execute(update(Job).where(Job.id == job_id).values(lease_owner="w2", cancel_requested=False))
    with pytest.raises(JobLost), ctx.transaction() as s:
        s.add(JobLog(job_id=job_id, seq=98, line="a stale worker's write"))
    with migrated_database.transaction() as s:
        assert s.scalars(select(JobLog.seq).where(JobLog.job_id == job_id)).all() == []
    with pytest.raises(JobLost):
        ctx.progress(1, 2, "stale")
    assert _job(migrated_database, job_id).progress_message == ""


def test_complete_commits_the_result_with_the_handler_writes(migrated_database, job_id):
    ctx = _claimed_context(migrated_database, job_id)
    with ctx.transaction() as s:
        repo.append_log(s, job_id, [("info", "wrote it")])
        ctx.complete(s, {"rows": 1})
    job = _job(migrated_database, job_id)
    assert (job.status, job.result, job.lease_owner, ctx.completed) == ("completed", {"rows": 1}, None, True)


def test_the_sweeper_requeues_fails_or_cancels_expired_jobs(migrated_database, job_id, tmp_path):
    cleaned = []
    registry.register("units.job", lambda ctx: None, cleanup=lambda ctx: cleaned.append(ctx.job_id), max_attempts=2)
    runtime = JobRuntime(migrated_database, LocalBlobStore(tmp_path / "blobs"), Settings(data_dir=tmp_path))
    past = utcnow() - timedelta(seconds=1)

    def expire(attempt, cancel=False):
        with migrated_database.transaction() as s:
            s.execute(update(Job).where(Job.id == job_id).values(
                status="running", attempt=attempt, max_attempts=2, lease_owner="dead", lease_expires_at=past,
                cancel_requested=cancel))

    expire(1)
    outcome = runtime.sweep()
    assert outcome["requeued"] == [job_id] and _job(migrated_database, job_id).status == "queued" and cleaned == []
    expire(2)
    assert runtime.sweep()["failed"] == [job_id] and cleaned == [job_id]
    job = _job(migrated_database, job_id)
    assert (job.status, job.error_where) == ("failed", "worker lost")
    assert job.error_message.startswith("The job's worker was lost (killed or crashed) during attempt 2 of 2")
    expire(1, cancel=True)
    assert runtime.sweep()["cancelled"] == [job_id] and _job(migrated_database, job_id).status == "cancelled"
    runtime.queue.close()


def test_registry_rejects_bad_kinds():
    with pytest.raises(ValueError, match="'<area>.<verb>'"):
        registry.register("noarea", lambda ctx: None)
    with pytest.raises(ValueError, match="max_attempts"):
        registry.register("units.zero", lambda ctx: None, max_attempts=0)
    assert registry.get("units.never") is None


def test_a_worker_without_a_queue_url_says_what_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATAMINT_SERVER_")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3] / "src")
    done = subprocess.run([sys.executable, "-m", "datamint.cli", "server", "worker", "--data-dir", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "A separate worker needs the Redis queue: set DATAMINT_SERVER_QUEUE_URL=redis://host:6379/0" in done.stderr
    bad = subprocess.run([sys.executable, "-m", "datamint.cli", "server", "worker", "--queue-url", "amqp://x",
                          "--data-dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "Unsupported queue URL 'amqp://x': use redis://" in bad.stderr
    assert "Traceback" not in bad.stderr
