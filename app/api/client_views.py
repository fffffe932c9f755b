"""The administrator's page of the API's system accounts (/admin/api-clients): list, register
(the secret shown once, on the page that answers the POST) and revoke. The same services as
`flask api create-client` (app/api/clients.py)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.api.clients import ClientError, all_clients, create_client, revoke_client
from app.api.forms import SYSTEM_ROLE_LABELS, NewClientForm
from app.api.oauth import STANDARD_NAME, TOKEN_PATH
from app.core.db import db_session
from app.permissions import Permission, require
from app.web.locale import gettext as _

bp = Blueprint("api_clients", __name__)


def _page(form: NewClientForm, made: tuple[str, str] | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template("api/clients.html", form=form, clients=all_clients(), made=made,
                           role_labels=SYSTEM_ROLE_LABELS, token_path=TOKEN_PATH, oauth_standard=STANDARD_NAME), status


@bp.route("/admin/api-clients")
@require(Permission.API_CLIENTS_MANAGE)
def index() -> ResponseReturnValue:
    return _page(NewClientForm())


@bp.route("/admin/api-clients", methods=["POST"])
@require(Permission.API_CLIENTS_MANAGE)
def create() -> ResponseReturnValue:
    form = NewClientForm()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        made = create_client(current_user, form.name.data or "", form.role.data or "", list(form.scopes.data or []))
    except ClientError as error:
        db_session.rollback()
        form.name.errors = [*form.name.errors, str(error)]
        return _page(form, status=400)
    db_session.commit()
    # Shown on this answer only: never stored, never in a redirect or a flash (the session cookie).
    response = make_response(_page(NewClientForm(formdata=None), made=(made.client.client_id, made.secret)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/admin/api-clients/<client_id>/revoke", methods=["POST"])
@require(Permission.API_CLIENTS_MANAGE)
def revoke(client_id: str) -> ResponseReturnValue:
    if len(client_id) > 40 or not revoke_client(current_user, client_id):
        abort(404)
    db_session.commit()
    flash(_("The system account was revoked: its tokens no longer work."), "success")
    return redirect(url_for("api_clients.index"))
