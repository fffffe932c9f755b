"""Complementary suppression of the public figures (app/reports/suppression.py): no hidden count
can be worked out from the shown cells and margins, by subtraction or by any linear combination.

The property test builds random breakdowns sharing one total (like the report's departments,
grades and courses), suppresses them, and then solves the published tables' equations exactly
(Gaussian elimination over the rationals): a hidden cell is disclosed when its unit vector lies in
the row space of the equations restricted to the hidden cells."""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.reports.suppression import (
    ADDITIVE_COUNTS,
    BREAKDOWNS,
    THRESHOLD,
    complementary_suppression,
    has_lone_hidden_cell,
    suppress,
)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def row(label: str, participants: int, completed: int, **extra: Any) -> dict[str, Any]:
    rate = None if not participants else round(100 * completed / participants, 1)
    return {"key": label, "label": label, "participants": participants, "completed": completed,
            "marked": participants, "attended": participants, "completion_rate": rate,
            "attendance_rate": 100.0 if participants else None, **extra}


def figures_of(tables: dict[str, list[tuple[int, int]]]) -> dict[str, Any]:
    by = {name: [row(f"{name}-{i}", p, c) for i, (p, c) in enumerate(cells)] for name, cells in tables.items()}
    total_p = sum(p for p, _ in tables["by_department"])
    total_c = sum(c for _, c in tables["by_department"])
    return {**by, "by_division": [], "cohorts": [], "totals": row("total", total_p, total_c)}


# --- the issue's example --------------------------------------------------------------------------


def test_the_issues_example_cannot_be_undone_by_subtraction():
    """主任級 6 (the only grade with anyone), one course 5 shown: the other course's "<5" was 1.
    Now the 5 is hidden too, and the grade and department tables still add up to 6."""
    figures = figures_of({"by_department": [(6, 6)], "by_grade": [(6, 6), (0, 0)], "by_course": [(5, 5), (1, 1)]})
    public = suppress(figures)
    assert [r["participants"] for r in public["by_course"]] == [None, None]
    assert [r["completed"] for r in public["by_course"]] == [None, None]
    assert [r["completion_rate"] for r in public["by_course"]] == [None, None]  # 100% of 5 would tell
    assert public["totals"]["participants"] == 6 and [r["participants"] for r in public["by_grade"]] == [6, 0]
    assert not has_lone_hidden_cell(public)
    assert disclosed(public) == []


def test_the_checker_finds_what_primary_suppression_alone_leaks():
    figures = figures_of({"by_department": [(6, 6)], "by_grade": [(6, 6), (0, 0)], "by_course": [(5, 5), (1, 1)]})
    primary_only = {**figures, "by_course": [{**r, "participants": None if 0 < r["participants"] < THRESHOLD
                                              else r["participants"], "completed": None if 0 < r["completed"] <
                                              THRESHOLD else r["completed"]} for r in figures["by_course"]]}
    assert has_lone_hidden_cell(primary_only)
    assert disclosed(primary_only) == [("by_course", 1, "participants"), ("by_course", 1, "completed")]


def test_the_complement_is_the_smallest_other_non_zero_cell_and_margins_follow():
    values = {"a": 3, "b": 0, "c": 7, "d": 20, "T": 30}
    assert complementary_suppression(values, [["a", "b", "c", "d", "T"]]) == {"a", "c"}
    # a table whose only row is small hides the total, and so another cell in every other table
    values = {"x": 3, "T": 3, "g1": 3, "g2": 0, "k1": 2, "k2": 1}
    hidden = complementary_suppression(values, [["x", "T"], ["g1", "g2", "T"], ["k1", "k2", "T"]])
    assert hidden == {"x", "T", "g1", "k1", "k2"}


def test_zero_is_shown_and_large_tables_are_left_alone():
    figures = figures_of({"by_department": [(10, 5), (0, 0), (7, 6)], "by_grade": [(17, 11)],
                          "by_course": [(9, 5), (8, 6)]})
    public = suppress(figures)
    assert [r["participants"] for r in public["by_department"]] == [10, 0, 7]
    assert public["by_division"] == [] and public["totals"]["participants"] == 17


# --- the property ---------------------------------------------------------------------------------


def disclosed(public: dict[str, Any]) -> list[tuple[str, int, str]]:
    """The hidden cells that the published equations determine exactly (one list per count column:
    each table's column sums to the total)."""
    found = []
    for column in ADDITIVE_COUNTS:
        total = public["totals"][column]
        unknowns: list[tuple[str, int, str]] = [] if total is not None else [("totals", 0, column)]
        equations = []
        for table in BREAKDOWNS:
            rows = public[table]
            if not rows:
                continue
            hidden = [(table, i, column) for i, r in enumerate(rows) if r[column] is None]
            unknowns += hidden
            equations.append(hidden)
        index = {cell: i for i, cell in enumerate(unknowns)}
        matrix = []
        for hidden in equations:  # Σ hidden cells − [total if hidden] = known number
            coefficients = [Fraction(0)] * len(unknowns)
            for cell in hidden:
                coefficients[index[cell]] = Fraction(1)
            if total is None:
                coefficients[index[("totals", 0, column)]] = Fraction(-1)
            matrix.append(coefficients)
        base = rank(matrix)
        for cell, i in index.items():
            unit = [Fraction(int(j == i)) for j in range(len(unknowns))]
            if rank([*matrix, unit]) == base:
                found.append(cell)
    return found


def rank(matrix: list[list[Fraction]]) -> int:
    rows = [list(r) for r in matrix if any(r)]
    if not rows:
        return 0
    width, rank_, pivot_row = len(rows[0]), 0, 0
    for col in range(width):
        pivot = next((r for r in range(pivot_row, len(rows)) if rows[r][col] != 0), None)
        if pivot is None:
            continue
        rows[pivot_row], rows[pivot] = rows[pivot], rows[pivot_row]
        for r in range(len(rows)):
            if r != pivot_row and rows[r][col] != 0:
                factor = rows[r][col] / rows[pivot_row][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[pivot_row], strict=True)]
        pivot_row += 1
        rank_ += 1
    return rank_


@st.composite
def breakdowns(draw: st.DrawFn) -> dict[str, list[tuple[int, int]]]:
    """Three breakdowns of the same people (participants, completed ≤ participants): counts are
    drawn per person group, then regrouped three ways, so every table sums to the same total."""
    groups = draw(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=10))
    groups = [(p, min(c, p)) for p, c in groups]
    tables = {}
    for table in BREAKDOWNS:
        size = draw(st.integers(1, 5))
        assignment = draw(st.lists(st.integers(0, size - 1), min_size=len(groups), max_size=len(groups)))
        cells = [(0, 0)] * size
        for (p, c), target in zip(groups, assignment, strict=True):
            cells[target] = (cells[target][0] + p, cells[target][1] + c)
        tables[table] = cells
    return tables


@PROPERTY
@given(breakdowns())
def test_no_hidden_count_of_a_published_table_can_be_solved_for(tables):
    figures = figures_of(tables)
    public = suppress(figures)
    for table in (*BREAKDOWNS, "totals"):
        rows = public[table] if table != "totals" else [public["totals"]]
        originals = figures[table] if table != "totals" else [figures["totals"]]
        for shown, original in zip(rows, originals, strict=True):
            for column in ADDITIVE_COUNTS:
                if 0 < original[column] < THRESHOLD:
                    assert shown[column] is None  # every small count is hidden
                if shown[column] is not None:
                    assert shown[column] == original[column]  # and nothing shown is altered
            if shown["participants"] is None or shown["completed"] is None:
                assert shown["completion_rate"] is None  # no rate built on a hidden count
    assert not has_lone_hidden_cell(public)
    assert disclosed(public) == []
