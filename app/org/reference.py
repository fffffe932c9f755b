"""Reference data every installation has: the grade ladder (職級)."""
from __future__ import annotations

from sqlalchemy import select

from app.core.db import db_session
from app.org.models import Grade

# (code, Japanese name, English name), from the top down.
GRADES: tuple[tuple[str, str, str], ...] = (
    ("BUCHO", "部長級", "Director-general level"),
    ("JICHO", "次長級", "Deputy director-general level"),
    ("KACHO", "課長級", "Section chief level"),
    ("HOSA", "課長補佐級", "Assistant section chief level"),
    ("SHUSA", "主査級", "Senior staff level"),
    ("SHUNIN", "主任級", "Chief level"),
    ("SHUJI", "主事・技師", "Staff level"),
)


def ensure_grades() -> dict[str, Grade]:
    """Create missing grades; return them by code. Safe to run again."""
    existing = {g.code: g for g in db_session.scalars(select(Grade))}
    for rank, (code, name, name_en) in enumerate(GRADES, start=1):
        if code not in existing:
            grade = Grade(code=code, name=name, name_en=name_en, rank=rank)
            db_session.add(grade)
            existing[code] = grade
    db_session.flush()
    return existing
