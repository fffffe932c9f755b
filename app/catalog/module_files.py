"""The `modules:` section of a course file: self-paced e-learning, written by hand.

A module is an ordered list of pages of Markdown; a course may have several. The section is the
last key of the YAML header, and page bodies are YAML literal blocks (`body: |`), so an author
writes Markdown as it is, indented under its page::

    modules:
      - key: prestudy                  # stable within the course: progress is kept by it
        title:
          ja: 事前学習
          en: Pre-study
        minutes: 90                    # optional: the expected study time
        before_session: true           # optional: pre-study, to be done before the session
        quiz: true                     # optional: the course's quiz closes this module
        pages:
          - title: スマート改革の全体像
            body: |
              本文（Markdown）。図は ![説明](media/figure.png) で、研修担当がアップロードした
              ファイルを名前で参照します。

A module that is not pre-study is the course's self-paced part: once every such module is
completed (all pages viewed, the quiz passed when it has one) the course is complete. A pre-study
module completes nothing by itself; the session's participant list shows who has done it.

`check_modules` validates the section (each problem names the field and its line in the file);
`render_modules` writes it back in the one style it is read in, so a course file round-trips byte
for byte. The checked section is stored as plain data (`Course.modules_spec`); `modules_of` reads
it back as `Module`s for the pages that show it.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from app.core.text_safety import find_unsafe

MODULE_KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
MEDIA_REFERENCE = re.compile(r"\]\(media/([^)\s]+)\)|\bsrc=\"media/([^\"]+)\"")
MAX_MODULES = 20
MAX_PAGES = 100
MAX_BODY = 50_000
MODULE_KEYS = ("key", "title", "minutes", "before_session", "quiz", "pages")
PAGE_KEYS = ("title", "body")

Problem = tuple[str, str]


@dataclass(frozen=True)
class Page:
    number: int  # 1-based position in its module
    title: str
    body: str


@dataclass(frozen=True)
class Module:
    key: str
    title_ja: str
    title_en: str
    minutes: int | None
    before_session: bool
    has_quiz: bool
    pages: tuple[Page, ...]

    def title(self, locale: str) -> str:
        return self.title_en if locale == "en" and self.title_en else self.title_ja

    @property
    def completes_course(self) -> bool:
        """Pre-study prepares for a session; every other module is the course's self-paced part."""
        return not self.before_session

    def page(self, number: int) -> Page | None:
        return self.pages[number - 1] if 1 <= number <= len(self.pages) else None


def modules_of(spec: list[dict[str, Any]] | None) -> list[Module]:
    """The stored section as `Module`s, in their order (empty when the course has none)."""
    return [Module(key=m["key"], title_ja=m["title"]["ja"], title_en=m["title"]["en"], minutes=m.get("minutes"),
                   before_session=bool(m.get("before_session")), has_quiz=bool(m.get("quiz")),
                   pages=tuple(Page(n, p["title"], p["body"]) for n, p in enumerate(m["pages"], start=1)))
            for m in spec or []]


def normalise_body(text: str) -> str:
    """A page body as stored: lines without trailing blanks, no blank lines around, one final newline
    (what a YAML literal block gives back, so writing and reading it again changes nothing)."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


# --- checking ------------------------------------------------------------------------------------


def check_modules(raw: Any, *, kind: str, has_quiz: bool, survey_required: bool,
                  text: str = "") -> tuple[list[dict[str, Any]] | None, list[Problem]]:
    """The `modules` value of a header (None when absent) → (normalised section or None, problems).

    `text` is the whole file, to name the line of each problem; `kind`, `has_quiz` and
    `survey_required` are the course's, for the checks across the header.
    """
    if raw is None:
        return None, []
    lines = _LineFinder(text)
    if kind != "course":
        return None, [("modules", lines.say(["modules"], "only a course (not a programme) has e-learning modules"))]
    if not isinstance(raw, list) or not raw or len(raw) > MAX_MODULES:
        return None, [("modules", lines.say(["modules"], f"must be a list of 1 to {MAX_MODULES} modules"))]
    problems: list[Problem] = []
    modules = [_check_module(item, index, lines, problems) for index, item in enumerate(raw)]
    keys = [m["key"] for m in modules if m["key"]]
    for index, module in enumerate(modules):
        where = f"modules[{index + 1}]"
        if module["key"] and keys.count(module["key"]) > 1 and keys.index(module["key"]) != index:
            problems.append((f"{where}.key", lines.say(["modules", index, "key"],
                                                       f"{module['key']!r} is used by another module")))
        if module.get("quiz") and not has_quiz:
            problems.append((f"{where}.quiz", lines.say(["modules", index, "quiz"],
                                                        "the course has no quiz section to close the module with")))
        if module.get("quiz") and module.get("before_session"):
            problems.append((f"{where}.quiz", lines.say(["modules", index, "quiz"],
                                                        "a pre-study module cannot hold the course's quiz")))
    if sum(1 for m in modules if m.get("quiz")) > 1:
        problems.append(("modules", lines.say(["modules"], "only one module can end with the course's quiz")))
    if not problems and yaml.safe_load(render_modules(modules)) != {"modules": modules}:
        problems.append(("modules", lines.say(["modules"], "cannot be written back as read (unusual YAML)")))
    if survey_required and any(not m.get("before_session") for m in modules):
        problems.append(("completion.survey_required", lines.say(
            ["completion", "survey_required"],
            "a course completed by e-learning cannot require the survey (surveys belong to sessions)")))
    return (None if problems else modules), problems


def _check_module(item: Any, index: int, lines: _LineFinder, problems: list[Problem]) -> dict[str, Any]:
    where, path = f"modules[{index + 1}]", ["modules", index]
    module: dict[str, Any] = {"key": "", "title": {"ja": "", "en": ""}, "pages": []}
    if not isinstance(item, dict):
        problems.append((where, lines.say(path, "must be a mapping with key, title and pages")))
        return module
    problems += [(f"{where}.{key}", lines.say([*path, key], "unknown key"))
                 for key in sorted(str(k) for k in item if k not in MODULE_KEYS)]
    key = item.get("key")
    if not isinstance(key, str) or not MODULE_KEY_PATTERN.fullmatch(key):
        problems.append((f"{where}.key", lines.say([*path, "key"], "use 1–40 letters, digits, '-' or '_'")))
    else:
        module["key"] = key
    module["title"] = _check_title(item.get("title"), where, [*path, "title"], lines, problems)
    minutes = item.get("minutes")
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 6000:
            problems.append((f"{where}.minutes", lines.say([*path, "minutes"], "must be whole minutes from 1 to 6000")))
        else:
            module["minutes"] = minutes
    for flag in ("before_session", "quiz"):
        value = item.get(flag, False)
        if not isinstance(value, bool):
            problems.append((f"{where}.{flag}", lines.say([*path, flag], "must be true or false")))
        elif value:
            module[flag] = True
    pages = item.get("pages")
    if not isinstance(pages, list) or not pages or len(pages) > MAX_PAGES:
        problems.append((f"{where}.pages", lines.say([*path, "pages"], f"needs a list of 1 to {MAX_PAGES} pages")))
        return module
    module["pages"] = [_check_page(page, f"{where}.pages[{n + 1}]", [*path, "pages", n], lines, problems)
                       for n, page in enumerate(pages)]
    return module


def _check_title(raw: Any, where: str, path: list[Any], lines: _LineFinder,
                 problems: list[Problem]) -> dict[str, str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("ja"), str) or not isinstance(raw.get("en"), str) \
            or not raw["ja"].strip() or not raw["en"].strip() or set(raw) - {"ja", "en"}:
        problems.append((f"{where}.title", lines.say(path, "needs ja and en (and nothing else)")))
        return {"ja": "", "en": ""}
    title = {"ja": raw["ja"].strip(), "en": raw["en"].strip()}
    for language, value in title.items():
        _check_line(value, f"{where}.title.{language}", [*path, language], lines, problems)
    return title


def _check_page(raw: Any, where: str, path: list[Any], lines: _LineFinder, problems: list[Problem]) -> dict[str, str]:
    page = {"title": "", "body": ""}
    if not isinstance(raw, dict):
        problems.append((where, lines.say(path, "must be a mapping with title and body")))
        return page
    problems += [(f"{where}.{key}", lines.say([*path, key], "unknown key"))
                 for key in sorted(str(k) for k in raw if k not in PAGE_KEYS)]
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        problems.append((f"{where}.title", lines.say([*path, "title"], "is missing")))
    else:
        page["title"] = title.strip()
        _check_line(page["title"], f"{where}.title", [*path, "title"], lines, problems)
    body = raw.get("body")
    if not isinstance(body, str) or not body.strip():
        problems.append((f"{where}.body", lines.say([*path, "body"], "is missing (write the page's Markdown)")))
        return page
    if len(body) > MAX_BODY:
        problems.append((f"{where}.body", lines.say([*path, "body"], f"is longer than {MAX_BODY} characters")))
    elif (unsafe := find_unsafe(body, multiline=True)) is not None:
        problems.append((f"{where}.body", lines.say([*path, "body"], unsafe.describe())))
    else:
        page["body"] = normalise_body(body)
        for match in MEDIA_REFERENCE.finditer(page["body"]):
            name = match.group(1) or match.group(2)
            if not is_media_name(name):
                problems.append((f"{where}.body", lines.say(
                    [*path, "body"], f"media/{name} is not a plain file name (letters, digits, '-', '_', '.')")))
    return page


MEDIA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def is_media_name(name: str) -> bool:
    """A media file's name as pages refer to it (media/NAME): plain, no folders, no '..'."""
    return bool(MEDIA_NAME.fullmatch(name)) and ".." not in name


def _check_line(value: str, where: str, path: list[Any], lines: _LineFinder, problems: list[Problem]) -> None:
    if len(value) > 200:
        problems.append((where, lines.say(path, "is longer than 200 characters")))
    elif (unsafe := find_unsafe(value)) is not None:
        problems.append((where, lines.say(path, unsafe.describe())))


class _LineFinder:
    """The line in the file of a value of the header, found by its path (["modules", 0, "pages"])."""

    def __init__(self, text: str) -> None:
        self.root: yaml.Node | None = None
        text = text.lstrip("\ufeff")
        if text.startswith("---"):
            end = text.find("\n---", 3)
            header = text[text.index("\n") + 1:end + 1] if end != -1 and "\n" in text else ""
            try:
                self.root = yaml.compose(header)
            except yaml.YAMLError:
                self.root = None

    def line(self, path: list[Any]) -> int | None:
        node = self.root
        found = None
        for step in path:
            if isinstance(node, yaml.MappingNode):
                node = next((value for key, value in node.value if key.value == step), None)
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                node = node.value[step]
            else:
                node = None
            if node is None:
                break
            found = node
        return None if found is None else found.start_mark.line + 2  # 1-based, after the opening '---'

    def say(self, path: list[Any], message: str) -> str:
        line = self.line(path)
        return message if line is None else f"{message} (line {line})"


# --- writing -------------------------------------------------------------------------------------


def render_modules(modules: list[dict[str, Any]] | None) -> str:
    """The section as header lines (empty when there is none), in the style `check_modules` reads:
    `yaml.safe_load` of the result gives back `{"modules": modules}`."""
    if not modules:
        return ""
    out = ["modules:"]
    for module in modules:
        out.append(f"  - key: {_scalar(module['key'])}")
        out.append("    title:")
        out.append(f"      ja: {_scalar(module['title']['ja'])}")
        out.append(f"      en: {_scalar(module['title']['en'])}")
        if module.get("minutes") is not None:
            out.append(f"    minutes: {int(module['minutes'])}")
        for flag in ("before_session", "quiz"):
            if module.get(flag):
                out.append(f"    {flag}: true")
        out.append("    pages:")
        for page in module["pages"]:
            out.append(f"      - title: {_scalar(page['title'])}")
            # An indentation indicator when the first line is indented itself (a code block):
            # YAML would otherwise take that line's indentation for the block's.
            out.append("        body: |2" if page["body"].startswith(" ") else "        body: |")
            out.extend(f"          {line}" if line else "" for line in page["body"].rstrip("\n").split("\n"))
    return "".join(f"{line}\n" for line in out)


def _scalar(text: str) -> str:
    """Plain when YAML reads it back as the same string, else a double-quoted (JSON) string."""
    try:
        plain_ok = bool(text) and text == text.strip() and yaml.safe_load(f"k: {text}") == {"k": text}
    except yaml.YAMLError:
        plain_ok = False
    return text if plain_ok else json.dumps(text, ensure_ascii=False)
