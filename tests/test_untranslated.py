"""No untranslated words on the pages people see, in either language.

Each demo role signs in and walks its pages (the links from its home page, one page per kind of
address, as `flask demo load` leaves the prefecture at tests/demo_db.py's DEMO_AT, the clock standing
still there). In Japanese, any English word of three letters or more in visible text — or in title,
alt, aria-label, placeholder, or the label of an <input> button — is an untranslated string or a raw
code (an enum value such as "pending"), unless it is on the short allow-list below. In English, any
Japanese that is not the organisation's own data (people's and units' names, course texts,
questions …) is UI chrome left in Japanese, or data that has an English form (grades, units,
courses, cohorts) shown in its Japanese one.

Not checked, being data or syntax rather than wording: <code>, <kbd>, <samp>, <pre>, <textarea>,
and anything marked as another language (lang="en" on a Japanese page, as the bilingual
certificate and the language switch are).
"""
from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import JSON, String, Text, select

from app.core.db import Base, db_session
from tests.demo_db import DEMO_AT, DemoDatabases
from tests.factories import csrf_token

# English words a Japanese page may show: names of products and formats, and words that are the same
# in Japanese writing. Codes (DX-KACHO-2020), all-capital abbreviations, e-mail addresses, URLs and
# file names are data and are not words here.
ALLOWED_IN_JAPANESE = frozenset({
    "Excel", "Web", "Office", "Markdown", "JavaScript", "Shift_JIS", "Teams", "Zoom", "Webex",
    "Werkzeug",  # the test client's browser name, on the signed-in browsers page
    "true", "false", "points",  # the quiz source's syntax (= true, points: 2), which the editor's hint shows
})
NOT_WORDS = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|https?://\S+|(?<![\w/])/[\w./?=&%-]*"  # addresses
    r"|(?:\b[\w-]+)?\.(?:csv|xlsx|pdf|ics|png|jpe?g|md|mp4|mp3|txt)\b"  # file names and extensions
    r"|\b[A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+)+\b"  # codes: DX-KACHO-2020, SHIFT_JIS
    r"|\b[A-Z]{2,}s?\b"  # abbreviations: PDF, CSV, ICS, RPA, URLs
    r"|\b\w*\d\w*\b",  # anything with a digit: ids, versions, certificate codes
    re.ASCII,  # so that "CSVに出力" has a word boundary after CSV
)
ENGLISH_WORD = re.compile(r"[A-Za-z][A-Za-z_']{2,}")
JAPANESE = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc\u3005\u4e00-\u9fff]"
                      r"(?:[\u3041-\u3096\u30a1-\u30fa\u30fc\u3005\u4e00-\u9fff0-9０-９]*"
                      r"[\u3041-\u3096\u30a1-\u30fa\u30fc\u3005\u4e00-\u9fff])?")
# Stored Japanese that has an English form, so an English page must not show the Japanese one.
HAS_ENGLISH_FORM = {("grades", "name"), ("units", "name"), ("courses", "title_ja"), ("courses", "search_text"),
                    ("cohorts", "name")}
SKIPPED_TAGS = {"code", "kbd", "samp", "pre", "textarea", "script", "style"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
NOT_FOLLOWED = re.compile(r"logout|export|download|\.(?:ics|csv|xlsx|pdf)$|/pdf$|/media/|/static/")
PAGES_PER_ROLE = 50


@dataclass
class VisibleText(HTMLParser):
    """The text a reader sees or hears, as (what, text) pairs, and the links of the page."""

    language: str
    texts: list[tuple[str, str]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    _open: list[tuple[str, bool, bool]] = field(default_factory=list)  # (tag, hidden, inside authored text)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    @property
    def _hidden(self) -> bool:
        return bool(self._open) and self._open[-1][1]

    @property
    def _authored(self) -> bool:
        return bool(self._open) and self._open[-1][2]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        lang = attributes.get("lang", "")
        hidden = self._hidden or tag in SKIPPED_TAGS or (bool(lang) and not lang.startswith(self.language))
        if not hidden:
            for name in ("title", "alt", "aria-label", "placeholder"):
                if attributes.get(name):
                    self.texts.append((f"{tag}@{name}", attributes[name]))
            if tag == "input" and attributes.get("type") in ("submit", "button", "reset") and attributes.get("value"):
                self.texts.append(("input@value", attributes["value"]))
        if tag not in VOID_TAGS:  # rendered Markdown (class="prose") is what its author wrote
            self._open.append((tag, hidden, self._authored or "prose" in attributes.get("class", "").split()))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):  # forgiving of unclosed <p>, <li> …
            if self._open[index][0] == tag:
                del self._open[index:]
                break

    def handle_data(self, data: str) -> None:
        if data.strip() and not self._hidden:
            where = self._open[-1][0] if self._open else "text"
            self.texts.append((f"prose {where}" if self._authored else where, " ".join(data.split())))


@dataclass(frozen=True)
class Demo:
    app: Flask
    logins: dict[str, str]  # demo role -> login
    password: str
    stored_japanese: str  # every stored text without an English form, joined
    with_english_form: frozenset[str]  # grade, unit, cohort and course names that have an English form


@pytest.fixture(scope="module")
def loaded_demo(demo_databases: DemoDatabases) -> Iterator[Demo]:
    """A copy of the demo for the module's tests, which only read it."""
    from app.demo.organisation import DEMO_PASSWORD

    with demo_databases.copy(DEMO_AT) as copy:
        with time_machine.travel(DEMO_AT, tick=False):
            demo = _demo(copy.app, copy.logins, DEMO_PASSWORD)
        yield demo


@pytest.fixture
def demo(loaded_demo: Demo) -> Iterator[Demo]:
    """The demo, the clock standing still at the instant it was loaded."""
    with time_machine.travel(DEMO_AT, tick=False):
        yield loaded_demo


def _demo(application: Flask, logins: dict[str, str], password: str) -> Demo:
    with application.app_context():
        chunks: list[str] = []
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))
                       and (table.name, c.name) not in HAS_ENGLISH_FORM]
            if columns:
                for row in db_session.execute(select(*columns)):
                    chunks += [v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in row if v]
        named = _names_with_an_english_form()
        db_session.remove()
    return Demo(application, logins, password, "\x00".join(chunks), named)


def _names_with_an_english_form() -> frozenset[str]:
    from app.catalog.models import Course
    from app.cohorts.labels import cohort_name
    from app.cohorts.models import Cohort
    from app.org.models import Grade, Unit

    names = {g.name for g in db_session.scalars(select(Grade)) if g.name_en}
    names |= {u.name for u in db_session.scalars(select(Unit)) if u.name_en}
    names |= {c.name for c in db_session.scalars(select(Cohort)) if cohort_name(c, "en") != c.name}
    names |= {c.title_ja for c in db_session.scalars(select(Course)) if c.title_en}
    assert {"課長級", "第1期"} <= names
    return frozenset(names)


def _signed_in(demo: Demo, role: str, language: str) -> FlaskClient:
    client = demo.app.test_client()
    response = client.post("/login", data={"login": demo.logins[role], "password": demo.password,
                                           "csrf_token": csrf_token(client, "/login")},
                           headers={"Accept-Language": language})
    assert response.status_code == 302, role
    return client


def _pages(client: FlaskClient, language: str) -> Iterator[tuple[str, VisibleText]]:
    """The role's pages, breadth first from home: one address of each shape (/courses/1 and
    /courses/2 are one shape), at most PAGES_PER_ROLE."""
    queue, shapes, visited = ["/"], {"/"}, 0
    while queue and visited < PAGES_PER_ROLE:
        url = queue.pop(0)
        response = client.get(url, headers={"Accept-Language": language})
        visited += 1
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        assert f'<html lang="{language}">' in html, url
        page = VisibleText(language)
        page.feed(html)
        yield url, page
        for href in page.links:
            parts = urlsplit(href)
            if parts.netloc or not parts.path.startswith("/") or NOT_FOLLOWED.search(parts.path):
                continue
            shape = re.sub(r"\d+", "N", parts.path)
            if shape not in shapes:
                shapes.add(shape)
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))


Found = dict[tuple[str, str, str], tuple[str, set[str]]]  # (word, page, element) -> (context, roles)


def _note(found: Found, word: str, url: str, where: str, text: str, role: str) -> None:
    found.setdefault((word, url, where), (text[:80], set()))[1].add(role)


def _report(found: Found, what: str) -> str:
    lines = [f"{word!r} on {url} <{where}> ({', '.join(sorted(roles))}): …{context}…"
             for (word, url, where), (context, roles) in sorted(found.items())]
    return f"{len(lines)} {what}:\n" + "\n".join(lines[:300])


# Each role with pages of its own (a department head sees what a manager sees, over more units).
ROLES = ("employee", "manager", "HR", "instructor", "admin", "mentor")


def test_japanese_pages_show_no_english_words(demo: Demo) -> None:
    found: Found = {}
    for role in ROLES:
        client = _signed_in(demo, role, "ja")
        for url, page in _pages(client, "ja"):
            for where, text in page.texts:
                for word in ENGLISH_WORD.findall(NOT_WORDS.sub(" ", text)):
                    if word not in ALLOWED_IN_JAPANESE:
                        _note(found, word, url, where, text, role)
    assert not found, _report(found, "English words on Japanese pages (translate them, or label the code)")


def test_english_pages_show_no_japanese_wording(demo: Demo) -> None:
    found: Found = {}
    for role in ROLES:
        client = _signed_in(demo, role, "en")
        for url, page in _pages(client, "en"):
            for where, text in page.texts:
                for run in JAPANESE.findall(text):
                    if run not in demo.stored_japanese:
                        _note(found, run, url, where, text, role)
                if not where.startswith("prose"):  # course texts are written in Japanese only
                    for name in demo.with_english_form:
                        if name in text:
                            _note(found, name, url, where, text, role)
    assert not found, _report(found, "Japanese words on English pages that are not the organisation's data")


def test_the_checks_see_what_a_reader_sees() -> None:
    page = VisibleText("ja")
    page.feed('<h1 title="Help">見出し</h1><p>status: <b>pending</b><code>sync: added</code></p>'
              '<input type="submit" value="Save"><button value="all_present">全員出席</button>'
              '<p lang="en">Certificate of Completion</p><img alt="Chart"><textarea>= true</textarea>'
              '<script>var hidden = 1;</script><p>職員<br>一覧</p>')
    assert page.texts == [("h1@title", "Help"), ("h1", "見出し"), ("p", "status:"), ("b", "pending"),
                          ("input@value", "Save"), ("button", "全員出席"), ("img@alt", "Chart"), ("p", "職員"),
                          ("p", "一覧")]
    words = ENGLISH_WORD.findall(NOT_WORDS.sub(" ", "DX-KACHO-2020 PDF t1@pref.example.lg.jp "
                                                   "https://x.example/a report.csv /learn/X 課長 pending"))
    assert words == ["pending"]
    assert JAPANESE.findall("Section chief 課長級 第1期 (Cohort 1)") == ["課長級", "第1期"]


def _rows(response) -> list[list[str]]:  # type: ignore[no-untyped-def]
    from openpyxl import load_workbook

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).worksheets[0]
    return [["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("language", ["ja", "en"])
def test_exports_say_states_grades_and_units_in_the_readers_language(demo: Demo, language: str) -> None:
    from app.enrollment.labels import STATE_LABELS
    from app.org.reference import GRADES

    client = _signed_in(demo, "HR", language)
    headers = {"Accept-Language": language}
    rows = _rows(client.get("/reports/export/enrolments.xlsx", headers=headers))
    header, body = rows[0], rows[1:]
    assert body, "the demo has enrolments this fiscal year"
    status = [row[header.index("状態" if language == "ja" else "Status")] for row in body]
    grade = [row[header.index("職級" if language == "ja" else "Grade")] for row in body]
    from flask_babel import force_locale

    with demo.app.test_request_context(), force_locale(language):
        labels = {str(label) for label in STATE_LABELS.values()}
    assert set(status) <= labels, set(status) - labels
    assert not set(status) & set(STATE_LABELS), "raw states such as 'confirmed' in the export"
    names = {ja if language == "ja" else en for _code, ja, en in GRADES} | {""}
    assert set(grade) <= names, set(grade) - names
    csv_text = client.get("/reports/export/enrolments.csv", headers=headers).get_data(as_text=True)
    assert ",confirmed," not in csv_text and ",cancelled," not in csv_text


def test_labels_of_org_data_fall_back_to_the_stored_name(ctx) -> None:  # type: ignore[no-untyped-def]
    from app.cohorts.labels import cohort_name
    from app.org.labels import grade_label, unit_label
    from app.org.models import Grade, Unit

    assert grade_label(Grade(code="KACHO", name="課長級", name_en="Section chief level"), "en") == "Section chief level"
    assert grade_label(Grade(code="KACHO", name="課長級", name_en=""), "en") == "Section chief level"
    assert grade_label(Grade(code="NEW", name="参事級", name_en=""), "en") == "参事級"
    assert grade_label(Grade(code="KACHO", name="課長級", name_en="Section chief level"), "ja") == "課長級"
    assert unit_label(Unit(name="財政課", name_en=None), "en") == "財政課"
    assert unit_label(Unit(name="財政課", name_en="Finance Division"), "en") == "Finance Division"
    assert grade_label(None) == unit_label(None) == ""
    assert [cohort_name(n, "en") for n in ("第1期", "第２期（追加募集）", "第0期（試行）", "2020年度生")] == [
        "Cohort 1", "Cohort 2 (additional intake)", "Cohort 0 (pilot)", "2020年度生"]
    assert cohort_name("第1期", "ja") == "第1期"


def test_system_notes_are_worded_and_peoples_notes_kept(app) -> None:  # type: ignore[no-untyped-def]
    from app.catalog.labels import version_note
    from app.enrollment.labels import history_note
    from app.reminders.labels import delivery_status_label, reason_label

    with app.test_request_context(headers={"Accept-Language": "ja"}):
        assert history_note("rerouted: transfer transfer:20261201:e012d11e") == "異動により新しい承認者に引き継ぎ"
        assert history_note("forwarded: head_changed: no head above") == \
            "人事課へ回付：所属長の交代により承認する上位の所属長がいません"
        assert history_note("cancelled: 業務都合のため") == "業務都合のため"
        assert history_note("approved") == ""
        assert version_note("sync: added") == "コースファイルから追加"
        assert version_note("誤字を修正") == "誤字を修正"
        assert delivery_status_label("pending") != "pending"
        assert reason_label("recipient opted out") == "宛先の職員がこの種類の通知を停止しています"
        assert reason_label("SMTPRecipientsRefused: {...}") is None
