"""Fixtures shared by the reports tests: the pinned clock and the hand-computed data set."""
from __future__ import annotations

import pytest

from tests.reports import REPORT_AT, build_figure_data, travel


@pytest.fixture
def clock():  # type: ignore[no-untyped-def]
    with travel(REPORT_AT):
        yield


@pytest.fixture
def data(app, clock):  # type: ignore[no-untyped-def]
    with app.app_context():
        return build_figure_data()
