"""The HR upload page: upload → preview (a dry run) → apply, errors, and who may use it.

The interface is translated concurrently, so these tests check status codes, the database, and
content that is never translated (employee numbers, line numbers, data attributes).
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from app.audit.models import AuditEvent
from app.db import db_session
from app.org.models import Grade, Placement, RoleName
from tests import factories
from tests.org.test_import_service import AS_OF, JA_HEADER, Org, by_number, csv_bytes, everyone, row_for, snapshot

IMPORT = "/org/import"
APPLY = "/org/import/apply"


def hidden(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html)
    assert match, f"no hidden {name} in the page"
    return match.group(1)


def upload(client, raw: bytes, filename: str = "staff.csv", as_of: str = AS_OF.isoformat()):  # type: ignore[no-untyped-def]
    return factories.post(client, IMPORT, {"file": (io.BytesIO(raw), filename), "as_of": as_of},
                          form_page=IMPORT, content_type="multipart/form-data")


def apply(client, html: str, **override: str):  # type: ignore[no-untyped-def]
    data = {name: hidden(html, name) for name in ("token", "digest", "as_of")}
    data.update(override)
    return factories.post(client, APPLY, data, form_page=IMPORT)


def staged_files(app) -> set[Path]:  # type: ignore[no-untyped-def]
    folder = Path(app.config["UPLOAD_DIR"]) / "staff-imports"
    return set(folder.glob("*.csv")) if folder.exists() else set()


@pytest.fixture
def hr_setup(app):  # type: ignore[no-untyped-def]
    """An organisation, an HR officer in it, and a file that moves 10002 and drops 10003."""
    with app.app_context():
        org = Org()
        hr = factories.employee(org.jinji, roles=(RoleName.HR,), number="90001")
        rows = everyone(org, **{"10002": {"unit": org.zaisei, "grade": "SHUNIN"}})[:2] + [row_for(hr)]
        rows.append(["20001", "高橋 三郎", "", "takahashi@pref.example.lg.jp", "SHUJI", "D120", ""])
        raw = csv_bytes(rows)
        ids = {"zaisei": org.zaisei.id, "jinji": org.jinji.id}
    return hr, raw, ids


def test_hr_previews_then_applies(app, client, hr_setup):
    hr, raw, ids = hr_setup
    factories.login_as(client, hr)
    assert client.get(IMPORT).status_code == 200
    with app.app_context():
        before = snapshot()

    preview = upload(client, raw)
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    for number in ("20001", "10002", "10003"):
        assert f'data-employee-number="{number}"' in html
    assert "人事課 → 財政課" in html and "staff.csv" in html
    assert hidden(html, "as_of") == AS_OF.isoformat()
    with app.app_context():
        assert snapshot() == before  # the preview is a dry run

    applied = apply(client, html)
    assert applied.status_code == 302 and applied.headers["Location"].endswith("/org/staff")
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
    assert staged_files(app) == set()  # the staged upload is removed once applied
    assert client.get("/org/staff").status_code == 200


def test_applying_twice_applies_once(app, client, hr_setup):
    hr, raw, _ids = hr_setup
    factories.login_as(client, hr)
    html = upload(client, raw).get_data(as_text=True)
    assert apply(client, html).status_code == 302
    again = apply(client, html)
    assert again.status_code == 302 and again.headers["Location"].endswith(IMPORT)
    with app.app_context():
        events = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "org.staff_imported")).all()
        assert len(events) == 1


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
    assert 'name="token"' not in html  # nothing to apply
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
    assert apply(client, html).status_code == 302
    with app.app_context():
        assert by_number("20002").name == "髙橋 ①子"


def test_apply_refuses_a_tampered_digest_or_token(app, client, hr_setup):
    hr, raw, _ids = hr_setup
    factories.login_as(client, hr)
    html = upload(client, raw).get_data(as_text=True)
    with app.app_context():
        before = snapshot()
    assert apply(client, html, digest="0" * 64).status_code == 400
    assert apply(client, html, token="../../etc/passwd").status_code == 400
    assert apply(client, html, as_of="not-a-date").status_code == 400
    expired = apply(client, html, token="f" * 32)
    assert expired.status_code == 302 and expired.headers["Location"].endswith(IMPORT)
    with app.app_context():
        assert snapshot() == before


def test_apply_is_refused_if_the_organisation_changed_since_the_preview(app, client, hr_setup):
    hr, raw, ids = hr_setup
    factories.login_as(client, hr)
    html = upload(client, raw).get_data(as_text=True)
    with app.app_context():
        from app.org.models import Unit

        zaisei = db_session.get(Unit, ids["zaisei"])
        assert zaisei is not None
        zaisei.is_active = False  # closed between preview and apply
        db_session.commit()
        before = snapshot()
    response = apply(client, html)
    assert response.status_code == 422
    assert 'data-field="unit"' in response.get_data(as_text=True)
    with app.app_context():
        assert snapshot() == before


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
    assert apply(client, preview.get_data(as_text=True)).status_code == 302
    with app.app_context():
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
    response = factories.post(client, APPLY, {"token": "a" * 32, "digest": "0" * 64, "as_of": AS_OF.isoformat()})
    assert response.status_code == 403
    with app.app_context():
        assert snapshot() == before


def test_signed_out_visitors_are_sent_to_the_login_page(client):
    response = client.get(IMPORT)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
