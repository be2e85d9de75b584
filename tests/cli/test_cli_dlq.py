"""``squall dlq list | show | redrive | purge`` against the local runtime."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from click.testing import Result

from squall import State
from squall.local import Runtime

Squall_ = Callable[..., Result]
Send = Callable[..., str]


@pytest.fixture
def dead_feed(shop: Runtime, send: Send) -> str:
    """A feed import that exhausted its retries: its message is in the default queue's DLQ."""
    task_id = send("import_feed", "--args", '["https://x.example/f.csv"]')
    shop.drain()
    return task_id


def test_dlq_list_shows_each_dead_letter_with_its_task_state_and_reason(
    shop: Runtime, squall: Squall_, dead_feed: str
) -> None:
    result = squall("dlq", "list")

    [header, row] = result.stdout.splitlines()
    assert header.split()[:3] == ["QUEUE", "SENT", "TASK"]
    assert row.split()[:2] == ["default", "0s"]
    assert dead_feed in row
    assert row.split()[4:7] == ["examples.shop.tasks.import_feed", "DEAD", "0"]
    assert "ValueError: feed https://x.example/f.csv is not valid CSV (retries exhausted after 3 attempts)" in row


def test_dlq_list_json_reconciles_each_message_with_its_record(shop: Runtime, squall: Squall_, dead_feed: str) -> None:
    [doc] = json.loads(squall("dlq", "list", "--json").stdout)

    assert (doc["task_id"], doc["state"], doc["queue"], doc["redrives"]) == (dead_feed, "DEAD", "default", 0)
    assert doc["status"] == doc["reason"]
    assert "receipt_handle" not in doc


def test_dlq_json_times_are_iso_8601_utc(shop: Runtime, squall: Squall_, dead_feed: str) -> None:
    [listed] = json.loads(squall("dlq", "list", "--json").stdout)
    shown = json.loads(squall("dlq", "show", dead_feed, "--json").stdout)

    assert datetime.fromisoformat(listed["sent_at"]).tzinfo == UTC
    assert listed["sent_at"].endswith("Z")
    assert shown["sent_at"] == listed["sent_at"]


def test_dlq_list_of_empty_queues_says_so(shop: Runtime, squall: Squall_) -> None:
    result = squall("dlq", "list")

    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "the dead-letter queues are empty\n")


def test_dlq_show_prints_the_body_attributes_and_traceback(shop: Runtime, squall: Squall_, dead_feed: str) -> None:
    result = squall("dlq", "show", dead_feed)

    assert result.exit_code == 0
    assert f"task    {dead_feed} (examples.shop.tasks.import_feed)" in result.stdout
    assert "attr    squall.reason = ValueError" in result.stdout
    assert '"task": "examples.shop.tasks.import_feed"' in result.stdout
    assert "Traceback (most recent call last)" in result.stdout


def test_dlq_show_of_an_unknown_id_is_one_line(shop: Runtime, squall: Squall_) -> None:
    result = squall("dlq", "show", "nope")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: no message with task or message id 'nope' in the dead-letter queues; see "
        "`squall --app examples.shop.tasks:app dlq list`\n"
    )


def test_dlq_redrive_by_id_sends_the_task_back_and_it_runs_again(
    shop: Runtime, squall: Squall_, dead_feed: str
) -> None:
    result = squall("dlq", "redrive", dead_feed)
    record = shop.app.store.get(dead_feed)
    shop.drain()

    assert result.exit_code == 0
    assert result.stdout == f"redriven  {dead_feed}  examples.shop.tasks.import_feed\n"
    assert result.stderr == "1 task(s) sent back to their queue\n"
    assert record is not None
    assert (record.state, record.attempt, record.redrives) == (State.PENDING, 0, 1)
    again = shop.app.store.get(dead_feed)
    assert again is not None
    assert (again.state, again.attempt) == (State.DEAD, 3)


def test_dlq_redrive_all_moves_every_queue(shop: Runtime, squall: Squall_, send: Send, dead_feed: str) -> None:
    declined = send("charge", "--args", '["o-1", 0]')
    shop.drain()

    doc = json.loads(squall("dlq", "redrive", "--all", "--json").stdout)

    assert sorted(doc["moved"]) == sorted([dead_feed, declined])
    assert (doc["refused"], doc["failed"], doc["missing"]) == ([], [], [])


def test_dlq_redrive_over_the_limit_keeps_the_message_and_exits_1(
    shop: Runtime, squall: Squall_, dead_feed: str
) -> None:
    squall("dlq", "redrive", "--all", "--max-redrives", "1")
    shop.drain()

    result = squall("dlq", "redrive", "--all", "--max-redrives", "1")

    assert result.exit_code == 1
    assert result.stdout == (
        f"kept      {dead_feed}  redriven 1 times already (--max-redrives 1); fix the task first\n"
    )
    assert "nothing to redrive" in result.stderr


def test_dlq_redrive_reports_ids_it_did_not_find(shop: Runtime, squall: Squall_, dead_feed: str) -> None:
    result = squall("dlq", "redrive", "ghost")

    assert result.exit_code == 1
    assert "missing   ghost  (not in the dead-letter queues)" in result.stdout
    assert shop.app.AsyncResult(dead_feed).state is State.DEAD


@pytest.mark.parametrize("args", [[], ["--all", "some-id"]])
def test_dlq_redrive_needs_ids_or_all_but_not_both(shop: Runtime, squall: Squall_, args: list[str]) -> None:
    result = squall("dlq", "redrive", *args)

    assert result.exit_code == 2
    assert "give task ids (or message ids) to redrive, or --all, not both" in result.stderr


def test_dlq_purge_asks_first(shop: Runtime, squall: Squall_, dead_feed: str) -> None:
    declined = squall("dlq", "purge", input="n\n")
    confirmed = squall("dlq", "purge", input="y\n")

    assert declined.exit_code == 1
    assert confirmed.exit_code == 0
    assert "purged the default DLQ" in confirmed.stdout
    assert squall("dlq", "list", "--json").stdout.strip() == "[]"


def test_dlq_purge_yes_of_one_queue(shop: Runtime, squall: Squall_, dead_feed: str) -> None:
    result = squall("dlq", "purge", "--queue", "default", "--yes")

    assert result.stdout == "purged the default DLQ\n"
    assert shop.app.AsyncResult(dead_feed).state is State.DEAD  # the record stays until it expires
