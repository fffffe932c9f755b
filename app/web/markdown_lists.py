"""Nested lists indented by 2, 3 or 4 spaces, as people write them.

Python-Markdown nests a list only under 4 spaces of indent; most editors (and our course files,
which put a nested list under "1. " at 3 spaces) indent by 2 or 3, which Python-Markdown turns
into one run-on line. `mdx_truly_sane_lists` takes one fixed width (2 *or* 4), so this small
preprocessor re-indents instead: inside a list, an item indented at least 2 columns past its
parent's marker is nested under it, and its lines are re-indented to 4 spaces per level before
Python-Markdown sees them. Nothing else changes: text outside lists (so a code block indented 4
spaces after a paragraph), top-level items, fenced code and 4-space lists come out as before.
"""
from __future__ import annotations

import re

from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

_ITEM = re.compile(r"^( *)(?:[*+-]|\d+\.) +\S")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BLOCK_START = re.compile(r"^ {0,3}(?:#{1,6}(?: |$)|(?:[-*_] *){3,}$)")  # a heading or a rule ends a paragraph
TAB = 4


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def normalise_list_indents(lines: list[str]) -> list[str]:
    out: list[str] = []
    levels: list[int] = []  # the column of each open level's marker in the source
    fence: str | None = None
    previous_blank = True  # a list may start at the top of the text
    previous_starts_block = False
    for line in lines:
        if fence is not None:  # inside fenced code: as written
            out.append(line)
            if line.lstrip(" ").startswith(fence):
                fence = None
            continue
        opened = _FENCE.match(line)
        if opened:
            fence = opened.group(1)[0] * 3
            levels = []
            out.append(line)
            previous_blank, previous_starts_block = False, False
            continue
        if not line.strip():
            out.append(line)
            previous_blank = True
            continue
        at = _indent(line)
        if _ITEM.match(line):
            if not levels:
                if at < TAB and (previous_blank or previous_starts_block):
                    levels = [at]  # a list starts; its top level is left as written
                out.append(line)
            else:
                while len(levels) > 1 and at < levels[-1] - 1:
                    levels.pop()  # back out to the level this item belongs to
                if at >= levels[-1] + 2:
                    levels.append(at)  # nested under the previous item
                elif len(levels) == 1 and at < TAB:
                    levels[0] = at  # another top-level item
                depth = len(levels) - 1
                out.append(line if depth == 0 else " " * (TAB * depth) + line.lstrip(" "))
        elif not levels:
            out.append(line)
        elif not previous_blank:
            out.append(line)  # a lazy continuation line: Markdown needs no indent here
        else:
            # A paragraph (or code) after a blank line, inside the deepest nested item it is indented under.
            owner = next((d for d in range(len(levels) - 1, 0, -1) if at >= levels[d] + 2), None)
            if owner is None:
                if at < TAB:
                    levels = []  # an unindented paragraph ends the list
                else:
                    del levels[1:]  # the top-level item's own paragraph, as written
                out.append(line)
            else:
                del levels[owner + 1:]
                extra = max(0, at - (levels[owner] + TAB))  # beyond the item's text: code
                out.append(" " * (TAB * (owner + 1) + extra) + line.lstrip(" "))
        previous_blank = False
        previous_starts_block = bool(_BLOCK_START.match(line))
    return out


class _ListIndents(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        return normalise_list_indents(lines)


class NestedListIndentExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:  # Python-Markdown's name
        # After tabs become spaces (normalize_whitespace, 30), before fenced code is stashed (25).
        md.preprocessors.register(_ListIndents(md), "nested_list_indents", 27)
