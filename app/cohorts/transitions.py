"""The state machines of the cohort programme. Every change of an application, of a cohort's
results and of a fieldwork submission is one guarded UPDATE in this module, recorded once in the
audit log by the move that made it.

Application (one per person and cohort, unique; columns of `cohort_applications`)::

    apply ──► open ──withdraw (the applicant, while applications are open)──► withdrawn
               │    ──withdraw_participant (HR, from SELECTED; becomes DECLINED)──► withdrawn
               │          (a withdrawn application is never SELECTED: its place is freed)
               │
               ├─ endorsement, by the applicant's manager, once:
               │      PENDING ──endorse──► ENDORSED
               │         └──────decline──► DECLINED
               │
               └─ decision, by HR (`decide`: from any decision to any other), e.g.
                      UNDECIDED ─┬─reserve─► RESERVE (rank n+1) ──promote──┐
                                 ├─decline─► DECLINED ──select─────────────┤
                                 └─select──────────────────────────────────┴─► SELECTED
                      SELECTED ──undo──► UNDECIDED, ──decline──► DECLINED (the place is freed)
                      SELECTED holds a place: it needs an endorsement where the cohort asks
                      for one, and a free place in the quota and in the department's cap.

Cohort results: unpublished ──publish (HR, after applications close)──► published (once).

Submission (one row per version of a team's or a person's work for a milestone)::

    submit v1 ──► SUBMITTED ──accept (mentor)──► ACCEPTED   (final: no later version)
                     │
                     └──return (mentor)──► RETURNED ──submit v(n+1)──► SUBMITTED …

A move names the state it expects and is `UPDATE … WHERE id = :id AND <state> = :from`. If
another request moved the row first, nothing changes and `Stale` says what happened in the
user's language ("この応募は既に取り下げられています"), never a second effect.

Places: an application holds a place while its decision is SELECTED. The database moves
`cohorts.selected_count` and the department cap's count with the row (triggers, migration
a7c3e91f5b20), the CHECKs keep them within the quota and the cap, and a check refuses a counter
that differs from the rows; a withdrawal or a decline that runs twice frees the place once.

Lock order, the same for every writer of decisions: the cohort row first (`lock_cohort`, FOR
UPDATE on PostgreSQL; SQLite's writer already holds the whole database), then the application.
So reserve ranks are numbered in arrival order and a place check cannot interleave with
another's. Endorsements, edits and submissions touch one row and need no cohort lock.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, attributes

from app.audit.services import record_event
from app.cohorts.events import SubmissionReviewed
from app.cohorts.models import (
    Application,
    Cohort,
    Decision,
    DepartmentCap,
    Endorsement,
    Review,
    Submission,
    SubmissionStatus,
)
from app.core.clock import now
from app.core.db import db_session, rows_changed
from app.core.events import emit
from app.org.models import Employee
from app.web.locale import gettext as _


class CohortError(Exception):
    """Why a cohort action cannot be done, fit to show; `field`: the form field it is about, when
    one is (the form is shown again with the message beside it and nothing typed lost)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Stale(CohortError):
    """The row was changed by someone else since it was read; the message says what happened.
    Views answer it with a flash and a redirect to the page as it is now."""


@dataclass(frozen=True)
class Places:
    quota: int
    taken: int


def lock_cohort(cohort_id: int) -> Places:
    """Take the cohort's row lock (held to commit) and read its places as they are now."""
    row = db_session.execute(select(Cohort.quota, Cohort.selected_count)
                             .where(Cohort.id == cohort_id).with_for_update()).one()
    _forget_counters(cohort_id)
    return Places(row.quota, row.selected_count)


def reread(application: Application) -> Application:
    """The row as committed now (after `lock_cohort`): what the user is really acting on."""
    db_session.refresh(application, ["is_withdrawn", "endorsement", "decision", "reserve_rank", "decided_by_id"])
    return application


def _set_loaded(row: Any, values: dict[str, Any]) -> None:
    """The row as now stored, without a second write at flush."""
    for key, value in values.items():
        attributes.set_committed_value(row, key, value)


def _forget_counters(cohort_id: int) -> None:
    """The triggers moved the counters in the database: objects already loaded in this unit of
    work must not show (or write back) their old counts."""
    cohort = db_session.identity_map.get(db_session.identity_key(Cohort, cohort_id))
    if cohort is not None:
        db_session.expire(cohort, ["selected_count"])
    for cap in [o for o in db_session.identity_map.values() if isinstance(o, DepartmentCap)
                and o.cohort_id == cohort_id]:
        db_session.expire(cap, ["selected_count"])


# --- applications ----------------------------------------------------------------------------


def record_application(application: Application, applicant: Employee) -> None:
    """Insert a new application in its first state; a second one by the same person loses to the
    unique constraint (a double click on Apply)."""
    try:
        with db_session.begin_nested():
            db_session.add(application)
            db_session.flush()
    except IntegrityError:
        raise Stale(_("You have already applied to this cohort.")) from None
    record_event(applicant, "cohorts.applied", "cohort_application", application.id,
                 after={"endorsement": application.endorsement.value, "decision": application.decision.value})


def edit(application: Application, applicant: Employee, values: dict[str, Any]) -> None:
    """Change the applicant's own texts while the application is not withdrawn."""
    values = {**values, "updated_at": now()}
    moved = rows_changed(db_session.execute(update(Application).where(
        Application.id == application.id, Application.employee_id == applicant.id,
        Application.is_withdrawn.is_(False)).values(**values).execution_options(synchronize_session=False)))
    if moved != 1:
        raise Stale(_("Your application has been withdrawn; it can no longer be changed."))
    _set_loaded(application, values)


def withdraw(application: Application, applicant: Employee) -> None:
    """The applicant withdraws; a SELECTED application gives its place back (as DECLINED)."""
    lock_cohort(application.cohort_id)
    reread(application)
    if application.is_withdrawn:
        raise Stale(_("Your application has already been withdrawn."))
    before = application.decision
    values: dict[str, Any] = {"is_withdrawn": True, "updated_at": now()}
    if before == Decision.SELECTED:
        values["decision"] = Decision.DECLINED
    moved = rows_changed(db_session.execute(update(Application).where(
        Application.id == application.id, Application.employee_id == applicant.id,
        Application.is_withdrawn.is_(False), Application.decision == before)
        .values(**values).execution_options(synchronize_session=False)))
    if moved != 1:
        raise Stale(_("Your application has already been withdrawn."))
    _set_loaded(application, values)
    _forget_counters(application.cohort_id)
    record_event(applicant, "cohorts.application_withdrawn", "cohort_application", application.id,
                 before={"decision": before.value, "withdrawn": False},
                 after={"decision": application.decision.value, "withdrawn": True})


def endorse(application: Application, manager: Employee, endorsed: bool, comment: str) -> None:
    """PENDING → ENDORSED or DECLINED, once, while the application is not withdrawn."""
    to = Endorsement.ENDORSED if endorsed else Endorsement.DECLINED
    values: dict[str, Any] = {"endorsement": to, "endorsed_by_id": manager.id,
                              "endorsement_comment": comment.strip()[:1000], "updated_at": now()}
    moved = rows_changed(db_session.execute(update(Application).where(
        Application.id == application.id, Application.endorsement == Endorsement.PENDING,
        Application.is_withdrawn.is_(False),
        # handed to another head by a transfer meanwhile (`reroute_endorsement`): theirs now
        Application.approver_id.is_not_distinct_from(application.approver_id))
        .values(**values).execution_options(synchronize_session=False)))
    if moved != 1:
        reread(application)
        name = application.employee.name
        if application.endorsement == Endorsement.PENDING and not application.is_withdrawn:
            raise Stale(_("%(name)s's application was handed to another head after a transfer just now.",
                          name=name))
        if application.is_withdrawn:
            raise Stale(_("%(name)s's application has been withdrawn.", name=name))
        raise Stale(_("The endorsement of %(name)s's application has already been recorded.", name=name))
    _set_loaded(application, values)
    record_event(manager, "cohorts.endorsement", "cohort_application", application.id,
                 before={"endorsement": Endorsement.PENDING.value}, after={"endorsement": to.value})


_DECISION_NAMES = {
    Decision.SELECTED: lambda name: _("%(name)s is already selected.", name=name),
    Decision.RESERVE: lambda name: _("%(name)s is already a reserve.", name=name),
    Decision.DECLINED: lambda name: _("%(name)s is already declined.", name=name),
    Decision.UNDECIDED: lambda name: _("%(name)s is already undecided.", name=name),
}


def decide(application: Application, actor: Employee, to: Decision, *, expected: Decision | None = None) -> Decision:
    """Set HR's decision; returns the decision it replaced. `expected` is the decision the actor
    saw: if it has changed since, nothing happens and `Stale` says so."""
    places = lock_cohort(application.cohort_id)
    reread(application)
    name = application.employee.name
    if application.is_withdrawn:
        raise Stale(_("%(name)s's application has been withdrawn.", name=name))
    before = application.decision
    if before == to:
        raise Stale(_DECISION_NAMES[to](name))
    if expected is not None and before != expected:
        raise Stale(_("The decision on %(name)s was changed meanwhile. Check it and try again.", name=name))
    cohort = db_session.get(Cohort, application.cohort_id)
    assert cohort is not None
    if to == Decision.SELECTED:
        if cohort.requires_endorsement and application.endorsement != Endorsement.ENDORSED:
            raise CohortError(_("%(name)s has not been endorsed by their manager.", name=name))
        if places.taken >= places.quota:
            raise CohortError(_("The quota of %(n)s is full.", n=places.quota))
        cap = _cap(application.cohort_id, application.department_id)
        if cap is not None and cap[1] >= cap[0]:
            raise CohortError(_("The cap of %(n)s for this department is full.", n=cap[0]))
    values: dict[str, Any] = {"decision": to, "decided_by_id": actor.id, "updated_at": now(), "reserve_rank": None}
    if to == Decision.RESERVE:  # the next rank, in the same statement (and under the cohort lock)
        other = aliased(Application)
        values["reserve_rank"] = select(func.coalesce(func.max(other.reserve_rank), 0) + 1).where(
            other.cohort_id == application.cohort_id, other.decision == Decision.RESERVE).scalar_subquery()
    try:
        with db_session.begin_nested():
            moved = rows_changed(db_session.execute(update(Application).where(
                Application.id == application.id, Application.decision == before,
                Application.is_withdrawn.is_(False)).values(**values)
                .execution_options(synchronize_session=False)))
    except IntegrityError as error:  # the CHECKs on the counters: the last word, should a check above miss
        if "selected_within_cap" in str(error.orig):
            raise CohortError(_("The cap for this department is full.")) from None
        if "selected_within_quota" in str(error.orig):
            raise CohortError(_("The quota of %(n)s is full.", n=places.quota)) from None
        raise
    if moved != 1:
        raise Stale(_("The decision on %(name)s was changed meanwhile. Check it and try again.", name=name))
    _forget_counters(application.cohort_id)
    db_session.refresh(application, ["decision", "reserve_rank", "decided_by_id", "updated_at"])
    record_event(actor, "cohorts.decision", "cohort_application", application.id,
                 before={"decision": before.value}, after={"decision": to.value})
    return before


def _cap(cohort_id: int, department_id: int | None) -> tuple[int, int] | None:
    """(cap, taken) of the department's cap as committed now, or None without a cap."""
    if department_id is None:
        return None
    row = db_session.execute(select(DepartmentCap.cap, DepartmentCap.selected_count).where(
        DepartmentCap.cohort_id == cohort_id, DepartmentCap.unit_id == department_id)).first()
    return None if row is None else (row.cap, row.selected_count)


def withdraw_participant(application: Application, actor: Employee, reason: str) -> None:
    """HR records that a SELECTED participant withdraws: the place is freed, once."""
    lock_cohort(application.cohort_id)
    reread(application)
    name = application.employee.name
    if application.is_withdrawn:
        raise Stale(_("%(name)s's withdrawal has already been recorded.", name=name))
    if application.decision != Decision.SELECTED:
        raise CohortError(_("Only a selected participant can be withdrawn here."))
    values: dict[str, Any] = {"decision": Decision.DECLINED, "is_withdrawn": True, "updated_at": now()}
    moved = rows_changed(db_session.execute(update(Application).where(
        Application.id == application.id, Application.decision == Decision.SELECTED,
        Application.is_withdrawn.is_(False)).values(**values).execution_options(synchronize_session=False)))
    if moved != 1:
        raise Stale(_("%(name)s's withdrawal has already been recorded.", name=name))
    _set_loaded(application, values)
    _forget_counters(application.cohort_id)
    record_event(actor, "cohorts.participant_withdrawn", "cohort_application", application.id,
                 before={"decision": Decision.SELECTED.value, "withdrawn": False},
                 after={"decision": Decision.DECLINED.value, "withdrawn": True}, summary=reason[:200])


def publish(cohort: Cohort, actor: Employee) -> datetime:
    """Unpublished → published, once (the row lock also waits for decisions in flight)."""
    at = now()
    moved = rows_changed(db_session.execute(update(Cohort).where(Cohort.id == cohort.id,
                                                                 Cohort.results_published_at.is_(None))
                                            .values(results_published_at=at)
                                            .execution_options(synchronize_session=False)))
    if moved != 1:
        raise Stale(_("The results have already been published."))
    _set_loaded(cohort, {"results_published_at": at})
    return at


# --- submissions -----------------------------------------------------------------------------


def record_submission(submission: Submission, actor: Employee) -> None:
    """Insert a new version; a second one with the same number (two members, or a double click)
    loses to the unique index."""
    try:
        with db_session.begin_nested():
            db_session.add(submission)
            db_session.flush()
    except IntegrityError:
        raise Stale(_("Someone in your team submitted at the same moment. Reload the page and check.")) from None
    record_event(actor, "cohorts.submitted", "cohort_submission", submission.id,
                 after={"milestone": submission.milestone.kind.value, "version": submission.version,
                        "late": submission.is_late, "status": submission.status.value})


def review(submission: Submission, mentor: Employee, result: Review) -> None:
    """SUBMITTED → ACCEPTED or RETURNED, once; the review row goes with the move."""
    to = SubmissionStatus.ACCEPTED if result.accepted else SubmissionStatus.RETURNED
    moved = rows_changed(db_session.execute(update(Submission).where(
        Submission.id == submission.id, Submission.status == SubmissionStatus.SUBMITTED)
        .values(status=to).execution_options(synchronize_session=False)))
    if moved != 1:
        db_session.refresh(submission, ["status"])
        raise Stale(_("This submission has already been reviewed."))
    _set_loaded(submission, {"status": to})
    db_session.add(result)
    db_session.flush()
    record_event(mentor, "cohorts.reviewed", "cohort_submission", submission.id,
                 before={"status": SubmissionStatus.SUBMITTED.value},
                 after={"status": to.value, "accepted": result.accepted, "points": result.points,
                        "max": result.max_points,
                        "scores": {criterion.get("name", ""): level.get("label", "") if level else None
                                   for criterion, level in result.chosen_levels()}})
    emit(SubmissionReviewed(submission.id))


def reroute_endorsement(application: Application, to_approver_id: int | None) -> bool:
    """Hand an application still waiting for endorsement from the head it has in memory to
    `to_approver_id` (a transfer); False if it was endorsed, withdrawn or handed over meanwhile."""
    moved = rows_changed(db_session.execute(update(Application).where(
        Application.id == application.id, Application.endorsement == Endorsement.PENDING,
        Application.is_withdrawn.is_(False), Application.approver_id.is_not_distinct_from(application.approver_id))
        .values(approver_id=to_approver_id).execution_options(synchronize_session=False)))
    if moved == 1:
        _set_loaded(application, {"approver_id": to_approver_id})
    return moved == 1
