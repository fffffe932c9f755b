from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    Field,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional, ValidationError

from app.core.clock import TOKYO, today
from app.core.text_safety import MultiLineText, SingleLineText
from app.scheduling import deadlines
from app.scheduling.models import DEFAULT_MIN_PRESENCE_PCT, ApprovalPolicy
from app.web.confirmations import ConfirmMixin
from app.web.locale import gettext as _
from app.web.locale import lazy_gettext as _l

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"  # a datetime-local input's value
MEETING_LINE = re.compile(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s+(\d{1,2}):(\d{2})\s*[-–~〜]\s*(\d{1,2}):(\d{2})\s*$")

POLICY_LABELS = {
    ApprovalPolicy.NONE.value: _l("No approval needed"),
    ApprovalPolicy.MANAGER.value: _l("The employee's manager approves"),
    ApprovalPolicy.MANAGER_THEN_HR.value: _l("The manager, then HR approve"),
}


def parse_meetings(text: str) -> list[tuple[datetime, datetime]]:
    """One meeting per line, "2026-12-10 13:30-17:00", in Asia/Tokyo; a bad line names itself."""
    meetings = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        match = MEETING_LINE.match(line)
        if match is None:
            raise ValidationError(_("Line %(n)s: write a meeting as 2026-12-10 13:30-17:00.", n=number))
        y, mo, d, h1, m1, h2, m2 = (int(g) for g in match.groups())
        try:
            day = date(y, mo, d)
            start = datetime(day.year, day.month, day.day, h1, m1, tzinfo=TOKYO)
            end = datetime(day.year, day.month, day.day, h2, m2, tzinfo=TOKYO)
        except ValueError:
            raise ValidationError(_("Line %(n)s: no such date or time.", n=number)) from None
        if end <= start:
            raise ValidationError(_("Line %(n)s: the end must be after the start.", n=number))
        meetings.append((start, end))
    if not meetings:
        raise ValidationError(_("Add at least one meeting."))
    return meetings


def format_meetings(pairs: list[tuple[datetime, datetime]]) -> str:
    lines = []
    for start, end in pairs:
        s, e = start.astimezone(TOKYO), end.astimezone(TOKYO)
        lines.append(f"{s:%Y-%m-%d %H:%M}-{e:%H:%M}")
    return "\n".join(lines)


class SessionForm(FlaskForm):
    label = StringField(_l("Name of this session"), validators=[Optional(), Length(max=120), SingleLineText()])
    meetings = TextAreaField(_l("Meetings (one per line, Japan time)"),
                             validators=[DataRequired(message=_l("Add at least one meeting.")), MultiLineText()])
    location = StringField(_l("Room"), validators=[Optional(), Length(max=200), SingleLineText()])
    online_url = StringField(_l("Web meeting link"), validators=[
        Optional(), Length(max=500), SingleLineText(),
        URL(require_tld=False, message=_l("Enter a link starting with https://."))])
    capacity = IntegerField(_l("Capacity"), validators=[
        DataRequired(message=_l("Enter the capacity.")),
        NumberRange(min=1, max=10000, message=_l("Enter a number from 1 to 10000."))])
    # Each deadline left empty is computed (app/scheduling/deadlines.py): `complete_deadlines`.
    enrolment_opens_at = DateTimeLocalField(_l("Enrolment opens"), format=LOCAL_FORMAT, validators=[Optional()],
                                            invalid_value_message=_l("Enter a date and time."))
    enrolment_closes_at = DateTimeLocalField(_l("Enrolment closes"), format=LOCAL_FORMAT, validators=[Optional()],
                                             invalid_value_message=_l("Enter a date and time."))
    cancellation_deadline_at = DateTimeLocalField(_l("Cancellation deadline"), format=LOCAL_FORMAT,
                                                  validators=[Optional()],
                                                  invalid_value_message=_l("Enter a date and time."))
    # A new session's form: the first meeting its closing and cancellation deadlines were filled in
    # for. A deadline still showing that value follows the meetings when they are changed.
    deadlines_for = HiddenField()
    closes_days = deadlines.ENROLMENT_CLOSES_DAYS  # for the fields' hints
    cancellation_days = deadlines.CANCELLATION_DAYS
    min_presence_pct = IntegerField(
        _l("Present in a web meeting from (percent of its time)"), default=DEFAULT_MIN_PRESENCE_PCT,
        validators=[DataRequired(message=_l("Enter a percentage from 1 to 100.")),
                    NumberRange(min=1, max=100, message=_l("Enter a percentage from 1 to 100."))])
    approval_policy = SelectField(_l("Approval"), choices=[])
    instructors = StringField(_l("Instructors (employee numbers)"), validators=[Optional(), Length(max=400),
                                                                                SingleLineText()],
                              render_kw={"data-picker": "people", "data-picker-multiple": "true"})
    notes = TextAreaField(_l("Notes for participants"), validators=[Optional(), Length(max=5000), MultiLineText()])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.approval_policy.choices = [SelectChoice(v, str(label)) for v, label in POLICY_LABELS.items()]
        self.parsed_meetings: list[tuple[datetime, datetime]] = []

    def validate_meetings(self, field: Field) -> None:
        self.parsed_meetings = parse_meetings(field.data)

    def validate_online_url(self, field: Field) -> None:
        if field.data and not field.data.lower().startswith(("https://", "http://")):
            raise ValidationError(_("Enter a link starting with https://."))

    def tokyo(self, value: datetime) -> datetime:
        return value.replace(tzinfo=TOKYO)

    def suggest(self, on: date) -> None:
        """A new session: a first meeting to overwrite, and the deadlines that go with it."""
        start, end = deadlines.suggested_meeting(on)
        self.meetings.data = format_meetings([(start, end)])
        self.enrolment_opens_at.data = _wall_clock(deadlines.enrolment_opens(on))
        self.enrolment_closes_at.data = _wall_clock(deadlines.enrolment_closes(start))
        self.cancellation_deadline_at.data = _wall_clock(deadlines.cancellation_deadline(start))
        self.deadlines_for.data = _wall_clock(start).strftime(LOCAL_FORMAT)

    def validate(self, extra_validators: Any = None) -> bool:
        if not super().validate(extra_validators):
            return False
        self.complete_deadlines(today())
        return True

    def complete_deadlines(self, on: date) -> None:
        """Fill in each deadline left empty from the first meeting (enrolment opens: `on`, 9:00); on
        a new session's form, also a closing or cancellation deadline still as it was filled in
        for another first meeting (the meetings were changed, the deadlines were not). Whether
        the deadlines fit the meetings is the service's to judge."""
        first = min(start for start, _ in self.parsed_meetings)
        filled_for = _parse_local(self.deadlines_for.data)
        for field, rule in ((self.enrolment_closes_at, deadlines.enrolment_closes),
                            (self.cancellation_deadline_at, deadlines.cancellation_deadline)):
            untouched = filled_for is not None and field.data == _wall_clock(rule(filled_for))
            if field.data is None or untouched:
                _fill(field, rule(first))
        if self.enrolment_opens_at.data is None:
            _fill(self.enrolment_opens_at, deadlines.enrolment_opens(on))
        if filled_for is not None:
            self.deadlines_for.data = _wall_clock(first).strftime(LOCAL_FORMAT)


def _wall_clock(instant: datetime) -> datetime:
    """What a datetime-local field holds: the Tokyo wall-clock time, without a zone."""
    return instant.astimezone(TOKYO).replace(tzinfo=None)


def _fill(field: DateTimeLocalField, instant: datetime) -> None:
    """Set a deadline the form computed; shown, if the page comes back, instead of what was sent."""
    field.data = _wall_clock(instant)
    field.raw_data = None


def _parse_local(value: str | None) -> datetime | None:
    try:
        return datetime.strptime(value or "", LOCAL_FORMAT).replace(tzinfo=TOKYO)
    except ValueError:
        return None


class CancelSessionForm(ConfirmMixin, FlaskForm):
    """Cancelling a session takes two submits: the first lists who it ends and tells, the second
    carries that preview's `fingerprint` (app/web/confirmations.py)."""

    reason = StringField(_l("Reason (sent to everyone enrolled)"),
                         validators=[DataRequired(message=_l("Give a reason.")), Length(max=200),
                                     SingleLineText()])
