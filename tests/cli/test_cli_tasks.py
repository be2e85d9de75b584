"""``squall send``, ``status``, ``result``, ``tasks`` and ``revoke`` against the local runtime."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import Result

from squall import State
from squall.local import Runtime

Squall_ = Callable[..., Result]
Send = Callable[..., str]


def test_send_prints_the_task_id_and_the_worker_runs_it(shop: Runtime, squall: Squall_, send: Send) -> None:
    task_id = send("examples.shop.tasks.charge", "--args", '["o-1", 100]')

    shop.drain()

    assert shop.app.AsyncResult(task_id).get(timeout=0) == {"order_id": "o-1", "charged": 100, "currency": "EUR"}


def test_send_takes_the_last_part_of_a_name_keyword_arguments_and_an_id(shop: Runtime, send: Send) -> None:
    task_id = send("sync_inventory", "--args", '["sku-1"]', "--kwargs", '{"fail_times": 0}', "--id", "sync-1")

    shop.drain()

    assert task_id == "sync-1"
    assert shop.app.AsyncResult("sync-1").get(timeout=0) == "sku-1 synced on attempt 1"


def test_send_with_a_countdown_or_an_eta_delays_the_task(shop: Runtime, send: Send) -> None:
    start = shop.clock.now()
    delayed = send("charge", "--args", '["o-2", 5]', "--countdown", "30")
    at = send("charge", "--args", '["o-3", 5]', "--eta", "2000-01-01T00:00:00+00:00")  # in the past: runs now

    shop.drain()

    record = shop.app.store.get(delayed)
    assert record is not None
    assert record.started_at is not None
    assert record.started_at - start >= 30
    assert shop.app.AsyncResult(at).state is State.SUCCESS


def test_send_json_names_the_id_and_the_task(shop: Runtime, squall: Squall_) -> None:
    result = squall("send", "charge", "--args", '["o-1", 1]', "--json")

    doc = json.loads(result.stdout)
    assert doc["task"] == "examples.shop.tasks.charge"
    assert shop.app.store.get(doc["id"]) is None  # sent, not run yet


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["charge", "--args", "[1,"], "Invalid value for --args: not valid JSON"),
        (["charge", "--args", '{"a": 1}'], "Invalid value for --args: must be a JSON array"),
        (["charge", "--kwargs", "[1]"], "Invalid value for --kwargs: must be a JSON object"),
        (["charge", "--eta", "tomorrow"], "is not an ISO 8601 time"),
        (["charge", "--eta", "2026-11-23T09:00:00"], "has no UTC offset"),
        (["charge", "--countdown", "1", "--eta", "2026-11-23T09:00:00Z"], "give --countdown or --eta, not both"),
        (["charge", "--id", "has space"], "is not usable"),
    ],
)
def test_send_usage_mistakes_are_one_line_with_exit_status_2(
    shop: Runtime, squall: Squall_, args: list[str], message: str
) -> None:
    result = squall("send", *args)

    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["refund"], "error: no task named 'refund' is registered with this app. Registered tasks: "),
        (["charge", "--args", '["o-1"]'], "error: arguments do not fit examples.shop.tasks.charge"),
        (["charge", "--args", '["o-1", 1]', "--queue", "nope"], "error: queue 'nope' is not deployed for app 'shop'"),
    ],
)
def test_send_errors_are_one_readable_line(shop: Runtime, squall: Squall_, args: list[str], message: str) -> None:
    result = squall("send", *args)

    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert shop.queued() == 0


def test_status_shows_state_attempts_times_progress_and_result(shop: Runtime, squall: Squall_, send: Send) -> None:
    task_id = send("build_report", "--args", '["2026-10"]')
    shop.drain()

    result = squall("status", task_id)

    assert result.exit_code == 0
    lines = {line.split(None, 1)[0]: line.split(None, 1)[1].strip() for line in result.stdout.splitlines()}
    assert lines["task"] == task_id
    assert lines["state"] == "SUCCESS"
    assert lines["attempt"] == "1 of 4"
    assert lines["progress"] == "100% rendering"
    assert lines["result"] == '"report-2026-10.pdf"'
    assert {"created", "started", "finished"} <= set(lines)


def test_status_of_a_dead_task_shows_its_error_and_with_a_flag_its_traceback(
    shop: Runtime, squall: Squall_, send: Send
) -> None:
    task_id = send("charge", "--args", '["o-1", 0]')
    shop.drain()

    plain = squall("status", task_id)
    full = squall("status", task_id, "--traceback")

    assert "error     examples.shop.tasks.CardDeclined: order o-1: amount 0 cannot be charged" in plain.stdout
    assert "reason" in plain.stdout
    assert "Traceback (most recent call last)" not in plain.stdout
    assert "Traceback (most recent call last)" in full.stdout


def test_status_of_an_unknown_id_reads_pending_as_in_celery(shop: Runtime, squall: Squall_) -> None:
    text = squall("status", "no-such-task")
    doc = json.loads(squall("status", "no-such-task", "--json").stdout)

    assert text.exit_code == 0
    assert "PENDING" in text.stdout
    assert "no record" in text.stdout
    assert doc == {"id": "no-such-task", "state": "PENDING", "known": False}


def test_status_json_has_iso_times_and_the_parsed_result(shop: Runtime, squall: Squall_, send: Send) -> None:
    task_id = send("charge", "--args", '["o-1", 7]')
    shop.drain()

    doc = json.loads(squall("status", task_id, "--json").stdout)

    assert doc["state"] == "SUCCESS"
    assert doc["result"] == {"order_id": "o-1", "charged": 7, "currency": "EUR"}
    assert doc["finished_at"].endswith("Z")
    assert doc["attempt"] == 1


def test_result_prints_the_json_result_of_a_finished_task(shop: Runtime, squall: Squall_, send: Send) -> None:
    task_id = send("charge", "--args", '["o-1", 7]')
    shop.drain()

    result = squall("result", task_id)

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"order_id": "o-1", "charged": 7, "currency": "EUR"}


def test_result_of_an_unfinished_task_exits_124_and_says_to_wait(shop: Runtime, squall: Squall_, send: Send) -> None:
    task_id = send("charge", "--args", '["o-1", 7]')

    now = squall("result", task_id)
    waited = squall("result", task_id, "--wait", "--timeout", "5")

    assert (now.exit_code, now.stdout) == (124, "")
    assert now.stderr == f"task {task_id} is PENDING; add --wait\n"
    assert waited.exit_code == 124
    assert waited.stderr == f"task {task_id} is still PENDING after 5 s; wait longer with --timeout\n"


@pytest.mark.usefixtures("worker_runs_while_waiting")
def test_result_wait_returns_once_the_task_finishes(shop: Runtime, squall: Squall_, send: Send) -> None:
    task_id = send("build_report", "--args", '["2026-11"]')

    result = squall("result", task_id, "--wait", "--timeout", "30")

    assert result.exit_code == 0
    assert result.stdout == '"report-2026-11.pdf"\n'


def test_result_of_a_dead_task_exits_1_with_its_error(shop: Runtime, squall: Squall_, send: Send) -> None:
    task_id = send("import_feed", "--args", '["https://x.example/f.csv"]')
    shop.drain()

    result = squall("result", task_id)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"task {task_id} is DEAD: ValueError: feed https://x.example/f.csv is not valid")


def test_result_json_carries_state_and_result(shop: Runtime, squall: Squall_, send: Send) -> None:
    task_id = send("charge", "--args", '["o-1", 7]')
    shop.drain()

    doc = json.loads(squall("result", task_id, "--json").stdout)

    assert (doc["id"], doc["state"], doc["result"]["charged"]) == (task_id, "SUCCESS", 7)


def test_tasks_lists_failures_newest_first(shop: Runtime, squall: Squall_, send: Send) -> None:
    first = send("charge", "--args", '["o-1", 0]')
    shop.drain()
    shop.advance(10)
    second = send("import_feed", "--args", '["u"]')
    shop.drain()
    send("charge", "--args", '["o-2", 5]')  # succeeds: not listed
    shop.drain()

    result = squall("tasks")

    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [row[5] for row in rows] == [second, first]
    assert [row[3] for row in rows] == ["DEAD", "DEAD"]
    assert rows[0][4] == "examples.shop.tasks.import_feed"


def test_tasks_filters_by_state_and_short_name(shop: Runtime, squall: Squall_, send: Send) -> None:
    send("charge", "--args", '["o-1", 0]')
    dead_feed = send("import_feed", "--args", '["u"]')
    shop.drain()
    shop.app.revoke("cancelled-1")

    feeds = json.loads(squall("tasks", "--state", "dead", "--name", "import_feed", "--json").stdout)
    revoked = json.loads(squall("tasks", "--state", "REVOKED", "--json").stdout)

    assert [e["id"] for e in feeds] == [dead_feed]
    assert feeds[0]["at"].endswith("Z")
    assert [e["id"] for e in revoked] == ["cancelled-1"]


def test_tasks_says_so_when_there_are_none(shop: Runtime, squall: Squall_) -> None:
    result = squall("tasks", "--since", "1h")

    assert result.exit_code == 0
    assert result.stderr == "no RETRY, DEAD, REVOKED tasks in the last 1h\n"


def test_tasks_refuses_success_without_the_index_and_says_how_to_enable_it(shop: Runtime, squall: Squall_) -> None:
    result = squall("tasks", "--state", "SUCCESS")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: SUCCESS tasks are not indexed for app 'shop' (indexing them costs one more")
    assert "index_success=True" in result.stderr
    assert result.stderr.count("\n") == 1


def test_tasks_rejects_a_duration_it_cannot_read(shop: Runtime, squall: Squall_) -> None:
    result = squall("tasks", "--since", "yesterday")

    assert result.exit_code == 2
    assert "use a number and a unit" in result.stderr


def test_revoke_cancels_a_delayed_task_and_refuses_a_finished_one(shop: Runtime, squall: Squall_, send: Send) -> None:
    later = send("charge", "--args", '["o-1", 3]', "--countdown", "3600")  # a long delay: recorded when sent
    done = send("charge", "--args", '["o-2", 3]')
    shop.poll()

    revoked = squall("revoke", later)
    refused = squall("revoke", done)
    shop.drain()

    assert (revoked.exit_code, revoked.stdout) == (0, f"{later} revoked: it will not run\n")
    assert (refused.exit_code, refused.stdout) == (1, f"{done} had already finished; nothing changed\n")
    assert shop.app.AsyncResult(later).state is State.REVOKED


def test_revoke_of_an_id_without_a_record_says_so_and_exits_1(shop: Runtime, squall: Squall_) -> None:
    result = squall("revoke", "no-such-id")

    assert result.exit_code == 1
    assert result.stdout.startswith(
        "no-such-id: no record of this id: it was marked REVOKED so that it will not run if it is still queued; "
        "if it was never sent, nothing happens"
    )
    assert result.stdout.count("\n") == 1


def test_revoke_of_a_queued_task_without_a_record_still_stops_it(shop: Runtime, squall: Squall_, send: Send) -> None:
    # Given a task on its queue that no worker has claimed yet: it has no record
    queued = send("charge", "--args", '["o-1", 3]', "--countdown", "60")

    # When it is revoked, then run
    result = squall("revoke", queued)
    shop.drain()

    # Then revoke said it had no record, and the task did not run
    assert result.exit_code == 1
    assert "no record of this id" in result.stdout
    assert shop.app.AsyncResult(queued).state is State.REVOKED
