"""The account page's personal access tokens (/account/tokens): list, make (the secret shown once,
on the page that answers the POST), revoke. Pages for people, so CSRF and the session cookie as
everywhere else on the site; the API itself accepts only the tokens."""
from __future__ import annotations

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from app.api.docs import code
from app.api.forms import NewTokenForm
from app.api.tokens import MAX_LIFETIME_DAYS, PREFIX, TokenError, create_token, latest_expiry, revoke_token, tokens_of
from app.core.clock import now, today
from app.core.db import db_session
from app.permissions import signed_in, useful_token_scopes
from app.web.locale import gettext as _

bp = Blueprint("api_tokens", __name__)


def _form(formdata: object = True) -> NewTokenForm:
    form = NewTokenForm() if formdata else NewTokenForm(formdata=None)
    offered = useful_token_scopes(current_user)
    form.scopes.choices = [choice for choice in form.scopes.choices or [] if choice.value in offered]
    return form


def _page(form: NewTokenForm, secret: str | None = None, status: int = 200) -> ResponseReturnValue:
    return render_template("api/tokens.html", form=form, tokens=tokens_of(current_user.id), secret=secret, now=now(),
                           prefix=PREFIX, max_days=MAX_LIFETIME_DAYS, today=today(),
                           latest=latest_expiry(), code=code), status


@bp.route("/account/tokens")
@signed_in
def index() -> ResponseReturnValue:
    return _page(_form())


@bp.route("/account/tokens", methods=["POST"])
@signed_in
def create() -> ResponseReturnValue:
    form = _form()
    if not form.validate_on_submit():
        return _page(form, status=400)
    try:
        made = create_token(current_user, form.name.data or "", list(form.scopes.data or []), form.expires_on.data)
    except TokenError as error:
        db_session.rollback()
        form.expires_on.errors = [*form.expires_on.errors, str(error)]
        return _page(form, status=400)
    db_session.commit()
    # Shown on this answer only: never stored, never in a redirect or a flash (the session cookie).
    response = make_response(_page(_form(formdata=None), secret=made.secret))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/tokens/<int:token_id>/revoke", methods=["POST"])
@signed_in
def revoke(token_id: int) -> ResponseReturnValue:
    if not revoke_token(current_user, token_id):
        abort(404)  # someone else's token, or one already revoked, is not named
    db_session.commit()
    flash(_("The token was revoked: it no longer works."), "success")
    return redirect(url_for("api_tokens.index"))
