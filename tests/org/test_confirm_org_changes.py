"""Role changes, transfers and changes of a unit's head are previewed before anything happens
(issue 18): the first press says what changes and whose pending requests go to whom, and changes
nothing; the confirm applies it; a confirmation of a preview that no longer holds is refused with
a message and nothing is applied. The staff import's apply step spells out its consequence."""
from __future__ import annotations

import pytest

from app.core.db import db_session
from app.enrollment.models import Enrolment
from app.org.models import Employee, RoleName, Unit
from tests import factories
from tests.confirming import press_confirm, text_of
from tests.org.test_transfers import _build_org, _request, _signed_in
from tests.querycount import count_statements

STALE = "プレビューの後にデータが変わったため、何も変更していません。"


@pytest.fixture
def web(app):  # type: ignore[no-untyped-def]
    """The organisation of tests/org/test_transfers.py, by id (東課 headed by 東 課長, 西課 by 西 課長)."""
    with app.app_context():
        return {name: row.id for name, row in _build_org().items()}


def _roles(app, person_id: int) -> set[str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        return {r.value for r in db_session.get_one(Employee, person_id).roles}


def test_a_role_change_is_previewed_and_a_stale_one_refused(app, client):
    with app.app_context():
        admin = factories.employee(factories.unit(), "SHUSA", roles=(RoleName.ADMIN,))
        target = factories.employee(factories.unit(), "SHUNIN", roles=(RoleName.INSTRUCTOR,), name="役割 変更")
        target_id = target.id
    factories.login_as(client, admin)
    path = f"/org/staff/{target_id}/roles"
    preview = factories.post(client, path, {"roles": ["hr"]}, form_page=f"/org/staff/{target_id}")
    assert preview.status_code == 200 and _roles(app, target_id) == {"instructor"}
    page = preview.get_data(as_text=True)
    assert "人事課（研修担当）" in text_of(page.split('id="roles-granted"')[1].split("</dd>")[0])
    assert "講師" in text_of(page.split('id="roles-removed"')[1].split("</dd>")[0])
    assert "役割 変更 さんの役割を変更しますか？" in text_of(page)
    with app.app_context():  # another administrator gives them the mentor role meanwhile
        from app.org.services import grant_role

        grant_role(None, db_session.get_one(Employee, target_id), RoleName.MENTOR)
        db_session.commit()
    refused = press_confirm(client, preview)
    assert refused.status_code == 409 and STALE in text_of(refused.get_data(as_text=True))
    assert _roles(app, target_id) == {"instructor", "mentor"}
    assert press_confirm(client, refused).status_code == 302
    assert _roles(app, target_id) == {"hr"}


def test_a_transfer_is_not_applied_when_the_requests_it_hands_over_changed(app, web):
    hr = _signed_in(app, web["hr"])
    path = f"/org/staff/{web['staff']}/transfer"
    preview = factories.post(hr, path, {"unit": str(web["west"]), "as_of": "2026-04-01"},
                             form_page=f"/org/staff/{web['staff']}")
    assert preview.status_code == 200
    assert "なし" in text_of(preview.get_data(as_text=True))  # no request to hand over yet
    with app.app_context():  # the person asks for a course meanwhile: it would go to the new head
        enrolment_id = _request(db_session.get_one(Employee, web["staff"])).id
    refused = press_confirm(hr, preview)
    assert refused.status_code == 409
    words = text_of(refused.get_data(as_text=True))
    assert STALE in words and "承認が要る研修" in words  # the new preview lists it
    with app.app_context():
        assert db_session.get_one(Employee, web["staff"]).unit_id == web["east"]  # not moved
        assert db_session.get_one(Enrolment, enrolment_id).approver_id == web["east_head"]


def test_the_head_change_preview_costs_a_fixed_number_of_statements(app, web):
    hr = _signed_in(app, web["hr"])
    with app.app_context():
        new_head = factories.employee(db_session.get_one(Unit, web["east"]), "KACHO").employee_number
    counts = []
    for more in (1, 12):
        with app.app_context():
            east = db_session.get_one(Unit, web["east"])
            for _ in range(more):
                _request(factories.employee(east, "SHUNIN"))
        token = factories.csrf_token(hr, "/org/units")
        with count_statements(app) as counter:
            response = hr.post("/org/units/head", data={"csrf_token": token, "unit": str(web["east"]),
                                                         "employee_number": new_head})
        assert response.status_code == 200
        assert "承認が要る研修" in text_of(response.get_data(as_text=True).split('id="head-moving"')[1])
        counts.append(counter.count)
    assert counts[0] == counts[1] and counts[1] <= 14, counts


def test_the_staff_import_apply_step_spells_out_what_it_does(app, client):
    import io

    with app.app_context():
        hr = factories.employee(factories.unit("人事課", code="JINJI"), "SHUSA", roles=(RoleName.HR,))
    factories.login_as(client, hr)
    raw = ("employee_number,name,email,grade,unit\n"
           f"{hr.employee_number},{hr.name},{hr.email},SHUSA,JINJI\n"
           "N0001,新規 採用,n0001@pref.example.lg.jp,SHUNIN,JINJI\n").encode()
    response = factories.post(client, "/org/import", {"file": (io.BytesIO(raw), "staff.csv"), "as_of": "2026-04-01"},
                              form_page="/org/import", content_type="multipart/form-data")
    words = text_of(response.get_data(as_text=True))
    assert "反映はこの画面から取り消せません。追加される 1 人にアカウントが作られ" in words
    assert "キャンセル（何も変更しない）" in words
