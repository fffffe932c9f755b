"""The database itself keeps the cohort's invariants (migration a7c3e91f5b20), on both backends:
the quota's and the caps' counters follow the selected applications and never exceed them; a
withdrawn application is never selected; one reserve per rank; one row per submission version;
one review per version. A future bug fails loudly instead of over-selecting. The migration also
sets right rows left inconsistent by the old races."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, MetaData, Table, func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.cohorts import queries, services
from app.cohorts.models import (
    Application,
    Cohort,
    Decision,
    DepartmentCap,
    MilestoneKind,
    Review,
    Submission,
)
from app.core.clock import now
from app.core.db import db_session, make_engine
from app.core.migrate_cli import upgrade_database
from app.org.models import Unit
from tests import factories
from tests.cohorts.conftest import apply_for, person, selected_count


def _selected(cohort_id: int) -> int:
    return db_session.scalar(select(func.count()).select_from(Application).where(
        Application.cohort_id == cohort_id, Application.decision == Decision.SELECTED))


def _cap_count(cohort_id: int) -> int:
    return db_session.scalar(select(DepartmentCap.selected_count).where(DepartmentCap.cohort_id == cohort_id))


def _check_deferred_constraints() -> None:
    """PostgreSQL checks the counters at commit; the test transaction never commits, so ask now."""
    if db_session.get_bind().dialect.name == "postgresql":
        db_session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))


def test_the_counters_follow_every_place_taken_and_freed(ctx, org) -> None:  # type: ignore[no-untyped-def]
    cohort = factories.cohort(quota=3, caps={db_session.get(Unit, org.dept_a): 2})
    ids = [apply_for(cohort.id, p.id) for p in org.staff_a[:2]]
    hr = person(org.hr.id)
    for application_id in ids:
        services.decide(hr, db_session.get(Application, application_id), Decision.SELECTED)
    db_session.commit()
    _check_deferred_constraints()
    assert selected_count(cohort.id) == _selected(cohort.id) == _cap_count(cohort.id) == 2

    services.withdraw_application(person(org.staff_a[0].id), db_session.get(Application, ids[0]))
    with pytest.raises(services.Stale, match="既に取り下げられています"):
        services.withdraw_application(person(org.staff_a[0].id), db_session.get(Application, ids[0]))
    services.decide(hr, db_session.get(Application, ids[1]), Decision.DECLINED)
    with pytest.raises(services.Stale, match="既に選考外です"):
        services.decide(hr, db_session.get(Application, ids[1]), Decision.DECLINED)  # the second click
    db_session.commit()
    _check_deferred_constraints()
    assert selected_count(cohort.id) == _selected(cohort.id) == _cap_count(cohort.id) == 0


def test_a_counter_written_by_hand_that_disagrees_with_the_rows_is_refused(  # type: ignore[no-untyped-def]
        ctx, org) -> None:
    cohort = factories.cohort(quota=3, caps={db_session.get(Unit, org.dept_a): 2})
    services.decide(person(org.hr.id), db_session.get(Application, apply_for(cohort.id, org.staff_a[0].id)),
                    Decision.SELECTED)
    db_session.commit()
    for table, column in ((Cohort, Cohort.id), (DepartmentCap, DepartmentCap.cohort_id)):
        with pytest.raises(IntegrityError, match="counter mismatch"):
            with db_session.begin_nested():
                db_session.execute(update(table).where(column == cohort.id)
                                   .values(selected_count=table.selected_count - 1))
                _check_deferred_constraints()
    assert selected_count(cohort.id) == _selected(cohort.id) == _cap_count(cohort.id) == 1


def test_a_selection_beyond_the_quota_or_a_withdrawn_selection_is_refused(  # type: ignore[no-untyped-def]
        ctx, org) -> None:
    cohort = factories.cohort(quota=1)
    first, second = (apply_for(cohort.id, p.id) for p in org.staff_b[:2])
    services.decide(person(org.hr.id), db_session.get(Application, first), Decision.SELECTED)
    db_session.commit()
    for application_id, values in ((second, {"decision": Decision.SELECTED}),  # a bug that skipped the check
                                   (first, {"is_withdrawn": True})):  # withdrawn but still holding the place
        with pytest.raises(IntegrityError):
            with db_session.begin_nested():
                db_session.execute(update(Application).where(Application.id == application_id).values(**values))
    assert selected_count(cohort.id) == _selected(cohort.id) == 1


def test_one_reserve_per_rank(ctx, org) -> None:  # type: ignore[no-untyped-def]
    cohort = factories.cohort(quota=1)
    first, second = (apply_for(cohort.id, p.id) for p in org.staff_a[:2])
    hr = person(org.hr.id)
    for application_id in (first, second):
        services.decide(hr, db_session.get(Application, application_id), Decision.RESERVE)
    db_session.commit()
    assert [db_session.get(Application, i).reserve_rank for i in (first, second)] == [1, 2]
    with pytest.raises(IntegrityError):
        with db_session.begin_nested():
            db_session.execute(update(Application).where(Application.id == second).values(reserve_rank=1))


def test_one_row_per_version_and_one_review_per_version(ctx, org) -> None:  # type: ignore[no-untyped-def]
    cohort = factories.cohort(quota=2, requires_endorsement=False)
    members = [person(p.id) for p in org.staff_a[:2]]
    for member in members:
        services.decide(person(org.hr.id), db_session.get(Application, apply_for(cohort.id, member.id)),
                        Decision.SELECTED)
    mentor = factories.employee(factories.unit("メンター"), "KACHO")
    team = services.form_team(person(org.hr.id), cohort, "検証チーム", db_session.get(Unit, org.division_b),
                              "smart_government", "課題", members, [mentor])
    plan = next(m for m in queries.milestones(cohort.id) if m.kind == MilestoneKind.PLAN)
    first = services.submit_work(members[0], plan, team, "計画", [], Path("/nonexistent"))
    db_session.commit()
    copy = {c.key: getattr(first, c.key) for c in Submission.__table__.columns if c.key != "id"}
    with pytest.raises(IntegrityError):  # two members at once: the same version twice
        with db_session.begin_nested():
            db_session.execute(Submission.__table__.insert().values(copy))
    with pytest.raises(services.Stale, match="確認待ち"):  # a new version waits for the review
        services.submit_work(members[1], plan, team, "計画の別案", [], Path("/nonexistent"))
    services.review(mentor, first, True, {}, "")
    db_session.commit()
    with pytest.raises(services.Stale, match="確認済み"):
        services.review(mentor, first, True, {}, "")
    with pytest.raises(IntegrityError):
        with db_session.begin_nested():
            db_session.add(Review(submission_id=first.id, mentor_id=mentor.id, accepted=False, scores={}, points=0,
                                  max_points=0, comment="二度目", created_at=now()))
            db_session.flush()
    assert db_session.scalar(select(func.count()).select_from(Review).where(Review.submission_id == first.id)) == 1


# --- the upgrade to a7c3e91f5b20 sets right the rows the old races left ---------------------------
# Plain SQL against the schema as the migrations left it (tables reflected from the live database),
# never today's models: later revisions add columns the old schema does not have.

OLD = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _insert(connection: Connection, table: Table, **values: object) -> int:
    """Insert one row and return its id (RETURNING on PostgreSQL)."""
    key = connection.execute(table.insert().values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def _employee(connection: Connection, tables: dict[str, Table], number: str, unit_id: int) -> int:
    return _insert(connection, tables["employees"], employee_number=number, name=f"職員{number}",
                   name_kana="ショクイン", email=f"{number}@example.jp", grade_id=None, unit_id=unit_id,
                   is_active=True, is_external=False)


def _application(connection: Connection, tables: dict[str, Table], cohort_id: int, employee_id: int,
                 department_id: int, decision: str, is_withdrawn: bool, reserve_rank: int | None) -> int:
    return _insert(connection, tables["cohort_applications"], cohort_id=cohort_id, employee_id=employee_id,
                   department_id=department_id, statement="志望動機", theme="smart_government", answers=[],
                   is_withdrawn=is_withdrawn, endorsement="endorsed", endorsement_comment="", decision=decision,
                   reserve_rank=reserve_rank, created_at=OLD, updated_at=OLD)


def _submission(connection: Connection, tables: dict[str, Table], milestone_id: int, team_id: int,
                employee_id: int, version: int, body: str) -> int:
    return _insert(connection, tables["cohort_submissions"], milestone_id=milestone_id, team_id=team_id,
                   employee_id=None, version=version, text=body, submitted_by_id=employee_id, submitted_at=OLD,
                   is_late=False, status="submitted")


def _review(connection: Connection, tables: dict[str, Table], submission_id: int, mentor_id: int,
            accepted: bool) -> int:
    return _insert(connection, tables["cohort_reviews"], submission_id=submission_id, mentor_id=mentor_id,
                   accepted=accepted, scores={}, points=0, max_points=0, comment="", created_at=OLD)


def _reflect(connection: Connection) -> dict[str, Table]:
    metadata = MetaData()
    metadata.reflect(bind=connection)
    return dict(metadata.tables)


def test_the_migration_sets_right_what_the_old_races_left(make_database_url) -> None:  # type: ignore[no-untyped-def]
    url = make_database_url()
    engine = make_engine(url)
    try:
        upgrade_database(url, revision="5e47a2c9d1f0")  # the revision before
        with engine.begin() as connection:
            t = _reflect(connection)
            department = _insert(connection, t["units"], code="OLD-D", name="旧データ部", kind="department",
                                 parent_id=None, path="/OLD-D/", sort_order=1, is_active=True)
            staff = [_employee(connection, t, f"OLD{i}", department) for i in range(5)]
            mentor = _employee(connection, t, "OLD-M", department)
            programme = _insert(connection, t["courses"], code="PROG-OLD", kind="programme", title_ja="旧プログラム",
                                title_en="Old programme", track="cohort_programme", theme="general",
                                delivery_format="blended", hours=12, fiscal_year=2026, body_md="",
                                min_attendance_pct=80, survey_required=False, electives_required=0,
                                status="published", source="web", content_hash="", version=1, search_text="",
                                created_at=OLD, updated_at=OLD)
            cohort = _insert(connection, t["cohorts"], programme_id=programme, fiscal_year=2026, name="第1期",
                             applications_open_at=OLD, applications_close_at=OLD + timedelta(days=10), quota=1,
                             selected_count=0, requires_endorsement=False, questions=[], min_attendance_pct=80,
                             final_score_bar=60, created_at=OLD)
            cap = _insert(connection, t["cohort_department_caps"], cohort_id=cohort, unit_id=department, cap=1,
                          selected_count=0)
            # the old races: a withdrawn selection, two selected beyond the quota and the cap (the
            # counters never moved), two reserves sharing a rank
            rows = [("selected", True, None), ("selected", False, None), ("selected", False, None),
                    ("reserve", False, 1), ("reserve", False, 1)]
            ids = [_application(connection, t, cohort, employee, department, *row)
                   for employee, row in zip(staff, rows, strict=True)]
            plan = _insert(connection, t["cohort_milestones"], cohort_id=cohort, kind="plan", due_at=OLD,
                           per_team=True, rubric={})
            team = _insert(connection, t["fieldwork_teams"], cohort_id=cohort, name="旧チーム",
                           host_unit_id=department, theme="smart_government", problem="", abstract="")
            _insert(connection, t["fieldwork_team_members"], team_id=team, cohort_id=cohort, employee_id=staff[1])
            # the old race: two members, the same version
            versions = [_submission(connection, t, plan, team, staff[1], 1, f"版{i}") for i in range(2)]
            for accepted in (False, True):  # the old race: a version reviewed twice
                _review(connection, t, versions[0], mentor, accepted)

        upgrade_database(url, revision="a7c3e91f5b20")

        with engine.connect() as connection:
            t = _reflect(connection)
            applications, submissions = t["cohort_applications"], t["cohort_submissions"]
            fixed = {row.id: row for row in connection.execute(
                select(applications.c.id, applications.c.decision, applications.c.is_withdrawn,
                       applications.c.reserve_rank).where(applications.c.cohort_id == cohort))}
            assert fixed[ids[0]].decision == "declined" and fixed[ids[0]].is_withdrawn
            assert sorted(fixed[i].reserve_rank for i in ids[3:]) == [1, 2]
            # the quota and the cap rise to the people holding places
            assert tuple(connection.execute(select(t["cohorts"].c.selected_count, t["cohorts"].c.quota)
                                            .where(t["cohorts"].c.id == cohort)).one()) == (2, 2)
            caps = t["cohort_department_caps"]
            assert tuple(connection.execute(select(caps.c.selected_count, caps.c.cap)
                                            .where(caps.c.id == cap)).one()) == (2, 2)
            kept = connection.execute(select(submissions.c.id, submissions.c.version, submissions.c.status)
                                      .where(submissions.c.team_id == team).order_by(submissions.c.id)).all()
            assert [s.version for s in kept] == [1, 2]
            reviews = t["cohort_reviews"]
            (accepted,) = connection.execute(select(reviews.c.accepted)
                                             .where(reviews.c.submission_id == versions[0])).scalars()
            assert accepted is False and kept[0].status == "returned"
    finally:
        engine.dispose()
