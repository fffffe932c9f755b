"""Fiscal years (年度, April to March) and halves (上期 April–September, 下期 October–March).

The one place that computes them; everything that groups by year or half asks here.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from app.core.clock import TOKYO

REIWA_START_YEAR = 2019  # 令和元年 = 2019
REIWA_STARTS_ON = date(2019, 5, 1)  # the era changed on 1 May, inside fiscal 2019
HEISEI_START_YEAR = 1989  # 平成元年 = 1989 (from 8 January)


@dataclass(frozen=True, order=True)
class FiscalYear:
    year: int  # the Western year in which the fiscal year starts (April)

    @property
    def starts_on(self) -> date:
        return date(self.year, 4, 1)

    @property
    def ends_on(self) -> date:
        return date(self.year + 1, 3, 31)

    @property
    def reiwa(self) -> int:
        return self.year - REIWA_START_YEAR + 1

    def reiwa_label(self) -> str:
        number = "元" if self.reiwa == 1 else str(self.reiwa)
        return f"令和{number}年度"

    def half(self, half: int) -> FiscalHalf:
        return FiscalHalf(self.year, half)


@dataclass(frozen=True, order=True)
class FiscalHalf:
    year: int
    half: int  # 1 = 上期 (Apr–Sep), 2 = 下期 (Oct–Mar)

    def __post_init__(self) -> None:
        if self.half not in (1, 2):
            raise ValueError("half must be 1 or 2")

    @property
    def fiscal_year(self) -> FiscalYear:
        return FiscalYear(self.year)

    @property
    def starts_on(self) -> date:
        return date(self.year, 4, 1) if self.half == 1 else date(self.year, 10, 1)

    @property
    def ends_on(self) -> date:
        return date(self.year, 9, 30) if self.half == 1 else date(self.year + 1, 3, 31)

    def japanese_label(self) -> str:
        return "上期" if self.half == 1 else "下期"


def fiscal_year_of(day: date | datetime) -> FiscalYear:
    if isinstance(day, datetime):
        day = day.astimezone(TOKYO).date()
    return FiscalYear(day.year if day.month >= 4 else day.year - 1)


def fiscal_half_of(day: date | datetime) -> FiscalHalf:
    if isinstance(day, datetime):
        day = day.astimezone(TOKYO).date()
    fy = fiscal_year_of(day)
    return FiscalHalf(fy.year, 1 if 4 <= day.month <= 9 else 2)


def era_date(day: date) -> str:
    """A date in the Japanese calendar (和暦), as documents and the assembly expect it: 令和8年11月30日.
    Dates before 令和 (1 May 2019) are given in 平成; the first year of an era is 元年."""
    era, first_year = ("令和", REIWA_START_YEAR) if day >= REIWA_STARTS_ON else ("平成", HEISEI_START_YEAR)
    number = day.year - first_year + 1
    return f"{era}{'元' if number == 1 else number}年{day.month}月{day.day}日"
