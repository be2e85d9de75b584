"""The benchmark suite runs end to end at tiny sizes and produces every table and row (no thresholds)."""

from __future__ import annotations

from pathlib import Path

from bench import __main__ as bench_main
from bench import coldstart, per_task


def test_the_whole_suite_runs_at_tiny_sizes_and_reports_every_table(tmp_path: Path) -> None:
    tables = bench_main.run(n=3, enqueue_n=20, repetitions=2, coldstart_runs=1, celery_n=3)

    titles = [t.title for t in tables]
    for expected in (
        "Requests and units per task",
        "Dollars per million tasks",
        "side by side",
        "Worker CPU",
        "Where Squall's per-record CPU goes",
        "Cold start",
        "Enqueue",
    ):
        assert any(expected in title for title in titles), (expected, titles)
    per_task_table = next(t for t in tables if t.title.startswith("Requests and units per task"))
    for scenario in per_task.SCENARIOS:
        assert not per_task_table.row(scenario.label)[1].startswith("not measured"), scenario.label
    side = next(t for t in tables if "side by side" in t.title)
    for system in ("Squall", "Celery", "Step Functions", "Cloud Tasks", "QStash"):
        assert any(system in row[0] for row in side.rows), system
    worker = next(t for t in tables if t.title.startswith("Worker CPU"))
    assert [row[0] for row in worker.rows] == ["1", "10", "100"]
    cold = next(t for t in tables if t.title.startswith("Cold start"))
    assert [row[0] for row in cold.rows] == [label for label, *_ in coldstart.VARIANTS if label != "empty"]
    assert [row[-1].split(":")[0] for row in cold.rows if row[-1]] == ["≤ 1.3x", "≤ 1.15x"]
    for table in tables:
        assert table.markdown().startswith("### ")


def test_the_command_line_writes_its_report(tmp_path: Path) -> None:
    out = tmp_path / "report.md"

    assert bench_main.main(["--quick", "--only", "enqueue", "--out", str(out)]) == 0

    assert "### Enqueue" in out.read_text(encoding="utf-8")
