"""The house style of the reports' charts (app/web/charts.py), on the images themselves: a
title drawn on every chart, each value written after its bar, percentages on the whole 0–100 %
axis, one axis for the charts of one figure, names told apart, text that stays readable when the
image is shown 340 px wide, colours with contrast, and nothing a browser would fetch or run.
The pages' charts (dashboard, compliance, half-year and public report) are checked in their tests."""
from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import pytest

from app.web import charts
from tests.reports import loads_nothing


@pytest.fixture
def ja(app):  # type: ignore[no-untyped-def]
    with app.test_request_context(headers={"Accept-Language": "ja"}):
        yield


def drawn(chart: charts.Chart) -> dict[str, list[str]]:
    """The texts of the image by what they are: title, names, values, ticks (in drawing order)."""
    root = ET.fromstring(chart.svg)

    def texts(group: str, cls: str | None = None) -> list[str]:
        return [t.text or "" for g in root.iter() if group in (g.get("class") or "").split()
                for t in g.iter() if t.tag.endswith("text") and (cls is None or cls in (t.get("class") or "").split())]

    ticks = [(float(t.get("x", "0")), t.text or "") for g in root.iter() if "x" in (g.get("class") or "").split()
             for t in g.iter() if t.tag.endswith("text")]
    names = [(float(t.get("y", "0")), t.text or "") for g in root.iter() if "y" in (g.get("class") or "").split()
             for t in g.iter() if t.tag.endswith("text")]
    values = [(float(t.get("y", "0")), t.text or "") for g in root.iter()
              if "text-overlay" in (g.get("class") or "").split() for t in g.iter()
              if t.tag.endswith("text") and "value" in (t.get("class") or "").split()]
    return {"title": texts("titles", "plot_title"), "names": [n for _y, n in sorted(names)],
            "values": [v for _y, v in sorted(values)], "ticks": [t for _x, t in sorted(ticks)]}


def test_a_rate_chart_has_its_title_its_values_and_the_whole_0_to_100_axis(ja):
    spec = charts.rate_chart("部局別の修了率", ["総務部", "健康福祉部", "県土整備部"], [12.5, 0.0, None], "部局別")
    assert spec is not None
    chart = charts.render(spec)
    texts = drawn(chart)
    assert texts["title"] == ["部局別の修了率"]
    # top to bottom in the order given; the row without a rate has no bar; a zero is written
    assert list(zip(texts["names"], texts["values"], strict=True)) == [("総務部", "12.5%"), ("健康福祉部", "0.0%")]
    assert texts["ticks"][0] == "0%" and texts["ticks"][-1] == "100%"  # not scaled to the largest value
    assert chart.alt == "棒グラフ：部局別の修了率（目盛りは0%から100%まで）。数値は表「部局別」にあります。"
    assert chart.src.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(chart.src.split(",", 1)[1]) == chart.svg
    assert loads_nothing(chart.svg.decode())
    assert charts.rate_chart("修了率", ["総務部"], [None], "部局別") is None  # nothing to draw: no chart


def test_values_above_100_percent_are_drawn_in_full_with_the_plan_line(ja):
    spec = charts.ChartSpec("計画に対する受講者数", ("DX基礎研修", "メンタルヘルス研修"), (135.0, 60.0), "研修別",
                            scale=charts.scale_to_fit([135.0, 60.0]), axis_title="100% = 計画どおり", reference=100)
    assert spec.scale == (0.0, 150.0)
    chart = charts.render(spec)
    assert drawn(chart)["values"] == ["135.0%", "60.0%"]
    assert drawn(chart)["ticks"][0] == "0%" and "100%" in drawn(chart)["ticks"]
    svg = chart.svg.decode()
    plot = re.search(r'class="plot"><rect x="0" y="0" width="([\d.]+)"', svg)
    bars = re.findall(r'<rect x="([\d.]+)" y="[\d.]+" rx="0" ry="0" width="([\d.]+)"', svg)
    assert plot is not None
    ends = [float(x) + float(w) for x, w in bars]
    assert len(ends) == 2 and max(ends) < float(plot.group(1))  # 135 % is not cut at the edge
    assert re.search(r'class="major guide line"', svg)  # the plan's 100 % drawn as a solid line
    assert "100% = 計画どおり" in svg
    assert charts.scale_to_fit([40.0]) == (0.0, 100.0)


def test_the_charts_of_one_figure_share_their_axis(ja):
    a = charts.ChartSpec("a", ("x",), (10.0,), "t", scale=(0.0, 100.0))
    b = charts.ChartSpec("b", ("x",), (140.0,), "t", scale=(0.0, 150.0))
    assert [s.scale for s in charts.same_scale(a, b, None) if s is not None] == [(0.0, 150.0), (0.0, 150.0)]
    # rates by department: one chart has a department more (a longer name), yet the axes line up
    completion, attendance = charts.same_scale(
        charts.rate_chart("部局別の修了率", ["総務部", "デジタル推進局"], [80.0, 0.0], "部局別"),
        charts.rate_chart("部局別の出席率", ["総務部"], [90.0], "部局別"))
    assert completion is not None and attendance is not None

    def axis(chart: charts.Chart) -> tuple[str, list[str]]:
        svg = chart.svg.decode()
        plot = re.search(r'transform="translate\(([\d.]+), [\d.]+\)" class="plot"', svg)
        assert plot
        return str(round(float(plot.group(1)))), drawn(chart)["ticks"]

    assert axis(charts.render(completion)) == axis(charts.render(attendance))


def test_names_that_occur_twice_carry_what_tells_them_apart():
    assert charts.distinct_labels(["人事課", "財政課", "人事課"], ["総務部", "総務部", "健康福祉部"]) == [
        "人事課（総務部）", "財政課", "人事課（健康福祉部）"]


def test_long_names_are_shortened_and_text_stays_readable_on_a_phone(ja):
    name = "新しい働き方（時差出勤・ワーケーション）実践研修"
    chart = charts.render(charts.ChartSpec("計画に対する受講者数", (name,), (90.0,), "研修別"))
    shown = drawn(chart)["names"][0]
    assert shown.endswith("…") and name.startswith(shown[:-1]) and len(shown) < len(name)
    # Drawn 600 wide with text of 22 units or more: shown 340 px wide, the text is 12.5 px.
    assert chart.width == 600
    css = re.search(r"<style[^>]*>(.*?)</style>", chart.svg.decode(), re.S).group(1)  # type: ignore[union-attr]
    sizes = {rule.strip(): int(size) for rule, size in re.findall(r"([^{}]*)\{[^}]*?font-size:(\d+)px", css)}
    shown = {rule: sizes[rule] for rule in (".title", ".axis text", ".axis text.major", ".text-overlay text.value")}
    assert min(shown.values()) * 340 / chart.width >= 11, shown  # (legend, tooltip: none drawn)


def contrast(a: str, b: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_bars_and_text_stand_out_from_the_background(ja):
    chart = charts.render(charts.ChartSpec("t", ("a",), (50.0,), "t"))
    css = chart.svg.decode()
    assert charts.BAR in css and charts.INK in css and "#ffffff" in css
    assert contrast(charts.BAR, "#ffffff") >= 3 and contrast(charts.GUIDE, "#ffffff") >= 3
    assert contrast(charts.INK, "#ffffff") >= 4.5
