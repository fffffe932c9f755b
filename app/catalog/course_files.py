"""The `courses/` file format: a YAML header between `---` lines, then the Markdown body.

`parse_course_text` turns a file into a `CourseSpec` (or a list of `FileIssue`s naming the field);
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


def parse_course_text(text: str, filename: str, grade_codes: set[str]) -> tuple[CourseSpec | None, list[FileIssue]]:
    """Parse and validate one file. Cross-file checks (duplicates, references) are the caller's."""
    issues: list[FileIssue] = []

    def bad(field_name: str, message: str) -> None:
        issues.append(FileIssue(filename, field_name, message))

    parts = split_front_matter(text)
    if parts is None:
        bad("header", "the file must start with a YAML header between '---' lines")
        return None, issues
    header_text, body = parts
    try:
        meta = yaml.safe_load(header_text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (header line {mark.line + 1})" if mark is not None else ""
        bad("header", f"invalid YAML{where}: {getattr(error, 'problem', None) or error}")
        return None, issues
    if not isinstance(meta, dict):
        bad("header", "the YAML header must be a mapping of keys to values")
        return None, issues

    for key in sorted(set(meta) - KNOWN_KEYS):
        bad(str(key), "unknown key")

    def required(key: str) -> Any:
        if key not in meta or meta[key] in (None, ""):
            bad(key, "is missing")
            return None
        return meta[key]

    code = required("code")
    if code is not None and (not isinstance(code, str) or not CODE_PATTERN.fullmatch(code)):
        bad("code", "use 1–40 letters, digits, '-', '_' or '.'")
    kind = meta.get("kind", "course")
    if kind not in {k.value for k in CourseKind}:
        bad("kind", f"must be one of: {', '.join(k.value for k in CourseKind)}")
    title = required("title")
    title_ja = title_en = ""
    if title is not None:
        if not isinstance(title, dict) or not title.get("ja") or not title.get("en"):
            bad("title", "needs both ja and en")
        else:
            title_ja, title_en = str(title["ja"]).strip(), str(title["en"]).strip()
            if len(title_ja) > 200 or len(title_en) > 200:
                bad("title", "is longer than 200 characters")
            for language, value in (("ja", title_ja), ("en", title_en)):
                if (problem := find_unsafe(value)) is not None:
                    bad(f"title.{language}", problem.describe())

    def choice(key: str, enum_class: type[Any]) -> str:
        value = required(key)
        allowed = [member.value for member in enum_class]
        if value is not None and value not in allowed:
            bad(key, f"unknown value {value!r}; use one of: {', '.join(allowed)}")
        return str(value or "")

    track = choice("track", Track)
    theme = choice("theme", Theme)
    delivery_format = choice("format", DeliveryFormat)

    hours_text = "0"
    hours = required("hours")
    if hours is not None:
        try:
            parsed = Decimal(str(hours))
            if parsed < 0 or parsed > 9999 or parsed != parsed.quantize(Decimal("0.01")):
                raise InvalidOperation
            hours_text = canonical_hours(parsed)
        except InvalidOperation:
            bad("hours", "must be a number of hours from 0 to 9999 (up to 2 decimals)")
    fiscal_year = required("fiscal_year")
    if fiscal_year is not None and (not isinstance(fiscal_year, int) or isinstance(fiscal_year, bool)
                                    or not 2000 <= fiscal_year <= 2100):
        bad("fiscal_year", "must be a year such as 2020")
        fiscal_year = None

    target = meta.get("target_grades") or []
    if not isinstance(target, list) or not all(isinstance(g, str) for g in target):
        bad("target_grades", "must be a list of grade codes")
        target = []
    for grade in target:
        if grade not in grade_codes:
            bad("target_grades", f"unknown grade {grade!r}; use: {', '.join(sorted(grade_codes))}")
    prerequisites = meta.get("prerequisites") or []
    if not isinstance(prerequisites, list) or not all(isinstance(p, str) for p in prerequisites):
        bad("prerequisites", "must be a list of course codes")
        prerequisites = []
    if code in prerequisites:
        bad("prerequisites", "a course cannot be its own prerequisite")

    completion = meta.get("completion") or {}
    if not isinstance(completion, dict):
        bad("completion", "must be a mapping")
        completion = {}
    min_attendance = completion.get("min_attendance", 100)
    if not isinstance(min_attendance, int) or isinstance(min_attendance, bool) or not 0 <= min_attendance <= 100:
        bad("completion.min_attendance", "must be a whole percentage from 0 to 100")
        min_attendance = 100
    pass_mark = completion.get("quiz_pass_mark")
    if pass_mark is not None and (not isinstance(pass_mark, int) or isinstance(pass_mark, bool)
                                  or not 0 <= pass_mark <= 100):
        bad("completion.quiz_pass_mark", "must be a whole percentage from 0 to 100, or null")
        pass_mark = None
    survey_required = completion.get("survey_required", False)
    if not isinstance(survey_required, bool):
        bad("completion.survey_required", "must be true or false")
        survey_required = False

    items: list[tuple[str, bool]] = []
    electives_required = meta.get("electives_required", 0) or 0
    if kind == CourseKind.PROGRAMME.value:
        raw_items = meta.get("courses") or []
        if not isinstance(raw_items, list) or not raw_items:
            bad("courses", "a programme needs a list of courses")
            raw_items = []
        for position, item in enumerate(raw_items, start=1):
            if not isinstance(item, dict) or not isinstance(item.get("code"), str):
                bad(f"courses[{position}]", "each entry needs a code")
                continue
            items.append((item["code"], bool(item.get("required", True))))
        electives = sum(1 for _, req in items if not req)
        if not isinstance(electives_required, int) or not 0 <= electives_required <= electives:
            bad("electives_required", f"must be between 0 and the {electives} elective course(s) listed")
            electives_required = 0
    elif meta.get("courses"):
        bad("courses", "only a programme lists courses")

    status = meta.get("status", "published")
    if status not in ("draft", "published"):
        bad("status", "must be draft or published")

    quiz = meta.get("quiz")
    if quiz is not None:
        issues.extend(FileIssue(filename, f, m) for f, m in validate_quiz(quiz))
    if (problem := find_unsafe(body, multiline=True)) is not None:
        bad("body", problem.describe())

    if issues:
        return None, issues
    return CourseSpec(
        code=code, kind=kind, title_ja=title_ja, title_en=title_en, track=track, theme=theme,
        delivery_format=delivery_format, hours=hours_text, fiscal_year=fiscal_year,
        target_grades=list(target), prerequisites=list(prerequisites), min_attendance_pct=min_attendance,
        quiz_pass_mark=pass_mark, survey_required=survey_required, body_md=body.strip() + "\n",
        items=items, electives_required=electives_required, quiz=quiz, status=status,
    ), []


def validate_quiz(quiz: Any) -> list[tuple[str, str]]:
    """Check a quiz section; return (field, message) pairs."""
    problems: list[tuple[str, str]] = []
    if not isinstance(quiz, dict):
        return [("quiz", "must be a mapping")]
    for key in ("shuffle", "show_answers", "show_answers_between_attempts", "opens_after_session"):
        if key in quiz and not isinstance(quiz[key], bool):
            problems.append((f"quiz.{key}", "must be true or false"))
    for key in ("pass_mark", "attempts_allowed", "time_limit_minutes"):
        value = quiz.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            problems.append((f"quiz.{key}", "must be a whole number"))
    questions = quiz.get("questions")
    if not isinstance(questions, list) or not questions:
        return [*problems, ("quiz.questions", "needs at least one question")]
    for number, question in enumerate(questions, start=1):
        where = f"quiz.questions[{number}]"
        if not isinstance(question, dict):
            problems.append((where, "must be a mapping"))
            continue
        qtype = question.get("type")
        if qtype not in QUESTION_TYPES:
            problems.append((f"{where}.type", f"use one of: {', '.join(QUESTION_TYPES)}"))
            continue
        if not isinstance(question.get("text"), str) or not question["text"].strip():
            problems.append((f"{where}.text", "is missing"))
        choices = question.get("choices")
        answer = question.get("answer")
        if qtype in ("single", "multiple"):
            if not isinstance(choices, list) or len(choices) < 2:
                problems.append((f"{where}.choices", "needs at least two choices"))
                continue
            indexes = answer if qtype == "multiple" else [answer]
            if (not isinstance(indexes, list) or not indexes
                    or not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(choices)
                               for i in indexes)):
                problems.append((f"{where}.answer", f"must be {'a list of ' if qtype == 'multiple' else 'an '}"
                                 f"index from 0 to {len(choices) - 1}"))
        elif qtype == "true_false" and not isinstance(answer, bool):
            problems.append((f"{where}.answer", "must be true or false"))
        points = question.get("points", 1)
        if not isinstance(points, int) or isinstance(points, bool) or points < 0:
            problems.append((f"{where}.points", "must be a whole number"))
    return problems


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
