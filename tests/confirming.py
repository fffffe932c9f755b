"""Driving the two-step confirmations (app/web/confirmations.py) as a person does: the first submit
shows a preview page; pressing its confirm button posts the preview's confirm form as it stands
(its hidden fields, the fingerprint of what was shown, the CSRF token)."""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests import factories


class _ConfirmForms(HTMLParser):
    """The action and fields of each `<form class="confirm">` of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, list[tuple[str, str]]]] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {key: value or "" for key, value in attrs}
        if tag == "form" and "confirm" in found.get("class", "").split():
            self._inside = True
            self.forms.append((found.get("action", ""), []))
        elif tag == "input" and self._inside and found.get("name"):
            self.forms[-1][1].append((found["name"], found.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False


def confirm_forms(page: str) -> list[tuple[str, list[tuple[str, str]]]]:
    parser = _ConfirmForms()
    parser.feed(page)
    return parser.forms


def confirm_form(page: str) -> tuple[str, list[tuple[str, str]]]:
    """The page's one confirm form: (action, fields as a browser would send them)."""
    forms = confirm_forms(page)
    assert len(forms) == 1, f"expected one confirm form, found {len(forms)}"
    return forms[0]


def fingerprint_of(page: str) -> str:
    return dict(confirm_form(page)[1])["fingerprint"]


def press_confirm(client: FlaskClient, preview: TestResponse, **changed: str) -> TestResponse:
    """Press the confirm button of a preview page (`changed`: fields a tampering client alters)."""
    page = preview.get_data(as_text=True)
    action, fields = confirm_form(page)
    data: dict[str, Any] = {}
    for name, value in fields:  # repeated names (several ids) are sent as a list, as a browser does
        data.setdefault(name, []).append(value)
    for name, value in changed.items():
        data[name] = [value]
    return client.post(html.unescape(action), data={k: v if len(v) > 1 else v[0] for k, v in data.items()})


def post_and_confirm(client: FlaskClient, path: str, data: dict[str, Any] | None = None, *,
                     form_page: str | None = None) -> tuple[TestResponse, TestResponse]:
    """Submit the form (its preview must change nothing and show a confirm button), then confirm."""
    preview = factories.post(client, path, data, form_page=form_page)
    assert preview.status_code == 200, preview.status_code
    return preview, press_confirm(client, preview)


_TAGS = re.compile(r"<[^>]+>")


def text_of(page: str) -> str:
    """The page's words, without markup (for asserting what a person reads)."""
    return html.unescape(_TAGS.sub(" ", page))


def previewed(browser: Any, path: str, data: dict[str, str]) -> tuple[str, dict[str, str]]:
    """For race tests over a live server (tests/http_client.HttpClient): submit the form, and
    return the preview's confirm form (action, fields), ready to be posted at the same moment as
    another racer's. Repeated names are not supported here."""
    response = browser.post(path, data)
    assert response.status == 200, (path, response.status, response.text[:300])
    action, fields = confirm_form(response.text)
    return html.unescape(action), dict(fields)
