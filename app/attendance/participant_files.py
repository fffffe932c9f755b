"""Reading the participant lists that web-meeting systems export, into each person's joins.

Read (each checked with a sample in tests/attendance/test_minutes.py):
- Microsoft Teams' attendance report (UTF-16, tabs): a summary, "Participants" (first join,
  last leave) and "In-meeting activities" (one row per join). The activities are used where a
  person has them; the first join → last leave span only for someone with no activity rows (it
  would count a break in the middle as presence).
- Teams' classic attendance list: Full Name / User Action (Joined, Left) / Timestamp, without
  e-mails: everyone is listed for matching by hand.
- Zoom's participants report, with or without its meeting section first (one row per join).
- Webex's attendee / participant reports (Join Time, Leave Time per row).
- Any CSV with a name or an e-mail, a join time and a leave time per row, in Japanese or English.

Text: UTF-8 (with or without BOM), CP932 or UTF-16; commas or tabs. A file can hold several
sections: each header row sets the columns of the rows under it. Times without a zone are Japan
time (what the exports show); a day written 10/01/2020 is read as whichever of October 1 or
January 10 is the meeting's day. A time without a date is on the meeting's day.

Pure: no database. Every problem names the file, the line and the column, and a file with any
problem is refused whole (app/attendance/participants.py applies nothing from it).
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from app.core.clock import TOKYO
from app.core.text_safety import find_unsafe
from app.org.staff_csv import StaffFileError, decode
from app.web.locale import gettext as _

Interval = tuple[datetime, datetime]

# Header labels, folded (NFKC, casefold, parenthesised parts and spaces removed: see _fold).
LABELS: dict[str, frozenset[str]] = {
    "name": frozenset({"name", "fullname", "displayname", "participantname", "attendeename", "username",
                       "名前", "氏名", "表示名", "参加者名", "完全な名前", "ユーザー名"}),
    "email": frozenset({"email", "e-mail", "mail", "emailaddress", "e-mailaddress", "useremail", "attendeeemail",
                        "participantemail", "メール", "メールアドレス", "電子メール", "電子メールアドレス",
                        "ユーザーメール", "参加者のメール"}),
    "upn": frozenset({"participantid", "upn", "参加者id"}),
    "join": frozenset({"jointime", "joined", "join", "joinedat", "jointimestamp", "参加時刻", "参加日時", "参加",
                       "入室時刻", "入室日時", "参加した時刻"}),
    "leave": frozenset({"leavetime", "left", "leave", "leftat", "leavetimestamp", "退出時刻", "退出日時", "退出",
                        "退室時刻", "退室日時", "退出した時刻"}),
    "first_join": frozenset({"firstjoin", "firstjointime", "最初の参加", "最初の参加時刻"}),
    "last_leave": frozenset({"lastleave", "lastleavetime", "最後の退出", "最後の退出時刻"}),
    "action": frozenset({"useraction", "action", "ユーザーアクション", "ユーザーの操作", "操作"}),
    "timestamp": frozenset({"timestamp", "タイムスタンプ", "日時"}),
    # recognised so that a header row is told from data, never read
    "other": frozenset({"duration", "in-meetingduration", "attendanceduration", "期間", "会議の長さ", "会議中の時間",
                        "role", "役割", "guest", "ゲスト", "meetingid", "topic", "starttime", "endtime",
                        "participants", "ミーティングid", "トピック", "開始時刻", "終了時刻", "参加者数",
                        "connectiontype", "device", "接続タイプ"}),
}
JOINED_ACTIONS = frozenset({"joined", "joinedbefore", "参加済み", "参加", "以前に参加済み", "前に参加済み", "入室"})
LEFT_ACTIONS = frozenset({"left", "退出済み", "退出", "退室"})

_PARENS = re.compile(r"\([^)]*\)")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$")
_YMD = re.compile(r"(\d{4})\s*[/\-.年]\s*(\d{1,2})\s*[/\-.月]\s*(\d{1,2})\s*日?")
_DMY_OR_MDY = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{2,4})")
_TIME = re.compile(r"(午前|午後)?\s*(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*([AaPp])?\.?[Mm]?\.?\s*(午前|午後)?")


def _fold(label: str) -> str:
    text = unicodedata.normalize("NFKC", label).lstrip("\ufeff").strip().strip('"').casefold()
    return re.sub(r"\s+", "", _PARENS.sub("", text)).rstrip(":")


def fold_name(name: str) -> str:
    """A name as compared (a guest without an e-mail is one person per name)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", name)).strip().casefold()


@dataclass
class ParsedParticipant:
    key: str  # "e:<e-mail>" or "n:<folded name>"
    name: str
    email: str
    lines: list[int] = field(default_factory=list)
    joins: list[Interval] = field(default_factory=list)  # one per join row (activities, Zoom, Webex…)
    spans: list[Interval] = field(default_factory=list)  # first join → last leave (Teams' summary)

    @property
    def intervals(self) -> list[Interval]:
        return self.joins or self.spans


@dataclass
class ParsedList:
    file_format: str = "CSV"
    participants: list[ParsedParticipant] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class _Section:
    line: int
    columns: dict[str, int]
    labels: dict[str, str]  # kind -> label as written

    @property
    def kind(self) -> str:
        has = self.columns.__contains__
        if has("join") and has("leave"):
            return "joins"
        if has("first_join") and has("last_leave"):
            return "spans"
        if has("action") and has("timestamp"):
            return "actions"
        return "other"


def _header(row: list[str], line: int) -> _Section | None:
    """A header row: no address in it and at least two cells that are known labels."""
    if any("@" in cell for cell in row):
        return None
    columns: dict[str, int] = {}
    labels: dict[str, str] = {}
    known = 0
    for position, cell in enumerate(row):
        folded = _fold(cell)
        for kind, names in LABELS.items():
            if folded in names:
                known += 1
                if kind != "other" and kind not in columns:
                    columns[kind], labels[kind] = position, cell.strip().lstrip("\ufeff")
                break
    return _Section(line, columns, labels) if known >= 2 else None


def _format_of(headers: list[list[str]]) -> str:
    text = " ".join(_fold(cell) for row in headers for cell in row) + " " + " ".join(
        unicodedata.normalize("NFKC", cell).casefold() for row in headers for cell in row)
    for name, marks in (("Zoom", ("originalname", "元の名前", "useremail", "ユーザーメール")),
                        ("Teams", ("upn", "firstjoin", "最初の参加", "useraction", "ユーザーアクション")),
                        ("Webex", ("attendee", "webex"))):
        if any(mark in text for mark in marks):
            return name
    return "CSV"


def parse_instant(text: str, day: date) -> tuple[datetime, bool]:
    """(the instant in UTC, whether the text had a date) of a time as the exports write it."""
    value = unicodedata.normalize("NFKC", text).strip()
    if _ISO.match(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC), True
    on: date | None = None
    rest = value
    ymd = _YMD.search(value)
    if ymd:
        on = date(int(ymd.group(1)), int(ymd.group(2)), int(ymd.group(3)))
        rest = value[:ymd.start()] + " " + value[ymd.end():]
    else:
        other = _DMY_OR_MDY.search(value)
        if other:
            a, b, year = int(other.group(1)), int(other.group(2)), int(other.group(3))
            year += 2000 if year < 100 else 0
            candidates = []
            for month, dom in ((a, b), (b, a)):  # month first (Zoom, Teams in English) unless that is not the day
                try:
                    candidates.append(date(year, month, dom))
                except ValueError:
                    continue
            if not candidates:
                raise ValueError(value)
            on = min(candidates, key=lambda c: abs((c - day).days))
            rest = value[:other.start()] + " " + value[other.end():]
    time = _TIME.search(rest.replace(",", " "))
    if time is None:
        raise ValueError(value)
    hour, minute, second = int(time.group(2)), int(time.group(3)), int(time.group(4) or 0)
    meridiem = (time.group(5) or "").lower() or {"午前": "a", "午後": "p"}.get(time.group(1) or time.group(6) or "", "")
    if meridiem:
        if not 1 <= hour <= 12:
            raise ValueError(value)
        hour = hour % 12 + (12 if meridiem == "p" else 0)
    local = datetime(*(on or day).timetuple()[:3], hour, minute, second, tzinfo=TOKYO)
    return local.astimezone(UTC), on is not None


def merge(intervals: list[Interval]) -> list[Interval]:
    """The same time, with overlapping or touching intervals joined (counted once)."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def clip(intervals: list[Interval], start: datetime, end: datetime) -> list[Interval]:
    """The parts of the intervals within [start, end], merged."""
    inside = [(max(s, start), min(e, end)) for s, e in intervals]
    return merge([(s, e) for s, e in inside if e > s])


def seconds(intervals: list[Interval]) -> int:
    return int(sum((e - s).total_seconds() for s, e in merge(intervals)))


class _Reader:
    def __init__(self, file_name: str, day: date, meeting_start: datetime, meeting_end: datetime) -> None:
        self.file_name = file_name
        self.day = day
        self.meeting_start, self.meeting_end = meeting_start, meeting_end
        self.result = ParsedList()
        self.people: dict[str, ParsedParticipant] = {}
        self.actions: dict[str, list[tuple[datetime, bool, int]]] = {}

    def problem(self, line: int, column: str, message: str) -> None:
        self.result.problems.append(_("%(file)s, line %(line)s, %(field)s: %(message)s", file=self.file_name,
                                      line=line, field=column, message=message))

    def cell(self, row: list[str], section: _Section, kind: str) -> str:
        position = section.columns.get(kind)
        return row[position].strip() if position is not None and position < len(row) else ""

    def person(self, row: list[str], section: _Section, line: int) -> ParsedParticipant | None:
        name = self.cell(row, section, "name")
        email = self.cell(row, section, "email")
        if "@" not in email:
            upn = self.cell(row, section, "upn")
            email = upn if "@" in upn else ""
        for kind, value in (("name", name), ("email", email)):
            unsafe = find_unsafe(value)
            if unsafe is not None:
                self.problem(line, section.labels.get(kind, kind), str(unsafe))
                return None
        if not name and not email:
            return None  # a blank row between sections
        email = email.lower()
        key = f"e:{email}" if email else f"n:{fold_name(name)}"
        found = self.people.get(key)
        if found is None:
            found = self.people[key] = ParsedParticipant(key, name[:200], email[:254])
        elif not found.name and name:
            found.name = name[:200]
        if line not in found.lines:
            found.lines.append(line)
        return found

    def instant(self, row: list[str], section: _Section, kind: str, line: int) -> tuple[datetime, bool] | None:
        text = self.cell(row, section, kind)
        label = section.labels[kind]
        if not text:
            self.problem(line, label, _("empty: a time is needed to count the minutes."))
            return None
        try:
            return parse_instant(text, self.day)
        except ValueError:
            self.problem(line, label, _("“%(value)s” is not a date and time this import can read (e.g. "
                                        "2026/12/10 13:30 or 13:30).", value=text[:40]))
            return None

    def interval(self, row: list[str], section: _Section, line: int, start: str, end: str) -> Interval | None:
        joined, left = self.instant(row, section, start, line), self.instant(row, section, end, line)
        if joined is None or left is None:
            return None
        (join_at, join_dated), (leave_at, leave_dated) = joined, left
        if leave_at < join_at and not leave_dated and not join_dated:
            leave_at += timedelta(days=1)  # past midnight
        if leave_at < join_at:
            self.problem(line, section.labels[end], _("earlier than the join time."))
            return None
        return join_at, leave_at

    def row(self, row: list[str], section: _Section, line: int) -> None:
        if section.kind == "other" or sum(1 for cell in row if cell.strip()) < 2:
            return  # a summary or meeting section, or a section's title ("3. 会議中のアクティビティ")
        person = self.person(row, section, line)
        if person is None:
            return
        if section.kind == "actions":
            at = self.instant(row, section, "timestamp", line)
            action = _fold(self.cell(row, section, "action"))
            if at is None:
                return
            if action not in JOINED_ACTIONS | LEFT_ACTIONS:
                self.problem(line, section.labels["action"], _("“%(value)s” is neither joined nor left.",
                                                               value=self.cell(row, section, "action")[:40]))
                return
            self.actions.setdefault(person.key, []).append((at[0], action in JOINED_ACTIONS, line))
            return
        span = self.interval(row, section, line, *(("join", "leave") if section.kind == "joins"
                                                   else ("first_join", "last_leave")))
        if span is not None:
            (person.joins if section.kind == "joins" else person.spans).append(span)

    def pair_actions(self) -> None:
        """Joined → Left per person (a join left open runs to the meeting's end)."""
        for key, events in self.actions.items():
            opened: datetime | None = None
            for at, joined, _line in sorted(events):
                if joined:
                    opened = at if opened is None else opened
                else:
                    self.people[key].joins.append((opened or self.meeting_start, at))
                    opened = None
            if opened is not None:
                self.people[key].joins.append((opened, max(opened, self.meeting_end)))


def read_participants(raw: bytes, file_name: str, meeting_start: datetime, meeting_end: datetime) -> ParsedList:
    """Every person in the file with the times they were in, or the file's problems."""
    reader = _Reader(file_name, meeting_start.astimezone(TOKYO).date(), meeting_start, meeting_end)
    result = reader.result
    try:
        text = raw.decode("utf-16") if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else decode(raw)[0]
    except UnicodeDecodeError:
        reader.problem(1, _("file"), _("The file is neither UTF-8 nor Shift_JIS (CP932)."))
        return result
    except StaffFileError as error:
        for p in error.problems:
            reader.problem(p.line, _("file"), p.message)
        return result
    text = text.lstrip("\ufeff")
    delimiter = "\t" if text.count("\t") > text.count(",") else ","
    section: _Section | None = None
    headers: list[list[str]] = []
    timed = False
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        reader.problem(1, _("file"), str(error))
        return result
    for line, row in enumerate(rows, start=1):
        header = _header(row, line)
        if header is not None:
            section = header
            headers.append(row)
            if header.kind != "other":
                timed = True
            elif "join" in header.columns or "leave" in header.columns:
                missing = "leave" if "join" in header.columns else "join"
                present = header.labels["join" if missing == "leave" else "leave"]
                reader.problem(line, _("Leave time") if missing == "leave" else _("Join time"),
                               _("the header has “%(present)s” but no column for the other end of each stay, "
                                 "so the minutes cannot be counted.", present=present))
            continue
        if section is not None and any(cell.strip() for cell in row):
            reader.row(row, section, line)
    if not timed and not result.problems:
        reader.problem(1, _("file"), _("No columns with join and leave times were found (e.g. Join Time and Leave "
                                       "Time, or 参加時刻 and 退出時刻): the minutes cannot be counted."))
    reader.pair_actions()
    result.file_format = _format_of(headers)
    result.participants = sorted(reader.people.values(), key=lambda p: p.lines[0])
    return result
