"""The annotation workflow with several people, each with their own API key: a manager sets up a
project and its worklist, two annotators annotate, a reviewer approves one and asks the other for
a revision; statistics and exports show exactly that, and outsiders see nothing."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from datamint import Api
from datamint.exceptions import ItemNotFoundError, PermissionDeniedError
from fixtures.projects import png_path

from conftest import unique


def _add_member(server, project_id: str, email: str, role: str) -> None:
    """Give a user a project role directly in the database (the members endpoints are another area's)."""
    from sqlalchemy import select

    from datamint.server.auth.models import User
    from datamint.server.projects.models import ProjectMember

    with server.database.transaction() as session:
        user = session.scalar(select(User).where(User.email == email))
        session.add(ProjectMember(project_id=project_id, user_id=user.id, roles=[role]))


@pytest.fixture
def team(server):
    """Manager, two annotators, a reviewer and an outsider of one organization, each with an Api."""
    admin_key = server.new_org()
    people = {}
    for name in ("manager", "ann1", "ann2", "reviewer", "outsider"):
        email, key = server.new_user(admin_key=admin_key)
        people[name] = (email, Api(server.url, key))
    yield people
    for _, api in people.values():
        api.close()


def test_two_annotators_one_approved_one_revision(server, team, tmp_path):
    emails = {name: email for name, (email, _) in team.items()}
    manager, ann1, ann2 = team["manager"][1], team["ann1"][1], team["ann2"][1]
    reviewer, outsider = team["reviewer"][1], team["outsider"][1]

    # The manager uploads two images and sets up the project and its worklist.
    resources = []
    for n in range(2):
        (tmp_path / str(n)).mkdir()
        resources.append(manager.resources.upload_resource(str(png_path(tmp_path / str(n)))))
    r1, r2 = resources
    project = manager.projects.create(unique("workflow"), "two annotators", resources_ids=resources)
    wid = project.worklist_id
    manager.annotationsets.update(wid, annotators=[emails["ann1"], emails["ann2"]],
                                  annotations=[{"type": "category", "identifier": "grade", "values": ["low", "high"]}],
                                  segmentation_data={"definitions": [{"identifier": "lesion", "index": 1}]})
    _add_member(server, project.id, emails["reviewer"], "PROJECT_REVIEWER")

    # Each annotator annotates one image and marks it annotated.
    a1_grade = ann1.annotations.add_category_annotation(r1, "grade", "low", worklist_id=wid)
    mask = np.zeros((16, 24), np.uint8)
    mask[2:6, 2:6] = 1
    (a1_seg,) = ann1.annotations.upload_segmentations(r1, mask, "lesion", worklist_id=wid)
    ann1.projects.set_work_status(project.id, r1, "annotated")
    a2_grade = ann2.annotations.add_category_annotation(r2, "grade", "high", worklist_id=wid)
    ann2.projects.set_work_status(project.id, r2, "annotated")

    # Annotators may neither review nor touch the other's work.
    with pytest.raises(PermissionDeniedError):
        ann1.annotations.approve(a2_grade)
    with pytest.raises(PermissionDeniedError):
        ann1.annotations.delete(a2_grade)
    with pytest.raises(PermissionDeniedError):
        ann1.projects.get_annotators_stats(project.id)

    # The reviewer approves annotator 1 and asks annotator 2 for a revision.
    reviewer.annotations.approve(a1_grade)
    reviewer.annotationsets.update_annotation_status(wid, r1, "approved", annotator=emails["ann1"], message="good")
    reviewer.annotationsets.update_annotation_status(wid, r2, "revision_request", annotator=emails["ann2"],
                                                     message="redo the margins")

    rows = reviewer.projects.get_annotation_statuses(project.id)
    statuses = {(s["resource_id"], s["email"]): s["status"] for s in rows}
    assert statuses == {(r1, emails["ann1"]): "approved", (r2, emails["ann2"]): "revision_request"}
    assert [s["status"] for s in ann2.projects.get_annotation_statuses(project.id)] == ["revision_request"]
    assert ann2.projects.get_annotation_statuses(project.id, user_id=emails["ann1"]) == []  # not theirs to read
    assert [s["email"] for s in reviewer.projects.get_annotation_statuses(project.id, user_id=emails["ann1"])] == [
        emails["ann1"]]

    stats = {s["email"]: s for s in reviewer.projects.get_annotators_stats(project.id)}
    assert set(stats) == {emails["ann1"], emails["ann2"]}
    assert (stats[emails["ann1"]]["approved"], stats[emails["ann1"]]["annotations"]) == (1, 2)
    assert (stats[emails["ann2"]]["revision_request"], stats[emails["ann2"]]["annotations"]) == (1, 1)
    assert stats[emails["ann1"]]["worklist_ids"] == [wid]
    own = ann2.projects.get_annotator_status(project.id, emails["ann2"])
    assert own["revision_request"] == 1 and own["resources"][0]["resource_id"] == r2
    with pytest.raises(PermissionDeniedError):
        ann2.projects.get_annotator_status(project.id, emails["ann1"])

    totals = reviewer.projects.get_annotations_stats(project.id)
    assert totals["total"] == 3 and totals["by_status"] == {"published": 1, "new": 2}
    assert totals["by_annotator"] == {emails["ann1"]: 2, emails["ann2"]: 1} and totals["annotated_resources"] == 2
    matrix = reviewer.projects.get_files_matrix_stats(project.id)
    cells = {row["resource_id"]: row["annotators"] for row in matrix["resources"]}
    assert cells[r1] == {emails["ann1"]: {"status": "approved", "annotations": 2}}
    assert cells[r2] == {emails["ann2"]: {"status": "revision_request", "annotations": 1}}

    messages = reviewer.projects.get_review_messages(project.id)
    assert [(m["annotator"], m["status"], m["message"]) for m in messages] == [
        (emails["ann1"], "approved", "good"), (emails["ann2"], "revision_request", "redo the margins")]
    assert [m["message"] for m in ann2.projects.get_review_messages(project.id)] == ["redo the margins"]
    assert ann2.projects.get_review_messages(project.id, annotator=emails["ann1"]) == []
    assert [m["message"] for m in reviewer.projects.get_review_messages(project.id, annotator=emails["ann1"])] == [
        "good"]
    assert reviewer.projects.get_review_messages(project.id, statuses=["approved"])[0]["resource_id"] == r1

    # The exports say exactly the same.
    csv_path = tmp_path / "export.csv"
    reviewer.projects.download_annotations(project.id, csv_path, progress_bar=False)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    by_id = {row["annotation_id"]: row for row in rows}
    assert set(by_id) == {a1_grade, a1_seg, a2_grade}
    assert (by_id[a1_grade]["status"], by_id[a1_grade]["review_status"], by_id[a1_grade]["value"]) == (
        "published", "approved", "low")
    assert by_id[a2_grade]["review_status"] == "revision_request" and by_id[a2_grade]["annotator"] == emails["ann2"]
    xlsx_path = tmp_path / "export.xlsx"
    reviewer.projects.download_annotations(project.id, xlsx_path, format="xlsx", annotators=[emails["ann2"]],
                                           progress_bar=False)
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx_path, read_only=True)["annotations"]
    header, *values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert len(values) == 1 and dict(zip(header, values[0], strict=True))["annotation_id"] == a2_grade
    only_grades = tmp_path / "grades.csv"
    manager.projects.download_annotations(project.id, only_grades, annotations=["grade"], progress_bar=False)
    assert {r["annotation_id"] for r in csv.DictReader(io.StringIO(only_grades.read_text()))} == {a1_grade, a2_grade}
    with pytest.raises(PermissionDeniedError):
        ann1.projects.download_annotations(project.id, tmp_path / "no.csv", progress_bar=False)

    # A member of the organization who is not in the project can neither read nor write it.
    with pytest.raises(ItemNotFoundError):
        outsider.projects.get_by_id(project.id)
    assert outsider.annotations.get_list(resource=[r1, r2]) == []
    with pytest.raises(ItemNotFoundError):
        outsider.annotations.get_by_id(a1_grade)
    with pytest.raises(ItemNotFoundError):
        outsider.annotations.add_category_annotation(r1, "grade", "low", worklist_id=wid)
    with pytest.raises(ItemNotFoundError):
        outsider.annotationsets.get_by_id(wid)
    with pytest.raises(ItemNotFoundError):
        outsider.projects.get_annotations_stats(project.id)
    with pytest.raises(ItemNotFoundError):
        outsider.projects.download_annotations(project.id, tmp_path / "x.csv", progress_bar=False)
    with pytest.raises(ItemNotFoundError):
        outsider.annotations.delete(a2_grade)
    assert len(manager.annotations.get_list(resource=[r1, r2])) == 3


def test_a_review_decision_needs_work_to_review(server, team, tmp_path):
    """A reviewer decides on an annotator's work on a resource: naming someone without a status
    there (an annotator of another resource, a user outside the project) is 422 and records
    nothing; it made an ``approved`` status (and a review message) out of no work at all."""
    from datamint.exceptions import ValidationError

    emails = {name: email for name, (email, _) in team.items()}
    manager, ann1, reviewer = team["manager"][1], team["ann1"][1], team["reviewer"][1]
    resources = []
    for n in range(2):
        (tmp_path / str(n)).mkdir()
        resources.append(manager.resources.upload_resource(str(png_path(tmp_path / str(n)))))
    project = manager.projects.create(unique("reviews"), "reviews", resources_ids=resources)
    wid = project.worklist_id
    manager.annotationsets.update(wid, annotators=[emails["ann1"], emails["ann2"]])
    _add_member(server, project.id, emails["reviewer"], "PROJECT_REVIEWER")
    ann1.projects.set_work_status(project.id, resources[0], "annotated")
    for who, rid in ((emails["ann2"], resources[0]), (emails["outsider"], resources[0]),
                     (emails["ann1"], resources[1])):
        with pytest.raises(ValidationError, match="has no work status on this resource in this worklist") as info:
            reviewer.annotationsets.update_annotation_status(wid, rid, "approved", annotator=who, message="ok")
        assert info.value.status_code == 422
    reviewer.annotationsets.update_annotation_status(wid, resources[0], "approved", annotator=emails["ann1"])
    rows = reviewer.projects.get_annotation_statuses(project.id)
    assert [(s["resource_id"], s["email"], s["status"]) for s in rows] == [(resources[0], emails["ann1"], "approved")]
    messages = manager.annotationsets._request("GET", f"/projects/{project.id}/reviewmessages").json()
    assert [(m["annotator"], m["status"]) for m in messages] == [(emails["ann1"], "approved")]
