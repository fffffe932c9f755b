"""The survey results' bar charts, drawn on the server as inline SVG (no script, nothing from another
host), always shown with the numbers beside them. Text is escaped; sizes are fixed so the page does
not jump. (The reports' charts are pygal images with a house style: app/reports/charts.py.)"""
from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

PALETTE = ("#0b5394", "#3d85c6", "#6fa8dc", "#e69138", "#6aa84f", "#a64d79")


def bar_chart_svg(labels: Sequence[str], values: Sequence[float], *, title: str, width: int = 480,
                  bar_height: int = 22) -> Markup:
    """Horizontal bars, one per label, with the value written at the end of each bar."""
    label_width = min(220, max((len(str(label)) for label in labels), default=4) * 14 + 8)
    chart_width = width - label_width - 60
    top = max([*values, 1])
    height = len(labels) * (bar_height + 8) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
             f'viewBox="0 0 {width} {height}" width="100%" class="chart" preserveAspectRatio="xMinYMin meet">',
             f"<title>{escape(title)}</title>"]
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 5 + index * (bar_height + 8)
        length = 0 if not value else max(2, chart_width * min(value, top) / top)
        parts.append(f'<text x="{label_width - 6}" y="{y + bar_height * 0.72:.1f}" text-anchor="end" '
                     f'font-size="13" fill="#1b1f24">{escape(str(label))}</text>')
        parts.append(f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
                     f'fill="{PALETTE[0]}" rx="2"/>')
        shown = f"{value:g}" if isinstance(value, (int, float)) else str(value)
        parts.append(f'<text x="{label_width + length + 6:.1f}" y="{y + bar_height * 0.72:.1f}" font-size="13" '
                     f'fill="#1b1f24">{escape(shown)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
