from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.core.fiscal import FiscalHalf, FiscalYear, fiscal_half_of, fiscal_year_of


@pytest.mark.parametrize(
    ("day", "year", "half"),
    [
        (date(2020, 4, 1), 2020, 1),
        (date(2020, 9, 30), 2020, 1),
        (date(2020, 10, 1), 2020, 2),
        (date(2021, 3, 31), 2020, 2),
        (date(2021, 1, 15), 2020, 2),
        (date(2021, 4, 1), 2021, 1),
    ],
)
def test_fiscal_year_and_half_of_a_date(day, year, half):
    assert fiscal_year_of(day) == FiscalYear(year)
    assert fiscal_half_of(day) == FiscalHalf(year, half)


def test_instants_are_read_in_tokyo():
    # 2021-03-31 16:00 UTC is already 1 April in Tokyo: the new fiscal year.
    assert fiscal_year_of(datetime(2021, 3, 31, 16, 0, tzinfo=UTC)) == FiscalYear(2021)
    assert fiscal_year_of(datetime(2021, 3, 31, 14, 0, tzinfo=UTC)) == FiscalYear(2020)


def test_reiwa_labels():
    assert FiscalYear(2019).reiwa_label() == "令和元年度"
    assert FiscalYear(2020).reiwa_label() == "令和2年度"
    assert FiscalYear(2026).reiwa_label() == "令和8年度"


def test_half_bounds():
    first, second = FiscalHalf(2020, 1), FiscalHalf(2020, 2)
    assert (first.starts_on, first.ends_on) == (date(2020, 4, 1), date(2020, 9, 30))
    assert (second.starts_on, second.ends_on) == (date(2020, 10, 1), date(2021, 3, 31))
    assert first.japanese_label() == "上期" and second.japanese_label() == "下期"
    with pytest.raises(ValueError):
        FiscalHalf(2020, 3)


def test_labels_in_both_languages(app):
    from app.web.locale import fiscal_half_label, fiscal_year_label

    with app.test_request_context(headers={"Accept-Language": "ja"}):
        assert fiscal_year_label(2020) == "令和2年度（2020年度）"
        assert fiscal_half_label(FiscalHalf(2020, 1)) == "令和2年度（2020年度） 上期"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert fiscal_year_label(2020) == "FY2020 (Reiwa 2)"
        assert fiscal_half_label(FiscalHalf(2020, 2)) == "FY2020 (Reiwa 2) second half"


def test_era_dates_name_the_era_and_its_first_year():
    from app.core.fiscal import era_date

    assert era_date(date(2026, 11, 30)) == "令和8年11月30日"
    assert era_date(date(2019, 5, 1)) == "令和元年5月1日"
    assert era_date(date(2019, 4, 30)) == "平成31年4月30日"
    assert era_date(date(1989, 1, 8)) == "平成元年1月8日"
