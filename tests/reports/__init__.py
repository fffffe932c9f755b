"""Shared pieces of the reports tests: a pinned clock, sessions at fixed instants, the small
hand-computed data set behind the figures, and a reader for the figure tables of the pages.

Fiscal year 2025 (令和7年度): 上期 is 2025-04-01..2025-09-30, 下期 2025-10-01..2026-03-31, Tokyo time.
The data is built while the clock stands at SETUP_AT (before every session, so enrolment is
possible); marks, completions and the pages happen at REPORT_AT (in 下期, after every meeting of FY2025).
"""
from __future__ import annotations

import base64
import html as html_lib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import time_machine

from app.core.clock import TOKYO, now
from app.core.db import db_session
from app.org.models import Employee, RoleName, Unit

FY = 2025
SETUP_AT = datetime(2025, 3, 20, 9, 0, tzinfo=TOKYO)
REPORT_AT = datetime(2025, 12, 1, 10, 0, tzinfo=TOKYO)


def jst(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=TOKYO)  # type: ignore[misc]


def travel(instant: datetime):  # type: ignore[no-untyped-def]
    return time_machine.travel(instant, tick=False)


def session_at(course, *starts: datetime, hours: int = 3, capacity: int = 40):  # type: ignore[no-untyped-def]
    """A scheduled session whose meetings start at the given instants (call it before the first)."""
    from app.scheduling.models import ApprovalPolicy
    from app.scheduling.services import SessionDetails, schedule_session

    first = min(starts)
    details = SessionDetails(label="", location="県庁 研修室A", online_url=None, capacity=capacity,
                             enrolment_opens_at=now() - timedelta(days=1),
                             enrolment_closes_at=first - timedelta(days=1),
                             cancellation_deadline_at=first - timedelta(days=2), approval_policy=ApprovalPolicy.NONE)
    created = schedule_session(None, course, details, [(s, s + timedelta(hours=hours)) for s in starts], [])
    db_session.commit()
    return created


def mark(enrolment, meeting, status) -> None:  # type: ignore[no-untyped-def]
    """An attendance mark without the completion rule reacting (completions are recorded by hand)."""
    from app.attendance.services import set_mark

    set_mark(None, enrolment, meeting, status, announce=False)
    db_session.commit()


def complete(hr: Employee, person: Employee, course, on: date) -> None:  # type: ignore[no-untyped-def]
    from app.completion.services import record_manual_completion

    record_manual_completion(hr, person, course, on, Decimal("3"), "手入力")
    db_session.commit()


def plan(course, planned: int, fiscal_year: int = FY, half: int = 0) -> None:  # type: ignore[no-untyped-def]
    from app.reports.models import CoursePlan

    db_session.add(CoursePlan(course_id=course.id, fiscal_year=fiscal_year, half=half, planned=planned))
    db_session.commit()


# --- the hand-computed data set ----------------------------------------------------------------


@dataclass
class FigureData:
    hr: Employee
    people: dict[str, Employee]
    units: dict[str, Unit]
    courses: dict[str, object]
    sessions: dict[str, object] = field(default_factory=dict)


PEOPLE = {  # key: (name, division, grade)
    "a1": ("青木 一郎", "jinji", "SHUNIN"),
    "a2": ("石井 花子", "jinji", "SHUNIN"),
    "a3": ("上田 健", "jinji", "SHUJI"),
    "b1": ("江藤 聡", "zaisei", "SHUNIN"),
    "b2": ("大野 愛", "zaisei", "SHUJI"),
    "c1": ("加藤 誠", "iryo", "SHUNIN"),
    "c2": ("木村 陽子", "iryo", "SHUJI"),
    "c3": ("工藤 翔", "iryo", "SHUJI"),
    "d1": ("佐藤 取消", "iryo", "SHUNIN"),
}


def build_figure_data() -> FigureData:
    """Two departments, three divisions, two grades, two courses; call inside an app context
    while the clock stands at REPORT_AT. See the module docstring of test_figures for the sums."""
    from app.attendance.models import AttendanceStatus as S
    from app.enrollment.services import cancel
    from tests import factories

    soumu = factories.unit("総務部", code="D-SOUMU")
    fukushi = factories.unit("健康福祉部", code="D-FUKUSHI")
    units = {"soumu": soumu, "fukushi": fukushi,
             "jinji": factories.unit("人事課", soumu, code="S-JINJI"),
             "zaisei": factories.unit("財政課", soumu, code="S-ZAISEI"),
             "iryo": factories.unit("医療政策課", fukushi, code="F-IRYO")}
    hr = factories.employee(factories.unit("人事委員会事務局", code="D-HR"), "SHUSA", roles=(RoleName.HR,),
                            name="人事 担当")
    people = {key: factories.employee(units[division], grade, name=name, number=f"R{i:04d}")
              for i, (key, (name, division, grade)) in enumerate(PEOPLE.items(), start=1)}
    dx = factories.course("DX-BASIC", title_ja="DX基礎研修", grades=("SHUNIN", "SHUJI"))
    mh = factories.course("MENTAL", title_ja="メンタルヘルス研修", grades=("SHUNIN", "SHUJI"))
    data = FigureData(hr=hr, people=people, units=units, courses={"dx": dx, "mh": mh})
    p = people
    with travel(SETUP_AT):
        s1 = session_at(dx, jst(2025, 6, 10, 10), jst(2025, 6, 17, 10))  # 上期, two meetings
        s2 = session_at(dx, jst(2025, 10, 1, 8, 30))  # 下期 in Tokyo, still 30 September in UTC
        s3 = session_at(mh, jst(2025, 7, 8, 13))  # 上期
        s4 = session_at(mh, jst(2026, 4, 2, 10))  # FY2026: outside every FY2025 figure
        data.sessions = {"s1": s1, "s2": s2, "s3": s3, "s4": s4}
        e = {}
        for key in ("a1", "a2", "a3", "b1", "c1"):
            e[("s1", key)] = factories.enrolment(p[key], s1)
        for key in ("b2", "c2"):
            e[("s2", key)] = factories.enrolment(p[key], s2)
        for key in ("a1", "c3"):
            e[("s3", key)] = factories.enrolment(p[key], s3)
        e[("s4", "b1")] = factories.enrolment(p["b1"], s4)
        cancelled = factories.enrolment(p["d1"], s1)
        cancel(p["d1"], cancelled, "都合により")
        db_session.commit()
    m1, m2 = s1.meetings
    for key, status in (("a1", S.PRESENT), ("a2", S.PRESENT), ("a3", S.ABSENT), ("b1", S.PRESENT), ("c1", S.EXCUSED)):
        mark(e[("s1", key)], m1, status)
    for key, status in (("a1", S.PRESENT), ("a2", S.LATE), ("b1", S.PRESENT)):
        mark(e[("s1", key)], m2, status)
    mark(e[("s2", "b2")], s2.meetings[0], S.PRESENT)
    mark(e[("s2", "c2")], s2.meetings[0], S.ABSENT)
    mark(e[("s3", "a1")], s3.meetings[0], S.PRESENT)
    mark(e[("s3", "c3")], s3.meetings[0], S.PRESENT)
    for key in ("a1", "a2", "b1"):
        complete(hr, p[key], dx, date(2025, 6, 20))
    complete(hr, p["b2"], dx, date(2025, 10, 2))
    complete(hr, p["a1"], mh, date(2025, 7, 9))
    plan(dx, 8)
    plan(dx, 5, half=1)
    plan(dx, 3, half=2)
    plan(mh, 4)  # a year's plan only: the halves have none to compare with
    return data


# --- reading the pages --------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")


def text_of(fragment: str) -> str:
    return html_lib.unescape(_TAG.sub("", fragment)).strip()


def table_rows(page: str, caption: str) -> dict[str, list[str]]:
    """The rows of the table with this caption: row header text → the other cells' text."""
    match = re.search(r"<caption>" + re.escape(caption) + r"</caption>(.*?)</table>", page, re.S)
    assert match, f"no table captioned {caption!r}"
    rows = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(1).split("<tbody>", 1)[1].split("</tbody>", 1)[0], re.S):
        cells = [text_of(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        rows[cells[0]] = cells[1:]
    return rows


def table_total(page: str, caption: str) -> list[str]:
    """The cells of the total line (the table's footer) of the table with this caption."""
    match = re.search(r"<caption>" + re.escape(caption) + r"</caption>.*?<tfoot>(.*?)</tfoot>", page, re.S)
    assert match, f"no total under {caption!r}"
    return [text_of(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", match.group(1), re.S)][1:]


# --- the charts of the pages (app/web/charts.py: SVG images in data: URIs) ----------------


@dataclass(frozen=True)
class ChartImage:
    alt: str
    title: str  # drawn in the image, on top
    bars: dict[str, str]  # the bar names, top to bottom → the value written after each bar
    ticks: list[str]  # the value axis, left to right
    axis_title: str  # under the value axis ("" when none)
    table: str  # the caption of the table in the same figure (beside or under the chart)
    svg: str


_CHART_IMG = re.compile(r'<img class="chart" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"')


def charts_of(page: str) -> dict[str, ChartImage]:
    """Every chart image of the page by its drawn title. Each must sit in a figure (div.chart-figure)
    whose table holds the numbers; the table is the one its alt names."""
    def texts(svg: ET.Element, group_class: str, text_class: str | None = None) -> list[ET.Element]:
        found = []
        for group in svg.iter():
            if group_class in (group.get("class") or "").split():
                found += [t for t in group.iter() if t.tag.endswith("text")
                          and (text_class is None or text_class in (t.get("class") or "").split())]
        return found

    charts: dict[str, ChartImage] = {}
    for figure in page.split('<div class="chart-with-table chart-figure')[1:]:
        figure = figure.split("</table>", 1)[0]
        caption = re.search(r"<caption>(.*?)</caption>", figure, re.S)
        assert caption, "a chart without its table"
        for data, alt in _CHART_IMG.findall(figure):
            svg_text = base64.b64decode(data).decode("utf-8")
            svg = ET.fromstring(svg_text)
            names = sorted(texts(svg, "y"), key=lambda t: float(t.get("y", "0")))  # the bar names (axis y)
            values = sorted(texts(svg, "text-overlay", "value"), key=lambda t: float(t.get("y", "0")))
            ticks = sorted(texts(svg, "x"), key=lambda t: float(t.get("x", "0")))
            titles = texts(svg, "titles")
            title = next(t.text or "" for t in titles if "plot_title" in (t.get("class") or ""))
            axis = [t.text or "" for t in titles if "plot_title" not in (t.get("class") or "")]
            assert len(names) == len(values), "every bar has its value written"
            charts[title] = ChartImage(
                alt=html_lib.unescape(alt), title=title,
                bars={n.text or "": v.text or "" for n, v in zip(names, values, strict=True)},
                ticks=[t.text or "" for t in ticks], axis_title=" ".join(axis),
                table=text_of(caption.group(1)), svg=svg_text)
    assert len(charts) == len(_CHART_IMG.findall(page)), "every chart image is in a figure with its table"
    return charts


def loads_nothing(svg: str) -> bool:
    """Nothing in the image that a browser would fetch or run: no script, no link, no URL but the
    SVG namespace."""
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", svg))
    return (urls <= {"http://www.w3.org/2000/svg"} and "<script" not in svg and "href" not in svg
            and "@import" not in svg and "url(" not in svg)
