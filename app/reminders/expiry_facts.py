"""What a "certificate expiring" notice is checked and worded from (the completion domain's rows,
read for a whole batch in one statement)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.catalog.models import Course
from app.completion.models import Completion
from app.core.db import rows_among


@dataclass(frozen=True)
class ExpiryFacts:
    id: int
    course_code: str
    course_title_ja: str
    course_title_en: str
    valid_until: date | None
    still_expiring: bool  # not revoked, and not renewed by a later cycle since

    def values(self, locale: str, base_url: str) -> dict[str, str]:
        """Placeholders: the course, its last valid day, and its page (to renew)."""
        day = self.valid_until
        text = "" if day is None else (f"{day.year}年{day.month}月{day.day}日" if locale == "ja"
                                       else day.strftime("%d %b %Y"))
        title = self.course_title_en if locale == "en" and self.course_title_en else self.course_title_ja
        return {"course": title, "valid_until": text, "url": f"{base_url}/catalog/courses/{self.course_code}"}


def expiry_facts_many(completion_ids: set[int]) -> dict[int, ExpiryFacts]:
    if not completion_ids:
        return {}
    newer = aliased(Completion)
    renewed = select(newer.id).where(newer.employee_id == Completion.employee_id,
                                     newer.course_id == Completion.course_id, newer.revoked_at.is_(None),
                                     newer.cycle > Completion.cycle).exists()
    statement = (select(Completion.id, Course.code, Course.title_ja, Course.title_en, Completion.valid_until,
                        Completion.revoked_at.is_(None) & ~renewed)
                 .join(Course, Course.id == Completion.course_id))
    return {row[0]: ExpiryFacts(row[0], row[1], row[2], row[3] or "", row[4], bool(row[5]))
            for row in rows_among(statement, Completion.id, completion_ids)}
