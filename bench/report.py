"""Result tables: what every benchmark returns, printed as Markdown (docs/benchmarks.md is made of them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Table:
    """A titled table with notes; every cell is already text."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        """The table as GitHub Markdown, notes after it."""
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        for row in self.rows:
            cells = [c.replace("|", "\\|") for c in row] + [""] * (len(self.columns) - len(row))
            lines.append("| " + " | ".join(cells) + " |")
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines) + "\n"

    def row(self, label: str) -> list[str]:
        """The row whose first cell is ``label``; KeyError if there is none."""
        for row in self.rows:
            if row and row[0] == label:
                return row
        raise KeyError(label)


def num(value: float) -> str:
    """A count per task: up to three decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def money(value: float) -> str:
    """Dollars with enough precision for small per-million figures."""
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.4f}"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.3f}"


def ratio(value: float) -> str:
    """A ratio, two decimals and an x."""
    return f"{value:.2f}x"


def micros(seconds: float) -> str:
    """Seconds as microseconds."""
    return f"{seconds * 1e6:,.1f} µs"


def millis(seconds: float) -> str:
    """Seconds as milliseconds."""
    return f"{seconds * 1e3:,.1f} ms"


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend, or None without matplotlib (the ``bench`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt
