"""Certificates: the code format, the PDF, public verification, who may see a certificate,
completions recorded by HR, and the transcript with its CSV export."""
from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.completion.certificates import ALPHABET, is_well_formed, new_code, normalise
from app.completion.models import Completion, CompletionSource
from app.completion.services import record_manual_completion
from app.core.clock import now
from app.core.db import db_session
from app.org.models import RoleName
from tests import factories

SECRET = "test-secret"  # TestConfig.SECRET_KEY


@pytest.fixture
def people(app):
    """A division with its manager and a member who completed a course; someone elsewhere; HR."""
    with app.app_context():
        division = factories.unit("データ活用推進課")
        manager = factories.employee(division, "KACHO", heads=division)
        member = factories.employee(division, "SHUNIN", name="修了 一郎", number="E12345")
        outsider = factories.employee(factories.unit("水産振興課"), "SHUNIN")
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
        course = factories.course("CERT-1", title_ja="データ活用研修", title_en="Data literacy", hours="3")
        completion = record_manual_completion(hr, member, course, date(2020, 11, 5), Decimal("3"),
                                              "県外の研修機関が発行した修了証（写し）")
        db_session.commit()
        return {"manager": manager, "member": member, "outsider": outsider, "hr": hr,
                "code": completion.certificate_code, "completion": completion.id}


def revoke(app, completion_id: int) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        completion = db_session.get(Completion, completion_id)
        completion.revoked_at, completion.revoked_reason = now(), "記録の誤り"
        db_session.commit()


def tampered(code: str, position: int = 2) -> str:
    replacement = next(ch for ch in ALPHABET if ch != code[position])
    return code[:position] + replacement + code[position + 1:]


# --- the code --------------------------------------------------------------------------------


def test_a_new_code_is_well_formed_and_checked():
    code = new_code(SECRET)
    assert len(code) == 16 and code[5] == code[11] == "-"
    assert is_well_formed(SECRET, code)
    assert not is_well_formed("another-secret", code)
    for position in (0, 7, 12, 15):
        assert not is_well_formed(SECRET, tampered(code, position))


def test_codes_are_accepted_as_people_type_them():
    code = new_code(SECRET)
    for typed in (code.lower(), code.replace("-", ""), code.replace("-", "").lower(), f"  {code} ",
                  code.replace("-", " ")):
        assert is_well_formed(SECRET, typed), typed
        assert normalise(typed) == code, typed
    for nonsense in ("", "ABC", code + "A", code.replace(code[0], "0"), code.replace(code[1], "I")):
        assert not is_well_formed(SECRET, nonsense), nonsense


def test_a_manual_completion_records_its_evidence(ctx):
    hr = factories.employee(roles=(RoleName.HR,))
    member = factories.employee()
    course = factories.course()
    completion = record_manual_completion(hr, member, course, date(2020, 6, 1), Decimal("1.5"), "外部セミナー")
    assert completion.source == CompletionSource.MANUAL and completion.recorded_by_id == hr.id
    assert (completion.hours, completion.evidence_note) == (Decimal("1.5"), "外部セミナー")
    assert is_well_formed(SECRET, completion.certificate_code)
    with pytest.raises(ValueError, match="既にこの研修を修了しています"):
        record_manual_completion(hr, member, course, date(2020, 6, 2), Decimal("1"), "二重")


# --- the PDF and verification ----------------------------------------------------------------


def test_the_pdf_carries_the_verification_code(app, client, people):
    factories.login_as(client, people["member"])
    response = client.get(f"/certificates/{people['code']}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert f'certificate-{people["code"]}.pdf' in response.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 1
    content = reader.pages[0].extract_text()
    assert people["code"] in content
    assert f"/verify/{people['code']}" in content
    assert "Certificate of Completion" in content and "Data literacy" in content


def test_anyone_can_verify_a_genuine_certificate(app, client, people):
    code = people["code"]
    for typed in (code, code.lower(), code.replace("-", "")):
        response = client.get(f"/verify/{typed}")  # nobody signed in
        assert response.status_code == 200, typed
        page = response.get_data(as_text=True)
        assert "正規の修了証です" in page and "修了 一郎" in page and "データ活用研修" in page
    response = client.get(f"/verify?code={code.lower()}")
    assert response.status_code == 200 and "正規の修了証です" in response.get_data(as_text=True)
    assert client.get("/verify").status_code == 200


@pytest.mark.parametrize("position", [0, 6, 13])
def test_a_tampered_code_has_no_certificate(app, client, people, position):
    response = client.get(f"/verify/{tampered(people['code'], position)}")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "この番号の修了証はありません" in page and "修了 一郎" not in page


def test_a_well_formed_code_that_was_never_issued_has_no_certificate(app, client, people):
    response = client.get(f"/verify/{new_code(SECRET)}")
    assert response.status_code == 404
    assert "この番号の修了証はありません" in response.get_data(as_text=True)


def test_a_revoked_certificate_shows_as_revoked(app, client, people):
    revoke(app, people["completion"])
    response = client.get(f"/verify/{people['code']}")
    page = response.get_data(as_text=True)
    assert "この修了証は取り消されています" in page and "正規の修了証です" not in page
    factories.login_as(client, people["member"])
    assert client.get(f"/certificates/{people['code']}.pdf").status_code == 404
    page = client.get(f"/certificates/{people['code']}").get_data(as_text=True)
    assert "取り消されています" in page and ".pdf" not in page


# --- who may see a certificate ---------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("member", 200), ("manager", 200), ("hr", 200), ("outsider", 403)])
def test_the_printable_certificate(app, client, people, who, status):
    factories.login_as(client, people[who])
    response = client.get(f"/certificates/{people['code']}")
    assert response.status_code == status
    pdf = client.get(f"/certificates/{people['code']}.pdf")
    assert pdf.status_code == status
    if status == 200:
        page = response.get_data(as_text=True)
        assert "修了 一郎" in page and people["code"] in page and f"/verify/{people['code']}" in page


def test_a_certificate_needs_a_sign_in(app, client, people):
    response = client.get(f"/certificates/{people['code']}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_unknown_certificate_is_not_found(app, client, people):
    factories.login_as(client, people["hr"])
    assert client.get(f"/certificates/{new_code(SECRET)}").status_code == 404


# --- HR records training done elsewhere ------------------------------------------------------


def record_form(**changes: str) -> dict[str, str]:
    values = {"employee_number": "E12345", "course_code": "REC-1", "completed_on": "2020-12-01", "hours": "2.5",
              "evidence_note": "（一財）自治体研修協会 修了証 第123号"}
    values.update(changes)
    return values


def test_hr_records_a_completion_with_evidence(app, client, people):
    with app.app_context():
        factories.course("REC-1", title_ja="外部DX講座")
    factories.login_as(client, people["hr"])
    assert client.get("/completions/record").status_code == 200
    response = factories.post(client, "/completions/record", record_form(), form_page="/completions/record")
    assert response.status_code == 302 and response.headers["Location"].startswith("/certificates/")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "修了 一郎 さんの修了を記録しました" in page and "外部DX講座" in page
    with app.app_context():
        completion = db_session.scalar(select(Completion).join(Completion.course).where(
            Completion.employee_id == people["member"].id, Completion.course.has(code="REC-1")))
        assert completion.source == CompletionSource.MANUAL
        assert (completion.completed_on, completion.hours) == (date(2020, 12, 1), Decimal("2.5"))
        assert completion.evidence_note == "（一財）自治体研修協会 修了証 第123号"
        assert completion.recorded_by_id == people["hr"].id
        assert response.headers["Location"] == f"/certificates/{completion.certificate_code}"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("evidence_note", "  ", "根拠（修了証、主催者、文書番号など）を入力してください。"),
    ("employee_number", "X99999", None),
    ("course_code", "NO-SUCH", None),
    ("completed_on", "2020-13-01", None),
    ("hours", "abc", None),
])
def test_recording_names_the_field_in_error(app, client, people, field, value, message):
    with app.app_context():
        factories.course("REC-1")
    factories.login_as(client, people["hr"])
    response = factories.post(client, "/completions/record", record_form(**{field: value}),
                              form_page="/completions/record")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page
    assert f'aria-describedby="{field}-error"' in page
    if message:
        assert message in page
    with app.app_context():
        assert db_session.scalar(select(Completion).join(Completion.course).where(
            Completion.course.has(code="REC-1"))) is None


def test_a_second_completion_of_the_same_course_is_refused(app, client, people):
    factories.login_as(client, people["hr"])
    response = factories.post(client, "/completions/record", record_form(course_code="CERT-1"),
                              form_page="/completions/record")
    assert response.status_code == 400 and 'id="course_code-error"' in response.get_data(as_text=True)


def test_only_hr_records_completions(app, client, people):
    factories.login_as(client, people["manager"])
    assert client.get("/completions/record").status_code == 403
    response = factories.post(client, "/completions/record", record_form(course_code="CERT-1"))
    assert response.status_code == 403


# --- the transcript --------------------------------------------------------------------------


def test_the_transcript_page_lists_completions_and_hours(app, client, people):
    factories.login_as(client, people["member"])
    response = client.get("/transcript")
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "データ活用研修" in page and people["code"] in page
    outsider = app.test_client()
    factories.login_as(outsider, people["outsider"])
    assert outsider.get(f"/staff/{people['member'].id}/transcript").status_code == 403
    assert outsider.get(f"/staff/{people['member'].id}/transcript.csv").status_code == 403


def test_the_transcript_csv_has_a_bom_and_neutralises_formulas(app, client, people):
    formula = '=HYPERLINK("http://example.invalid/","クリック")'
    with app.app_context():
        from app.catalog.models import Course
        from app.org.models import Employee

        course = factories.course("CSV-1", title_ja=formula)
        hr = db_session.get(Employee, people["hr"].id)
        member = db_session.get(Employee, people["member"].id)
        record_manual_completion(hr, member, db_session.get(Course, course.id), date(2020, 10, 1), Decimal("1"),
                                 "社内記録")
        db_session.commit()
    revoke(app, people["completion"])
    factories.login_as(client, people["manager"])
    response = client.get(f"/staff/{people['member'].id}/transcript.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "transcript-E12345.csv" in response.headers["Content-Disposition"]
    body = response.data
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert len(rows) == 3
    by_code = {row[1]: row for row in rows[1:]}
    assert by_code["CSV-1"][2] == "'" + formula
    assert by_code["CSV-1"][0] == "2020-10-01" and by_code["CSV-1"][-1] == "valid"
    assert by_code["CERT-1"][2] == "データ活用研修"
    assert by_code["CERT-1"][5] == people["code"] and by_code["CERT-1"][-1] == "revoked"
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
