"""The public version of the report's figures: small counts hidden so that no suppressed count can
be worked out from what is shown (statistical disclosure control).

Primary suppression hides every count from 1 to threshold − 1 (a zero is shown: there is nobody
to identify). That alone is not enough: the breakdowns are additive. Each column of a published
table (participants by department, by grade, by course) sums to the same total, which is either
shown or is the sum of another table's column. So a table with one hidden cell gives it away by
subtraction (主任級 6 shown, and courses 5 and "<5": the hidden one is 1).

Complementary (secondary) suppression, the simple and well-known way:
- a *line* is a set of cells bound by one sum: a table's column together with the total, which is
  one cell shared by every table (hiding it hides it everywhere, so margins stay consistent);
- repeat until nothing changes: every line with exactly one hidden cell hides one more, the
  smallest other non-zero cell (a zero only if there is no other), so no line has exactly one.

Why this is enough here: the tables are one-way breakdowns that share only the total. With the
total shown, each line is one equation in its own hidden cells (two or more, never in another
equation), so no single one is determined. With the total hidden, every table holds a hidden cell
besides it, and any combination of the equations that isolates one cell also keeps the total
(tests/reports/test_suppression.py checks it by solving the equations of random tables).

Hidden cells are all shown the same way ("x"), primary or secondary: a "<5" beside an "x" would
tell which is small, and bounds alone can then give a value away. Every rate built on a hidden
count (as numerator or denominator) is hidden too. The tables' measures within a row (places,
completions, rates) are not additive, so the lines run along columns and the total.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

THRESHOLD = 5
Cell = TypeVar("Cell", bound=Hashable)

# The count columns of the breakdown tables the public page shows, bound by a sum to the total.
ADDITIVE_COUNTS = ("participants", "completed")
BREAKDOWNS = ("by_department", "by_grade", "by_course")
# count → the rates built on it (hidden with it)
RATES_OF = {"participants": ("completion_rate", "achievement"), "completed": ("completion_rate",),
            "marked": ("attendance_rate",), "attended": ("attendance_rate",),
            "quiz_attempts": ("quiz_pass_rate", "quiz_average"), "satisfaction_responses": ("satisfaction",),
            "applicants": (), "selected": (), "completed_programme": ()}
# counts never shown themselves, only through their rates: primary suppression is enough
PRIMARY_ONLY = ("marked", "attended", "quiz_attempts", "satisfaction_responses")
COHORT_COUNTS = ("applicants", "selected", "completed")


def is_small(value: Any, threshold: int = THRESHOLD) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < threshold


def complementary_suppression(values: Mapping[Cell, int], lines: Iterable[Sequence[Cell]],
                              threshold: int = THRESHOLD) -> set[Cell]:
    """The cells to hide: those below the threshold, and enough others that no line (a set of
    cells bound by one sum) has exactly one hidden cell. Deterministic: ties go to the first
    cell of the line."""
    hidden = {cell for cell, value in values.items() if is_small(value, threshold)}
    lines = [list(line) for line in lines if len(line) > 1]
    changed = True
    while changed:  # each pass hides at least one more cell or stops: it ends
        changed = False
        for line in lines:
            if sum(cell in hidden for cell in line) != 1:
                continue
            shown = [cell for cell in line if cell not in hidden]
            hidden.add(min(shown, key=lambda cell: (values[cell] == 0, values[cell])))
            changed = True
    return hidden


def suppress(figures: dict[str, Any], threshold: int = THRESHOLD) -> dict[str, Any]:
    """The public version of `figures` (as `figures.compute` returns them or a report froze them):
    no divisions, hidden counts as None, and the rates built on them None too."""
    totals = figures["totals"]
    values: dict[tuple[str, int, str], int] = {}
    lines: list[list[tuple[str, int, str]]] = []
    for column in ADDITIVE_COUNTS:
        values[("totals", 0, column)] = int(totals.get(column) or 0)
        for table in BREAKDOWNS:
            rows = figures.get(table, [])
            line = [(table, i, column) for i in range(len(rows))]
            values.update({cell: int(rows[cell[1]].get(column) or 0) for cell in line})
            if line:
                lines.append([*line, ("totals", 0, column)])
    hidden = complementary_suppression(values, lines, threshold)

    def clean(row: dict[str, Any], table: str, index: int, counts: Sequence[str]) -> dict[str, Any]:
        out = dict(row)
        for count in counts:
            if count not in out:
                continue
            if (table, index, count) in hidden or is_small(out[count], threshold):
                out[count] = None
                for rate in RATES_OF.get(count, ()):
                    if rate in out:
                        out[rate] = None
        return out

    public = dict(figures)
    row_counts = (*ADDITIVE_COUNTS, *PRIMARY_ONLY)
    for table in BREAKDOWNS:
        public[table] = [clean(row, table, i, row_counts) for i, row in enumerate(figures.get(table, []))]
    public["totals"] = clean(totals, "totals", 0, row_counts)
    public["cohorts"] = [clean(row, "cohorts", i, COHORT_COUNTS) for i, row in enumerate(figures.get("cohorts", []))]
    public["by_division"] = []  # divisions are too small to publish
    return public


def has_lone_hidden_cell(public: Mapping[str, Any]) -> bool:
    """Whether some line of the public figures has exactly one hidden cell (what subtraction
    would reveal)."""
    for column in ADDITIVE_COUNTS:
        total_hidden = public["totals"].get(column) is None
        for table in BREAKDOWNS:
            rows = public.get(table, [])
            if rows and sum(row.get(column) is None for row in rows) + total_hidden == 1:
                return True
    return False
