"""Each step of reading a course file on its own: the header block, its fields, the quiz, the body.

`parse_course_text` is their composition; the real files in courses/ give the shapes used here.
No database is needed: these are pure functions.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from app.catalog.cli import DEFAULT_DIR
from app.catalog.course_files import (
    FileIssue,
    check_body,
    check_header,
    parse_course_text,
    read_header,
    render_course_file,
    validate_quiz,
)
from app.org.reference import GRADES

GRADE_CODES = {code for code, _ja, _en in GRADES}
COURSE_FILES = sorted(p for p in DEFAULT_DIR.glob("*.md") if p.name.lower() != "readme.md")


def real_meta(name: str) -> dict[str, Any]:
    """The loaded header of one file in courses/ (a fresh copy to change)."""
    meta, _body, problems = read_header((DEFAULT_DIR / name).read_text(encoding="utf-8"))
    assert meta is not None and problems == []
    return copy.deepcopy(meta)


def course_meta(**changes: Any) -> dict[str, Any]:
    """A course's header (courses/dx-kacho-2020.md) without its quiz, with `changes` applied."""
    meta = real_meta("dx-kacho-2020.md")
    del meta["quiz"]
    meta.update(changes)
    return meta


def programme_meta(**changes: Any) -> dict[str, Any]:
    """A programme's header (courses/smart-2020.md) with `changes` applied."""
    meta = real_meta("smart-2020.md")
    meta.update(changes)
    return meta


def real_quiz() -> dict[str, Any]:
    """The quiz section of courses/dx-kacho-2020.md: single, multiple, true_false and short questions."""
    return copy.deepcopy(real_meta("dx-kacho-2020.md")["quiz"])


def header_problems(meta: dict[str, Any]) -> list[tuple[str, str]]:
    return check_header(meta, GRADE_CODES)[1]


def fields(problems: list[tuple[str, str]]) -> list[str]:
    return [name for name, _message in problems]


# --- the round trip over the real catalog ---------------------------------------------------------


def test_the_catalog_has_files_to_check() -> None:
    assert len(COURSE_FILES) >= 10
    assert {"dx-kacho-2020.md", "smart-2020.md"} <= {p.name for p in COURSE_FILES}


@pytest.mark.parametrize("path", COURSE_FILES, ids=lambda p: p.name)
def test_every_real_file_parses_cleanly_and_round_trips(path: Path) -> None:
    spec, issues = parse_course_text(path.read_text(encoding="utf-8"), path.name, GRADE_CODES)
    assert issues == [] and spec is not None
    assert path.stem.upper() == spec.code
    again, issues_again = parse_course_text(render_course_file(spec), path.name, GRADE_CODES)
    assert issues_again == [] and again == spec
    assert again.content_hash() == spec.content_hash()


# --- step 1: reading the header block ----------------------------------------------------------


def test_read_header_splits_mapping_and_body() -> None:
    meta, body, problems = read_header("---\ncode: A-1\nhours: 1.5\n---\n## Body\n\ntext\n")
    assert problems == [] and meta == {"code": "A-1", "hours": 1.5}
    assert body == "## Body\n\ntext\n"


def test_read_header_accepts_a_byte_order_mark() -> None:
    meta, _body, problems = read_header("\ufeff---\ncode: A-1\n---\nbody\n")
    assert problems == [] and meta == {"code": "A-1"}


@pytest.mark.parametrize("text", ["code: A-1\n---\nbody\n", "---\ncode: A-1\nno closing line\n", ""])
def test_read_header_needs_the_dashed_block(text: str) -> None:
    assert read_header(text) == (None, "", [("header", "the file must start with a YAML header between '---' lines")])


def test_invalid_yaml_names_the_line_within_the_header() -> None:
    meta, _body, problems = read_header("---\ncode: A-1\nkind: course\ntrack: [elective\ntheme: general\n---\nbody\n")
    assert meta is None
    # The list left open on header line 3 is reported where the parser gives up: line 4 (file line 5).
    assert problems == [("header", "invalid YAML (header line 4): expected ',' or ']', but got ':'")]


def test_yaml_error_line_counts_from_the_first_header_line() -> None:
    _meta, _body, problems = read_header("---\ncode: A-1\n\tbad: tab\n---\n")
    assert problems[0][0] == "header" and "(header line 2)" in problems[0][1]


@pytest.mark.parametrize("header", ["- a\n- b\n", "just text\n", "\n"])
def test_the_header_must_be_a_mapping(header: str) -> None:
    assert read_header(f"---\n{header}---\nbody\n") == (
        None, "", [("header", "the YAML header must be a mapping of keys to values")])


# --- step 2: the header's fields ---------------------------------------------------------------


def test_a_real_course_header_has_no_problems() -> None:
    header, problems = check_header(course_meta(), GRADE_CODES)
    assert problems == []
    assert (header.code, header.kind, header.track, header.theme, header.delivery_format) == (
        "DX-KACHO-2020", "course", "grade_training", "smart_government", "blended")
    assert (header.hours, header.fiscal_year, header.target_grades, header.prerequisites) == ("6", 2020, ["KACHO"], [])
    assert (header.min_attendance_pct, header.quiz_pass_mark, header.survey_required) == (100, 70, True)
    assert (header.items, header.electives_required, header.status) == ([], 0, "published")
    assert header.title_en == "Digital Training for Section Chiefs"


@pytest.mark.parametrize("key", ["code", "title", "track", "theme", "format", "hours", "fiscal_year"])
@pytest.mark.parametrize("how", ["absent", "null", "empty"])
def test_required_keys_are_reported_missing(key: str, how: str) -> None:
    meta = course_meta()
    if how == "absent":
        del meta[key]
    else:
        meta[key] = None if how == "null" else ""
    assert header_problems(meta) == [(key, "is missing")]


def test_optional_keys_take_their_defaults() -> None:
    meta = course_meta()
    for key in ("kind", "target_grades", "prerequisites", "completion"):
        del meta[key]
    header, problems = check_header(meta, GRADE_CODES)
    assert problems == []
    assert (header.kind, header.target_grades, header.prerequisites, header.status) == ("course", [], [], "published")
    assert (header.min_attendance_pct, header.quiz_pass_mark, header.survey_required) == (100, None, False)


def test_unknown_keys_are_each_reported_in_sorted_order_and_first() -> None:
    meta = course_meta(zeta=1, alpha=2, Title="typo", code=None)
    assert header_problems(meta) == [("Title", "unknown key"), ("alpha", "unknown key"), ("zeta", "unknown key"),
                                     ("code", "is missing")]


@pytest.mark.parametrize("code", ["has space", "-leading-dash", "x" * 41, "コード", 123])
def test_code_must_be_letters_digits_and_punctuation(code: Any) -> None:
    assert header_problems(course_meta(code=code)) == [("code", "use 1–40 letters, digits, '-', '_' or '.'")]


def test_code_of_forty_characters_is_accepted() -> None:
    assert header_problems(course_meta(code="A" * 40)) == []


@pytest.mark.parametrize("kind", ["workshop", None, 1])
def test_kind_must_be_course_or_programme(kind: Any) -> None:
    assert header_problems(course_meta(kind=kind)) == [("kind", "must be one of: course, programme")]


@pytest.mark.parametrize("title", ["only text", {"ja": "研修"}, {"en": "Training"}, {"ja": "", "en": "Training"}])
def test_title_needs_both_languages(title: Any) -> None:
    assert header_problems(course_meta(title=title)) == [("title", "needs both ja and en")]


def test_title_is_stripped_and_limited_to_200_characters() -> None:
    header, problems = check_header(course_meta(title={"ja": "  研修  ", "en": "x" * 200}), GRADE_CODES)
    assert problems == [] and header.title_ja == "研修"
    assert header_problems(course_meta(title={"ja": "研修", "en": "x" * 201})) == [
        ("title", "is longer than 200 characters")]


def test_title_refuses_unsafe_characters_per_language() -> None:
    problems = header_problems(course_meta(title={"ja": "研修\u202e", "en": "Line\u2028break"}))
    assert fields(problems) == ["title.ja", "title.en"]
    assert "U+202E" in problems[0][1] and "U+2028" in problems[1][1]


@pytest.mark.parametrize(("key", "value", "allowed"), [
    ("track", "seminar", "grade_training, cohort_programme, elective"),
    ("theme", "smart_city", "smart_government, smart_workstyle, smart_solutions, general"),
    ("format", "webinar", "classroom, online, elearning, fieldwork, blended"),
])
def test_choices_name_the_bad_value_and_the_allowed_ones(key: str, value: str, allowed: str) -> None:
    assert header_problems(course_meta(**{key: value})) == [
        (key, f"unknown value {value!r}; use one of: {allowed}")]


@pytest.mark.parametrize(("hours", "text"), [(6, "6"), (1.5, "1.5"), ("1.50", "1.5"), (0, "0"), (9999, "9999"),
                                             (0.25, "0.25"), (10.0, "10")])
def test_hours_become_canonical_decimal_text(hours: Any, text: str) -> None:
    header, problems = check_header(course_meta(hours=hours), GRADE_CODES)
    assert problems == [] and header.hours == text


@pytest.mark.parametrize("hours", [-1, 10000, 1.234, "six", "NaN", "Infinity", [6]])
def test_hours_out_of_range_or_not_a_number(hours: Any) -> None:
    assert header_problems(course_meta(hours=hours)) == [
        ("hours", "must be a number of hours from 0 to 9999 (up to 2 decimals)")]


@pytest.mark.parametrize("year", [1999, 2101, "2020", 2020.0, True])
def test_fiscal_year_must_be_a_whole_year(year: Any) -> None:
    assert header_problems(course_meta(fiscal_year=year)) == [("fiscal_year", "must be a year such as 2020")]


@pytest.mark.parametrize("grades", ["KACHO", [1], {"KACHO": True}])
def test_target_grades_must_be_a_list_of_codes(grades: Any) -> None:
    assert header_problems(course_meta(target_grades=grades)) == [("target_grades", "must be a list of grade codes")]


def test_each_unknown_grade_is_reported_with_the_known_ones() -> None:
    known = ", ".join(sorted(GRADE_CODES))
    assert header_problems(course_meta(target_grades=["KACHO", "KAKARICHO", "HANCHO"])) == [
        ("target_grades", f"unknown grade 'KAKARICHO'; use: {known}"),
        ("target_grades", f"unknown grade 'HANCHO'; use: {known}"),
    ]


def test_prerequisites_must_be_a_list_of_codes_other_than_its_own() -> None:
    assert header_problems(course_meta(prerequisites="DX-SHUNIN-2020")) == [
        ("prerequisites", "must be a list of course codes")]
    assert header_problems(course_meta(prerequisites=["DX-SHUNIN-2020", "DX-KACHO-2020"])) == [
        ("prerequisites", "a course cannot be its own prerequisite")]
    # Whether a prerequisite exists is the sync's cross-file check, not this one's.
    assert header_problems(course_meta(prerequisites=["NOPE-9"])) == []


@pytest.mark.parametrize(("completion", "expected"), [
    ([100], [("completion", "must be a mapping")]),
    ({"min_attendance": 101}, [("completion.min_attendance", "must be a whole percentage from 0 to 100")]),
    ({"min_attendance": 80.5}, [("completion.min_attendance", "must be a whole percentage from 0 to 100")]),
    ({"min_attendance": True}, [("completion.min_attendance", "must be a whole percentage from 0 to 100")]),
    ({"quiz_pass_mark": 160},
     [("completion.quiz_pass_mark", "must be a whole percentage from 0 to 100, or null")]),
    ({"quiz_pass_mark": -1},
     [("completion.quiz_pass_mark", "must be a whole percentage from 0 to 100, or null")]),
    ({"survey_required": "yes"}, [("completion.survey_required", "must be true or false")]),
    ({"min_attendance": 0, "quiz_pass_mark": None, "survey_required": False}, []),
])
def test_completion_rules(completion: Any, expected: list[tuple[str, str]]) -> None:
    assert header_problems(course_meta(completion=completion)) == expected


def test_a_real_programme_lists_its_courses_in_order() -> None:
    header, problems = check_header(programme_meta(), GRADE_CODES)
    assert problems == []
    assert header.kind == "programme" and header.electives_required == 0
    assert header.items == [("SMART-M1-2020", True), ("SMART-M2-2020", True), ("SMART-M3-2020", True),
                            ("SMART-M4-2020", True)]


@pytest.mark.parametrize("courses", [None, [], "SMART-M1-2020", {"code": "SMART-M1-2020"}])
def test_a_programme_needs_a_list_of_courses(courses: Any) -> None:
    assert header_problems(programme_meta(courses=courses)) == [("courses", "a programme needs a list of courses")]


def test_each_programme_entry_needs_a_code_and_is_named_by_position() -> None:
    courses = [{"code": "A-1"}, "B-2", {"required": True}, {"code": 3}, {"code": "E-5", "required": False}]
    header, problems = check_header(programme_meta(courses=courses, electives_required=1), GRADE_CODES)
    assert problems == [("courses[2]", "each entry needs a code"), ("courses[3]", "each entry needs a code"),
                        ("courses[4]", "each entry needs a code")]
    assert header.items == [("A-1", True), ("E-5", False)]


@pytest.mark.parametrize("electives_required", [2, -1, "one"])
def test_electives_required_is_at_most_the_electives_listed(electives_required: Any) -> None:
    courses = [{"code": "A-1", "required": True}, {"code": "B-2", "required": False}]
    assert header_problems(programme_meta(courses=courses, electives_required=electives_required)) == [
        ("electives_required", "must be between 0 and the 1 elective course(s) listed")]
    assert header_problems(programme_meta(courses=courses, electives_required=1)) == []


def test_only_a_programme_lists_courses() -> None:
    assert header_problems(course_meta(courses=[{"code": "A-1"}])) == [("courses", "only a programme lists courses")]
    assert header_problems(course_meta(courses=[])) == []


@pytest.mark.parametrize(("status", "expected"), [
    ("draft", []), ("published", []), ("retired", [("status", "must be draft or published")]),
])
def test_status_is_draft_or_published(status: str, expected: list[tuple[str, str]]) -> None:
    assert header_problems(course_meta(status=status)) == expected


def test_header_problems_come_in_the_order_of_the_file_format() -> None:
    meta = course_meta(code="bad code", kind="x", track="x", hours=-1, fiscal_year=1, target_grades=["X"],
                       completion={"survey_required": 1}, status="x", extra=1)
    assert fields(header_problems(meta)) == ["extra", "code", "kind", "track", "hours", "fiscal_year",
                                             "target_grades", "completion.survey_required", "status"]


# --- step 3: the quiz section -------------------------------------------------------------------


def test_the_real_quizzes_have_no_problems() -> None:
    quizzes = [meta["quiz"] for meta in (real_meta(p.name) for p in COURSE_FILES) if "quiz" in meta]
    assert quizzes, "courses/ should hold at least one quiz"
    for quiz in quizzes:
        assert validate_quiz(quiz) == []


@pytest.mark.parametrize("quiz", [[], "quiz", 1])
def test_the_quiz_must_be_a_mapping(quiz: Any) -> None:
    assert validate_quiz(quiz) == [("quiz", "must be a mapping")]


@pytest.mark.parametrize("questions", [None, [], "q", {"type": "single"}])
def test_the_quiz_needs_questions(questions: Any) -> None:
    quiz = real_quiz()
    quiz["questions"] = questions
    assert validate_quiz(quiz) == [("quiz.questions", "needs at least one question")]


def test_quiz_settings_are_flags_and_whole_numbers() -> None:
    quiz = real_quiz()
    quiz.update(shuffle="yes", show_answers=1, show_answers_between_attempts=None, opens_after_session=True,
                pass_mark=-1, attempts_allowed=True, time_limit_minutes=1.5)
    assert validate_quiz(quiz) == [
        ("quiz.shuffle", "must be true or false"), ("quiz.show_answers", "must be true or false"),
        ("quiz.show_answers_between_attempts", "must be true or false"),
        ("quiz.pass_mark", "must be a whole number"), ("quiz.attempts_allowed", "must be a whole number"),
        ("quiz.time_limit_minutes", "must be a whole number"),
    ]


def test_settings_problems_come_before_a_missing_question_list() -> None:
    assert validate_quiz({"shuffle": "no"}) == [("quiz.shuffle", "must be true or false"),
                                                ("quiz.questions", "needs at least one question")]


def one_question(**question: Any) -> list[tuple[str, str]]:
    return validate_quiz({"questions": [{"text": "問題", **question}]})


def test_a_question_must_be_a_mapping_named_by_its_number() -> None:
    quiz = real_quiz()
    quiz["questions"].insert(1, "not a question")
    assert validate_quiz(quiz) == [("quiz.questions[2]", "must be a mapping")]


@pytest.mark.parametrize("qtype", [None, "essay", ["single"]])
def test_an_unknown_type_stops_the_question_check(qtype: Any) -> None:
    assert one_question(type=qtype, text="", points=-1) == [
        ("quiz.questions[1].type", "use one of: single, multiple, true_false, short")]


@pytest.mark.parametrize("text", [None, "", "   ", 5])
def test_a_question_needs_text(text: Any) -> None:
    assert one_question(type="short", text=text) == [("quiz.questions[1].text", "is missing")]


@pytest.mark.parametrize("qtype", ["single", "multiple"])
@pytest.mark.parametrize("choices", [None, [], ["only one"], "A, B"])
def test_too_few_choices_stop_the_question_check(qtype: str, choices: Any) -> None:
    assert one_question(type=qtype, choices=choices, answer=7, points=-1) == [
        ("quiz.questions[1].choices", "needs at least two choices")]


@pytest.mark.parametrize("answer", [3, -1, None, True, "0", [0]])
def test_a_single_answer_is_one_index_in_range(answer: Any) -> None:
    assert one_question(type="single", choices=["A", "B", "C"], answer=answer) == [
        ("quiz.questions[1].answer", "must be an index from 0 to 2")]


@pytest.mark.parametrize("answer", [[], 0, [0, 3], [False], None])
def test_a_multiple_answer_is_a_list_of_indexes_in_range(answer: Any) -> None:
    assert one_question(type="multiple", choices=["A", "B", "C"], answer=answer) == [
        ("quiz.questions[1].answer", "must be a list of index from 0 to 2")]


def test_answers_in_range_are_accepted() -> None:
    assert one_question(type="single", choices=["A", "B", "C"], answer=2) == []
    assert one_question(type="multiple", choices=["A", "B", "C"], answer=[0, 2]) == []


@pytest.mark.parametrize("answer", [None, "false", 0])
def test_a_true_false_answer_is_a_boolean(answer: Any) -> None:
    assert one_question(type="true_false", answer=answer) == [("quiz.questions[1].answer", "must be true or false")]


@pytest.mark.parametrize("answer", [None, "model answer", 3])
def test_a_short_answer_is_free(answer: Any) -> None:
    assert one_question(type="short", answer=answer) == []


@pytest.mark.parametrize("points", [-1, 1.5, True, "2"])
def test_points_are_a_whole_number(points: Any) -> None:
    assert one_question(type="true_false", answer=False, points=points) == [
        ("quiz.questions[1].points", "must be a whole number")]


def test_question_problems_are_collected_across_questions_in_order() -> None:
    quiz = real_quiz()
    quiz["questions"][0]["answer"] = 9  # single, four choices
    quiz["questions"][2]["answer"] = "no"  # true_false
    quiz["questions"][5]["text"] = ""  # short
    assert validate_quiz(quiz) == [("quiz.questions[1].answer", "must be an index from 0 to 3"),
                                   ("quiz.questions[3].answer", "must be true or false"),
                                   ("quiz.questions[6].text", "is missing")]


# --- step 4: the body ---------------------------------------------------------------------------


def test_the_body_is_stored_stripped_with_one_final_newline() -> None:
    assert check_body("\n\n## ねらい\n\ttext\r\n\n\n") == ("## ねらい\n\ttext\n", [])
    assert check_body("") == ("\n", [])


@pytest.mark.parametrize(("character", "code"), [("\u202e", "U+202E"), ("\x00", "U+0000"), ("\x1b", "U+001B")])
def test_the_body_refuses_unsafe_characters(character: str, code: str) -> None:
    body_md, problems = check_body(f"## ねらい\n\nbefore{character}after\n")
    [(field, message)] = problems
    assert field == "body" and code in message and body_md == ""


# --- the composition ------------------------------------------------------------------------------


def test_parse_names_the_file_on_every_issue_in_step_order() -> None:
    text = (DEFAULT_DIR / "dx-kacho-2020.md").read_text(encoding="utf-8")
    text = text.replace("hours: 6\n", "hours: -6\nextra: 1\n").replace("answer: 3\n", "answer: 4\n")
    text += "\u202e\n"
    spec, issues = parse_course_text(text, "dx-kacho-2020.md", GRADE_CODES)
    assert spec is None
    assert [(i.file, i.field) for i in issues] == [
        ("dx-kacho-2020.md", "extra"), ("dx-kacho-2020.md", "hours"),
        ("dx-kacho-2020.md", "quiz.questions[1].answer"), ("dx-kacho-2020.md", "body")]
    assert str(issues[1]) == "dx-kacho-2020.md: hours: must be a number of hours from 0 to 9999 (up to 2 decimals)"


def test_an_unreadable_header_is_the_only_issue() -> None:
    spec, issues = parse_course_text("---\ncode: [A\n---\nbody\u202e\n", "broken.md", GRADE_CODES)
    assert spec is None and len(issues) == 1
    assert issues[0].file == "broken.md" and issues[0].field == "header"
    assert issues[0].message.startswith("invalid YAML (header line 2): ")  # where the unclosed list runs out
    assert parse_course_text("no header", "plain.md", GRADE_CODES) == (None, [
        FileIssue("plain.md", "header", "the file must start with a YAML header between '---' lines")])


def test_a_good_file_gives_the_spec_with_body_and_quiz() -> None:
    path = DEFAULT_DIR / "dx-kacho-2020.md"
    spec, issues = parse_course_text(path.read_text(encoding="utf-8"), path.name, GRADE_CODES)
    assert issues == [] and spec is not None
    assert spec.quiz == real_quiz()
    assert spec.body_md.startswith("## ねらい\n") and spec.body_md.endswith("修了証を交付します。\n")
    assert (spec.code, spec.hours, spec.fiscal_year, spec.quiz_pass_mark) == ("DX-KACHO-2020", "6", 2020, 70)


# --- headers that once crashed the parser (no input may end in a traceback) -------------------


def test_a_key_that_is_not_text_is_an_unknown_key_not_a_crash() -> None:
    meta = course_meta()
    meta[5] = "x"
    assert ("5", "unknown key") in header_problems(meta)


@pytest.mark.parametrize("kind", [["course"], {"a": 1}, 3])
def test_a_kind_that_is_not_text_is_reported(kind: Any) -> None:
    assert "kind" in fields(header_problems(course_meta(kind=kind)))


def test_a_course_counts_no_electives_whatever_its_header_says() -> None:
    header, problems = check_header(course_meta(electives_required=7), GRADE_CODES)
    assert problems == [] and header.electives_required == 0
