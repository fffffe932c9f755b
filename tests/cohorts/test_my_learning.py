"""My learning lists the person's cohort milestones (what, of which cohort, due when, where the
work stands) with a link to the work page to submit, in a fixed number of statements however many
cohorts and milestones."""
from __future__ import annotations

import re

from flask import Flask

from app.cohorts.models import Cohort, Decision, MilestoneKind
from app.core.db import db_session
from tests import factories
from tests.cohorts.conftest import PDF, Org, Programme, Teams, apply_for, decide, signed_in, work_post
from tests.querycount import count_statements

_ROW = re.compile(r'<tr><td>([^<]+) <span class="muted small">([^<]+)</span></td>\s*<td>([^<]+)</td>\s*'
                  r'<td>(.*?)</td>\s*<td><a href="([^"]+)">([^<]+)<', re.S)
LABELS = ["フィールドワーク計画", "中間報告", "最終報告", "最終発表"]


def rows(page: str) -> list[tuple[str, str, str, str, str, str]]:
    section = page.split('id="milestones-heading"', 1)
    return _ROW.findall(section[1]) if len(section) == 2 else []


def status_text(cell: str) -> str:
    return " ".join(re.findall(r">([^<]+)</span>", cell))


def test_my_learning_lists_my_milestones_with_their_state_and_a_link_to_submit(
        app: Flask, programme: Programme, teams: Teams, org: Org) -> None:
    member = signed_in(app, programme.participants[0])  # team a
    page = member.get("/my-learning").get_data(as_text=True)
    listed = rows(page)
    assert [label for label, *_rest in listed] == LABELS  # the earliest due first
    with app.app_context():
        cohort = db_session.get(Cohort, programme.cohort_id)
        assert all(cohort.name in where for _label, where, *_rest in listed)
    plan_id = programme.milestones[MilestoneKind.PLAN]
    assert listed[0][4] == f"/cohorts/{programme.cohort_id}/work#ms-{plan_id}"
    assert [status_text(state) for *_before, state, _link, _text in listed] == ["未提出"] * 4
    assert [text for *_before, text in listed] == ["提出する"] * 4
    assert f'id="ms-{plan_id}"' in member.get(f"/cohorts/{programme.cohort_id}/work").get_data(as_text=True)

    assert work_post(member, programme.cohort_id, plan_id, "計画です", [(PDF, "plan.pdf")]).status_code == 302
    listed = rows(member.get("/my-learning").get_data(as_text=True))
    assert status_text(listed[0][3]) == "提出済み" and listed[0][5] == "開く"
    teammate = signed_in(app, programme.participants[2])  # a team milestone: the team's work
    assert status_text(rows(teammate.get("/my-learning").get_data(as_text=True))[0][3]) == "提出済み"

    outsider = signed_in(app, programme.not_selected)  # applied, not selected: nothing to submit
    page = outsider.get("/my-learning").get_data(as_text=True)
    assert 'id="milestones-heading"' not in page and rows(page) == []


def test_my_learning_reads_the_milestones_in_constant_statements(
        app: Flask, programme: Programme, teams: Teams, org: Org) -> None:
    member = signed_in(app, programme.participants[1])
    member.get("/my-learning")
    with count_statements(app) as one_cohort:
        page = member.get("/my-learning").get_data(as_text=True)
    assert len(rows(page)) == 4
    with app.app_context():
        for _ in range(2):  # two more cohorts that take the same person
            cohort = factories.cohort(quota=3, requires_endorsement=False)
            decide(org.hr.id, apply_for(cohort.id, programme.participants[1].id), Decision.SELECTED)
    with count_statements(app) as three_cohorts:
        page = member.get("/my-learning").get_data(as_text=True)
    assert len(rows(page)) == 12
    assert three_cohorts.count == one_cohort.count, three_cohorts.statements
