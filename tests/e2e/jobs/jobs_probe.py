"""Job kinds for the tests and benchmarks of the jobs runtime (imported by worker processes with
``datamint server worker --import jobs_probe``).

* ``probe.steps``: ``steps`` steps of ``delay`` seconds, each reported as progress and logged;
  fails at step ``fail_at`` if given; ``cleanup`` deletes the blob the job wrote, if any.
* ``probe.blob``: writes one blob, saving its key in the checkpoint first, then completes in the
  same transaction as nothing else; ``cleanup`` removes the blob (the failure path of handlers
  that write blobs before their commit).
* ``probe.noop``: nothing (benchmarks).
"""

from __future__ import annotations

import io
import time
from typing import Any

from datamint.server.jobs import registry
from datamint.server.jobs.context import JobContext


def steps(ctx: JobContext) -> dict[str, Any]:
    n = int(ctx.params.get("steps", 3))
    delay = float(ctx.params.get("delay", 0.0))
    fail_at = ctx.params.get("fail_at")
    for i in range(n):
        ctx.progress(i, n, f"step {i + 1} of {n}", force=True)
        ctx.log(f"step {i + 1} of {n} (attempt {ctx.attempt})")
        if fail_at is not None and i == int(fail_at):
            raise RuntimeError(f"probe failed at step {i + 1} as asked")
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline:
            ctx.check_cancelled()
            time.sleep(min(0.05, delay))
    ctx.progress(n, n, "done", force=True)
    return {"steps": n, "attempt": ctx.attempt}


def blob(ctx: JobContext) -> dict[str, Any]:
    key = f"{ctx.customer_id}/probe/{ctx.job_id}.bin"
    ctx.save_checkpoint({"written": [key]})
    ctx.store.put(key, io.BytesIO(b"probe"))
    delay = float(ctx.params.get("delay", 0.0))
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline:
        ctx.progress(0, 1, "holding the blob")
        time.sleep(0.05)
    with ctx.transaction() as session:
        ctx.complete(session, {"key": key})
    return {"ignored": True}


def remove_written(ctx: JobContext) -> None:
    for key in ctx.checkpoint.get("written", []):
        ctx.store.delete(key)


registry.register("probe.steps", steps, description="test: steps with progress")
registry.register("probe.blob", blob, cleanup=remove_written, max_attempts=1,
                  description="test: a blob written before the commit")
registry.register("probe.noop", lambda ctx: None, max_attempts=1, description="benchmark: nothing")
