from __future__ import annotations

from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import ColumnElement, select

from app.audit.services import record_event
from app.auth.login import read_with_signed_in_user, signed_in_value
from app.core.clock import now
from app.core.db import db_session
from app.org.models import Employee
from app.permissions import Permission, can_read_notification, require, signed_in
from app.reminders import queries
from app.reminders.facts import Facts
from app.reminders.forms import PreferencesForm, SettingsForm, TemplateForm
from app.reminders.kinds import KINDS
from app.reminders.models import KindSetting, MessageTemplate, Notification, OptOut
from app.reminders.rendering import fill, render, template_for
from app.reminders.services import mark_read, resend, session_reminder_offsets, set_kind_enabled
from app.web.locale import gettext as _
from app.web.pagination import paginate

bp = Blueprint("reminders", __name__)


@bp.route("/notifications")
@signed_in
def inbox() -> ResponseReturnValue:
    page = paginate(queries.inbox_statement(current_user.id), per_page=30)
    return render_template("reminders/inbox.html", page=page, kinds=KINDS)


@bp.route("/notifications/<int:notification_id>", methods=["GET", "POST"])
@signed_in
def show(notification_id: int) -> ResponseReturnValue:
    """GET shows the message and writes nothing (a link opened by a mail scanner or prefetched by
    a browser marks nothing read); POST, which the inbox sends when an unread message is opened,
    marks it read and shows it."""
    notification = db_session.get(Notification, notification_id)
    if notification is None or not can_read_notification(current_user, notification):
        abort(404)
    if request.method == "POST":
        mark_read(current_user.id, [notification.id])
        db_session.commit()
        return redirect(url_for("reminders.show", notification_id=notification.id))
    rendered = render(notification, Facts([notification]))
    return render_template("reminders/show.html", notification=notification, rendered=rendered, kinds=KINDS)


@bp.route("/notifications/read-all", methods=["POST"])
@signed_in
def read_all() -> ResponseReturnValue:
    mark_read(current_user.id)
    db_session.commit()
    return redirect(url_for("reminders.inbox"))


@bp.route("/account/notifications", methods=["GET", "POST"])
@signed_in
def preferences() -> ResponseReturnValue:
    optional = [k for k in KINDS.values() if not k.mandatory]
    form = PreferencesForm(optional)
    opted_out = queries.opted_out_kinds(current_user.id)
    if form.validate_on_submit():
        wanted = form.wanted
        for kind in optional:
            if kind.code in wanted and kind.code in opted_out:
                db_session.delete(db_session.get(OptOut, (current_user.id, kind.code)))
            elif kind.code not in wanted and kind.code not in opted_out:
                db_session.add(OptOut(employee_id=current_user.id, kind=kind.code))
        db_session.commit()
        flash(_("Your notification settings were saved."), "success")
        return redirect(url_for("reminders.preferences"))
    return render_template("reminders/preferences.html", form=form, optional=optional,
                           mandatory=[k for k in KINDS.values() if k.mandatory],
                           opted_out=opted_out), 400 if form.errors else 200


# --- HR: the outbox, wording and settings ----------------------------------------------------


@bp.route("/admin/outbox")
@require(Permission.REMINDERS_MANAGE)
def outbox() -> ResponseReturnValue:
    status, kind = request.args.get("status", ""), request.args.get("kind", "")
    page = paginate(queries.outbox_statement(status, kind if kind in KINDS else ""), per_page=50)
    return render_template("reminders/outbox.html", page=page, status=status, kind=kind, kinds=KINDS,
                           counts=queries.outbox_counts())


@bp.route("/admin/outbox/<int:notification_id>/resend", methods=["POST"])
@require(Permission.REMINDERS_MANAGE)
def resend_view(notification_id: int) -> ResponseReturnValue:
    notification = db_session.get(Notification, notification_id)
    if notification is None:
        abort(404)
    if resend(current_user, notification):
        db_session.commit()
        flash(_("The message will be sent again shortly."), "success")
    else:
        db_session.rollback()
        flash(_("This message is already waiting to be sent or is being sent now."), "info")
    return redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                    else url_for("reminders.outbox"))


@bp.route("/admin/outbox/settings", methods=["GET", "POST"])
@require(Permission.REMINDERS_MANAGE)
def settings() -> ResponseReturnValue:
    form = SettingsForm(list(KINDS.values()))
    if request.method == "GET":
        form.offsets.data = ", ".join(str(o) for o in session_reminder_offsets())
    if form.validate_on_submit():
        enabled, offsets = form.enabled_kinds, form.offset_days or []
        for code in KINDS:
            set_kind_enabled(code, code in enabled, offsets if code == "session_reminder" else None)
        db_session.commit()
        flash(_("Notification settings saved."), "success")
        return redirect(url_for("reminders.settings"))
    states = {s.kind: s.is_enabled for s in db_session.scalars(select(KindSetting))}
    return render_template("reminders/settings.html", form=form, kinds=KINDS, states=states), \
        400 if form.errors else 200


@bp.route("/admin/outbox/templates")
@require(Permission.REMINDERS_MANAGE)
def templates() -> ResponseReturnValue:
    customised = {(t.kind, t.locale) for t in db_session.scalars(select(MessageTemplate))}
    return render_template("reminders/templates.html", kinds=KINDS, customised=customised)


SAMPLE = {"name": "山田 太郎", "url": "https://manabi.example/my-learning", "course": "主任級デジタル研修",
          "session_start": "2026年12月10日(木) 13:30", "place": "県庁 講堂", "session_url": "",
          "requester": "佐藤 花子", "reason": "業務繁忙のため", "position": 3, "days": 3,
          "due_date": "2027年2月26日", "employee": "佐藤 花子", "todo": "理解度テスト、アンケート",
          "pending": 2, "overdue": 1, "upcoming": 4}


@bp.route("/admin/outbox/templates/<kind>/<locale>", methods=["GET", "POST"])
@require(Permission.REMINDERS_MANAGE)
def edit_template(kind: str, locale: str) -> ResponseReturnValue:
    if kind not in KINDS or locale not in ("ja", "en"):
        abort(404)
    spec = KINDS[kind]
    form = TemplateForm(spec.placeholders)
    if request.method == "GET":
        form.subject.data, form.body.data = template_for(kind, locale)
    preview = None
    if form.validate_on_submit():
        if form.is_preview:
            preview = (fill(form.subject.data, SAMPLE), fill(form.body.data, SAMPLE))
        elif form.is_reset:
            existing = db_session.scalar(select(MessageTemplate).where(MessageTemplate.kind == kind,
                                                                       MessageTemplate.locale == locale))
            if existing is not None:
                db_session.delete(existing)
            db_session.commit()
            flash(_("Back to the built-in wording."), "success")
            return redirect(url_for("reminders.edit_template", kind=kind, locale=locale))
        else:
            existing = db_session.scalar(select(MessageTemplate).where(MessageTemplate.kind == kind,
                                                                       MessageTemplate.locale == locale))
            if existing is None:
                existing = MessageTemplate(kind=kind, locale=locale, subject="", body="", updated_at=now())
                db_session.add(existing)
            existing.subject, existing.body = form.subject.data, form.body.data
            existing.updated_at, existing.updated_by_id = now(), current_user.id
            record_event(current_user, "reminders.template_saved", "message_template", f"{kind}/{locale}")
            db_session.commit()
            flash(_("Wording saved."), "success")
            return redirect(url_for("reminders.templates"))
    return render_template("reminders/edit_template.html", form=form, spec=spec, locale=locale, preview=preview), \
        400 if form.errors else 200


UNREAD = "unread_notifications"  # read with the signed-in person (app/auth/login.py)


def _unread_count_column() -> ColumnElement[int]:
    """`queries.unread_count` as a scalar subquery correlated to the signed-in Employee."""
    return queries.unread_statement(Employee.id).correlate_except(Notification).scalar_subquery()


def init_app(app: Flask) -> None:
    """The unread count in the header of every signed-in page: read in the sign-in statement, with
    the person; asked again by a page rendered in answer to a POST (marking a message read, say),
    where the count read before the write may be out of date (a GET writes nothing it counts)."""
    read_with_signed_in_user(app, UNREAD, _unread_count_column)

    def unread_notifications() -> int:
        if not current_user.is_authenticated:
            return 0
        loaded = signed_in_value(UNREAD)
        if isinstance(loaded, int) and request.method == "GET":
            return loaded
        return queries.unread_count(current_user.id)

    app.jinja_env.globals["unread_notifications"] = unread_notifications
