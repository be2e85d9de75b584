"""The worked example of docs/extending.md, run for real on the local runtime."""

from __future__ import annotations

from examples.extensions import Pause, Stopwatch
from squall import Squall, State, local
from squall.limits import MAX_RECEIVE_COUNT


def test_a_paused_task_waits_without_spending_attempts_then_runs_and_is_timed() -> None:
    pause, stopwatch = Pause(seconds=120), Stopwatch()
    app = Squall("extending", extensions=[pause, stopwatch])

    @app.task(name="report")
    def report(month: str) -> str:
        return f"report-{month}.pdf"

    with local.run(app) as rt:
        pause.paused.add("report")
        result = report.delay("2026-11")

        # Held back for longer than the redrive policy's receives would allow: it stays queued, unclaimed
        rt.advance(seconds=(MAX_RECEIVE_COUNT + 2) * 121, run=True)
        assert result.state is State.PENDING
        assert rt.queued() == 1
        assert rt.dead_letters() == []

        # Resumed: it runs once, at attempt 1, timed and counted
        pause.paused.clear()
        rt.drain()
        assert result.get(timeout=0) == "report-2026-11.pdf"
        assert result.record is not None
        assert result.record.attempt == 1
        assert [name for name, _ in stopwatch.runs] == ["report"]
        assert stopwatch.outcomes[("report", "held")] >= MAX_RECEIVE_COUNT
        assert stopwatch.outcomes[("report", "succeeded")] == 1
