"""Deterministic data for benchmarks: `python bench/generate.py --size S|M|L --database-url URL`.

Sizes (MISSION.md): S = 600 staff / 6,000 enrolments; M = 6,000 staff / 60,000 enrolments in one
fiscal year; L = 30,000 staff / 1,500,000 enrolments over five fiscal years. The same seed gives
the same data. Rows go in with bulk INSERTs in batches; a progress bar shows how far it is.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select

SIZES = {
    "S": {"departments": 8, "divisions": 5, "staff": 600, "enrolments": 6_000, "years": 1, "courses": 20},
    "M": {"departments": 12, "divisions": 8, "staff": 6_000, "enrolments": 60_000, "years": 1, "courses": 60},
    "L": {"departments": 30, "divisions": 10, "staff": 30_000, "enrolments": 1_500_000, "years": 5, "courses": 150},
}
PASSWORD = "bench-password-1"
GRADE_MIX = ("BUCHO", "JICHO", "KACHO", "HOSA", "SHUSA", "SHUSA", "SHUNIN", "SHUNIN", "SHUNIN", "SHUJI", "SHUJI",
             "SHUJI")


@dataclass
class Progress:
    label: str
    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, n: int) -> None:
        self.done += n
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        sys.stderr.write(f"\r{self.label:<12} [{'#' * filled}{'.' * (width - filled)}] {self.done:>9,}/{self.total:,}"
                         f"  {rate:,.0f}/s")
        sys.stderr.flush()
        if self.done >= self.total:
            sys.stderr.write("\n")


def batched(rows, size=5000):  # type: ignore[no-untyped-def]
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def generate(size: str, database_url: str, first_fiscal_year: int) -> dict[str, int]:
    from app import create_app
    from app.auth.models import Credential
    from app.auth.passwords import hash_password
    from app.catalog.models import Assignment, AssignmentRule, Course, course_target_grades
    from app.completion.models import Completion
    from app.core.db import db_session
    from app.core.migrate_cli import upgrade_database
    from app.enrollment.models import Enrolment
    from app.org.models import Employee, RoleGrant, Unit
    from app.org.reference import ensure_grades
    from app.scheduling.models import Meeting, TrainingSession
    from config import DevelopmentConfig

    spec = SIZES[size]
    rng = random.Random(20201)
    app = create_app(DevelopmentConfig(), overrides={"DATABASE_URL": database_url, "MAIL_TRANSPORT": "file"})
    with app.app_context():
        upgrade_database()
        if db_session.scalar(select(Employee.id).limit(1)) is not None:
            raise SystemExit("the database is not empty; generate into a fresh one")
        grades = ensure_grades()
        db_session.commit()
        connection = db_session.connection()
        t0 = time.monotonic()

        # Units: departments then divisions, with materialised paths.
        unit_rows = []
        unit_id = 0
        divisions = []
        for d in range(spec["departments"]):
            unit_id += 1
            dept_id = unit_id
            unit_rows.append({"id": dept_id, "code": f"B{d + 1:02d}", "name": f"第{d + 1}部", "kind": "department",
                              "parent_id": None, "path": f"/{dept_id}/", "sort_order": d, "is_active": True})
            for v in range(spec["divisions"]):
                unit_id += 1
                unit_rows.append({"id": unit_id, "code": f"B{d + 1:02d}{v + 1:02d}", "name": f"第{d + 1}部 第{v + 1}課",
                                  "kind": "division", "parent_id": dept_id, "path": f"/{dept_id}/{unit_id}/",
                                  "sort_order": v, "is_active": True})
                divisions.append(unit_id)
        connection.execute(insert(Unit), unit_rows)

        # Staff.
        staff = spec["staff"]
        progress = Progress("staff", staff)
        grade_ids = {code: g.id for code, g in grades.items()}
        shared_hash = hash_password(PASSWORD)
        people = []
        for batch in batched(range(1, staff + 1)):
            rows, creds = [], []
            for n in batch:
                grade = GRADE_MIX[n % len(GRADE_MIX)]
                unit = divisions[n % len(divisions)]
                rows.append({"id": n, "employee_number": f"{200000 + n}", "name": f"職員 {n:05d}",
                             "name_kana": f"ショクイン {n:05d}", "email": f"bench{n}@pref.example.lg.jp",
                             "grade_id": grade_ids[grade], "unit_id": unit, "is_active": True, "is_external": False})
                creds.append({"employee_id": n, "password_hash": shared_hash, "must_change": False,
                              "changed_at": datetime.now(UTC)})
                people.append((n, grade_ids[grade], unit))
            connection.execute(insert(Employee), rows)
            connection.execute(insert(Credential), creds)
            progress.add(len(batch))
        # Heads: the first KACHO of each division, the first BUCHO of each department; one HR person.
        from sqlalchemy import update

        for unit in unit_rows:
            head = next((p for p in people if p[2] == unit["id"]), None) if unit["kind"] == "division" else \
                next((p for p in people if p[2] in [u["id"] for u in unit_rows if u["parent_id"] == unit["id"]]), None)
            if head is not None:
                connection.execute(update(Unit).where(Unit.id == unit["id"]).values(head_id=head[0]))
        connection.execute(insert(RoleGrant), [{"employee_id": 1, "role": "hr"}])

        # Courses: the catalog's shape, synthetic.
        now = datetime.now(UTC)
        course_rows = []
        for c in range(1, spec["courses"] + 1):
            course_rows.append({"id": c, "code": f"BENCH-{c:03d}", "kind": "course",
                                "title_ja": f"ベンチ研修 {c} データ活用",
                                "title_en": f"Bench course {c}", "track": ("grade_training", "elective")[c % 2],
                                "theme": ("smart_government", "smart_workstyle", "smart_solutions", "general")[c % 4],
                                "delivery_format": ("classroom", "online", "elearning", "blended")[c % 4],
                                "hours": 3, "fiscal_year": first_fiscal_year,
                                "body_md": "## ねらい\n\nベンチマーク用の研修。",
                                "min_attendance_pct": 100, "quiz_pass_mark": None, "survey_required": False,
                                "electives_required": 0, "status": "published", "source": "web",
                                "content_hash": f"{c:064d}", "version": 1,
                                "search_text": f"bench-{c:03d} ベンチ研修 {c} データ活用 bench course {c}",
                                "created_at": now, "updated_at": now})
        connection.execute(insert(Course), course_rows)
        connection.execute(insert(course_target_grades), [
            {"course_id": c, "grade_id": g} for c in range(1, spec["courses"] + 1)
            for g in (grade_ids["SHUNIN"], grade_ids["SHUSA"], grade_ids["KACHO"])])

        # Sessions of 30 seats, one meeting each, spread over the fiscal years; enrolments fill them.
        total_enrolments = spec["enrolments"]
        sessions_needed = total_enrolments // 30 + 1
        progress = Progress("sessions", sessions_needed)
        session_rows, meeting_rows = [], []
        for s in range(1, sessions_needed + 1):
            year = first_fiscal_year + (s % spec["years"])
            day = date(year, 4, 1) + timedelta(days=(s * 7) % 360)
            start = datetime(day.year, day.month, day.day, 4, 30, tzinfo=UTC)
            session_rows.append({"id": s, "course_id": 1 + s % spec["courses"], "label": f"第{s}回",
                                 "location": "研修室",
                                 "online_url": None, "capacity": 30, "seats_taken": 0,  # triggers count the holders
                                 "enrolment_opens_at": start - timedelta(days=60),
                                 "enrolment_closes_at": start - timedelta(days=3),
                                 "cancellation_deadline_at": start - timedelta(days=2), "approval_policy": "manager",
                                 "status": "scheduled", "cohort_only": False, "starts_at": start,
                                 "ends_at": start + timedelta(hours=3), "sequence": 0, "notes": "",
                                 "created_at": now, "updated_at": now})
            meeting_rows.append({"id": s, "session_id": s, "starts_at": start, "ends_at": start + timedelta(hours=3)})
            if len(session_rows) >= 5000:
                connection.execute(insert(TrainingSession), session_rows)
                connection.execute(insert(Meeting), meeting_rows)
                progress.add(len(session_rows))
                session_rows, meeting_rows = [], []
        if session_rows:
            connection.execute(insert(TrainingSession), session_rows)
            connection.execute(insert(Meeting), meeting_rows)
            progress.add(len(session_rows))

        # Enrolments: 30 different people per session; one per person per course (the unique index).
        progress = Progress("enrolments", total_enrolments)
        taken: set[tuple[int, int]] = set()
        enrolment_id = 0
        completion_rows = []

        def enrolment_rows():  # type: ignore[no-untyped-def]
            nonlocal enrolment_id
            for s in range(1, sessions_needed + 1):
                course_id = 1 + s % spec["courses"]
                start = datetime(first_fiscal_year, 4, 1, tzinfo=UTC)
                filled = 0
                while filled < 30 and enrolment_id < total_enrolments:
                    person = rng.randrange(1, staff + 1)
                    if (person, course_id) in taken and len(taken) < staff * spec["courses"] - 30:
                        continue
                    taken.add((person, course_id))
                    enrolment_id += 1
                    filled += 1
                    state = "confirmed" if enrolment_id % 20 else "pending"
                    if enrolment_id % 3 == 0 and state == "confirmed":
                        completion_rows.append({"employee_id": person, "course_id": course_id,
                                                "enrolment_id": enrolment_id, "source": "rule",
                                                "completed_on": date(first_fiscal_year, 6, 1), "hours": 3,
                                                "certificate_code": f"B{enrolment_id:013d}", "evidence_note": "",
                                                "recorded_at": now})
                    yield {"id": enrolment_id, "session_id": s, "course_id": course_id, "course_version": 1,
                           "employee_id": person, "state": state, "holds_seat": True,
                           "approval_stage": "approved" if state == "confirmed" else "manager", "approver_id": None,
                           "requested_by_id": None, "requested_at": start, "confirmed_at": start,
                           "end_reason": ""}
                if enrolment_id >= total_enrolments:
                    return

        for batch in batched(enrolment_rows(), 10_000):
            connection.execute(insert(Enrolment), batch)
            progress.add(len(batch))
        for batch in batched(completion_rows, 10_000):
            connection.execute(insert(Completion), batch)

        # Assignment rules: chief level and section-chief level must take two grade courses.
        rule_rows = [{"id": 1, "course_id": 1, "grade_id": grade_ids["SHUNIN"], "fiscal_year": first_fiscal_year,
                      "due_on": date(first_fiscal_year + 1, 2, 26), "is_active": True, "created_at": now},
                     {"id": 2, "course_id": 2, "grade_id": grade_ids["KACHO"], "fiscal_year": first_fiscal_year,
                      "due_on": date(first_fiscal_year, 9, 30), "is_active": True, "created_at": now}]
        connection.execute(insert(AssignmentRule), rule_rows)
        assignment_rows = [{"rule_id": 1 if g == grade_ids["SHUNIN"] else 2, "employee_id": p, "course_id":
                            1 if g == grade_ids["SHUNIN"] else 2, "fiscal_year": first_fiscal_year,
                            "due_on": date(first_fiscal_year + 1, 2, 26) if g == grade_ids["SHUNIN"]
                            else date(first_fiscal_year, 9, 30), "status": "active", "assigned_at": now}
                           for p, g, _u in people if g in (grade_ids["SHUNIN"], grade_ids["KACHO"])]
        for batch in batched(assignment_rows, 10_000):
            connection.execute(insert(Assignment), batch)
        if connection.dialect.name == "postgresql":
            _move_sequences_past_explicit_ids(connection)
        db_session.commit()
        counts = {"units": len(unit_rows), "staff": staff, "sessions": sessions_needed, "enrolments": enrolment_id,
                  "completions": len(completion_rows), "assignments": len(assignment_rows),
                  "seconds": round(time.monotonic() - t0, 1)}
    app.extensions["manabi.engine"].dispose()
    return counts


def _move_sequences_past_explicit_ids(connection) -> None:  # type: ignore[no-untyped-def]
    """Rows inserted here carry explicit ids, which PostgreSQL's sequences do not see: move every
    sequence past its column's highest value, or the first row the app inserts collides."""
    from sqlalchemy import text

    owned = connection.execute(text(
        "SELECT s.relname AS sequence, t.relname AS table_name, a.attname AS column_name"
        " FROM pg_class s JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i')"
        " JOIN pg_class t ON t.oid = d.refobjid JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
        " WHERE s.relkind = 'S'")).all()
    for sequence, table_name, column_name in owned:
        connection.execute(text(
            f'SELECT setval(\'"{sequence}"\', '
            f'coalesce((SELECT max("{column_name}") FROM "{table_name}"), 0) + 1, false)'))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="S")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--fiscal-year", type=int, default=2026)
    args = parser.parse_args()
    counts = generate(args.size, args.database_url, args.fiscal_year)
    print(counts)


if __name__ == "__main__":
    main()
