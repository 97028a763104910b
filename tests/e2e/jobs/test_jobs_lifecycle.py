"""A job's life on the embedded default (worker threads inside the server), on both databases:
progress over SSE in order, logs, failure, cancellation (queued and running), 409 on a finished job."""

from __future__ import annotations

import httpx
from jobs_helpers import get, log_lines, sse_events, submit, terminal, wait_for


def test_a_job_runs_to_completion_with_progress_events_in_order(server):
    job_id = submit(server, server.admin_key, "probe.steps", {"steps": 4, "delay": 1.0})
    events = [data for _, data in sse_events(server.url, server.admin_key, f"/jobs/{job_id}/stream")]
    assert [e["id"] for e in events] == [job_id] * len(events)
    assert events[-1]["status"] == "completed" and all(e["status"] in ("queued", "running") for e in events[:-1])
    done = [e["progress"]["done"] for e in events if e["status"] == "running"]
    assert done == sorted(done) and len(set(done)) >= 3, done  # each 1 s step seen (polled every 0.25 s)
    last = events[-1]
    assert last["result"] == {"steps": 4, "attempt": 1}
    assert (last["progress_percentage"], last["progress"], last["attempt"]) == (
        100, {"done": 4, "total": 4, "message": "done"}, 1)
    assert last["error_message"] is None and last["finished_at"] >= last["started_at"] >= last["created_at"]
    lines = log_lines(server.url, server.admin_key, job_id)
    assert lines[0] == "queued by admin@datamint.local" or lines[0].startswith("queued by ")
    assert lines[1].startswith("attempt 1 of 3 started on ")
    assert lines[2:] == [f"step {i} of 4 (attempt 1)" for i in range(1, 5)] + ["completed"]


def test_logs_page_tail_and_stream(server):
    job_id = submit(server, server.admin_key, "probe.steps", {"steps": 5})
    wait_for(server.url, server.admin_key, job_id, terminal)
    headers = {"apikey": server.admin_key}
    page = httpx.get(f"{server.url}/jobs/{job_id}/logs", params={"after": 2, "limit": 3}, headers=headers).json()
    assert [line["seq"] for line in page["lines"]] == [3, 4, 5] and page["next_after"] == 5
    assert page["total"] == 8 and page["status"] == "completed"
    assert all(line["at"].endswith("Z") and line["level"] == "info" for line in page["lines"])
    tail = httpx.get(f"{server.url}/jobs/{job_id}/logs", params={"tail": 2}, headers=headers).json()
    assert [line["line"] for line in tail["lines"]] == ["step 5 of 5 (attempt 1)", "completed"]
    events = sse_events(server.url, server.admin_key, f"/jobs/{job_id}/logs/stream?after=6")
    assert [name for name, _ in events] == ["start", "log", "log", "end"]
    assert events[0][1]["job"]["id"] == job_id
    assert [data["line"] for _, data in events[1:3]] == ["step 5 of 5 (attempt 1)", "completed"]
    assert events[-1][1] == {"event": "end", "status": "completed"}


def test_a_failing_handler_fails_the_job_with_its_reason_and_place(server):
    job_id = submit(server, server.admin_key, "probe.steps", {"steps": 3, "fail_at": 1})
    job = wait_for(server.url, server.admin_key, job_id, terminal)
    assert job["status"] == "failed" and job["attempt"] == 1  # a handler's error is not retried
    assert job["error_message"] == "RuntimeError: probe failed at step 2 as asked"
    assert job["error_where"].startswith("jobs_probe.py:") and job["error_where"].endswith(" in steps")
    assert job["result"] is None
    lines = log_lines(server.url, server.admin_key, job_id)
    assert "Traceback (most recent call last)" in lines[-2]
    assert lines[-1] == "failed: RuntimeError: probe failed at step 2 as asked"


def test_cancel_while_running_stops_the_job_and_leaves_no_half_result(server):
    store = server.app.state.blob_store
    job_id = submit(server, server.admin_key, "probe.blob", {"delay": 60})
    running = wait_for(server.url, server.admin_key, job_id, lambda j: j["progress"]["message"] == "holding the blob")
    key = f"{running['customer_id']}/probe/{job_id}.bin"
    assert store.exists(key)
    headers = {"apikey": server.admin_key}
    asked = httpx.post(f"{server.url}/jobs/{job_id}/cancel", headers=headers)
    assert asked.status_code == 200 and asked.json()["cancel_requested"] is True
    job = wait_for(server.url, server.admin_key, job_id, terminal, timeout=30)
    assert job["status"] == "cancelled" and job["result"] is None
    assert not store.exists(key)  # the kind's cleanup removed what the handler wrote
    again = httpx.post(f"{server.url}/jobs/{job_id}/cancel", headers=headers)
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert "cancellation requested by admin@datamint.local" in log_lines(server.url, server.admin_key, job_id)


def test_cancel_a_queued_job_and_a_finished_one(server):
    # Both worker threads are busy with long jobs, so the third one waits in the queue.
    busy = [submit(server, server.admin_key, "probe.steps", {"steps": 1, "delay": 60}) for _ in range(2)]
    for job_id in busy:
        wait_for(server.url, server.admin_key, job_id, lambda j: j["status"] == "running")
    queued = submit(server, server.admin_key, "probe.steps", {"steps": 1})
    headers = {"apikey": server.admin_key}
    assert get(server.url, server.admin_key, queued)["status"] == "queued"
    cancelled = httpx.post(f"{server.url}/jobs/{queued}/cancel", headers=headers).json()
    assert (cancelled["status"], cancelled["started_at"], cancelled["attempt"]) == ("cancelled", None, 0)
    for job_id in busy:
        assert httpx.post(f"{server.url}/jobs/{job_id}/cancel", headers=headers).status_code == 200
    for job_id in busy:
        assert wait_for(server.url, server.admin_key, job_id, terminal)["status"] == "cancelled"
    done = submit(server, server.admin_key, "probe.steps", {"steps": 1})
    wait_for(server.url, server.admin_key, done, terminal)
    conflict = httpx.post(f"{server.url}/jobs/{done}/cancel", headers=headers)
    assert conflict.status_code == 409
    assert conflict.json()["message"] == f"Job {done} already completed; there is nothing to cancel"
    assert get(server.url, server.admin_key, queued)["status"] == "cancelled"  # the worker dropped its message
