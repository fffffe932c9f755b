"""The `courses/` file format: a YAML header between `---` lines, then the Markdown body.

`parse_course_text` turns a file into a `CourseSpec` (or a list of `FileIssue`s naming the field)
in four steps, each usable on its own: `read_header` (the YAML block), `check_header` (its fields),
`validate_quiz` (the quiz section) and `check_body` (the Markdown);
`render_course_file` writes a spec back so that parsing it again yields the same spec (round trip).
The content hash is taken over the canonical spec, so formatting alone never counts as a change.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from app.catalog.models import CourseKind, DeliveryFormat, Theme, Track
from app.core.text_safety import find_unsafe

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
QUESTION_TYPES = ("single", "multiple", "true_false", "short")
KNOWN_KEYS = {
    "code", "kind", "title", "track", "theme", "format", "hours", "fiscal_year", "target_grades",
    "prerequisites", "completion", "courses", "electives_required", "quiz", "status",
}


@dataclass(frozen=True)
class FileIssue:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


@dataclass
class CourseSpec:
    code: str
    kind: str
    title_ja: str
    title_en: str
    track: str
    theme: str
    delivery_format: str
    hours: str  # canonical decimal text, e.g. "6" or "1.5"
    fiscal_year: int
    target_grades: list[str]
    prerequisites: list[str]
    min_attendance_pct: int
    quiz_pass_mark: int | None
    survey_required: bool
    body_md: str
    items: list[tuple[str, bool]] = field(default_factory=list)  # (course code, required)
    electives_required: int = 0
    quiz: dict[str, Any] | None = None
    status: str = "published"

    def canonical(self) -> dict[str, Any]:
        return {
            "code": self.code, "kind": self.kind, "title": {"ja": self.title_ja, "en": self.title_en},
            "track": self.track, "theme": self.theme, "format": self.delivery_format, "hours": self.hours,
            "fiscal_year": self.fiscal_year, "target_grades": sorted(self.target_grades),
            "prerequisites": sorted(self.prerequisites),
            "completion": {"min_attendance": self.min_attendance_pct, "quiz_pass_mark": self.quiz_pass_mark,
                           "survey_required": self.survey_required},
            "courses": [{"code": c, "required": r} for c, r in self.items],
            "electives_required": self.electives_required, "quiz": self.quiz, "status": self.status,
            "body": self.body_md.strip(),
        }

    def content_hash(self) -> str:
        payload = json.dumps(self.canonical(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def canonical_hours(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def split_front_matter(text: str) -> tuple[str, str] | None:
    text = text.lstrip("\ufeff")
    if not text.startswith("---"):
        return None
    lines = text.splitlines(keepends=True)
    for index in range(1, len(lines)):
        if lines[index].rstrip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1:])
    return None


Problem = tuple[str, str]
"""A (field, message) pair; `parse_course_text` adds the file name to make a `FileIssue`."""


@dataclass
class CourseHeader:
    """The checked metadata block: every `CourseSpec` field but the body and the quiz section.

    A value that failed its check holds a placeholder; use the header only when there were no problems.
    """

    code: str
    kind: str
    title_ja: str
    title_en: str
    track: str
    theme: str
    delivery_format: str
    hours: str
    fiscal_year: int
    target_grades: list[str]
    prerequisites: list[str]
    min_attendance_pct: int
    quiz_pass_mark: int | None
    survey_required: bool
    items: list[tuple[str, bool]]
    electives_required: int
    status: str

    def to_spec(self, body_md: str, quiz: dict[str, Any] | None) -> CourseSpec:
        """The whole spec: this header plus the checked body and quiz section."""
        return CourseSpec(
            code=self.code, kind=self.kind, title_ja=self.title_ja, title_en=self.title_en, track=self.track,
            theme=self.theme, delivery_format=self.delivery_format, hours=self.hours, fiscal_year=self.fiscal_year,
            target_grades=list(self.target_grades), prerequisites=list(self.prerequisites),
            min_attendance_pct=self.min_attendance_pct, quiz_pass_mark=self.quiz_pass_mark,
            survey_required=self.survey_required, body_md=body_md, items=self.items,
            electives_required=self.electives_required, quiz=quiz, status=self.status,
        )


def parse_course_text(text: str, filename: str, grade_codes: set[str]) -> tuple[CourseSpec | None, list[FileIssue]]:
    """Parse and validate one file. Cross-file checks (duplicates, references) are the caller's.

    The steps, in the order their problems are reported: read the YAML header, check its fields,
    check the quiz section, check the body. Any problem means no spec.
    """
    meta, body, problems = read_header(text)
    if meta is None:
        return None, _file_issues(filename, problems)
    header, problems = check_header(meta, grade_codes)
    quiz = meta.get("quiz")
    if quiz is not None:
        problems += validate_quiz(quiz)
    body_md, body_problems = check_body(body)
    problems += body_problems
    if problems:
        return None, _file_issues(filename, problems)
    return header.to_spec(body_md, quiz), []


def _file_issues(filename: str, problems: list[Problem]) -> list[FileIssue]:
    """Name the file on each (field, message) problem, keeping their order."""
    return [FileIssue(filename, name, message) for name, message in problems]


# --- step 1: the header block ----------------------------------------------------------------


def read_header(text: str) -> tuple[dict[str, Any] | None, str, list[Problem]]:
    """Split the file into its YAML header (loaded as a mapping) and its body.

    Returns (mapping, body, []) or, when there is no readable header, (None, "", [one "header" problem]);
    a YAML syntax error names the line within the header.
    """
    parts = split_front_matter(text)
    if parts is None:
        return None, "", [("header", "the file must start with a YAML header between '---' lines")]
    header_text, body = parts
    try:
        meta = yaml.safe_load(header_text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (header line {mark.line + 1})" if mark is not None else ""
        return None, "", [("header", f"invalid YAML{where}: {getattr(error, 'problem', None) or error}")]
    if not isinstance(meta, dict):
        return None, "", [("header", "the YAML header must be a mapping of keys to values")]
    return meta, body, []


# --- step 2: the header's fields ---------------------------------------------------------------


def check_header(meta: dict[str, Any], grade_codes: set[str]) -> tuple[CourseHeader, list[Problem]]:
    """Check every metadata field except `quiz`; problems come in the order of the file format."""
    problems = [(key, "unknown key") for key in sorted(str(key) for key in meta if key not in KNOWN_KEYS)]
    code = _check_code(meta, problems)
    kind = _check_kind(meta, problems)
    title_ja, title_en = _check_title(meta, problems)
    track = _check_choice(meta, "track", Track, problems)
    theme = _check_choice(meta, "theme", Theme, problems)
    delivery_format = _check_choice(meta, "format", DeliveryFormat, problems)
    hours = _check_hours(meta, problems)
    fiscal_year = _check_fiscal_year(meta, problems)
    target_grades = _check_target_grades(meta, grade_codes, problems)
    prerequisites = _check_prerequisites(meta, code, problems)
    min_attendance, pass_mark, survey_required = _check_completion(meta, problems)
    items, electives_required = _check_programme(meta, kind, problems)
    status = _check_status(meta, problems)
    header = CourseHeader(
        code=code or "", kind=kind, title_ja=title_ja, title_en=title_en, track=track, theme=theme,
        delivery_format=delivery_format, hours=hours, fiscal_year=fiscal_year, target_grades=target_grades,
        prerequisites=prerequisites, min_attendance_pct=min_attendance, quiz_pass_mark=pass_mark,
        survey_required=survey_required, items=items, electives_required=electives_required, status=status,
    )
    return header, problems


def _is_whole(value: Any, low: int, high: int | None = None) -> bool:
    """An int (not a bool) from `low` to `high` (no upper bound when None)."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return low <= value and (high is None or value <= high)


def _required(meta: dict[str, Any], key: str, problems: list[Problem]) -> Any:
    """The value of `key`, or None with a "missing" problem when it is absent, null or empty."""
    if key not in meta or meta[key] in (None, ""):
        problems.append((key, "is missing"))
        return None
    return meta[key]


def _check_code(meta: dict[str, Any], problems: list[Problem]) -> str | None:
    """`code`: required, 1–40 letters, digits, '-', '_' or '.'. None when absent or not text."""
    code = _required(meta, "code", problems)
    if code is not None and (not isinstance(code, str) or not CODE_PATTERN.fullmatch(code)):
        problems.append(("code", "use 1–40 letters, digits, '-', '_' or '.'"))
    return code if isinstance(code, str) else None


def _check_kind(meta: dict[str, Any], problems: list[Problem]) -> str:
    """`kind`: course (the default) or programme."""
    kind = meta.get("kind", "course")
    if not isinstance(kind, str) or kind not in {k.value for k in CourseKind}:
        problems.append(("kind", f"must be one of: {', '.join(k.value for k in CourseKind)}"))
    return kind if isinstance(kind, str) else ""


def _check_title(meta: dict[str, Any], problems: list[Problem]) -> tuple[str, str]:
    """`title`: required `ja` and `en`, each at most 200 characters of single-line safe text."""
    title = _required(meta, "title", problems)
    if title is None:
        return "", ""
    if not isinstance(title, dict) or not title.get("ja") or not title.get("en"):
        problems.append(("title", "needs both ja and en"))
        return "", ""
    title_ja, title_en = str(title["ja"]).strip(), str(title["en"]).strip()
    if len(title_ja) > 200 or len(title_en) > 200:
        problems.append(("title", "is longer than 200 characters"))
    for language, value in (("ja", title_ja), ("en", title_en)):
        if (problem := find_unsafe(value)) is not None:
            problems.append((f"title.{language}", problem.describe()))
    return title_ja, title_en


def _check_choice(meta: dict[str, Any], key: str, enum_class: type[Any], problems: list[Problem]) -> str:
    """A required key whose value must be one of `enum_class`'s values (track, theme, format)."""
    value = _required(meta, key, problems)
    allowed = [member.value for member in enum_class]
    if value is not None and value not in allowed:
        problems.append((key, f"unknown value {value!r}; use one of: {', '.join(allowed)}"))
    return str(value or "")


def _check_hours(meta: dict[str, Any], problems: list[Problem]) -> str:
    """`hours`: required, 0–9999 with at most 2 decimals; returned as canonical decimal text."""
    hours = _required(meta, "hours", problems)
    if hours is None:
        return "0"
    try:
        parsed = Decimal(str(hours))
        if parsed < 0 or parsed > 9999 or parsed != parsed.quantize(Decimal("0.01")):
            raise InvalidOperation
        return canonical_hours(parsed)
    except InvalidOperation:
        problems.append(("hours", "must be a number of hours from 0 to 9999 (up to 2 decimals)"))
        return "0"


def _check_fiscal_year(meta: dict[str, Any], problems: list[Problem]) -> int:
    """`fiscal_year`: required, a whole year from 2000 to 2100 (0 when missing or wrong)."""
    fiscal_year = _required(meta, "fiscal_year", problems)
    if fiscal_year is None:
        return 0
    if not _is_whole(fiscal_year, 2000, 2100):
        problems.append(("fiscal_year", "must be a year such as 2020"))
        return 0
    return int(fiscal_year)


def _check_target_grades(meta: dict[str, Any], grade_codes: set[str], problems: list[Problem]) -> list[str]:
    """`target_grades`: optional list of known grade codes; one problem per unknown grade."""
    target = meta.get("target_grades") or []
    if not isinstance(target, list) or not all(isinstance(g, str) for g in target):
        problems.append(("target_grades", "must be a list of grade codes"))
        return []
    for grade in target:
        if grade not in grade_codes:
            problems.append(("target_grades", f"unknown grade {grade!r}; use: {', '.join(sorted(grade_codes))}"))
    return target


def _check_prerequisites(meta: dict[str, Any], code: str | None, problems: list[Problem]) -> list[str]:
    """`prerequisites`: optional list of course codes, not naming the course itself.

    Whether the codes exist is a cross-file check, left to the sync.
    """
    prerequisites = meta.get("prerequisites") or []
    if not isinstance(prerequisites, list) or not all(isinstance(p, str) for p in prerequisites):
        problems.append(("prerequisites", "must be a list of course codes"))
        prerequisites = []
    if code in prerequisites:
        problems.append(("prerequisites", "a course cannot be its own prerequisite"))
    return prerequisites


def _check_completion(meta: dict[str, Any], problems: list[Problem]) -> tuple[int, int | None, bool]:
    """`completion`: (min_attendance 0–100, default 100; quiz_pass_mark 0–100 or null; survey_required)."""
    completion = meta.get("completion") or {}
    if not isinstance(completion, dict):
        problems.append(("completion", "must be a mapping"))
        completion = {}
    min_attendance = completion.get("min_attendance", 100)
    if not _is_whole(min_attendance, 0, 100):
        problems.append(("completion.min_attendance", "must be a whole percentage from 0 to 100"))
        min_attendance = 100
    pass_mark = completion.get("quiz_pass_mark")
    if pass_mark is not None and not _is_whole(pass_mark, 0, 100):
        problems.append(("completion.quiz_pass_mark", "must be a whole percentage from 0 to 100, or null"))
        pass_mark = None
    survey_required = completion.get("survey_required", False)
    if not isinstance(survey_required, bool):
        problems.append(("completion.survey_required", "must be true or false"))
        survey_required = False
    return min_attendance, pass_mark, survey_required


def _check_programme(meta: dict[str, Any], kind: str, problems: list[Problem]) -> tuple[list[tuple[str, bool]], int]:
    """`courses` and `electives_required`: a programme's (code, required) list; a course has none.

    `electives_required` is checked for a programme only; a course always has 0.
    """
    electives_required = meta.get("electives_required", 0) or 0
    if kind != CourseKind.PROGRAMME.value:
        if meta.get("courses"):
            problems.append(("courses", "only a programme lists courses"))
        return [], 0  # a course has no electives to count, whatever the header says
    items = _programme_items(meta.get("courses"), problems)
    electives = sum(1 for _, required in items if not required)
    if not isinstance(electives_required, int) or not 0 <= electives_required <= electives:
        problems.append(("electives_required", f"must be between 0 and the {electives} elective course(s) listed"))
        electives_required = 0
    return items, electives_required


def _programme_items(raw_items: Any, problems: list[Problem]) -> list[tuple[str, bool]]:
    """A programme's `courses` list: at least one entry, each a mapping with a code (required defaults true)."""
    raw_items = raw_items or []
    if not isinstance(raw_items, list) or not raw_items:
        problems.append(("courses", "a programme needs a list of courses"))
        return []
    items: list[tuple[str, bool]] = []
    for position, item in enumerate(raw_items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            problems.append((f"courses[{position}]", "each entry needs a code"))
            continue
        items.append((item["code"], bool(item.get("required", True))))
    return items


def _check_status(meta: dict[str, Any], problems: list[Problem]) -> str:
    """`status`: draft or published (the default)."""
    status = meta.get("status", "published")
    if status not in ("draft", "published"):
        problems.append(("status", "must be draft or published"))
        return ""
    return str(status)


# --- step 3: the quiz section -------------------------------------------------------------------


def validate_quiz(quiz: Any) -> list[Problem]:
    """Check a quiz section; return (field, message) pairs."""
    if not isinstance(quiz, dict):
        return [("quiz", "must be a mapping")]
    problems = _quiz_settings_problems(quiz)
    questions = quiz.get("questions")
    if not isinstance(questions, list) or not questions:
        return [*problems, ("quiz.questions", "needs at least one question")]
    for number, question in enumerate(questions, start=1):
        problems += _question_problems(f"quiz.questions[{number}]", question)
    return problems


def _quiz_settings_problems(quiz: dict[str, Any]) -> list[Problem]:
    """The quiz-wide settings: the true/false flags and the whole numbers (pass mark, attempts, time limit)."""
    problems: list[Problem] = []
    for key in ("shuffle", "show_answers", "show_answers_between_attempts", "opens_after_session"):
        if key in quiz and not isinstance(quiz[key], bool):
            problems.append((f"quiz.{key}", "must be true or false"))
    for key in ("pass_mark", "attempts_allowed", "time_limit_minutes"):
        value = quiz.get(key)
        if value is not None and not _is_whole(value, 0):
            problems.append((f"quiz.{key}", "must be a whole number"))
    return problems


def _question_problems(where: str, question: Any) -> list[Problem]:
    """One question (`where` is its field, e.g. "quiz.questions[2]"): type, text, choices, answer, points.

    An unknown type stops the check there; so do missing choices of a single or multiple question.
    """
    if not isinstance(question, dict):
        return [(where, "must be a mapping")]
    qtype = question.get("type")
    if qtype not in QUESTION_TYPES:
        return [(f"{where}.type", f"use one of: {', '.join(QUESTION_TYPES)}")]
    problems: list[Problem] = []
    if not isinstance(question.get("text"), str) or not question["text"].strip():
        problems.append((f"{where}.text", "is missing"))
    choices = question.get("choices")
    if qtype in ("single", "multiple") and (not isinstance(choices, list) or len(choices) < 2):
        return [*problems, (f"{where}.choices", "needs at least two choices")]
    problems += _answer_problems(where, qtype, choices, question.get("answer"))
    if not _is_whole(question.get("points", 1), 0):
        problems.append((f"{where}.points", "must be a whole number"))
    return problems


def _answer_problems(where: str, qtype: str, choices: Any, answer: Any) -> list[Problem]:
    """The answer key: a choice index (single), a list of them (multiple), true/false; short is free text."""
    if qtype in ("single", "multiple"):
        indexes = answer if qtype == "multiple" else [answer]
        if (not isinstance(indexes, list) or not indexes
                or not all(_is_whole(i, 0, len(choices) - 1) for i in indexes)):
            return [(f"{where}.answer", f"must be {'a list of ' if qtype == 'multiple' else 'an '}"
                     f"index from 0 to {len(choices) - 1}")]
    elif qtype == "true_false" and not isinstance(answer, bool):
        return [(f"{where}.answer", "must be true or false")]
    return []


# --- step 4: the body ---------------------------------------------------------------------------


def check_body(body: str) -> tuple[str, list[Problem]]:
    """The Markdown body as stored (stripped, one final newline), refusing unsafe characters."""
    if (problem := find_unsafe(body, multiline=True)) is not None:
        return "", [("body", problem.describe())]
    return body.strip() + "\n", []


def render_course_file(spec: CourseSpec) -> str:
    """Write a spec in the file format; parsing the result gives back an equal spec."""
    meta: dict[str, Any] = {
        "code": spec.code,
        "kind": spec.kind,
        "title": {"ja": spec.title_ja, "en": spec.title_en},
        "track": spec.track,
        "theme": spec.theme,
        "format": spec.delivery_format,
        "hours": float(spec.hours) if "." in spec.hours else int(spec.hours),
        "fiscal_year": spec.fiscal_year,
        "target_grades": list(spec.target_grades),
        "prerequisites": list(spec.prerequisites),
        "completion": {
            "min_attendance": spec.min_attendance_pct,
            "quiz_pass_mark": spec.quiz_pass_mark,
            "survey_required": spec.survey_required,
        },
    }
    if spec.kind == CourseKind.PROGRAMME.value:
        meta["courses"] = [{"code": c, "required": r} for c, r in spec.items]
        meta["electives_required"] = spec.electives_required
    if spec.status != "published":
        meta["status"] = spec.status
    if spec.quiz is not None:
        meta["quiz"] = spec.quiz
    header = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, default_flow_style=None, width=100)
    return f"---\n{header}---\n{spec.body_md.strip()}\n"
