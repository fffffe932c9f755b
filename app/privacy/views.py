"""The person's own data (account page) and HR's disclosure file (開示請求) for one person.

Both downloads are POSTs: producing one is recorded in the audit trail, and a GET changes nothing."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.core.db import db_session
from app.org.models import Employee
from app.permissions import Permission, require, signed_in
from app.privacy import exports
from app.privacy.forms import DisclosureForm, SelfExportForm
from app.privacy.services import collect_personal_record, record_disclosure, record_self_export

bp = Blueprint("privacy", __name__)


def _download(data: bytes | str, filename: str, mimetype: str) -> Response:
    return Response(data, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    })


@bp.route("/account/my-data")
@signed_in
def my_data() -> ResponseReturnValue:
    return render_template("privacy/my_data.html", form=SelfExportForm())


@bp.route("/account/my-data/download", methods=["POST"])
@signed_in
def download_my_data() -> ResponseReturnValue:
    form = SelfExportForm()
    if not form.validate_on_submit():
        return render_template("privacy/my_data.html", form=form), 400
    record = collect_personal_record(current_user.id)
    record_self_export(current_user, form.file_format.data)
    db_session.commit()
    if form.file_format.data == "zip":
        return _download(exports.self_export_zip(record), exports.file_name(record, "zip"), "application/zip")
    return _download(exports.to_json(record), exports.file_name(record, "json"), "application/json; charset=utf-8")


def _person_or_404(employee_id: int) -> Employee:
    person = db_session.get(Employee, employee_id)
    if person is None:
        abort(404)
    return person


@bp.route("/admin/staff/<int:employee_id>/disclosure", methods=["GET", "POST"])
@require(Permission.PRIVACY_DISCLOSE)
def disclosure(employee_id: int) -> ResponseReturnValue:
    person = _person_or_404(employee_id)
    form = DisclosureForm()
    if not form.validate_on_submit():
        return render_template("privacy/disclosure.html", person=person, form=form), 400 if form.is_submitted() else 200
    reference = form.reference.data or ""
    record = collect_personal_record(person.id)
    data, files = exports.disclosure_zip(record, produced_by=f"{current_user.name}（{current_user.employee_number}）",
                                         reference=reference, upload_dir=Path(current_app.config["UPLOAD_DIR"]))
    record_disclosure(current_user, person, reference, record.counts(), files)
    db_session.commit()
    return _download(data, exports.file_name(record, "zip", "disclosure"), "application/zip")
