"""Results: stored as JSON, read through AsyncResult, expired after result_ttl, absent with ignore_result."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from squall import AsyncResult, Squall, State
from squall.limits import DEAD_RECORD_TTL_SECONDS
from squall.local import Runtime

if TYPE_CHECKING:
    from conftest import ApiCalls

TTL = 3_600


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task(result_ttl=TTL)
    def short_lived(x: int) -> int:
        return x * 2

    @app.task(ignore_result=True)
    def fire_and_forget(x: int) -> int:
        return x * 2

    @app.task(max_retries=0)
    def fails() -> None:
        raise RuntimeError("boom")

    return SimpleNamespace(short_lived=short_lived, fire_and_forget=fire_and_forget, fails=fails)


def test_result_is_readable_until_its_ttl(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    result = tasks.short_lived.delay(21)
    rt.drain()

    rt.advance(TTL - 5)

    assert app.AsyncResult(result.id).get(timeout=0) == 42


def test_result_reads_pending_once_its_ttl_passed(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    # Given a finished task whose result lives an hour
    result = tasks.short_lived.delay(21)
    rt.drain()
    record = result.record
    assert record is not None
    assert record.expires_at is not None
    assert record.expires_at == pytest.approx(record.finished_at + TTL, abs=1)

    # When the hour has passed (DynamoDB's TTL deletion may lag by days: the item is still there)
    rt.advance(TTL + 1)

    # Then a fresh handle reads it as unknown, as Celery does
    expired = app.AsyncResult(result.id)
    assert expired.state is State.PENDING
    assert expired.result is None
    assert expired.record is None
    assert rt.app.dynamodb.get_item(TableName=rt.settings.table, Key={"pk": {"S": f"task#{result.id}"}}).get("Item")


def test_ignore_result_stores_success_but_no_result(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.fire_and_forget.delay(21)

    rt.drain()

    assert result.state is State.SUCCESS
    assert result.successful()
    assert result.get(timeout=0) is None
    assert result.result is None
    assert result.record is not None
    assert result.record.result_json is None


def test_dead_record_is_kept_as_long_as_the_dead_letter_queue_keeps_its_message(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    result = tasks.fails.delay()
    rt.drain()

    record = result.record
    assert record is not None
    assert record.expires_at == pytest.approx(record.finished_at + DEAD_RECORD_TTL_SECONDS, abs=1)
    assert rt.topology.queue("default").dlq_retention <= DEAD_RECORD_TTL_SECONDS


def test_handles_of_one_task_are_equal(app: Squall) -> None:
    assert AsyncResult("a", app=app) == app.AsyncResult("a")
    assert AsyncResult("a", app=app) != app.AsyncResult("b")
    assert len({app.AsyncResult("a"), app.AsyncResult("a")}) == 1


def test_get_without_timeout_returns_a_finished_result(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.short_lived.delay(1)
    rt.drain()

    assert result.get(timeout=None) == 2


def test_finished_record_is_not_read_again(rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls) -> None:
    result = tasks.short_lived.delay(1)
    rt.drain()
    assert result.get(timeout=0) == 2
    reads = calls.count("GetItem")

    assert (result.state, result.result, result.info) == (State.SUCCESS, 2, 2)

    assert calls.count("GetItem") == reads
