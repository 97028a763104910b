"""Managers and admins in Chromium: a project created, files dropped (de-identified on upload, with
progress), a worklist with labels and annotators, statistics, members; invitations accepted through
the link, roles, API keys and the audit trail."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pydicom
from PIL import Image
from pydicom.uid import generate_uid
from web_helpers import PASSWORD, make_user, shot, sign_in

from datamint import Api
from fixtures.files import make_ct_slice, to_bytes

from conftest import unique


def _drop_files(page, testid: str, files: list[tuple[str, bytes, str]]) -> None:
    """Drop files on an element the way a browser does (a drop event carrying a DataTransfer)."""
    payload = [{"name": n, "data": base64.b64encode(d).decode(), "type": t} for n, d, t in files]
    transfer = page.evaluate_handle("""(files) => {
        const dt = new DataTransfer();
        for (const f of files) {
            const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
            dt.items.add(new File([bytes], f.name, { type: f.type }));
        }
        return dt;
    }""", payload)
    page.get_by_test_id(testid).dispatch_event("drop", {"dataTransfer": transfer})


def test_a_manager_builds_a_project(web_server, page, tmp_path):
    manager, manager_key = make_user(web_server)
    annotator, _ = make_user(web_server)
    reviewer, _ = make_user(web_server)
    sign_in(page, manager)
    name = unique("Chest CT")
    page.get_by_role("button", name="New project").click()
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create project").click()
    page.get_by_role("heading", name=f"Project {name}").wait_for()

    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    slices = [to_bytes(make_ct_slice(k, study=study, series=series, frame_of_reference=frame, size=16))
              for k in range(2)]
    png = io.BytesIO()
    Image.fromarray(np.full((10, 12), 90, dtype=np.uint8)).save(png, format="PNG")
    _drop_files(page, "dropzone", [("a.dcm", slices[0], "application/dicom"), ("b.dcm", slices[1], "application/dicom"),
                                   ("photo.png", png.getvalue(), "image/png")])
    uploads = page.get_by_test_id("upload")
    for i in range(2):  # the DICOM files of the drop go together, the photo alone
        uploads.nth(i).and_(page.locator("[data-done=true]")).wait_for()
    assert [uploads.nth(i).get_by_role("progressbar").get_attribute("value") for i in range(2)] == ["1", "1"]
    # de-identified before it was assembled: named from what is left (series number, shifted date)
    assert re.fullmatch(r"→ series3_\d+\.dcm \(2 slices\)", uploads.nth(0).get_by_test_id("upload-note").inner_text())
    page.get_by_test_id("files").get_by_text("photo.png").wait_for()
    # a folder chosen with the folder picker: its three slices become one resource too
    folder = tmp_path / "series"
    folder.mkdir()
    other = generate_uid()
    for k in range(3):
        ds = make_ct_slice(k, study=study, series=other, frame_of_reference=frame, size=16)
        (folder / f"IM{k:04d}").write_bytes(to_bytes(ds))
    page.get_by_test_id("folder-input").set_input_files(folder)
    uploads.nth(2).and_(page.locator("[data-done=true]")).wait_for()
    assert "(3 slices)" in uploads.nth(2).get_by_test_id("upload-note").inner_text()
    shot(page, "40-project-files-uploaded")

    api = Api(web_server.url, manager_key)
    project = api.projects.get_by_name(name)
    resources = api.projects.get_project_resources(project.id)
    assert sorted(r.filename[-4:] for r in resources) == [".dcm", ".dcm", ".png"]
    dicoms = [pydicom.dcmread(io.BytesIO(api.resources.download_resource_file(r, auto_convert=False)))
              for r in resources if r.filename.endswith(".dcm")]
    assert sorted(int(ds.NumberOfFrames) for ds in dicoms) == [2, 3], "one resource per series"
    assert all(ds.PatientID != "MRN-0042" and str(ds.PatientName) != "Doe^Jane" for ds in dicoms)
    assert all(ds.StudyInstanceUID != study for ds in dicoms), "de-identified: new UIDs"

    form = page.get_by_role("form", name="New worklist")
    form.get_by_label("Name", exact=True).fill("Lesions")
    form.get_by_label("Annotators (emails, comma-separated)").fill(annotator)
    form.get_by_label("Label name").fill("lesion")
    form.get_by_label("Segmentation labels (comma-separated; colours are assigned in order)").fill("liver, tumour")
    form.get_by_role("button", name="Create worklist").click()
    row = page.get_by_test_id("worklists").get_by_role("row").filter(has_text="Lesions")
    row.wait_for()
    worklist = [w for w in api.projects.get_worklists(project.id) if w.name == "Lesions"][0]
    full = api.annotationsets.get_by_id(worklist.id)
    assert [(str(getattr(s.type, "value", s.type)), s.identifier, str(getattr(s.scope, "value", s.scope)))
            for s in full.annotations] == [("square", "lesion", "frame")]
    group = api.annotationsets.get_segmentation_group(worklist.id)["groups"]
    assert {k: v["index"] for k, v in group.items()} == {"liver": 1, "tumour": 2}
    assert [a.email for a in full.annotators] == [annotator]
    assert sorted(full.resource_ids) == sorted(r.id for r in resources)

    row.get_by_role("button", name="Statistics").click()
    stats = page.get_by_test_id("statistics")
    stats.get_by_role("cell", name=annotator).wait_for()

    page.get_by_label("Member email").fill(reviewer)
    page.get_by_label("Member role").select_option("PROJECT_REVIEWER")
    page.get_by_role("button", name="Add member").click()
    page.get_by_test_id("members").get_by_role("row").filter(has_text=reviewer).filter(
        has_text="PROJECT_REVIEWER").wait_for()
    shot(page, "41-project-worklist-members")


def test_an_admin_invites_manages_keys_and_reads_the_audit_trail(web_server, browser, page):
    admin = Api(web_server.url, web_server.admin_key)
    project = admin.projects.create(unique("Invited"), "")
    page.goto("/signin")
    page.get_by_role("button", name="API key").click()
    page.get_by_label("API key").fill(web_server.admin_key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Administration").click()

    invitee = f"{unique('invitee')}@example.test"
    invite = page.get_by_role("form", name="Invite")
    invite.get_by_label("Invitee email").fill(invitee)
    invite.get_by_label("Invite into project").select_option(label=project.name)
    invite.get_by_label("Project role").select_option("PROJECT_ANNOTATOR")
    invite.get_by_role("button", name="Invite").click()
    link = page.get_by_test_id("invitation-link").inner_text()
    assert re.match(rf"^{re.escape(web_server.url)}/invitations/accept\?token=dmi_", link)
    shot(page, "42-admin-invitation")

    guest = browser.new_context(viewport={"width": 1280, "height": 820})
    try:
        join = guest.new_page()
        join.goto(link)
        join.get_by_test_id("invited").filter(has_text=invitee).wait_for()
        join.get_by_label("First name").fill("Ana")
        join.get_by_label("Password (at least 8 characters)").fill(PASSWORD)
        join.get_by_label("Repeat the password").fill(PASSWORD)
        join.get_by_role("button", name="Create my account").click()
        first_key = join.get_by_test_id("first-key").inner_text()
        assert first_key.startswith("dmk_")
        shot(join, "43-invitation-accepted")
        join.get_by_role("button", name="Go to my projects").click()
        join.get_by_test_id("project").filter(has_text=project.name).wait_for()
        assert Api(web_server.url, first_key).users.get_by_email(invitee).firstname == "Ana"
    finally:
        guest.close()

    page.reload()
    user_row = page.get_by_test_id("user-row").filter(has_text=invitee)
    user_row.get_by_label(f"Role of {invitee}").select_option("admin")
    page.wait_for_function("""(email) => [...document.querySelectorAll('[data-testid=user-row]')]
        .some(r => r.textContent.includes(email) && r.querySelector('select').value === 'admin')""", arg=invitee)
    assert admin.users.get_by_email(invitee).roles == ["admin"]
    user_row.get_by_role("button", name="API keys").click()
    page.get_by_label("Key name").fill("from-the-admin")
    page.get_by_role("button", name="Create API key").click()
    new_key = page.get_by_test_id("new-key").inner_text()
    assert Api(web_server.url, new_key).users.get_by_email(invitee).email == invitee

    page.get_by_label("Filter by action").fill("update_user")
    page.get_by_role("button", name="Filter").click()
    audit = page.get_by_test_id("audit")
    audit.get_by_role("row").filter(has_text="update_user").first.wait_for()
    assert audit.get_by_role("row").filter(has_text="create_project").count() == 0
    shot(page, "44-admin-audit")


def test_my_account_creates_and_revokes_my_keys(web_server, page):
    email, _ = make_user(web_server)
    sign_in(page, email)
    page.get_by_role("link", name="My account").click()
    page.get_by_label("Key name").fill("notebook")
    page.get_by_role("button", name="Create API key").click()
    key = page.get_by_test_id("new-key").inner_text()
    assert Api(web_server.url, key).users.get_by_email(email).email == email
    page.get_by_test_id("api-keys").get_by_role("row").filter(has_text="notebook").wait_for()
    page.get_by_role("button", name=f"Revoke {key[:12]}…").click()
    page.get_by_test_id("api-keys").get_by_role("row").filter(has_text="notebook").filter(has_text="revoked").wait_for()
    shot(page, "45-account-keys")
