"""The HR upload page: upload → preview (a dry run) → apply (a background job) → the job page.

Applying only queues a job and redirects to its page; the job runner (`run_due`, which the
scheduler process runs every few seconds) does the work. The interface is translated
concurrently, so these tests check status codes, the database, and content that is never
translated (employee numbers, line numbers, data attributes, counts).
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from app.audit.models import AuditEvent
from app.core.clock import today
from app.core.db import db_session
from app.jobs.models import BackgroundJob, JobState
from app.jobs.runner import run_due
from app.org.models import Employee, Grade, Placement, RoleName, Unit
from tests import factories
from tests.org.test_import_service import AS_OF, JA_HEADER, Org, by_number, csv_bytes, everyone, row_for, snapshot

IMPORT = "/org/import"
APPLY = "/org/import/apply"
JOB_PAGE = re.compile(r"/jobs/(\d+)$")


def value_of(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html)
    assert match, f"no input {name} with a value in the page"
    return match.group(1)


def upload(client, raw: bytes, filename: str = "staff.csv", as_of: str = AS_OF.isoformat()):  # type: ignore[no-untyped-def]
    return factories.post(client, IMPORT, {"file": (io.BytesIO(raw), filename), "as_of": as_of},
                          form_page=IMPORT, content_type="multipart/form-data")


def apply(client, html: str, **override: str):  # type: ignore[no-untyped-def]
    """Press "apply" on a preview page (its fields are prefixed "apply-", its CSRF token too)."""
    data = {name: value_of(html, name) for name in ("apply-csrf_token", "apply-token", "apply-as_of")}
    data.update({f"apply-{name}": value for name, value in override.items()})
    return client.post(APPLY, data=data)


def job_id_of(response) -> int:  # type: ignore[no-untyped-def]
    assert response.status_code == 302, response.status_code
    match = JOB_PAGE.search(response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def run_jobs(app) -> list[int]:  # type: ignore[no-untyped-def]
    """What the scheduler's job runner does every few seconds (the one-shot `flask jobs run-due`)."""
    with app.app_context():
        return run_due("test-runner")


def staged_files(app) -> set[Path]:  # type: ignore[no-untyped-def]
    folder = Path(app.config["UPLOAD_DIR"]) / "staff-imports"
    return set(folder.glob("*")) if folder.exists() else set()


def jobs_count(app) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db_session.scalar(select(func.count()).select_from(BackgroundJob)) or 0


@pytest.fixture
def hr_setup(app):  # type: ignore[no-untyped-def]
    """An organisation, an HR officer in it, and a file that moves 10002 and drops 10003."""
    with app.app_context():
        org = Org()
        hr = factories.employee(org.jinji, roles=(RoleName.HR,), number="90001")
        rows = [*everyone(org, **{"10002": {"unit": org.zaisei, "grade": "SHUNIN"}})[:2], row_for(hr)]
        rows.append(["20001", "高橋 三郎", "", "takahashi@pref.example.lg.jp", "SHUJI", "D120", ""])
        raw = csv_bytes(rows)
        ids = {"zaisei": org.zaisei.id, "jinji": org.jinji.id}
    return hr, raw, ids


def test_hr_previews_then_applies_in_the_background(app, client, hr_setup):
    hr, raw, ids = hr_setup
    factories.login_as(client, hr)
    assert client.get(IMPORT).status_code == 200
    staged_before = staged_files(app)
    with app.app_context():
        before = snapshot()

    preview = upload(client, raw)
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    for number in ("20001", "10002", "10003"):
        assert f'data-employee-number="{number}"' in html
    assert "人事課 → 財政課" in html and "staff.csv" in html
    assert value_of(html, "apply-as_of") == AS_OF.isoformat()
    with app.app_context():
        assert snapshot() == before  # the preview is a dry run

    applied = apply(client, html)
    job_id = job_id_of(applied)  # straight to the job page
    with app.app_context():
        assert snapshot() == before  # the request only queued the work
        job = db_session.get(BackgroundJob, job_id)
        assert job is not None and job.state == JobState.QUEUED and job.created_by_id == hr.id
        assert job.payload["as_of"] == AS_OF.isoformat() and job.payload["filename"] == "staff.csv"
    waiting = client.get(f"/jobs/{job_id}")
    assert waiting.status_code == 200
    assert 'data-state="queued"' in waiting.get_data(as_text=True)

    assert run_jobs(app) == [job_id]
    with app.app_context():
        moved = by_number("10002")
        assert moved.unit_id == ids["zaisei"] and moved.grade is not None and moved.grade.code == "SHUNIN"
        started = db_session.scalars(select(Placement.started_on).where(Placement.employee_id == moved.id,
                                                                         Placement.ended_on.is_(None))).all()
        assert started == [AS_OF]
        assert by_number("20001").is_active
        assert not by_number("10003").is_active
        event = db_session.scalar(select(AuditEvent).where(AuditEvent.action == "org.staff_imported"))
        assert event is not None and event.actor_id == hr.id
        job = db_session.get(BackgroundJob, job_id)
        assert job is not None and job.state == JobState.SUCCEEDED
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'data-state="succeeded"' in page and 'data-outcome="applied"' in page
    for key, count in (("added", 1), ("transferred", 1), ("deactivated", 1), ("rows", 4)):
        assert re.search(rf'data-count="{key}">.*?<td>{count}</td>', page), key
    assert 'http-equiv="refresh"' not in page and "job-progress.js" not in page  # done: no more refreshing
    assert staged_files(app) == staged_before  # the staged upload is removed once applied
    assert client.get("/org/staff").status_code == 200


def test_applying_twice_queues_one_job(app, client, hr_setup):
    hr, raw, _ids = hr_setup
    factories.login_as(client, hr)
    html = upload(client, raw).get_data(as_text=True)
    first = job_id_of(apply(client, html))
    assert job_id_of(apply(client, html)) == first  # a double click follows the same job
    assert run_jobs(app) == [first]
    assert job_id_of(apply(client, html)) == first  # and so does a click after it ran
    assert run_jobs(app) == []
    with app.app_context():
        events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "org.staff_imported")).all()
        assert len(events) == 1


def test_a_large_file_is_applied_by_the_job_not_the_request(app, client, hr_setup):
    """A few thousand rows: the request returns before any of them is written; the job checks them
    with progress and applies them all."""
    hr, _raw, ids = hr_setup
    with app.app_context():
        rows = [row_for(by_number(n)) for n in ("10001", "10002", "10003", "90001")]
    rows += [[f"5{n:05d}", f"職員 {n}", "", f"bulk{n}@pref.example.lg.jp", "SHUJI", "D120", ""] for n in range(3000)]
    factories.login_as(client, hr)
    preview = upload(client, csv_bytes(rows), "big.csv")
    assert preview.status_code == 200
    job_id = job_id_of(apply(client, preview.get_data(as_text=True)))
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Employee).where(
            Employee.unit_id == ids["zaisei"])) == 1
    assert run_jobs(app) == [job_id]
    with app.app_context():
        assert db_session.scalar(select(func.count()).select_from(Employee).where(
            Employee.unit_id == ids["zaisei"])) == 3001
        job = db_session.get(BackgroundJob, job_id)
        assert job is not None and job.state == JobState.SUCCEEDED
        assert (job.progress_done, job.progress_total) == (3004, 3004)
        assert job.result is not None and job.result["counts"]["added"] == 3000


def test_an_error_upload_shows_the_problems_with_422_and_applies_nothing(app, client, hr_setup):
    hr, _raw, _ids = hr_setup
    with app.app_context():
        org_rows = [row_for(by_number(n)) for n in ("10001", "10002", "10003", "90001")]
        org_rows[1][5] = "NOPE"  # line 3
        org_rows[2][3] = "suzuki@@pref"  # line 4
        org_rows.append(["10001", "重複", "", "dup@pref.example.lg.jp", "SHUJI", "D110", ""])  # line 6
        raw = csv_bytes(org_rows)
        before = snapshot()
    staged = staged_files(app)
    factories.login_as(client, hr)
    response = upload(client, raw, "bad.csv")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for line, field in ((3, "unit"), (4, "email"), (6, "employee_number")):
        assert f'data-line="{line}" data-field="{field}"' in html
    assert "NOPE" in html and "bad.csv" in html
    assert 'name="apply-token"' not in html  # nothing to apply
    assert staged_files(app) == staged
    with app.app_context():
        assert snapshot() == before


def test_japanese_headers_show_the_column_as_written(app, client, hr_setup):
    hr, _raw, _ids = hr_setup
    with app.app_context():
        rows = [row_for(by_number(n)) for n in ("10001", "10002", "10003", "90001")]
        rows[3][4] = "SHOGUN"
        raw = csv_bytes(rows, JA_HEADER, encoding="cp932")
    factories.login_as(client, hr)
    response = upload(client, raw)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'data-line="5" data-field="grade"><td>5</td><td>職級</td>' in html


def test_cp932_upload_previews_and_applies(app, client, hr_setup):
    hr, _raw, _ids = hr_setup
    with app.app_context():
        rows = [row_for(by_number(n)) for n in ("10001", "10002", "10003", "90001")]
        rows.append(["20002", "髙橋 ①子", "タカハシ イチコ", "ichiko@pref.example.lg.jp", "主事・技師", "D110", ""])
        raw = csv_bytes(rows, JA_HEADER, encoding="cp932")
    factories.login_as(client, hr)
    preview = upload(client, raw, "職員一覧.csv")
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert "cp932" in html and 'data-employee-number="20002"' in html and "髙橋 ①子" in html
    job_id_of(apply(client, html))
    run_jobs(app)
    with app.app_context():
        assert by_number("20002").name == "髙橋 ①子"


# --- the effective date --------------------------------------------------------------------------


def test_an_empty_as_of_date_means_today(app, client, hr_setup):
    hr, raw, _ids = hr_setup
    factories.login_as(client, hr)
    preview = upload(client, raw, as_of="")  # cleared on the upload form
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert value_of(html, "apply-as_of") == today().isoformat()
    job_id = job_id_of(apply(client, html, as_of=""))  # and cleared again on the apply form
    with app.app_context():
        job = db_session.get(BackgroundJob, job_id)
        assert job is not None and job.payload["as_of"] == today().isoformat()
    run_jobs(app)
    with app.app_context():
        newcomer = by_number("20001")
        assert db_session.scalars(select(Placement.started_on).where(Placement.employee_id == newcomer.id)).all() == [
            today()]


@pytest.mark.parametrize("bad", ["2026-13-45", "not-a-date", "０２０２６"])
def test_an_invalid_as_of_date_is_a_field_error_not_a_bare_400(app, client, hr_setup, bad):
    hr, raw, _ids = hr_setup
    factories.login_as(client, hr)
    refused = upload(client, raw, as_of=bad)
    assert refused.status_code == 400
    assert 'id="as_of-error"' in refused.get_data(as_text=True)  # the field says what is wrong

    html = upload(client, raw).get_data(as_text=True)
    jobs = jobs_count(app)
    response = apply(client, html, as_of=bad)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="apply-as_of-error"' in page and 'aria-invalid="true"' in page
    assert 'name="apply-token"' in page  # the same preview can be applied once the date is fixed
    assert jobs_count(app) == jobs
    job_id_of(apply(client, page, as_of=AS_OF.isoformat()))


# --- stale, expired and tampered previews --------------------------------------------------------


def test_apply_refuses_a_preview_the_staff_list_has_moved_on_from(app, client, hr_setup):
    hr, raw, _ids = hr_setup
    factories.login_as(client, hr)
    html = upload(client, raw).get_data(as_text=True)
    with app.app_context():
        other = by_number("10003")
        other.name = "鈴木 次郎（改）"  # edited between preview and apply
        db_session.commit()
        before = snapshot()
    response = apply(client, html)
    assert response.status_code == 409
    assert 'data-problem="stale"' in response.get_data(as_text=True)
    assert jobs_count(app) == 0
    with app.app_context():
        assert snapshot() == before
    again = apply(client, html)  # the stale preview is gone: upload again
    assert again.status_code == 302 and again.headers["Location"].endswith(IMPORT)


def test_a_queued_import_refuses_to_run_if_the_staff_list_changed_meanwhile(app, client, hr_setup):
    hr, raw, ids = hr_setup
    factories.login_as(client, hr)
    html = upload(client, raw).get_data(as_text=True)
    job_id = job_id_of(apply(client, html))
    with app.app_context():
        zaisei = db_session.get(Unit, ids["zaisei"])
        assert zaisei is not None
        zaisei.is_active = False  # closed after the job was queued, before it ran
        db_session.commit()
        before = snapshot()
    run_jobs(app)
    with app.app_context():
        assert snapshot() == before
        job = db_session.get(BackgroundJob, job_id)
        assert job is not None and job.state == JobState.FAILED and job.result == {"reason": "stale",
                                                                                   "filename": "staff.csv"}
    page = client.get(f"/jobs/{job_id}").get_data(as_text=True)
    assert 'data-state="failed"' in page and 'data-outcome="stale"' in page


@pytest.mark.parametrize("token", ["../../etc/passwd", "f" * 32, "", "A" * 32])
def test_apply_refuses_an_unknown_or_malformed_token_with_a_message(app, client, hr_setup, token):
    hr, raw, _ids = hr_setup
    factories.login_as(client, hr)
    html = upload(client, raw).get_data(as_text=True)
    with app.app_context():
        before = snapshot()
    response = apply(client, html, token=token)
    assert response.status_code == 302 and response.headers["Location"].endswith(IMPORT)
    assert "flash--error" in client.get(IMPORT).get_data(as_text=True)
    assert jobs_count(app) == 0
    with app.app_context():
        assert snapshot() == before


def test_a_staged_file_altered_on_disk_is_not_applied(app, client, hr_setup):
    hr, raw, _ids = hr_setup
    factories.login_as(client, hr)
    html = upload(client, raw).get_data(as_text=True)
    token = value_of(html, "apply-token")
    (Path(app.config["UPLOAD_DIR"]) / "staff-imports" / f"{token}.csv").write_bytes(
        raw + b"99999,x,,x@pref.example.lg.jp,SHUJI,D110,\r\n")
    job_id = job_id_of(apply(client, html))
    with app.app_context():
        before = snapshot()
    run_jobs(app)
    with app.app_context():
        assert snapshot() == before
        job = db_session.get(BackgroundJob, job_id)
        assert job is not None and job.state == JobState.FAILED and job.result is not None
        assert job.result["reason"] == "missing"


def test_apply_works_when_grades_were_only_created_by_the_preview(app, client, hr_setup):
    """On a fresh install the preview creates the grade ladder, then rolls it back with the dry run."""
    hr, _raw, _ids = hr_setup
    with app.app_context():
        db_session.execute(delete(Grade).where(Grade.code == "BUCHO"))
        db_session.commit()
        rows = [row_for(by_number(n)) for n in ("10001", "10002", "10003", "90001")]
        rows[0][4] = "BUCHO"
        raw = csv_bytes(rows)
    factories.login_as(client, hr)
    preview = upload(client, raw)
    assert preview.status_code == 200
    job_id = job_id_of(apply(client, preview.get_data(as_text=True)))
    run_jobs(app)
    with app.app_context():
        job = db_session.get(BackgroundJob, job_id)
        assert job is not None and job.state == JobState.SUCCEEDED, job.result
        promoted = by_number("10001")
        assert promoted.grade is not None and promoted.grade.code == "BUCHO"


@pytest.mark.parametrize("filename, status", [("staff.xlsx", 400)])
def test_a_non_csv_upload_is_refused(app, client, hr_setup, filename, status):
    hr, raw, _ids = hr_setup
    factories.login_as(client, hr)
    assert upload(client, raw, filename).status_code == status


def test_an_upload_without_a_file_is_refused(client, hr_setup):
    hr, _raw, _ids = hr_setup
    factories.login_as(client, hr)
    response = factories.post(client, IMPORT, {"as_of": AS_OF.isoformat()}, form_page=IMPORT,
                              content_type="multipart/form-data")
    assert response.status_code == 400
    assert 'id="file-error"' in response.get_data(as_text=True)


# --- who may import ------------------------------------------------------------------------------

NOT_HR = {
    "employee": {},
    "instructor": {"roles": (RoleName.INSTRUCTOR,)},
    "mentor": {"roles": (RoleName.MENTOR,)},
    "administrator": {"roles": (RoleName.ADMIN,)},
    "manager": {"head": True},
}


@pytest.mark.parametrize("kind", NOT_HR.keys())
def test_only_hr_may_use_the_import_pages(app, client, hr_setup, kind):
    _hr, raw, _ids = hr_setup
    options = dict(NOT_HR[kind])
    with app.app_context():
        division = factories.unit()
        heads = division if options.pop("head", False) else None
        person = factories.employee(division, heads=heads, **options)  # type: ignore[arg-type]
        before = snapshot()
    factories.login_as(client, person)
    assert client.get(IMPORT).status_code == 403
    assert upload(client, raw).status_code == 403
    response = factories.post(client, APPLY, {"apply-token": "a" * 32, "apply-as_of": AS_OF.isoformat()})
    assert response.status_code == 403
    assert jobs_count(app) == 0
    with app.app_context():
        assert snapshot() == before


def test_the_job_page_is_for_its_creator_and_hr_only(app, client, hr_setup):
    hr, raw, _ids = hr_setup
    factories.login_as(client, hr)
    job_id = job_id_of(apply(client, upload(client, raw).get_data(as_text=True)))
    with app.app_context():
        colleague = factories.employee(roles=(RoleName.HR,))
        outsider = factories.employee()
        admin = factories.employee(roles=(RoleName.ADMIN,))
    for person, status in ((colleague, 200), (outsider, 403), (admin, 403)):
        other = app.test_client()
        factories.login_as(other, person)
        assert other.get(f"/jobs/{job_id}").status_code == status
    for missing in (job_id + 1000, 99999999999999999999):
        assert client.get(f"/jobs/{missing}").status_code == 404


def test_signed_out_visitors_are_sent_to_the_login_page(client):
    response = client.get(IMPORT)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    job = client.get("/jobs/1")
    assert job.status_code == 302 and "/login" in job.headers["Location"]
