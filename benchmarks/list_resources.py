"""Listing latency: how long does ``GET /resources`` take with 100k resources in one organization?

Creates a server on its embedded defaults (SQLite) in a temporary folder, inserts ``--rows``
resource rows (with tags, 50 channels, three modalities, 1% deleted) straight into the database,
runs the start-up maintenance (orphan sweep and planner statistics), then times each listing
through the ASGI app (no network) and prints one line.

usage: python benchmarks/list_resources.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
import warnings

from sqlalchemy import insert

QUERIES = {
    "default": {"status": ""},
    "offset90%": {"status": "", "offset": None},
    "status+modality": {"status": "published", "modality": "CT"},
    "tags": {"tags": json.dumps({"items": ["t3", "t7"], "filterType": "union"})},
    "channel": {"channel_name": "ch7"},
    "filename": {"filename": "f777.dcm"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from fastapi.testclient import TestClient

    from datamint.server.app import create_app
    from datamint.server.auth.service import authenticate
    from datamint.server.config import Settings
    from datamint.server.db.base import utcnow
    from datamint.server.resources.models import Resource, ResourceTag

    with tempfile.TemporaryDirectory(prefix="datamint-bench-list-") as tmp:
        app = create_app(Settings(data_dir=tmp, admin_api_key="dmk_bench_list"))
        db = app.state.database
        with db.transaction() as session:
            me = authenticate(session, "dmk_bench_list")
        now, rows, tags, rng = utcnow(), [], [], random.Random(0)
        for i in range(args.rows):
            rid = str(uuid.uuid4())
            rows.append(dict(id=rid, customer_id=me.customer_id, storage="DicomResource", location=f"x/{rid}",
                             filename=f"f{i}.dcm", mimetype="application/dicom", size=1000,
                             status="inbox" if i % 3 else "published", modality=rng.choice(("CT", "MR", "US")),
                             file_metadata={"width": 512}, upload_channel=f"ch{i % 50}", upload_mechanism="api",
                             created_at=now, created_by=me.email, created_by_id=me.user_id, published=False,
                             deleted=i % 100 == 0))
            tags.append(dict(resource_id=rid, tag=f"t{i % 20}", position=0))
        with db.transaction() as session:
            session.execute(insert(Resource), rows)
            session.execute(insert(ResourceTag), tags)
        app.state.upload_janitor.sweep()
        client = TestClient(app, headers={"apikey": "dmk_bench_list"})
        parts = [f"list: {args.rows} resources"]
        for label, params in QUERIES.items():
            params = {**params, "limit": 100}
            if "offset" in params:
                params["offset"] = int(args.rows * 0.9)
            client.get("/resources", params=params)
            started = time.perf_counter()
            for _ in range(5):
                response = client.get("/resources", params=params)
            assert response.status_code == 200, response.text
            parts.append(f"{label} {(time.perf_counter() - started) / 5 * 1000:.1f} ms")
        print(" | ".join(parts))


if __name__ == "__main__":
    main()
