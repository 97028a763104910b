"""Dataset versions built by jobs (kind ``datasets.version``), on both databases: 202 with the job,
progress and logs, the SDK's waiting and non-waiting calls, 409 at once for a taken name, and the
failure path that removes the mask copies no version recorded."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from jobs_helpers import log_lines, submit, terminal, wait_for

from datamint.entities.datasetinfo import DatasetVersion
from datamint.entities.job import Job
from datamint.exceptions import EntityAlreadyExistsError
from datamint.server.auth.service import authenticate
from datamint.server.datasets import service as datasets_service
from datamint.server.jobs.models import Job as JobRow
from fixtures.projects import png_image

from conftest import unique


def _project_with_mask(api, tmp_path, seed=1):
    resource = api.resources.upload_resource(str(png_image(tmp_path / f"x{seed}.png", seed)))
    project = api.projects.create(unique("versions"), "versions as jobs", resources_ids=[resource])
    mask = np.zeros((16, 24), dtype=np.uint8)
    mask[2:6, 3:9] = 1
    api.annotations.upload_segmentations(resource, mask, "lesion")
    return project, resource


def test_post_versions_answers_202_with_the_job_that_builds_it(api, server, tmp_path):
    project, _ = _project_with_mask(api, tmp_path)
    headers = {"apikey": server.admin_key}
    response = httpx.post(f"{server.url}/datasets/{project.dataset_id}/versions", json={"name": "first"},
                          headers=headers)
    assert response.status_code == 202
    job = response.json()
    assert (job["kind"], job["project_id"], job["params"]["name"]) == ("datasets.version", project.id, "first")
    done = wait_for(server.url, server.admin_key, job["id"], terminal)
    assert done["status"] == "completed", done
    version = httpx.get(f"{server.url}/datasets/{project.dataset_id}/versions/first", headers=headers).json()
    assert done["result"] == {"version": version, "dataset_id": project.dataset_id, "number": 1, "name": "first"}
    assert (version["resource_count"], version["annotation_count"]) == (1, 1)
    lines = log_lines(server.url, server.admin_key, job["id"])
    assert "1 resource(s) hashed" in lines and "1 new mask(s) copied" in lines and lines[-1] == "completed"
    taken = httpx.post(f"{server.url}/datasets/{project.dataset_id}/versions", json={"name": "first"},
                       headers=headers)
    assert taken.status_code == 409 and taken.json()["message"] == "Dataset version 'first' already exists"
    again = httpx.post(f"{server.url}/datasets/{project.dataset_id}/versions", json={}, headers=headers).json()
    second = wait_for(server.url, server.admin_key, again["id"], terminal)
    assert second["result"]["name"] == "v2"  # nothing new to hash or copy: the same content is shared
    assert "0 resource(s) hashed" in log_lines(server.url, server.admin_key, again["id"])


def test_sdk_create_version_waits_unless_told_not_to(api, tmp_path):
    project, _ = _project_with_mask(api, tmp_path, seed=2)
    version = api.datasets.create_version(project.dataset_id, "waited", progress_bar=False)
    assert isinstance(version, DatasetVersion) and (version.name, version.number) == ("waited", 1)
    job = api.datasets.create_version(project.dataset_id, "later", wait=False)
    assert isinstance(job, Job) and job.kind == "datasets.version"
    job.wait(progress_bar=False)
    assert job.status == "completed" and job.result["version"]["name"] == "later"
    assert [v.name for v in api.datasets.get_versions(project.dataset_id)] == ["waited", "later"]
    try:
        api.datasets.create_version(project.dataset_id, "waited")
        raise AssertionError("a taken name must be refused")
    except EntityAlreadyExistsError:
        pass


def test_a_failed_build_removes_the_mask_copies_no_version_recorded(api, server, tmp_path):
    project, resource = _project_with_mask(api, tmp_path, seed=3)
    # Both worker threads busy: the build waits in the queue while another version takes its name.
    busy = [submit(server, server.admin_key, "probe.steps", {"steps": 1, "delay": 60}) for _ in range(2)]
    for job_id in busy:
        wait_for(server.url, server.admin_key, job_id, lambda j: j["status"] == "running")
    headers = {"apikey": server.admin_key}
    job = httpx.post(f"{server.url}/datasets/{project.dataset_id}/versions", json={"name": "contested"},
                     headers=headers).json()
    with server.database.transaction() as session:  # the name is taken meanwhile (as by a concurrent build)
        datasets_service.create_version(session, server.app.state.blob_store, authenticate(session, server.admin_key),
                                        project.dataset_id, "contested", None)
    newer = np.zeros((16, 24), dtype=np.uint8)
    newer[0:2, 0:2] = 1
    api.annotations.upload_segmentations(resource, newer, "lesion")  # a mask no version holds yet
    for job_id in busy:
        httpx.post(f"{server.url}/jobs/{job_id}/cancel", headers=headers)
    failed = wait_for(server.url, server.admin_key, job["id"], terminal)
    assert (failed["status"], failed["error_message"]) == ("failed", "Dataset version 'contested' already exists")
    with server.database.transaction() as session:
        copied = session.get(JobRow, job["id"]).checkpoint["mask_keys"]
    assert len(copied) == 1 and copied[0].startswith(f"{failed['customer_id']}/dataset-blobs/")
    assert not server.app.state.blob_store.exists(copied[0])  # copied by the build, removed by its cleanup
    lines = log_lines(server.url, server.admin_key, job["id"])
    assert "1 new mask(s) copied" in lines and "removed 1 mask copy(ies) no version recorded" in lines


def test_sixteen_identical_requests_build_one_version(api, server, tmp_path):
    """The database holds it: one unfinished build per name (409 naming it), one version per name
    (a duplicate that started after the first build finished fails with the name's conflict)."""
    project, _ = _project_with_mask(api, tmp_path, seed=4)
    headers = {"apikey": server.admin_key}
    url = f"{server.url}/datasets/{project.dataset_id}/versions"
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: httpx.post(url, json={"name": "once"}, headers=headers, timeout=60),
                                range(16)))
    assert {a.status_code for a in answers} <= {202, 409}
    started = [a.json()["id"] for a in answers if a.status_code == 202]
    ended = [wait_for(server.url, server.admin_key, job_id, terminal) for job_id in started]
    assert sorted(j["status"] for j in ended) == ["completed"] + ["failed"] * (len(ended) - 1)
    assert all(j["error_message"] == "Dataset version 'once' already exists" for j in ended if j["status"] == "failed")
    for answer in answers:
        if answer.status_code == 409:
            message = answer.json()["message"]
            assert message == "Dataset version 'once' already exists" or message.startswith(
                "A version named 'once' of this dataset is already being built (job "), message
    assert [v.name for v in api.datasets.get_versions(project.dataset_id)] == ["once"]


def test_an_unnamed_version_whose_default_name_is_taken_still_gets_built(api, server, tmp_path):
    """A manager named version 1 'v2'; the next unnamed version is number 2, whose default name
    'v2' is taken: it is built as 'v2-2' (never a failure that no retry can fix), and its number
    and name stay distinct from every other version's."""
    project, _ = _project_with_mask(api, tmp_path, seed=5)
    did = project.dataset_id
    first = api.datasets.create_version(did, "v2", progress_bar=False)
    second = api.datasets.create_version(did, progress_bar=False)
    third = api.datasets.create_version(did, progress_bar=False)
    assert [(v.number, v.name) for v in (first, second, third)] == [(1, "v2"), (2, "v2-2"), (3, "v3")]
    assert [(v.number, v.name) for v in api.datasets.get_versions(did)] == [(1, "v2"), (2, "v2-2"), (3, "v3")]
    assert api.datasets.get_version(did, "v2").id == first.id
    assert api.datasets.get_version(did, 2).id == second.id
