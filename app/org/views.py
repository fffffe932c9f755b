from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from wtforms import SelectChoice

from app.auth.services import PasswordSignIn, issue_temporary_password
from app.cohorts.queries import endorsements_to_hand_over
from app.core.clock import today
from app.core.db import db_session
from app.enrollment.queries import waiting_for_manager
from app.org import queries
from app.org.forms import (
    RolesForm,
    StaffImportApplyForm,
    StaffImportForm,
    TemporaryPasswordForm,
    TransferForm,
    UnitHeadForm,
    role_label,
)
from app.org.jobs import (
    discard_staged,
    find_staged,
    is_stale,
    job_for_preview,
    preview_staff_import,
    queue_staff_import,
)
from app.org.labels import unit_label
from app.org.models import Employee, RoleName, Unit
from app.org.services import OrgChangeError, grant_role, revoke_role, set_unit_head, transfer_employee
from app.permissions import (
    Permission,
    PermissionDenied,
    can_change_roles,
    can_reset_password,
    can_show_temporary_password,
    has_permission,
    require,
    signed_in,
    viewable_employee_or_abort,
    visible_employee_filter,
)
from app.web import confirmations, pickers
from app.web.confirmations import Step
from app.web.ids import arg_id
from app.web.locale import current_language
from app.web.locale import gettext as _
from app.web.pagination import paginate

bp = Blueprint("org", __name__, url_prefix="/org")


@bp.route("/staff")
@require(Permission.ORG_EMPLOYEE_READ)
def staff() -> ResponseReturnValue:
    q = request.args.get("q", "")[:100]
    stmt = queries.staff_directory(
        visible_employee_filter(current_user), q=q, unit_id=arg_id("unit"), grade_id=arg_id("grade"),
        include_inactive=request.args.get("inactive") == "1",
    )
    page = paginate(stmt, per_page=50)
    return render_template("org/staff.html", page=page, q=q, units=queries.units_in_tree_order(),
                           grades=queries.all_grades())


@bp.route("/staff/<int:employee_id>")
@signed_in
def employee_detail(employee_id: int) -> ResponseReturnValue:
    employee = viewable_employee_or_abort(current_user, employee_id)
    roles_form = RolesForm(data={"roles": [r.value for r in employee.roles]})
    transfer_form = None
    if has_permission(current_user, Permission.ORG_PLACEMENT_EDIT) and employee.is_active:
        transfer_form = TransferForm(data={"as_of": today()})
        _unit_choices(transfer_form.unit, queries.units_in_tree_order())
    return render_template(
        "org/employee.html", employee=employee, history=queries.placement_history(employee.id),
        transfer_form=transfer_form,
        manager=queries.manager_of(employee), roles_form=roles_form,
        password_form=TemporaryPasswordForm(), role_label=role_label,
        may_change_roles=can_change_roles(current_user, employee),
        may_reset_password=can_reset_password(current_user, employee),
        may_show_temporary_password=can_show_temporary_password(current_user, employee),
        uses_local_password=PasswordSignIn.from_config(current_app.config).uses_local_password(employee),
    )


@bp.route("/staff/<int:employee_id>/temporary-password", methods=["POST"])
@require(Permission.AUTH_PASSWORD_RESET)
def temporary_password(employee_id: int) -> ResponseReturnValue:
    employee = viewable_employee_or_abort(current_user, employee_id)
    if not can_show_temporary_password(current_user, employee):
        abort(403)
    if not PasswordSignIn.from_config(current_app.config).uses_local_password(employee):
        flash(_("This person signs in with the organisation's directory or sign-in, not a Manabi password: "
                "a temporary password would not let them in. Their password is reset in the directory."), "error")
        return redirect(url_for("org.employee_detail", employee_id=employee.id))
    form = TemporaryPasswordForm()
    if not form.validate_on_submit():
        flash(_("Tick the confirmation to issue a temporary password."), "error")
        return redirect(url_for("org.employee_detail", employee_id=employee.id))
    try:
        password = issue_temporary_password(current_user, employee)
    except PermissionDenied:  # the roles changed since the check above
        db_session.rollback()
        abort(403)
    db_session.commit()
    # Shown once, on this response only; never stored in the session or a flash message.
    return render_template("org/temporary_password.html", employee=employee, password=password)


@bp.route("/staff/<int:employee_id>/roles", methods=["POST"])
@require(Permission.AUTH_ROLE_ASSIGN)
def update_roles(employee_id: int) -> ResponseReturnValue:
    employee = viewable_employee_or_abort(current_user, employee_id)
    if not can_change_roles(current_user, employee):
        abort(403)
    form = RolesForm()
    if not form.validate_on_submit():
        flash(_("Choose roles from the list."), "error")
        return redirect(url_for("org.employee_detail", employee_id=employee.id))
    wanted = {RoleName(value) for value in form.roles.data or []}
    held = set(employee.roles)
    shown = confirmations.fingerprint(employee.id, sorted(r.value for r in held), sorted(r.value for r in wanted))
    which = confirmations.step(form.fingerprint.data, shown)
    if wanted != held and which is not Step.CONFIRMED:  # what is granted and removed; nothing changes yet
        if which is Step.STALE:
            flash(confirmations.stale_message(), "error")
        return render_template("org/roles_confirm.html", employee=employee, role_label=role_label,
                               granted=[r for r in RoleName if r in wanted - held],
                               removed=[r for r in RoleName if r in held - wanted],
                               wanted=[r for r in RoleName if r in wanted], fingerprint=shown), \
            confirmations.STALE_STATUS if which is Step.STALE else 200
    try:
        for role in RoleName:
            if role in wanted:
                grant_role(current_user, employee, role)
            else:
                revoke_role(current_user, employee, role)
    except PermissionDenied:
        db_session.rollback()
        abort(403)
    db_session.commit()
    flash(_("Roles updated."), "success")
    return redirect(url_for("org.employee_detail", employee_id=employee.id))


@bp.route("/units")
@require(Permission.ORG_EMPLOYEE_READ)
def units() -> ResponseReturnValue:
    tree = queries.units_in_tree_order()
    head_form = None
    if has_permission(current_user, Permission.ORG_PLACEMENT_EDIT):
        head_form = UnitHeadForm()
        _unit_choices(head_form.unit, tree)
    return render_template("org/units.html", units=tree, head_form=head_form)


# --- the pickers' searches (app/web/pickers.py) --------------------------------------------------


@bp.route("/search/people")
@require(Permission.ORG_EMPLOYEE_SEARCH)
def search_people() -> ResponseReturnValue:
    """Active people whose number, name, kana or e-mail holds every word typed: their number
    goes into the input, their name and unit are shown."""
    try:
        q = pickers.search_text()
    except pickers.BadQuery as error:
        return pickers.refuse(error)
    found = queries.search_employees(visible_employee_filter(current_user), q, limit=pickers.LIMIT + 1)
    return pickers.answer([pickers.Choice(p.employee_number, p.name, unit_label(p.unit)) for p in found])


@bp.route("/search/units")
@require(Permission.ORG_UNIT_SEARCH)
def search_units() -> ResponseReturnValue:
    """Open units whose code or name holds every word typed: the code goes into the input, the
    name and the parent unit's (in the reader's language) are shown."""
    try:
        q = pickers.search_text()
    except pickers.BadQuery as error:
        return pickers.refuse(error)
    found = queries.search_units(q, limit=pickers.LIMIT + 1)
    return pickers.answer([pickers.Choice(unit.code, unit_label(unit), unit_label(parent)) for unit, parent in found])


def _unit_choices(select_field: Any, tree: list[Unit]) -> None:
    select_field.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(u.id), "　" * u.depth + f"{unit_label(u)}（{u.code}）") for u in tree]


# --- transfers and heads (HR): pending work follows the new head ---------------------------------


@bp.route("/units/head", methods=["POST"])
@require(Permission.ORG_PLACEMENT_EDIT)
def set_head() -> ResponseReturnValue:
    """Change a unit's head; requests and applications waiting for the old head go to the new one."""
    form = UnitHeadForm()
    _unit_choices(form.unit, queries.units_in_tree_order())
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(url_for("org.units"))
    unit = db_session.get(Unit, int(form.unit.data))
    number = (form.employee_number.data or "").strip()
    head = queries.employee_by_number(number) if number else None
    if unit is None or (number and head is None):
        flash(_("%(label)s: no employee with number %(number)s.", label=form.employee_number.label.text,
                number=number), "error")
        return redirect(url_for("org.units"))
    if unit.head_id != (head.id if head else None) and (head is None or head.is_active):
        preview = _head_preview(unit, head)
        which = confirmations.step(form.fingerprint.data, preview["fingerprint"])
        if which is not Step.CONFIRMED:  # whose requests move to whom; nothing changes yet
            if which is Step.STALE:
                flash(confirmations.stale_message(), "error")
            return render_template("org/head_confirm.html", unit=unit, unit_label=unit_label(unit), head=head,
                                   number=number, **preview), \
                confirmations.STALE_STATUS if which is Step.STALE else 200
    try:
        set_unit_head(current_user, unit, head)
    except OrgChangeError as error:
        db_session.rollback()
        flash(f"{form.employee_number.label.text}: {error}", "error")
        return redirect(url_for("org.units"))
    db_session.commit()
    flash(_("%(unit)s: the head is now %(name)s. Pending requests and applications went to the new head, "
            "who is told by mail.", unit=unit_label(unit), name=head.name if head else _("(vacant)")), "success")
    return redirect(url_for("org.units"))


@bp.route("/staff/<int:employee_id>/transfer", methods=["POST"])
@require(Permission.ORG_PLACEMENT_EDIT)
def transfer(employee_id: int) -> ResponseReturnValue:
    """Move someone to another division from a date; their pending work follows their new head."""
    employee = viewable_employee_or_abort(current_user, employee_id)
    form = TransferForm()
    _unit_choices(form.unit, queries.units_in_tree_order())
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(url_for("org.employee_detail", employee_id=employee.id))
    unit = db_session.get(Unit, int(form.unit.data))
    if unit is None:
        abort(404)
    as_of = form.as_of.data or today()
    if employee.is_active and unit.is_active and employee.unit_id != unit.id and employee.grade_id is not None:
        preview = _transfer_preview(employee, unit, as_of)
        which = confirmations.step(form.fingerprint.data, preview["fingerprint"])
        if which is not Step.CONFIRMED:  # whose requests move to whom; nothing changes yet
            if which is Step.STALE:
                flash(confirmations.stale_message(), "error")
            return render_template("org/transfer_confirm.html", employee=employee, unit=unit, as_of=as_of,
                                   unit_label=unit_label, **preview), \
                confirmations.STALE_STATUS if which is Step.STALE else 200
    try:
        transfer_employee(current_user, employee, unit, as_of=as_of)
    except OrgChangeError as error:
        db_session.rollback()
        flash(f"{form.unit.label.text}: {error}", "error")
        return redirect(url_for("org.employee_detail", employee_id=employee.id))
    db_session.commit()
    flash(_("%(name)s moved to %(unit)s. Their pending requests and applications went to their new head, "
            "who is told by mail.", name=employee.name, unit=unit_label(unit)), "success")
    return redirect(url_for("org.employee_detail", employee_id=employee.id))


def _head_preview(unit: Unit, head: Employee | None) -> dict[str, Any]:
    """What a change of head hands over (reads only): the requests and applications of the unit's
    people waiting for whoever decides for them now go to the new head (or, left vacant, to the
    next head up); the new head's own go to the head above them."""
    acting = queries.head_over(unit)  # who decides for the unit's people now
    waiting = waiting_for_manager(approver_id=acting.id, unit_path=unit.path) if acting is not None else []
    endorsing = endorsements_to_hand_over(approver_id=acting.id, unit_path=unit.path) if acting else []
    successor = head or queries.head_over(unit, excluding_id=unit.head_id)
    shown = confirmations.fingerprint(unit.id, unit.head_id, head.id if head else None, [e.id for e in waiting],
                                      [a.id for a in endorsing], successor.id if successor else None)
    successor_id = successor.id if successor else None
    return {"before": db_session.get(Employee, unit.head_id) if unit.head_id else None, "successor": successor,
            "moving": [e for e in waiting if e.employee_id != successor_id],
            "own": [e for e in waiting if successor_id is not None and e.employee_id == successor_id],
            "endorsing": endorsing, "fingerprint": shown}


def _transfer_preview(employee: Employee, unit: Unit, as_of: date) -> dict[str, Any]:
    """What a transfer hands over (reads only): the person's requests waiting for their manager go
    to the head over the new division; if they head the division they leave, it has no head
    afterwards and the requests waiting for them go to the next head up."""
    new_head = queries.head_over(unit, excluding_id=employee.id)
    own = waiting_for_manager(employee_ids=[employee.id])
    own_endorsements = endorsements_to_hand_over(employee_ids=[employee.id])
    left = employee.unit if employee.unit is not None and employee.unit.head_id == employee.id else None
    handed = waiting_for_manager(approver_id=employee.id, unit_path=left.path) if left is not None else []
    handed_endorsements = endorsements_to_hand_over(approver_id=employee.id, unit_path=left.path) if left else []
    next_up = queries.head_over(left, excluding_id=employee.id) if left is not None else None
    shown = confirmations.fingerprint(employee.id, employee.unit_id, unit.id, as_of, new_head.id if new_head else None,
                                      [(e.id, e.approver_id) for e in own], [a.id for a in own_endorsements],
                                      left.id if left else None, [e.id for e in handed],
                                      [a.id for a in handed_endorsements], next_up.id if next_up else None)
    return {"new_head": new_head, "own": own, "own_endorsements": own_endorsements, "left": left, "handed": handed,
            "handed_endorsements": handed_endorsements, "next_up": next_up, "fingerprint": shown}


def _flash_errors(form: Any) -> None:
    for name, errors in form.errors.items():
        label = getattr(form, name).label.text if hasattr(form, name) else name
        flash(f"{label}: {' '.join(str(e) for e in errors)}", "error")


# --- staff list import ----------------------------------------------------------------------


@bp.route("/import", methods=["GET", "POST"])
@require(Permission.ORG_STAFF_IMPORT)
def staff_import() -> ResponseReturnValue:
    """Upload → preview (a dry run) → apply (a background job, app/org/jobs.py). The previewed
    file waits under a random token with the fingerprint of the data it was previewed against."""
    form = StaffImportForm()
    if request.method != "POST":  # GET and HEAD
        form.as_of.data = today()
        return render_template("org/import.html", form=form, report=None)
    if not form.validate_on_submit():
        return render_template("org/import.html", form=form, report=None), 400
    as_of: date = form.as_of.data or today()  # left empty: today in Japan
    filename = form.file.data.filename or ""
    report, staged = preview_staff_import(form.file.data.read(), current_user, filename=filename, as_of=as_of)
    db_session.rollback()
    apply_form = StaffImportApplyForm(data={"token": staged.token, "as_of": as_of}) if staged else None
    return render_template("org/import.html", form=form, report=report, apply_form=apply_form,
                           filename=filename), 200 if report.ok else 422


@bp.route("/import/apply", methods=["POST"])
@require(Permission.ORG_STAFF_IMPORT)
def staff_import_apply() -> ResponseReturnValue:
    """Queue the import of a previewed file and follow it on its job page (returns at once)."""
    form = StaffImportApplyForm()
    token = form.token.data or ""
    queued = job_for_preview(token)
    if queued is not None:  # applied already (a second click): follow the same job
        return redirect(url_for("jobs.show", job_id=queued.id))
    staged = find_staged(token)
    if staged is None:
        flash(_("This preview is no longer available. Upload the file again."), "error")
        return redirect(url_for("org.staff_import"))
    if not form.validate_on_submit():  # the date is not a date
        return render_template("org/import.html", form=StaffImportForm(), report=None, apply_form=form,
                               filename=staged.filename), 422
    if is_stale(staged):
        discard_staged(staged.token)
        return render_template("org/import.html", form=StaffImportForm(), report=None, apply_form=None,
                               filename=staged.filename, stale=True), 409
    job = queue_staff_import(current_user, staged, as_of=form.as_of.data or today(), locale=current_language())
    db_session.commit()
    return redirect(url_for("jobs.show", job_id=job.id))
