"""Two steps for what cannot be undone or touches many people at once (issue 18).

The first submit of such a form changes nothing: the view answers with a preview page — who and
what is affected, by name and count, and the consequence in plain words — whose confirm form
carries the same fields again plus `fingerprint`, a digest of what the preview showed. The
confirm submit computes the preview again from the database as it is now and applies only when
the digest is the one the person saw; otherwise nothing is applied and the new preview is shown
with a message (409), so "confirm" always means "do what I was shown".

The fingerprint is neither a secret nor a permission: every check of the action runs again on the
confirm submit, as on any POST. Previews are reads (a domain's queries.py or a `preview_*`
function); the write is the domain's service, unchanged.

    first submit (no fingerprint) ──► preview page: affected names and counts, consequence,
                                       [confirm] (same fields + fingerprint) · [cancel] (back link)
    confirm submit ──► fingerprint == the preview's now? ── yes ──► the service, commit, redirect
                                                          └─ no ──► "changed since the preview",
                                                                    nothing applied, new preview (409)
"""
from __future__ import annotations

import hashlib
import hmac
import json
from enum import Enum

from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import Length, Optional

from app.web.locale import gettext as _

FIELD = "fingerprint"
STALE_STATUS = 409


class Step(Enum):
    PREVIEW = "preview"  # no fingerprint sent: show what would happen, change nothing
    CONFIRMED = "confirmed"  # the fingerprint of what was shown is the one of the data now
    STALE = "stale"  # the data changed after the preview: apply nothing, show the new preview


def fingerprint(*parts: object) -> str:
    """A short digest of what a preview shows (ids, states, counts, texts: anything JSON can
    write; other values by their str())."""
    text = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def step(sent: str | None, current: str) -> Step:
    """Which step a submit is: `sent` is the fingerprint the form carried (None or empty: the
    first submit), `current` the fingerprint of the preview computed now."""
    if not sent:
        return Step.PREVIEW
    return Step.CONFIRMED if hmac.compare_digest(sent.encode("utf-8"), current.encode("utf-8")) else Step.STALE


def stale_message() -> str:
    return _("The data changed after the preview, so nothing was changed. Check the new preview below and "
             "confirm again if it is still what you want.")


class ConfirmMixin:
    """The hidden `fingerprint` field of a form whose action has a preview step."""

    fingerprint = HiddenField(name=FIELD, validators=[Optional(), Length(max=64)])


class ConfirmForm(ConfirmMixin, FlaskForm):
    """The confirm step of an action that has no other field (CSRF and the fingerprint)."""
