"""The certificate as a document: dated in 和暦 (with the Western year) wherever it is shown in
Japanese, Western dates in English, and a PDF that carries its own Japanese font (a subset, so it
stays small, with text that can be searched and copied)."""
from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import pytest
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from app.completion.certificates import render_pdf
from app.completion.services import record_manual_completion
from app.core.db import db_session
from app.core.pdf_fonts import JAPANESE
from app.org.models import Employee, RoleName
from tests import factories


@pytest.fixture
def certificate(app):
    """修了 一郎 completed a course on 5 November 2020 (令和2年); HR recorded it."""
    with app.app_context():
        member = factories.employee(factories.unit("データ活用推進課"), "SHUNIN", name="修了 一郎", number="E22345")
        hr = factories.employee(factories.unit("人事課"), "SHUSA", roles=(RoleName.HR,))
        course = factories.course("DOC-1", title_ja="データ活用研修", title_en="Data literacy", hours="3")
        completion = record_manual_completion(hr, member, course, date(2020, 11, 5), Decimal("3"), "研修記録")
        db_session.commit()
        return {"member": member, "code": completion.certificate_code}


def set_language(app, employee: Employee, locale: str) -> None:  # type: ignore[no-untyped-def]
    with app.app_context():
        db_session.get(Employee, employee.id).locale = locale
        db_session.commit()


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def embedded_fonts(reader: PdfReader) -> dict[str, list[str]]:
    """Each font of the first page: its name and which font-file streams it embeds."""
    found = {}
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        font = font.get_object()
        descriptor = font.get("/FontDescriptor")
        if descriptor is None and "/DescendantFonts" in font:
            descriptor = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
        files = []
        if descriptor is not None:
            descriptor = descriptor.get_object()
            assert isinstance(descriptor, DictionaryObject)
            files = [key for key in descriptor if key.startswith("/FontFile")]
        found[str(font["/BaseFont"])] = files
    return found


# --- the PDF ---------------------------------------------------------------------------------


def test_the_pdf_embeds_a_subset_of_its_japanese_font_and_reads_as_text(app, client, certificate):
    factories.login_as(client, certificate["member"])
    response = client.get(f"/certificates/{certificate['code']}.pdf")
    assert response.status_code == 200
    assert len(response.data) < 200_000  # a subset, not the 6 MB font
    reader = PdfReader(io.BytesIO(response.data))
    fonts = embedded_fonts(reader)
    [japanese] = [name for name in fonts if name.endswith(f"+{JAPANESE}")]  # "AAAAAA+": a subset
    assert fonts[japanese] == ["/FontFile2"], fonts  # the TrueType program is in the file
    assert not any("HeiseiKakuGo" in name for name in fonts)  # no font left for the viewer to guess
    text = reader.pages[0].extract_text()
    assert "修 了 証" in text and "修了 一郎" in text and "データ活用研修" in text
    assert "修了日　令和2年11月5日（2020年）" in text, text
    assert f"Verification code: {certificate['code']}" in text


def test_any_character_of_the_english_title_survives_in_the_pdf():
    """The English title is written by people: a dash, quotes or a Japanese word must not become
    boxes, so it is set in the embedded font, not in Helvetica's Latin-1."""
    pdf = render_pdf(name="髙橋 﨑子", course_title="情報セキュリティ研修", course_title_en="Security – “basics” 入門",
                     hours="1.5", completed_on=date(2019, 5, 1), code="ABCDE-FGHJK-LMNP",
                     verify_url="http://127.0.0.1/verify/ABCDE-FGHJK-LMNP", issuer="人事課長")
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "髙橋 﨑子" in text and "Security – “basics” 入門" in text
    assert "令和元年5月1日（2019年）" in text  # the first day of 令和 is 元年


def test_a_certificate_from_before_reiwa_is_dated_in_heisei():
    pdf = render_pdf(name="平成 太郎", course_title="新任研修", course_title_en="Induction", hours="2",
                     completed_on=date(2019, 4, 30), code="ABCDE-FGHJK-LMNP",
                     verify_url="http://127.0.0.1/verify/ABCDE-FGHJK-LMNP", issuer="人事課長")
    assert "平成31年4月30日（2019年）" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()


# --- the pages -------------------------------------------------------------------------------


def test_the_printable_certificate_is_dated_in_reiwa_with_the_western_year(app, client, certificate):
    factories.login_as(client, certificate["member"])
    page = page_text(client.get(f"/certificates/{certificate['code']}").get_data(as_text=True))
    assert "修了日 令和2年11月5日（2020年）" in page, page


def test_in_english_the_certificate_keeps_the_western_date(app, client, certificate):
    set_language(app, certificate["member"], "en")
    factories.login_as(client, certificate["member"])
    page = page_text(client.get(f"/certificates/{certificate['code']}").get_data(as_text=True))
    assert "Completed on 05 November 2020" in page, page
    assert "令和" not in page


def test_verification_shows_the_reiwa_date_in_japanese_and_the_western_one_in_english(app, client, certificate):
    page = client.get(f"/verify/{certificate['code']}", headers={"Accept-Language": "ja"}).get_data(as_text=True)
    assert "令和2年11月5日（2020年）" in page
    page = client.get(f"/verify/{certificate['code']}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "05 November 2020" in page and "令和" not in page


def test_the_transcript_dates_each_completion_in_reiwa(app, client, certificate):
    factories.login_as(client, certificate["member"])
    page = client.get(f"/staff/{certificate['member'].id}/transcript").get_data(as_text=True)
    assert "令和2年11月5日（2020年）" in page
    set_language(app, certificate["member"], "en")
    page = client.get(f"/staff/{certificate['member'].id}/transcript").get_data(as_text=True)
    assert "05 November 2020" in page and "令和" not in page
