"""The `courses/` file format: a YAML header between `---` lines, then the Markdown body.

`parse_course_text` turns a file into a `CourseSpec` (or a list of `FileIssue`s naming the field)
in four steps, each usable on its own: `read_header` (the YAML block), `check_header` (its fields),
`validate_quiz` (the quiz section) and `check_body` (the Markdown);
`render_course_file` writes a spec back so that parsing it again yields the same spec (round trip).
The content hash is taken over the canonical spec, so formatting alone never counts as a change.

The files have one canonical style (`dump_header`, below): `render_course_file(parse(file))` gives
back the file byte for byte, so exporting a course that was never edited on the web reproduces its
file exactly, and a test keeps every file in courses/ canonical.
"""
from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from app.catalog.models import CourseKind, DeliveryFormat, Theme, Track
from app.catalog.module_files import check_modules, render_modules
from app.core.text_safety import find_unsafe

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
QUESTION_TYPES = ("single", "multiple", "true_false", "short")
KNOWN_KEYS = {
    "code", "kind", "title", "track", "theme", "format", "hours", "fiscal_year", "target_grades",
    "prerequisites", "completion", "courses", "electives_required", "quiz", "status", "rubrics",
    "modules", "valid_for_months",
}
RUBRIC_MILESTONES = ("plan", "interim", "final_report", "presentation")
"""The milestones of a cohort programme that a programme's `rubrics:` may grade, in their order
(the values of app.cohorts.models.MilestoneKind; catalog comes first in the import order)."""


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
    # milestone key -> [{"name", "levels": [{"label", "points", "description"}]}]; programmes only
    rubrics: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    modules: list[dict[str, Any]] | None = None  # e-learning modules (app/catalog/module_files.py)
    valid_for_months: int | None = None  # a completion expires after this many months (None: never)

    def canonical(self) -> dict[str, Any]:
        data = {
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
        if self.rubrics:  # only when present: the hashes of courses without rubrics stay as they were
            data["rubrics"] = self.rubrics
        if self.modules:  # likewise
            data["modules"] = self.modules
        if self.valid_for_months is not None:  # likewise
            data["valid_for_months"] = self.valid_for_months
        return data

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
    rubrics, rubric_problems = check_rubrics(meta.get("rubrics"), header.kind)
    problems += rubric_problems
    modules, module_problems = check_modules(meta.get("modules"), kind=header.kind, has_quiz=quiz is not None,
                                             survey_required=header.survey_required, text=text)
    problems += module_problems
    valid_for_months, validity_problems = check_valid_for_months(meta.get("valid_for_months"))
    problems += validity_problems
    body_md, body_problems = check_body(body)
    problems += body_problems
    if problems:
        return None, _file_issues(filename, problems)
    spec = header.to_spec(body_md, quiz)
    spec.rubrics = rubrics
    spec.modules = modules
    spec.valid_for_months = valid_for_months
    return spec, []


def check_valid_for_months(value: Any) -> tuple[int | None, list[Problem]]:
    """`valid_for_months`: optional, 1–120; a completion of the course expires after that (recertification)."""
    if value is None:
        return None, []
    if not _is_whole(value, 1, 120):
        return None, [("valid_for_months", "must be a whole number of months from 1 to 120")]
    return int(value), []


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


# --- step 3b: a programme's rubrics ---------------------------------------------------------------

RUBRIC_MAX_CRITERIA = 8
RUBRIC_MAX_LEVELS = 5


def check_rubrics(raw: Any, kind: str) -> tuple[dict[str, list[dict[str, Any]]], list[Problem]]:
    """`rubrics`: per milestone (plan, interim, final_report, presentation) a list of criteria, each
    with a name and 2–5 levels (label, points 0–100, description). Returns the normalised rubrics
    (only the known keys, in a fixed order) and the problems."""
    if raw is None:
        return {}, []
    if kind != CourseKind.PROGRAMME.value:
        return {}, [("rubrics", "only a programme has rubrics for its milestones")]
    if not isinstance(raw, dict):
        return {}, [("rubrics", f"must be a mapping of milestones ({', '.join(RUBRIC_MILESTONES)}) to criteria")]
    problems: list[Problem] = [(f"rubrics.{key}", f"unknown milestone; use one of: {', '.join(RUBRIC_MILESTONES)}")
                               for key in sorted(str(k) for k in raw if k not in RUBRIC_MILESTONES)]
    rubrics: dict[str, list[dict[str, Any]]] = {}
    for key in RUBRIC_MILESTONES:
        if key in raw:
            criteria, found = check_rubric(raw[key], f"rubrics.{key}")
            problems += found
            if criteria:
                rubrics[key] = criteria
    return rubrics, problems


def check_rubric(raw: Any, where: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    """One milestone's criteria (`where` names the field, e.g. "rubrics.plan"); also used by the web form."""
    if not isinstance(raw, list) or not raw:
        return [], [(where, "needs a list of criteria")]
    if len(raw) > RUBRIC_MAX_CRITERIA:
        return [], [(where, f"has more than {RUBRIC_MAX_CRITERIA} criteria")]
    problems: list[Problem] = []
    criteria: list[dict[str, Any]] = []
    names: set[str] = set()
    for number, criterion in enumerate(raw, start=1):
        at = f"{where}[{number}]"
        if not isinstance(criterion, dict):
            problems.append((at, "must be a mapping with a name and levels"))
            continue
        problems += [(f"{at}.{key}", "unknown key") for key in sorted(str(k) for k in criterion
                                                                       if k not in ("name", "levels"))]
        name = _rubric_text(criterion.get("name"), f"{at}.name", 100, problems)
        if name and name in names:
            problems.append((f"{at}.name", f"{name!r} is used twice"))
        names.add(name)
        levels = criterion.get("levels")
        if not isinstance(levels, list) or not 2 <= len(levels) <= RUBRIC_MAX_LEVELS:
            problems.append((f"{at}.levels", f"needs 2 to {RUBRIC_MAX_LEVELS} levels"))
            continue
        checked = [_rubric_level(level, f"{at}.levels[{index}]", problems)
                   for index, level in enumerate(levels, start=1)]
        criteria.append({"name": name, "levels": checked})
    return criteria, problems


def _rubric_level(level: Any, at: str, problems: list[Problem]) -> dict[str, Any]:
    """One level of a criterion: a short label, its points and what earns it."""
    if not isinstance(level, dict):
        problems.append((at, "must be a mapping with label, points and description"))
        return {"label": "", "points": 0, "description": ""}
    problems += [(f"{at}.{key}", "unknown key") for key in sorted(str(k) for k in level
                                                                   if k not in ("label", "points", "description"))]
    label = _rubric_text(level.get("label"), f"{at}.label", 40, problems)
    points = level.get("points")
    if not _is_whole(points, 0, 100):
        problems.append((f"{at}.points", "must be a whole number from 0 to 100"))
        points = 0
    description = _rubric_text(level.get("description"), f"{at}.description", 300, problems)
    return {"label": label, "points": points, "description": description}


def _rubric_text(value: Any, at: str, limit: int, problems: list[Problem]) -> str:
    """Required single-line safe text of at most `limit` characters (stripped)."""
    if not isinstance(value, str) or not value.strip():
        problems.append((at, "is missing"))
        return ""
    text = value.strip()
    if len(text) > limit:
        problems.append((at, f"is longer than {limit} characters"))
    elif (problem := find_unsafe(text)) is not None:
        problems.append((at, problem.describe()))
    return text


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
    if spec.valid_for_months is not None:
        meta["valid_for_months"] = spec.valid_for_months
    if spec.kind == CourseKind.PROGRAMME.value:
        meta["courses"] = [{"code": c, "required": r} for c, r in spec.items]
        meta["electives_required"] = spec.electives_required
    if spec.status != "published":
        meta["status"] = spec.status
    if spec.quiz is not None:
        meta["quiz"] = spec.quiz
    if spec.rubrics:
        meta["rubrics"] = {key: [_ordered(criterion, ("name", "levels")) | {
            "levels": [_ordered(level, ("label", "points", "description")) for level in criterion["levels"]]}
            for criterion in spec.rubrics[key]] for key in RUBRIC_MILESTONES if key in spec.rubrics}
    if "quiz" in meta:
        meta["quiz"] = canonical_quiz(meta["quiz"])
    # The modules come last, in their own style (page bodies as literal blocks: module_files.py).
    return f"---\n{dump_header(meta)}{render_modules(spec.modules)}---\n{spec.body_md.strip()}\n"


# --- the canonical style of courses/ --------------------------------------------------------------
#
# One way to write every header, so that export reproduces a file byte for byte (the style the
# authors used): keys in the order `render_course_file` gives; mappings in block style, indented by
# two; a sequence under its key indented by two more; scalar lists inline (`[HOSA, SHUNIN]`) except
# the keys below; no line wrapping; strings plain unless YAML would read them as something else,
# then in double quotes.

FLOW_ITEM_KEYS = frozenset({"courses", "levels"})
"""Sequences of small mappings written one `- {key: value, …}` per line (a programme's courses, a
criterion's levels); other sequences of mappings are written in block style."""
BLOCK_SCALAR_KEYS = frozenset({"choices"})
"""Sequences of scalars written one `- item` per line (a question's choices); others are inline."""
QUIZ_KEY_ORDER = ("pass_mark", "attempts_allowed", "time_limit_minutes", "opens_after_session", "shuffle",
                  "show_answers", "show_answers_between_attempts", "questions")
QUESTION_KEY_ORDER = ("type", "text", "choices", "answer", "points")


def _ordered(mapping: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    """`mapping` with the keys of `order` first, in that order, then any others sorted."""
    return {**{key: mapping[key] for key in order if key in mapping},
            **{key: mapping[key] for key in sorted(mapping) if key not in order}}


def canonical_quiz(quiz: Any) -> Any:
    """The quiz section with its keys in the canonical order (a stored spec may come back reordered)."""
    if not isinstance(quiz, dict):
        return quiz
    ordered = _ordered(quiz, QUIZ_KEY_ORDER)
    if isinstance(ordered.get("questions"), list):
        ordered["questions"] = [_ordered(q, QUESTION_KEY_ORDER) if isinstance(q, dict) else q
                                for q in ordered["questions"]]
    return ordered


def dump_header(meta: dict[str, Any]) -> str:
    """The YAML header (without the `---` lines) in the canonical style; `yaml.safe_load` reads it back equal."""
    lines: list[str] = []
    _emit_mapping(meta, 0, lines)
    return "".join(f"{line}\n" for line in lines)


def _emit_mapping(mapping: dict[str, Any], indent: int, lines: list[str], first_lead: str | None = None) -> None:
    for position, (key, value) in enumerate(mapping.items()):
        lead = first_lead if (position == 0 and first_lead is not None) else " " * indent
        _emit_entry(str(key), value, indent, lead, lines)


def _emit_entry(key: str, value: Any, indent: int, lead: str, lines: list[str]) -> None:
    """`key: value` at `indent`; `lead` starts the line (spaces, or the "- " of the item holding it)."""
    if isinstance(value, dict) and value:
        lines.append(f"{lead}{key}:")
        _emit_mapping(value, indent + 2, lines)
        return
    block = isinstance(value, list) and value and (
        key in FLOW_ITEM_KEYS or key in BLOCK_SCALAR_KEYS or any(isinstance(item, (dict, list)) for item in value))
    if not block:
        lines.append(f"{lead}{key}: {_inline(value, in_flow=False)}")
        return
    lines.append(f"{lead}{key}:")
    dash = " " * (indent + 2) + "- "
    for item in value:
        if isinstance(item, dict) and item and key not in FLOW_ITEM_KEYS:
            _emit_mapping(item, indent + 4, lines, first_lead=dash)
        else:
            lines.append(dash + _inline(item, in_flow=isinstance(item, (dict, list))))


def _inline(value: Any, *, in_flow: bool) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key}: {_inline(item, in_flow=True)}" for key, item in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_inline(item, in_flow=True) for item in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    return text if _plain_reads_back(text, in_flow=in_flow) else _double_quoted(text)


def _plain_reads_back(text: str, *, in_flow: bool) -> bool:
    """Whether `text` written plain is read back as the same string (not a number, a date, a
    boolean, a comment, a mapping …); inside `[…]`/`{…}` commas and brackets matter too."""
    if not text or text != text.strip() or any(ch in text for ch in "\n\r\t"):
        return False
    probe = f"k: [{text}]" if in_flow else f"k: {text}"
    try:
        loaded = yaml.safe_load(probe)
    except yaml.YAMLError:
        return False
    return bool(loaded == ({"k": [text]} if in_flow else {"k": text}))


def _double_quoted(text: str) -> str:
    """A YAML double-quoted scalar; characters YAML would fold or refuse are escaped."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif (ch.isprintable() or unicodedata.category(ch) == "Zs") and ch not in "\u2028\u2029\x85\ufeff":
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'
