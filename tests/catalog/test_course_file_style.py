"""The one canonical style of courses/ (so export reproduces a file byte for byte) and a
programme's `rubrics:` section. Pure functions: no database."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from app.catalog.cli import DEFAULT_DIR
from app.catalog.course_files import (
    RUBRIC_MILESTONES,
    check_rubrics,
    dump_header,
    parse_course_text,
    read_header,
    render_course_file,
)
from app.cohorts.models import MilestoneKind
from app.org.reference import GRADES

GRADE_CODES = {code for code, _ja, _en in GRADES}
COURSE_FILES = sorted(p for p in DEFAULT_DIR.glob("*.md") if p.name.lower() != "readme.md")


@pytest.mark.parametrize("path", COURSE_FILES, ids=lambda p: p.name)
def test_every_file_in_courses_is_already_canonical(path: Path) -> None:
    """A hand edit in another YAML style fails here: re-render the file (`flask catalog export`)."""
    spec, issues = parse_course_text(path.read_text(encoding="utf-8"), path.name, GRADE_CODES)
    assert issues == [] and spec is not None
    assert render_course_file(spec).encode("utf-8") == path.read_bytes()


def test_a_file_in_another_style_renders_canonically_with_the_same_content() -> None:
    text = (DEFAULT_DIR / "smart-m4-2020.md").read_text(encoding="utf-8")
    restyled = text.replace("title:\n  ja: スマート人材育成 モジュール4 フィールドワーク実践と成果発表\n"
                            "  en: \"Smart Talent Module 4: Fieldwork and Final Presentation\"\n",
                            "title: {en: 'Smart Talent Module 4: Fieldwork and Final Presentation', "
                            "ja: スマート人材育成 モジュール4 フィールドワーク実践と成果発表}\n")
    assert restyled != text
    spec, _ = parse_course_text(text, "m4.md", GRADE_CODES)
    again, _ = parse_course_text(restyled, "m4.md", GRADE_CODES)
    assert spec is not None and again is not None and again.content_hash() == spec.content_hash()
    assert render_course_file(again) == text


def test_a_stored_quiz_in_another_key_order_renders_in_the_canonical_order() -> None:
    path = DEFAULT_DIR / "dx-kacho-2020.md"
    spec, _ = parse_course_text(path.read_text(encoding="utf-8"), path.name, GRADE_CODES)
    assert spec is not None and spec.quiz is not None
    shuffled = copy.deepcopy(spec)
    shuffled.quiz = {key: spec.quiz[key] for key in sorted(spec.quiz, reverse=True)}
    shuffled.quiz["questions"] = [{k: q[k] for k in sorted(q)} for q in spec.quiz["questions"]]
    assert render_course_file(shuffled) == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("value", [
    "Don't", "a: b", "yes", "no", "123", "1.5", "#tag", "a #b", " lead", "x,y", "[a]", "{a}", "- x", "@x",
    "a\nb", "全角　空白", "\u2028z", "null", "~", "2020-04-01", "'q'", '"q"', "*x", "&x", "!x", "%x", "|x", ">x", "",
])
def test_every_string_reads_back_as_itself(value: str) -> None:
    meta = {"title": {"ja": value}, "target_grades": [value], "courses": [{"code": value, "required": True}],
            "quiz": {"questions": [{"text": value, "choices": [value, "b"]}]}}
    assert yaml.safe_load(dump_header(meta)) == meta


def test_strings_are_plain_unless_yaml_would_misread_them() -> None:
    header = dump_header({"a": "スマート人材育成", "b": "Smart Talent: Module 4", "c": "yes", "d": [1.5, None, True]})
    assert header == 'a: スマート人材育成\nb: "Smart Talent: Module 4"\nc: "yes"\nd: [1.5, null, true]\n'


# --- rubrics --------------------------------------------------------------------------------


def test_rubric_milestones_are_the_cohort_milestone_kinds() -> None:
    assert RUBRIC_MILESTONES == tuple(kind.value for kind in MilestoneKind)


def test_the_programme_file_has_a_rubric_for_every_milestone() -> None:
    path = DEFAULT_DIR / "smart-2020.md"
    spec, issues = parse_course_text(path.read_text(encoding="utf-8"), path.name, GRADE_CODES)
    assert issues == [] and spec is not None
    assert list(spec.rubrics) == list(RUBRIC_MILESTONES)
    plan = spec.rubrics["plan"]
    assert [c["name"] for c in plan] == ["課題の把握", "計画の実現性", "役割分担"]
    assert plan[0]["levels"][0] == {"label": "十分", "points": 4,
                                    "description": "受入所属の実際の課題を、現場の声やデータを根拠に具体的に捉えている"}


def _programme_meta() -> dict:  # type: ignore[type-arg]
    meta, _body, _problems = read_header((DEFAULT_DIR / "smart-2020.md").read_text(encoding="utf-8"))
    assert meta is not None
    return copy.deepcopy(meta)


@pytest.mark.parametrize(("change", "field", "fragment"), [
    (lambda r: r.update(review=r["plan"]), "rubrics.review", "unknown milestone"),
    (lambda r: r["plan"][0].pop("name"), "rubrics.plan[1].name", "missing"),
    (lambda r: r["plan"][1]["levels"][2].update(points=101), "rubrics.plan[2].levels[3].points", "0 to 100"),
    (lambda r: r["plan"][1]["levels"][2].update(points="4"), "rubrics.plan[2].levels[3].points", "whole number"),
    (lambda r: r["interim"][0]["levels"][0].pop("description"), "rubrics.interim[1].levels[1].description",
     "missing"),
    (lambda r: r["interim"][0].update(levels=r["interim"][0]["levels"][:1]), "rubrics.interim[1].levels",
     "2 to 5"),
    (lambda r: r["final_report"][1].update(name=r["final_report"][0]["name"]), "rubrics.final_report[2].name",
     "used twice"),
    (lambda r: r["presentation"][0]["levels"][0].update(label="十\u202e分"),
     "rubrics.presentation[1].levels[1].label", ""),
    (lambda r: r.update(plan=[]), "rubrics.plan", "list of criteria"),
])
def test_rubric_problems_name_the_field(change, field: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    meta = _programme_meta()
    change(meta["rubrics"])
    text = f"---\n{dump_header(meta)}---\n本文\n"
    spec, issues = parse_course_text(text, "smart.md", GRADE_CODES)
    assert spec is None
    assert any(i.field == field and fragment in i.message for i in issues), issues


def test_only_a_programme_has_rubrics() -> None:
    rubrics, problems = check_rubrics({"plan": []}, "course")
    assert rubrics == {} and problems == [("rubrics", "only a programme has rubrics for its milestones")]


def test_a_programme_without_rubrics_keeps_its_content_hash() -> None:
    """Adding the rubrics key changed no existing course's hash (a sync after upgrading is a no-op)."""
    path = DEFAULT_DIR / "smart-m4-2020.md"
    spec, _ = parse_course_text(path.read_text(encoding="utf-8"), path.name, GRADE_CODES)
    assert spec is not None and "rubrics" not in spec.canonical()
