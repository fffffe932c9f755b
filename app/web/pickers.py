"""The JSON the pickers read (app/static/picker.js): a searchable list in place of a code typed by
hand (an employee number, a unit code, a course code).

Each search is a GET route of the domain that owns the rows (`org.search_people`,
`org.search_units`, `catalog.search_courses`), permission-checked there and reading through that
domain's queries.py in one statement. What they share lives here: the query (`q`, at most
`QUERY_MAX` characters of one line; anything else is a JSON 400 naming the problem, never a 500),
the limit, and the answer:

    {"results": [{"value": "T00012", "label": "山田 花子", "detail": "総務課"}], "more": false}

`value` is what the input receives (the code the form's server validation reads); `label` and
`detail` are shown. `more` says that the search found more than `LIMIT`: type more to narrow it.
(Being answered to a signed-in browser, the JSON is never cached: app/web/headers.py.)
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from flask import Response, jsonify, request

from app.core.text_safety import find_unsafe
from app.web.locale import gettext as _

LIMIT = 20  # choices a picker shows at once
QUERY_MAX = 60  # characters of a search


@dataclass(frozen=True)
class Choice:
    value: str  # what the input receives: an employee number, a unit code, a course code
    label: str  # a name or a title
    detail: str = ""  # what tells two alike apart: the unit, the kana, the parent unit, the status


class BadQuery(ValueError):
    """The search text is refused; the message (translated) says why."""


def search_text() -> str:
    """The request's `q`, stripped (empty: nothing to search for), or BadQuery."""
    q = request.args.get("q", "")
    if len(q) > QUERY_MAX:
        raise BadQuery(_("Write at most %(max)d characters.", max=QUERY_MAX))
    problem = find_unsafe(q)
    if problem is not None:
        raise BadQuery(_("The search %(problem)s.", problem=problem.describe()))
    return q.strip()


def answer(choices: Sequence[Choice]) -> Response:
    """The choices found (the search asked for LIMIT + 1 rows: the last one only says there are more)."""
    return jsonify(results=[asdict(choice) for choice in choices[:LIMIT]], more=len(choices) > LIMIT)


def refuse(error: BadQuery) -> tuple[Response, int]:
    return jsonify(error=str(error), status=400), 400
