"""Japanese first, English available; every user-facing string translated."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent


def test_japanese_is_the_default(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="ja">' in html
    assert "ログイン" in html


def test_browser_language_english_is_honoured(client):
    html = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "Sign in" in html


def test_unsupported_browser_language_falls_back_to_japanese(client):
    html = client.get("/login", headers={"Accept-Language": "fr-FR"}).get_data(as_text=True)
    assert '<html lang="ja">' in html


def test_every_message_has_a_japanese_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(ROOT / "babel.cfg"),
         "-k", "_l", "-k", "lazy_gettext", "-o", str(pot), "."],
        check=True, capture_output=True, cwd=ROOT,
    )
    with pot.open("rb") as handle:
        extracted = {m.id for m in read_po(handle) if m.id}
    assert len(extracted) > 300, "the extraction found too few messages: check babel.cfg"
    with (ROOT / "app/translations/ja/LC_MESSAGES/messages.po").open("rb") as handle:
        catalog = read_po(handle)
    translated = {m.id for m in catalog if m.id and m.string and "fuzzy" not in m.flags}
    missing = sorted(str(m) for m in extracted - translated)
    assert missing == [], f"untranslated (run `make extract-messages` and translate): {missing[:20]}"


def test_a_forced_language_inside_a_request_translates_then_gives_the_request_its_own_back(app):
    """The catalogue is resolved once per request (app/web/locale.py) but keyed by the locale in force:
    a block in another language (a job in its requester's language) is translated in that language,
    and what follows it in the request's own language again."""
    from flask import render_template_string
    from flask_babel import force_locale

    from app.web.locale import current_language, gettext, lazy_gettext

    label = lazy_gettext("Sign in")
    template = "{{ _('Sign in') }}|{{ current_locale() }}"
    with app.test_request_context("/", headers={"Accept-Language": "ja"}):
        assert (gettext("Sign in"), render_template_string(template)) == ("ログイン", "ログイン|ja")
        with force_locale("en"):
            assert (gettext("Sign in"), str(label), current_language()) == ("Sign in", "Sign in", "en")
            assert render_template_string(template) == "Sign in|en"
        assert (gettext("Sign in"), str(label), render_template_string(template)) == ("ログイン", "ログイン",
                                                                                      "ログイン|ja")


def test_translated_text_keeps_its_placeholders_filled_and_escaped(app):
    from flask import render_template_string

    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        html = render_template_string("{{ _('%(count)s courses and programmes', count=value) }}", value="<b>3</b>")
    assert html == "&lt;b&gt;3&lt;/b&gt; courses and programmes"
