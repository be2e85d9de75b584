"""The example shop app, tested the way a Squall user tests theirs: enqueue, drain, assert.

``squall_runtime`` (from squall's pytest plugin) runs the app on moto in process with a fake clock, so
retries with backoff, delays and schedules take no real time. ``squall_app`` is defined in conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from examples.shop.tasks import build_report, charge, import_feed, sync_inventory
from squall import State, TaskFailed
from squall.local import Runtime
from squall.ops import dlq


def test_a_charge_returns_its_receipt(squall_runtime: Runtime) -> None:
    result = charge.delay("o-1", 100)

    squall_runtime.drain()

    assert result.get(timeout=0) == {"order_id": "o-1", "charged": 100, "currency": "EUR"}


def test_a_flaky_sync_succeeds_on_its_third_attempt(squall_runtime: Runtime) -> None:
    result = sync_inventory.delay("sku-42", fail_times=2)

    squall_runtime.drain()

    assert result.get(timeout=0) == "sku-42 synced on attempt 3"
    assert result.record is not None
    assert result.record.attempt == 3


def test_a_report_keeps_its_last_progress_report(squall_runtime: Runtime) -> None:
    result = build_report.delay("2026-10")

    squall_runtime.drain()

    assert result.get(timeout=0) == "report-2026-10.pdf"
    assert result.progress is not None
    assert (result.progress.percent, result.progress.message) == (100, "rendering")


def test_a_declined_card_is_dead_at_once_and_dead_lettered_with_its_reason(
    squall_runtime: Runtime, squall_dead_letters: Callable[..., list[dlq.DeadLetter]]
) -> None:
    result = charge.delay("o-2", 0)

    squall_runtime.drain()

    with pytest.raises(TaskFailed, match="CardDeclined"):
        result.get(timeout=0)
    assert result.record is not None
    assert result.record.attempt == 1
    [letter] = squall_dead_letters()
    assert letter.task_id == result.id
    assert letter.reason is not None
    assert "cannot be charged" in letter.reason


def test_a_redriven_feed_gets_a_fresh_attempt_budget(
    squall_runtime: Runtime, squall_dead_letters: Callable[..., list[dlq.DeadLetter]]
) -> None:
    result = import_feed.delay("https://supplier.example/feed.csv")
    squall_runtime.drain()
    assert result.state is State.DEAD

    report = dlq.redrive(squall_runtime.app)
    squall_runtime.drain()

    assert [m.task_id for m in report.moved] == [result.id]
    record = squall_runtime.app.store.get(result.id)
    assert record is not None
    assert (record.state, record.attempt, record.redrives) == (State.DEAD, 3, 1)  # all three attempts again
    assert [m.redrives for m in squall_dead_letters()] == [1]


def test_a_delayed_charge_waits_for_its_countdown(squall_runtime: Runtime) -> None:
    sent_at = squall_runtime.clock.now()
    result = charge.apply_async(("o-3", 30), countdown=45)

    squall_runtime.drain()

    assert result.get(timeout=0) == {"order_id": "o-3", "charged": 30, "currency": "EUR"}
    assert result.record is not None
    assert result.record.started_at is not None
    assert result.record.started_at - sent_at >= 45


def test_a_nightly_report_runs_when_its_schedule_fires(squall_runtime: Runtime) -> None:
    app = squall_runtime.app
    app.schedules.create("nightly-report", build_report.s("2026-11"), cron="0 2 * * ? *")

    squall_runtime.advance(days=1)
    squall_runtime.drain()

    assert squall_runtime.scheduler is not None
    [firing] = [f for f in squall_runtime.scheduler.fired if f.schedule == "d.nightly-report"]
    assert firing.scheduled_time.endswith("T02:00:00Z")
    # Each firing is a task whose id names the schedule and the scheduled time.
    assert app.AsyncResult(f"d.nightly-report@{firing.scheduled_time}").get(timeout=0) == "report-2026-11.pdf"
