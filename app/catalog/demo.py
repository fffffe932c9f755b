"""The demo catalog: courses/ as this fiscal year's catalog, and the grade-training assignment rules.

courses/ is the catalog of 令和2年度 (`fiscal_year: 2020` in every file, as the prefecture first wrote
it). The demo shows the fiscal year it is loaded in, so it syncs those files with their header's
`fiscal_year` (and the texts' 令和2年度) set to the demo's year, as HR would when they carry the
catalog into a new 年度; the codes stay as they are (the demo's logins, tests and notes name them).
courses/ itself is never touched, so `flask catalog sync` in production and the byte-for-byte
export of courses/ are what they were. On a demo database the courses are those of the demo year,
and their content hash, version and export say so; loading the demo in a later fiscal year syncs
them to that year as a new version, and `flask catalog sync` of courses/ there would set them back
to 2020 (a new version too), as it should: the files say 2020."""
from __future__ import annotations

import re
import tempfile
from datetime import date
from pathlib import Path

from sqlalchemy import select

from app.catalog.cli import DEFAULT_DIR
from app.catalog.models import AssignmentRule, Course
from app.catalog.services import create_assignment_rule, sync_catalog
from app.core.business_days import business_days_before
from app.core.clock import today
from app.core.db import db_session
from app.core.fiscal import FiscalYear, fiscal_year_of
from app.org.models import Grade

# (course code, grade code, (month, day) due in the fiscal year): chief-level and section-chief-level
# staff must take their digital training, the section chiefs by the end of December, the chiefs
# by the end of February (the last business day on or before that date).
DEMO_RULES = (("DX-SHUNIN-2020", "SHUNIN", (2, 26)), ("DX-KACHO-2020", "KACHO", (12, 25)))

_FISCAL_YEAR_LINE = re.compile(r"^fiscal_year: (\d+)$", re.MULTILINE)


def dated_course_text(text: str, fiscal_year: int) -> str:
    """A course file of courses/ as the catalog of `fiscal_year`: its header's `fiscal_year` (the
    canonical style writes it on a line of its own) and the text's mentions of that year as 年度
    (令和2年度 → 令和8年度); other dates (令和2年6月, a system's start) are history and stay."""
    if not text.startswith("---\n"):
        return text
    end = text.find("\n---\n", 4)
    header, body = (text, "") if end < 0 else (text[:end], text[end:])
    found = _FISCAL_YEAR_LINE.search(header)
    if found is None:
        return text
    written = FiscalYear(int(found.group(1)))
    dated = header[:found.start()] + f"fiscal_year: {fiscal_year}" + header[found.end():] + body
    return dated.replace(written.reiwa_label(), FiscalYear(fiscal_year).reiwa_label())


def rule_due_on(fiscal_year: int, month: int, day: int) -> date:
    """The last business day on or before `month`/`day` of the fiscal year (January to March fall
    in the following calendar year)."""
    return business_days_before(date(fiscal_year + (month < 4), month, day), 0)


def load_demo_catalog(directory: Path = DEFAULT_DIR) -> None:
    fiscal_year = fiscal_year_of(today()).year
    with tempfile.TemporaryDirectory(prefix="manabi-demo-catalog-") as dated:
        for path in sorted(directory.glob("*.md")):
            (Path(dated) / path.name).write_text(
                dated_course_text(path.read_text(encoding="utf-8"), fiscal_year), encoding="utf-8")
        report = sync_catalog(Path(dated), None)
    if report.issues:
        raise RuntimeError("courses/ has errors: " + "; ".join(str(i) for i in report.issues))
    # A course someone edited on the web in this demo stops the sync (nothing applied): loading the
    # demo again keeps their edit rather than overwrite it; the rest of the demo loads as before.
    for course_code, grade_code, (month, day) in DEMO_RULES:
        course = db_session.scalar(select(Course).where(Course.code == course_code))
        grade = db_session.scalar(select(Grade).where(Grade.code == grade_code))
        if course is None or grade is None:
            continue
        exists = db_session.scalar(select(AssignmentRule.id).where(
            AssignmentRule.course_id == course.id, AssignmentRule.grade_id == grade.id,
            AssignmentRule.fiscal_year == fiscal_year))
        if exists is None:
            create_assignment_rule(None, course, grade, fiscal_year, rule_due_on(fiscal_year, month, day))
    db_session.flush()
