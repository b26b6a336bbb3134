"""The progress chart: each measure of a plan over time against its baseline, as a server-rendered SVG.

Pure: takes `MeasureSeries` and returns SVG text (no JavaScript, no ORM, no HTTP), so the plan page, the
client's portal and the PDF report embed the very same drawing. One small panel per measure: the
baseline as a dashed line, the measurements as a line with labelled points, coloured by whether the
latest value is better or worse than the baseline (the words say it too; colour only helps).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from scheduler.format import format_short_day
from scheduler.plans.measures import MeasureSeries

WIDTH = 640
PANEL_HEIGHT = 150
PLOT_LEFT = 48
PLOT_RIGHT = 84
INSET = 14  # keeps the first and last points off the axis labels
PLOT_TOP = 34
PLOT_BOTTOM = 30
BETTER = "#1f7a3a"
WORSE = "#a8312b"
SAME = "#1d6f6a"
GRID = "#d9e1e4"
INK = "#1f2a30"
MUTED = "#5b6b73"
FONT = "DejaVu Sans, Verdana, sans-serif"


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _y_max(series: MeasureSeries) -> float:
    if series.scale_max:
        return float(series.scale_max)
    values = [v for _, v in series.points] + ([series.baseline] if series.baseline is not None else [])
    top = max(values, default=0.0) * 1.15
    return float(max(30, math.ceil(top / 30) * 30))


def _verdict(series: MeasureSeries) -> tuple[str, str]:
    change = series.change
    if change is None or len(series.points) < 2:
        return "baseline only", MUTED
    if series.improved is None:
        return "no change from baseline", SAME
    sign = "+" if change > 0 else "\N{MINUS SIGN}"
    amount = f"{sign}{_fmt(abs(change))}{'°' if series.unit == '°' else ''}"
    return (f"better ({amount})", BETTER) if series.improved else (f"worse ({amount})", WORSE)


def _panel(series: MeasureSeries, top: float, first: dt.date, last: dt.date) -> list[str]:
    plot_w = WIDTH - PLOT_LEFT - PLOT_RIGHT
    plot_h = PANEL_HEIGHT - PLOT_TOP - PLOT_BOTTOM
    y0 = top + PLOT_TOP
    y_max = _y_max(series)
    span_days = max((last - first).days, 0)

    def x_of(day: dt.date) -> float:
        if span_days == 0:
            return PLOT_LEFT + plot_w / 2
        return PLOT_LEFT + INSET + (plot_w - 2 * INSET) * (day - first).days / span_days

    def y_of(value: float) -> float:
        return y0 + plot_h - plot_h * min(max(value, 0.0), y_max) / y_max

    verdict, colour = _verdict(series)
    unit = "degrees" if series.unit == "°" else "0\N{EN DASH}10, lower is better"
    out = [
        f'<g class="measure" data-measure={quoteattr(series.key)}>',
        f'<text x="{PLOT_LEFT}" y="{top + 16:.1f}" font-size="13" font-weight="700" fill="{INK}">'
        f"{escape(series.label)}</text>",
        f'<text x="{WIDTH - PLOT_RIGHT}" y="{top + 16:.1f}" font-size="12" font-weight="700" text-anchor="end" '
        f'fill="{colour}">'
        f"{escape(verdict)}</text>",
        f'<text x="{PLOT_LEFT}" y="{top + 29:.1f}" font-size="10" fill="{MUTED}">{escape(unit)}</text>',
    ]
    for tick in (0.0, y_max / 2, y_max):
        y = y_of(tick)
        out.append(
            f'<line x1="{PLOT_LEFT}" y1="{y:.1f}" x2="{WIDTH - PLOT_RIGHT}" y2="{y:.1f}" stroke="{GRID}" '
            'stroke-width="1"/>'
        )
        out.append(
            f'<text x="{PLOT_LEFT - 6}" y="{y + 3.5:.1f}" font-size="10" text-anchor="end" fill="{MUTED}">'
            f"{_fmt(tick)}</text>"
        )
    if series.baseline is not None:
        y = y_of(series.baseline)
        out.append(
            f'<line class="baseline" x1="{PLOT_LEFT}" y1="{y:.1f}" x2="{WIDTH - PLOT_RIGHT}" y2="{y:.1f}" '
            f'stroke="{MUTED}" stroke-width="1.5" stroke-dasharray="5 4"/>'
        )
        out.append(
            f'<text x="{WIDTH - PLOT_RIGHT + 6}" y="{y + 3.5:.1f}" font-size="10" fill="{MUTED}">'
            f"baseline {_fmt(series.baseline)}</text>"
        )
    coords = [(x_of(day), y_of(value), day, value) for day, value in series.points]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in coords)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
    for x, y, day, value in coords:
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#fff" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(format_short_day(day))}: {_fmt(value)}</title></circle>"
        )
        out.append(
            f'<text x="{x:.1f}" y="{y - 8:.1f}" font-size="11" font-weight="700" text-anchor="middle" '
            f'fill="{INK}">{_fmt(value)}</text>'
        )
    axis_y = y0 + plot_h + 16
    labelled: set[dt.date] = set()
    for x, _, day, _ in coords:
        if day in labelled:
            continue
        labelled.add(day)
        out.append(
            f'<text x="{x:.1f}" y="{axis_y:.1f}" font-size="10" text-anchor="middle" fill="{MUTED}">'
            f"{escape(format_short_day(day))}</text>"
        )
    out.append("</g>")
    return out


def progress_chart_svg(measures: Sequence[MeasureSeries], title: str = "Progress against baseline") -> str:
    """An SVG document: one panel per measure, stacked, sharing one date axis (first to last assessment)."""
    days = [day for series in measures for day, _ in series.points]
    if not measures or not days:
        height = 60
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
            f'height="{height}" role="img" aria-label={quoteattr(title)} font-family={quoteattr(FONT)}>'
            f'<text x="{WIDTH / 2}" y="34" font-size="13" text-anchor="middle" fill="{MUTED}">'
            "No assessments recorded yet</text></svg>"
        )
    first, last = min(days), max(days)
    height = PANEL_HEIGHT * len(measures)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
        f'height="{height}" role="img" aria-label={quoteattr(title)} font-family={quoteattr(FONT)}>',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#fff"/>',
    ]
    for index, series in enumerate(measures):
        parts.extend(_panel(series, index * PANEL_HEIGHT, first, last))
    parts.append("</svg>")
    return "".join(parts)
