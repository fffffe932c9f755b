"""The database itself keeps the cohort's invariants (migration a7c3e91f5b20), on both backends:
the quota's and the caps' counters follow the selected applications and never exceed them; a
withdrawn application is never selected; one reserve per rank; one row per submission version;
one review per version. A future bug fails loudly instead of over-selecting. The migration also
sets right rows left inconsistent by the old races."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.cohorts import queries, services
from app.cohorts.models import (
    Application,
    Cohort,
    Decision,
    DepartmentCap,
    FieldworkTeam,
    MilestoneKind,
    Review,
    Submission,
    SubmissionStatus,
    TeamMember,
)
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Unit
from tests import factories
from tests.cohorts.conftest import apply_for, person, selected_count
from tests.conftest import build_app


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


def test_the_migration_sets_right_what_the_old_races_left(  # type: ignore[no-untyped-def]
        make_database_url, tmp_path) -> None:
    from app.core.migrate_cli import upgrade_database
    from app.org.reference import ensure_grades

    app = build_app(make_database_url(), tmp_path)
    with app.app_context():
        upgrade_database(revision="5e47a2c9d1f0")  # the revision before
        ensure_grades()
        db_session.commit()
        department = factories.unit("旧データ部")
        factories.employee(department, "BUCHO", heads=department)
        division = factories.unit("旧データ課", parent=department)
        staff = [factories.employee(division, "SHUNIN") for _ in range(5)]
        cohort = factories.cohort(quota=1, caps={department: 1})
        ids = [apply_for(cohort.id, p.id) for p in staff]
        db_session.commit()
        mentor = factories.employee(division, "KACHO")
        team = FieldworkTeam(cohort_id=cohort.id, name="旧チーム", host_unit_id=division.id, theme="smart_government")
        team.members = [TeamMember(cohort_id=cohort.id, employee_id=staff[0].id)]
        db_session.add(team)
        db_session.flush()
        plan = next(m for m in queries.milestones(cohort.id) if m.kind == MilestoneKind.PLAN)
        versions = [Submission(milestone_id=plan.id, team_id=team.id, version=1, text=f"版{i}",
                               submitted_by_id=staff[0].id, submitted_at=now(), status=SubmissionStatus.SUBMITTED)
                    for i in range(2)]  # the old race: two members, the same version
        db_session.add_all(versions)
        db_session.flush()
        for accepted in (False, True):  # the old race: a version reviewed twice
            db_session.add(Review(submission_id=versions[0].id, mentor_id=mentor.id, accepted=accepted, scores={},
                                  points=0, max_points=0, comment="", created_at=now()))
        # the old races: a withdrawn selection, two selected beyond the quota and the cap (the
        # counters never moved), two reserves sharing a rank
        rows = [("selected", True, None), ("selected", False, None), ("selected", False, None),
                ("reserve", False, 1), ("reserve", False, 1)]
        for application_id, (decision, withdrawn, rank) in zip(ids, rows, strict=True):
            db_session.execute(text("UPDATE cohort_applications SET decision = :d, is_withdrawn = :w, "
                                    "reserve_rank = :r WHERE id = :id"),
                               {"d": decision, "w": withdrawn, "r": rank, "id": application_id})
        db_session.commit()
        db_session.remove()

        upgrade_database(revision="a7c3e91f5b20")

        fixed = {a.id: a for a in db_session.scalars(select(Application).where(Application.cohort_id == cohort.id))}
        assert fixed[ids[0]].decision == Decision.DECLINED and fixed[ids[0]].is_withdrawn
        assert sorted(fixed[i].reserve_rank for i in ids[3:]) == [1, 2]
        refreshed = db_session.get(Cohort, cohort.id)
        assert (refreshed.selected_count, refreshed.quota) == (2, 2)  # the quota rises to the people holding places
        cap = db_session.scalar(select(DepartmentCap).where(DepartmentCap.cohort_id == cohort.id))
        assert (cap.selected_count, cap.cap) == (2, 2)  # the cap rises to the people holding places
        kept = list(db_session.scalars(select(Submission).where(Submission.team_id == team.id)
                                       .order_by(Submission.id)))
        assert [s.version for s in kept] == [1, 2]
        (review,) = db_session.scalars(select(Review).where(Review.submission_id == versions[0].id))
        assert review.accepted is False and kept[0].status == SubmissionStatus.RETURNED
        db_session.remove()
    app.extensions["manabi.engine"].dispose()
