"""The forms of the attendance pages. Every value a page posts is read here, never from
`request.form` in a view: the check-in code, the participant list (upload, apply, match a person
by hand) and the roster.

The roster has one row per participant, so its form class is built for the rows the page shows
(`roster_form`), keeping the field names the page has always posted: `status-<enrolment id>`,
`remark-<enrolment id>`, and the mark as the page showed it, `was-status-<id>` / `was-remark-<id>`
(hidden), which lets a save leave alone a mark someone else changed meanwhile (a check-in).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import Field, HiddenField, SelectField, StringField
from wtforms.validators import AnyOf, DataRequired, Length

from app.attendance import services
from app.attendance.models import AttendanceStatus
from app.core.text_safety import SingleLineText
from app.web.confirmations import ConfirmMixin
from app.web.ids import parse_id
from app.web.locale import lazy_gettext as _l

REMARK_MAX = 300  # attendance_marks.remark is a String(300)
STATUS_VALUES = frozenset(s.value for s in AttendanceStatus)


class CheckInForm(FlaskForm):
    code = StringField(_l("Check-in code"), validators=[DataRequired(message=_l("Enter the code on the screen.")),
                                                        Length(max=12)],
                       render_kw={"inputmode": "numeric", "autocomplete": "one-time-code"})


class ParticipantsUploadForm(FlaskForm):
    file = FileField(_l("Participant list from the web-meeting system (CSV)"),
                     validators=[FileRequired(message=_l("Choose a CSV file.")),
                                 FileAllowed(["csv", "txt"], message=_l("The file must be a .csv file."))])


class ParticipantsApplyForm(ConfirmMixin, FlaskForm):
    """Apply a previewed participant list (attendance.apply_participants), as the preview showed
    it: `fingerprint` is the preview's digest (app/web/confirmations.py)."""

    import_id = HiddenField(validators=[DataRequired(message=_l("Choose a list to apply."))])

    @property
    def import_key(self) -> int | None:
        """The list's id, or None for anything that cannot name a row (app/web/ids.py)."""
        return parse_id(self.import_id.data)


NOT_A_PARTICIPANT = "none"


class ParticipantMatchForm(FlaskForm):
    """Match a person the list could not match to someone enrolled, or say they are not a
    participant (attendance.match_participant). The choices are the meeting's enrolments."""

    participant_id = HiddenField(validators=[DataRequired(message=_l("Choose a person from the list."))])
    enrolment = SelectField(_l("Who is this?"), choices=[],
                            validators=[DataRequired(message=_l("Choose the enrolled person, or "
                                                                "“not a participant”."))])

    def set_choices(self, choices: Sequence[tuple[int, str]]) -> None:
        self.enrolment.choices = [("", str(_l("(choose)"))),
                                  *[(str(enrolment_id), label) for enrolment_id, label in choices],
                                  (NOT_A_PARTICIPANT, str(_l("Not a participant (a guest, an observer)")))]

    @property
    def participant_key(self) -> int | None:
        return parse_id(self.participant_id.data)

    @property
    def enrolment_id(self) -> int | None:
        """The chosen enrolment; None for "not a participant"."""
        return None if self.enrolment.data == NOT_A_PARTICIPANT else int(self.enrolment.data)


# --- the roster --------------------------------------------------------------------------------


def _blank_if_missing(value: Any) -> Any:
    """A field the POST left out reads as empty ("(not marked)", no remark), as it always has."""
    return "" if value is None else value


@dataclass(frozen=True)
class RosterRow:
    """A participant whose mark the roster page offers to set."""

    enrolment_id: int
    name: str


@dataclass(frozen=True)
class MarkChange:
    """A mark the page asks for that differs from what it showed. `seen` is the mark as the page
    showed it (None: no mark), or `services.AS_READ` when the page did not say (a bare POST)."""

    enrolment_id: int
    status: AttendanceStatus
    remark: str
    seen: Any  # services.Seen | None | services.AS_READ


class RosterForm(FlaskForm):
    """Save the roster (attendance.roster), or mark everyone not yet marked as present
    (`action=all_present`). The per-row fields are added by `roster_form`."""

    action = StringField(validators=[Length(max=20)])

    rows: Sequence[RosterRow] = ()

    @property
    def is_all_present(self) -> bool:
        return self.action.data == "all_present"

    def status_field(self, enrolment_id: int) -> Field:
        return self[f"status-{enrolment_id}"]

    def remark_field(self, enrolment_id: int) -> Field:
        return self[f"remark-{enrolment_id}"]

    def row_errors(self, enrolment_id: int) -> dict[str, list[str]]:
        """The errors of one row by field name, for the page."""
        fields = (self.status_field(enrolment_id), self.remark_field(enrolment_id))
        return {f.name: [str(e) for e in f.errors] for f in fields if f.errors}

    def fill_from(self, marks: dict[int, Any]) -> None:
        """Show the marks as recorded (`marks`: enrolment id → AttendanceMark). On a new page, in
        the fields people change and in the hidden "as shown" pair; on a page shown again after a
        refused save, only in the "as shown" pairs the POST left out (those it sent still say what
        the first page showed, which the next save must be compared with)."""
        for row in self.rows:
            mark = marks.get(row.enrolment_id)
            status, remark = (mark.status.value, mark.remark) if mark is not None else ("", "")
            was_status, was_remark = self[f"was-status-{row.enrolment_id}"], self[f"was-remark-{row.enrolment_id}"]
            if not self.is_submitted():
                self.status_field(row.enrolment_id).data = status
                self.remark_field(row.enrolment_id).data = remark
            elif was_status.raw_data:
                continue
            was_status.data, was_remark.data = status, remark

    def changes(self) -> list[MarkChange]:
        """The marks this page sets, in roster order: rows left "(not marked)" and rows that are
        as the page showed them are left out (whatever was recorded meanwhile stays)."""
        found = []
        for row in self.rows:
            status = self.status_field(row.enrolment_id).data
            if not status:
                continue
            remark = self.remark_field(row.enrolment_id).data
            was_status = self[f"was-status-{row.enrolment_id}"]
            seen: Any = services.AS_READ
            if was_status.raw_data:  # the page said what it showed
                shown = was_status.data if was_status.data in STATUS_VALUES else None
                seen = None if shown is None else services.Seen(AttendanceStatus(shown),
                                                                self[f"was-remark-{row.enrolment_id}"].data)
                if seen is not None and (seen.status.value, seen.remark) == (status, remark):
                    continue
            found.append(MarkChange(row.enrolment_id, AttendanceStatus(status), remark, seen))
        return found


def roster_form(rows: Sequence[RosterRow], **kwargs: Any) -> RosterForm:
    """A RosterForm with a status and a remark field (and the hidden "as shown" pair) for each of
    these rows: the participants who joined before the meeting. Values posted for anyone else are
    not read. The hidden fields are compared, never stored, so they are not judged."""

    class MeetingRosterForm(RosterForm):
        pass

    MeetingRosterForm.rows = tuple(rows)
    statuses = ["", *sorted(STATUS_VALUES)]
    for row in rows:
        setattr(MeetingRosterForm, f"status-{row.enrolment_id}", StringField(
            _l("Status of %(name)s", name=row.name), filters=[_blank_if_missing],
            validators=[AnyOf(statuses, message=_l("Choose one of the statuses in the list."))]))
        setattr(MeetingRosterForm, f"remark-{row.enrolment_id}", StringField(
            _l("Remark for %(name)s", name=row.name), filters=[_blank_if_missing],
            validators=[Length(max=REMARK_MAX, message=_l("Use at most %(max)d characters (this has %(length)d).")),
                        SingleLineText()]))
        setattr(MeetingRosterForm, f"was-status-{row.enrolment_id}", HiddenField(filters=[_blank_if_missing]))
        setattr(MeetingRosterForm, f"was-remark-{row.enrolment_id}", HiddenField(filters=[_blank_if_missing]))
    return MeetingRosterForm(**kwargs)
