"""An incident's charts as SVG geometry, drawn on the server: no chart library, nothing to
download, readable without JavaScript. The template (dashboard/_chart.html) only places what
this computes: the series as a polyline, thresholds as dashed lines, the moments as marks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backout.metric_history import thinned
from backout.metrics import Unit
from backout.operations.incident_charts import IncidentCharts, Mark, Series

WIDTH, HEIGHT = 640.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 60.0, 12.0, 34.0, 26.0
X_TICKS, Y_TICKS = 6, 4
TABLE_ROWS = 120  # the data table under each chart, for screen readers: thinned to this


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in the viewBox
    text: str


@dataclass(frozen=True)
class MarkLine:
    x: float
    label: str
    row: int  # 0 or 1: marks close together take turns, so their labels do not overlap


@dataclass(frozen=True)
class ChartView:
    metric: str
    title: str
    description: str
    polyline: str
    thresholds: list[Tick]  # y, and the threshold as the unit shows it
    marks: list[MarkLine]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    table: list[tuple[str, str]]  # ("+12.0 s", "33.3%")
    width: float = WIDTH
    height: float = HEIGHT
    left: float = LEFT
    right_edge: float = WIDTH - RIGHT
    top: float = TOP
    bottom_edge: float = HEIGHT - BOTTOM


def chart_views(charts: IncidentCharts) -> list[ChartView]:
    return [_view(series, charts) for series in charts.series]


def _view(series: Series, charts: IncidentCharts) -> ChartView:
    unit = Unit(series.unit)
    start, end = charts.start_s, max(charts.end_s, charts.start_s + 1.0)
    values = [v for _, v in series.points]
    top_value = max([*values, *series.thresholds, 0.0]) * 1.15 or 1.0

    def x(seconds: float) -> float:
        return LEFT + (seconds - start) / (end - start) * (WIDTH - LEFT - RIGHT)

    def y(value: float) -> float:
        return HEIGHT - BOTTOM - value / top_value * (HEIGHT - TOP - BOTTOM)

    shown = [(t, v) for t, v in series.points if start <= t <= end]
    return ChartView(
        metric=series.metric,
        title=f"{series.label} around incident {charts.incident_id}",
        description=_describe(series, unit, charts.marks),
        polyline=" ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in shown),
        thresholds=[Tick(y(t), unit.show_exact(t)) for t in series.thresholds if t <= top_value],
        marks=_mark_lines(charts.marks, x, start, end),
        x_ticks=[Tick(x(t), f"{t:+.0f}s") for t in _steps(start, end, X_TICKS)],
        y_ticks=[Tick(y(v), unit.show(v)) for v in _steps(0.0, top_value / 1.15, Y_TICKS)],
        table=[(f"{t:+.1f} s", unit.show(v)) for t, v in thinned(shown, TABLE_ROWS)],
    )


def _describe(series: Series, unit: Unit, marks: list[Mark]) -> str:
    values = [v for _, v in series.points]
    parts = [f"{len(values)} points", f"highest {unit.show(max(values))}" if values else ""]
    if series.thresholds:
        parts.append("trigger at " + ", ".join(unit.show_exact(t) for t in series.thresholds))
    parts += [f"{m.label} at {m.at_s:+.1f}s" for m in marks]
    return "; ".join(p for p in parts if p)


def _mark_lines(
    marks: list[Mark], x: Callable[[float], float], start: float, end: float
) -> list[MarkLine]:
    placed: list[MarkLine] = []
    for mark in marks:
        if not start <= mark.at_s <= end:
            continue
        at = x(mark.at_s)
        crowded = placed and at - placed[-1].x < 90 and placed[-1].row == 0
        placed.append(MarkLine(at, mark.label, 1 if crowded else 0))
    return placed


def _steps(low: float, high: float, count: int) -> list[float]:
    span = high - low
    return [low + span * i / (count - 1) for i in range(count)] if span > 0 else [low]
