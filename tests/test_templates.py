"""Every template compiles (a syntax error would otherwise only show on the page that uses it),
and no template marks text as safe by hand: Markdown goes through the sanitiser instead."""
from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "app" / "templates"


def test_every_template_compiles(app):
    names = [str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")]
    assert len(names) > 40
    for name in names:
        app.jinja_env.get_template(name)


def test_no_template_bypasses_escaping():
    offenders = [str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")
                 if "|safe" in p.read_text(encoding="utf-8") or "Markup(" in p.read_text(encoding="utf-8")]
    assert offenders == []
