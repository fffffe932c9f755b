"""The charts (the reports' figures, a survey's ratings): horizontal bars drawn by pygal in one
house style, served as images.

pygal writes an inline <style> (and a <script>, even with js=[]), which our CSP refuses in a page;
inside an <img> (here a data: URI, allowed by img-src) the image keeps its own style, runs no script
and loads nothing. The page shows the numbers in a table beside every chart; the chart's alt names
the figure and that table.

House style, so that a chart reads the same on a 360-px phone, a desktop and an A4 print:
- every chart has a visible title, its bars' names on the left and each value printed after its bar
  (meaning is never carried by colour alone; the bar colour has 8:1 contrast on white);
- percentages run on a fixed 0–100 % axis, whatever the largest value, and the charts of one figure
  share their axis (`same_scale`);
- drawn 600 units wide with 22-unit text, so the text stays 11 px or more with the image shown
  340 px wide (app.css shows it at most 480 px wide, so it never grows large either);
- bar names wider than LABEL_ROOM (about 12 Japanese characters) are shortened with "…" (the table
  has them in full); names that occur twice in one chart carry what tells them apart
  (`distinct_labels`)."""
from __future__ import annotations

import base64
import math
import sys
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import pygal
from pygal.style import Style

from app.web.locale import current_language
from app.web.locale import gettext as _

# pygal appends to sys.meta_path a finder for its map plugins (unused here) that has no find_spec:
# every later import that reaches it (an optional module missing) raises Python 3.11's ImportWarning,
# an error under our warnings-as-errors. Take it out again.
sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, pygal.PluginImportFixer)]

PERCENT = (0.0, 100.0)
WIDTH = 600
FONT = 22  # labels, values and ticks, in SVG units (11 px at 340 px wide)
TITLE_FONT = 26
ROW = 48  # height of one bar and the gap below it
LABEL_ROOM = 260  # the widest bar name; longer names are shortened
INK = "#1b1f24"  # text: 16:1 on white
BAR = "#0b5394"  # 8.2:1 on white
GUIDE = "#767676"  # grid lines: 4.5:1 on white
FONTS = '"Noto Sans CJK JP", "Hiragino Sans", "Yu Gothic", Meiryo, "Noto Sans", "DejaVu Sans", sans-serif'


@dataclass(frozen=True)
class ChartSpec:
    """What a chart shows: one bar per label, the value written after it."""

    title: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    table: str  # the caption of the table beside the chart that holds its numbers
    unit: str = "%"
    scale: tuple[float, float] = PERCENT  # the value axis, fixed
    axis_title: str = ""  # under the value axis (what 100 % means, when it is not obvious)
    reference: float | None = None  # a value whose grid line is drawn solid (the plan's 100 %)
    label_room: float = 0  # room for the bar names, at least (the charts of a figure align their axes)
    value_decimals: int = 1  # after each bar: 80.0% for a rate, 3 for a count


@dataclass(frozen=True)
class Chart:
    """A rendered chart: an SVG image and the text that stands for it."""

    title: str
    alt: str
    svg: bytes
    width: int
    height: int

    @property
    def src(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg).decode("ascii")


def rate_chart(title: str, labels: Sequence[str], values: Sequence[float | None], table: str) -> ChartSpec | None:
    """A percentage chart on the fixed 0–100 % axis; a row without a value (no one to count, or a
    hidden count) has no bar. None when no row has a value."""
    kept = [(label, value) for label, value in zip(labels, values, strict=True) if value is not None]
    if not kept:
        return None
    return ChartSpec(title, tuple(label for label, _value in kept), tuple(value for _label, value in kept), table)


def same_scale(*specs: ChartSpec | None) -> list[ChartSpec | None]:
    """The charts of one figure on one axis: the widest of their scales, drawn at the same place
    (the same room for the names), so that bars of the same value are of the same length."""
    shown = [spec for spec in specs if spec is not None]
    if not shown:
        return list(specs)
    scale = (min(s.scale[0] for s in shown), max(s.scale[1] for s in shown))
    room = max(_label_room(s) for s in shown)
    return [replace(spec, scale=scale, label_room=room) if spec is not None else None for spec in specs]


def scale_to_fit(values: Sequence[float], step: float = 50.0, at_least: float = 100.0) -> tuple[float, float]:
    """A 0-based axis that ends at a round value no lower than `at_least` (values above 100 %, such as
    participants against plan, are drawn in full, never cut)."""
    top = max([at_least, *values])
    return (0.0, math.ceil(top / step) * step)


def distinct_labels(labels: Sequence[str], qualifiers: Sequence[str]) -> list[str]:
    """Labels with their qualifier (the parent unit, a code) added where a label occurs more than once."""
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    return [f"{label}（{qualifier}）" if seen[label] > 1 and qualifier else label
            for label, qualifier in zip(labels, qualifiers, strict=True)]


def count_chart(title: str, labels: Sequence[str], counts: Sequence[int], table: str) -> ChartSpec:
    """How many answered each way (a survey's ratings): whole numbers after the bars, an axis from 0
    to a round number at least 5."""
    return ChartSpec(title, tuple(labels), tuple(float(c) for c in counts), table, unit="",
                     scale=scale_to_fit(counts, step=5.0, at_least=5.0), value_decimals=0)


def render(spec: ChartSpec) -> Chart:
    """The chart of `spec` in this request's language (its alt text is translated)."""
    return _render(spec, current_language())


@lru_cache(maxsize=64)  # a figure's chart is the same for everyone until its numbers change (~20 KB each)
def _render(spec: ChartSpec, language: str) -> Chart:
    labels = [_shorten(label, LABEL_ROOM) for label in spec.labels]
    low, high = spec.scale
    height = 64 + ROW * len(labels) + 56 + (40 if spec.axis_title else 0)
    label_room = max(spec.label_room, _label_room(spec))
    # pygal sizes the room for the names at 0.6 em a character of the longest; CJK takes a whole em
    # (and the figure's other charts may have longer names).
    shortfall = label_room - 0.6 * FONT * max((len(label) for label in labels), default=0)
    value_room = _width(_format(spec, max([high, *spec.values]), spec.value_decimals)) + 16
    ticks = _ticks(spec, WIDTH - 70 - label_room - value_room)  # what pygal leaves to the plot, about
    reference = spec.reference is not None
    style = Style(background="#ffffff", plot_background="#ffffff", foreground=INK, foreground_strong=INK,
                  foreground_subtle=GUIDE, colors=(BAR,), value_colors=(INK,), font_family=FONTS,
                  title_font_size=TITLE_FONT, label_font_size=FONT, major_label_font_size=FONT,
                  value_font_size=FONT, guide_stroke_color=GUIDE, major_guide_stroke_color=INK if reference else GUIDE,
                  major_guide_stroke_dasharray="none" if reference else "4,4", opacity="1", opacity_hover="1",
                  transition="none")
    chart = pygal.HorizontalBar(
        js=[], style=style, width=WIDTH, height=height, title=spec.title, x_title=spec.axis_title or None,
        range=(low, high), y_labels=[{"label": _format(spec, tick, 0), "value": tick} for tick in ticks],
        y_labels_major=[spec.reference] if reference else [], show_legend=False, print_values=True,
        print_zeroes=True, value_formatter=lambda value: _format(spec, value, spec.value_decimals),
        truncate_label=-1, truncate_title=-1, margin_left=12 + math.ceil(shortfall),
        margin_right=math.ceil(value_room), margin_top=12, margin_bottom=12, spacing=10, no_prefix=True,
        explicit_size=True)
    chart.add_xml_filter(_house_keeping)
    chart.x_labels = list(reversed(labels))  # pygal draws the first label at the bottom
    chart.add(spec.title, list(reversed(spec.values)))
    return Chart(spec.title, _alt(spec), chart.render(), WIDTH, height)


def render_all(specs: dict[str, ChartSpec | None]) -> dict[str, Chart]:
    return {name: render(spec) for name, spec in specs.items() if spec is not None}


def _alt(spec: ChartSpec) -> str:
    low, high = spec.scale
    return _("Bar chart: %(title)s, on a scale of %(low)s to %(high)s. The figures are in the table “%(table)s”.",
             title=spec.title, low=_format(spec, low, 0), high=_format(spec, high, 0), table=spec.table)


def _format(spec: ChartSpec, value: float, decimals: int) -> str:
    """As the tables write it: values with one decimal (80.0%), the axis in whole numbers."""
    return f"{value:.{decimals}f}{spec.unit}"


def _ticks(spec: ChartSpec, plot_width: float) -> list[float]:
    """Round values along the axis, as many as fit side by side (the reference always among them)."""
    low, high = spec.scale
    room = _width(_format(spec, high, 0)) + 1.5 * FONT
    step = next((step for step in (1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0) if plot_width * step / (high - low) >= room),
                high - low)
    ticks = [low + step * index for index in range(int((high - low) // step) + 1)]
    if spec.reference is not None and spec.reference not in ticks:
        ticks.append(spec.reference)
    return sorted(ticks)


def _label_room(spec: ChartSpec) -> float:
    return max((_width(_shorten(label, LABEL_ROOM)) for label in spec.labels), default=0)


def _width(text: str) -> float:
    """Text width in SVG units: a whole em for wide (CJK) characters, 0.6 em for the others (as pygal
    reckons them; a little more than they take)."""
    return sum(FONT if unicodedata.east_asian_width(c) in "WF" else 0.6 * FONT for c in text)


def _shorten(label: str, room: float) -> str:
    if _width(label) <= room:
        return label
    while label and _width(label + "…") > room:
        label = label[:-1]
    return label.rstrip() + "…"


def _house_keeping(root: ET.Element) -> ET.Element:
    """Drop pygal's comments (they name its web site) and script (an image runs none anyway), and
    write each value just after the end of its bar, in text colour (pygal centres it on the bar)."""
    for parent in list(root.iter()):
        for child in list(parent):
            if child.tag is ET.Comment or (isinstance(child.tag, str) and child.tag.endswith("script")):
                parent.remove(child)
    bars = [rect for group in _with_class(root, "bar") for rect in group if _has_class(rect, "rect")]
    values = [text for text in _with_class(root, "value") if str(text.tag).endswith("text")]
    for bar, value in zip(bars, values, strict=True):
        value.set("x", f"{float(bar.get('x', '0')) + float(bar.get('width', '0')) + 8:.2f}")
        value.set("text-anchor", "start")
    return root


def _has_class(element: ET.Element, name: str) -> bool:
    return name in (element.get("class") or "").split()


def _with_class(root: ET.Element, name: str) -> list[ET.Element]:
    return [element for element in root.iter() if isinstance(element.tag, str) and _has_class(element, name)]
