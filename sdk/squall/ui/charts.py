"""Bar charts drawn on the server as SVG geometry (the page runs no script); the template only places them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

#: Drawing area of a chart, in SVG user units (the page scales it to its width).
WIDTH, HEIGHT = 600, 120


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its box and the tooltip naming its bucket and value."""

    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    """A titled series of bars over equal time buckets, with the largest value for the axis label, and a one-line
    note saying where its values come from or why there are none."""

    title: str
    bars: tuple[Bar, ...]
    peak: float
    unit: str
    note: str = ""
    width: int = WIDTH
    height: int = HEIGHT


def bar_chart(title: str, values: Sequence[float], labels: Sequence[str], unit: str = "", *, note: str = "") -> Chart:
    """A chart of ``values`` (one per bucket, oldest first), each bar's tooltip ``label: value unit``."""
    peak = max(values, default=0.0)
    step = WIDTH / max(len(values), 1)
    bars = []
    for index, (value, label) in enumerate(zip(values, labels, strict=True)):
        height = 0.0 if peak <= 0 else (HEIGHT - 4) * value / peak
        text = f"{label}: {value:g}{(' ' + unit) if unit else ''}"
        bars.append(Bar(index * step + 1, HEIGHT - height, max(step - 2, 1), height, text))
    return Chart(title, tuple(bars), peak, unit, note)
