"""The quiz editor's plain-text format, written for HR rather than for programmers:

    Q: 質問文
    - 誤った選択肢
    - 正しい選択肢 *          (one "*": single choice; several: multiple choice)

    Q: RPAはすべての業務に向いている。
    = false                   (true/false question)

    Q: EBPMとは何か、一文で説明してください。
    ~ 模範解答                 (short answer, graded by hand)
    points: 2                 (optional, default 1)

Questions are separated by "Q:" lines; problems are reported with their line number."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, TextAreaField
from wtforms.validators import DataRequired, NumberRange, Optional

from app.assessment.models import Question, QuestionType
from app.web.ids import parse_int
from app.web.locale import gettext as _
from app.web.locale import lazy_gettext as _l


class QuizEditorForm(FlaskForm):
    pass_mark = IntegerField(_l("Pass mark (%)"), validators=[
        DataRequired(message=_l("Enter the pass mark.")),
        NumberRange(min=0, max=100, message=_l("Enter a percentage from 0 to 100."))])
    attempts_allowed = IntegerField(_l("Attempts allowed"), validators=[
        DataRequired(message=_l("Enter the number of attempts.")),
        NumberRange(min=1, max=10, message=_l("Enter a number from 1 to 10."))])
    time_limit_minutes = IntegerField(_l("Time limit (minutes, empty for none)"), validators=[
        Optional(), NumberRange(min=1, max=600, message=_l("Enter minutes from 1 to 600."))])
    shuffle = BooleanField(_l("Shuffle the order of questions"))
    show_answers = BooleanField(_l("Show the correct answers once no attempt remains"))
    show_answers_between_attempts = BooleanField(
        _l("Also show them after each attempt while attempts remain (a practice quiz)"))
    opens_after_session = BooleanField(_l("Open only from the start of the last meeting"))
    questions = TextAreaField(_l("Questions"), validators=[DataRequired(message=_l("Write at least one question."))])


def questions_from_text(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    questions: list[dict[str, Any]] = []
    problems: list[str] = []
    current: dict[str, Any] | None = None
    start_line = 0

    def close() -> None:
        if current is None:
            return
        where = _("Question at line %(n)s", n=start_line)
        correct = [i for i, (_c, ok) in enumerate(current["options"]) if ok]
        if current.get("truth") is not None:
            current.update(type="true_false", answer=current["truth"], choices=[])
        elif current.get("model") is not None:
            current.update(type="short", answer=current["model"], choices=[])
        elif current["options"]:
            if len(current["options"]) < 2:
                problems.append(where + ": " + _("give at least two choices."))
            if not correct:
                problems.append(where + ": " + _("mark the correct choice with *."))
            current.update(type="single" if len(correct) == 1 else "multiple",
                           choices=[c for c, _ok in current["options"]],
                           answer=correct[0] if len(correct) == 1 else correct)
        else:
            problems.append(where + ": " + _("add choices (- …), a true/false line (= true) or a model answer (~ …)."))
        questions.append({k: current[k] for k in ("type", "text", "choices", "answer", "points") if k in current})

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.upper().startswith("Q:") or line.startswith("Q："):
            close()
            current = {"text": line[2:].strip(), "options": [], "points": 1, "truth": None, "model": None}
            start_line = number
            if not current["text"]:
                problems.append(_("Line %(n)s: the question has no text.", n=number))
            continue
        if current is None:
            problems.append(_("Line %(n)s: start a question with \"Q:\".", n=number))
            continue
        if line.startswith("-"):
            body = line[1:].strip()
            ok = body.endswith("*")
            current["options"].append((body.rstrip("*").strip(), ok))
        elif line.startswith("="):
            value = line[1:].strip().lower()
            if value not in ("true", "false", "○", "×", "正", "誤"):
                problems.append(_("Line %(n)s: write = true or = false.", n=number))
            current["truth"] = value in ("true", "○", "正")
        elif line.startswith("~"):
            current["model"] = line[1:].strip()
        elif line.lower().startswith("points:"):
            value = line.split(":", 1)[1].strip()
            points = parse_int(value, maximum=1000)
            if points is None:
                problems.append(_("Line %(n)s: points must be a whole number.", n=number))
            else:
                current["points"] = points
        else:
            current["text"] += "\n" + line
    close()
    if not questions and not problems:
        problems.append(_("Write at least one question."))
    return questions, problems


def questions_to_text(questions: list[Question]) -> str:
    blocks = []
    for question in questions:
        lines = [f"Q: {question.text}"]
        if question.type == QuestionType.TRUE_FALSE:
            lines.append(f"= {'true' if question.answer else 'false'}")
        elif question.type == QuestionType.SHORT:
            lines.append(f"~ {question.answer or ''}")
        else:
            correct = set(question.answer if isinstance(question.answer, list) else [question.answer])
            lines.extend(f"- {choice}{' *' if i in correct else ''}" for i, choice in enumerate(question.choices))
        if question.points != 1:
            lines.append(f"points: {question.points}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
