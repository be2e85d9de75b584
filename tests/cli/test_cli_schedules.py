"""``squall schedules pause|resume|delete``, ``tasks --watch``, ``ui``: what an operator does without code."""

from __future__ import annotations

import socket

import pytest
from examples.shop.tasks import build_report
from tests.cli.conftest import Squall_

from squall.local import Runtime


def make_nightly(shop: Runtime) -> None:
    shop.app.schedules.create("nightly", build_report.s("2026-11"), cron="0 2 * * ? *", timezone="Europe/Paris")


def test_pausing_then_resuming_a_dynamic_schedule(shop: Runtime, squall: Squall_) -> None:
    make_nightly(shop)

    paused = squall("schedules", "pause", "nightly")
    enabled_after_pause = shop.app.schedules.get("nightly").enabled
    resumed = squall("schedules", "resume", "d.nightly")  # the name as `schedules list` prints it

    assert paused.exit_code == 0
    assert paused.stdout == "paused nightly\n"
    assert enabled_after_pause is False
    assert resumed.stdout == "resumed nightly\n"
    assert shop.app.schedules.get("nightly").enabled


def test_deleting_a_schedule_asks_first_unless_told_yes(shop: Runtime, squall: Squall_) -> None:
    make_nightly(shop)

    refused = squall("schedules", "delete", "nightly", input="n\n")
    kept = [s.name for s in shop.app.schedules.list()]
    deleted = squall("schedules", "delete", "nightly", "--yes")

    assert refused.exit_code == 1
    assert kept == ["nightly"]
    assert deleted.stdout == "deleted nightly\n"
    assert shop.app.schedules.list() == []


def test_confirming_the_delete_prompt_deletes(shop: Runtime, squall: Squall_) -> None:
    make_nightly(shop)

    result = squall("schedules", "delete", "nightly", input="y\n")

    assert result.exit_code == 0
    assert shop.app.schedules.list() == []


def test_an_unknown_schedule_is_one_line_naming_the_list_command(shop: Runtime, squall: Squall_) -> None:
    for action in (["pause"], ["resume"], ["delete", "--yes"]):
        result = squall("schedules", *action, "missing")

        assert result.exit_code == 1
        assert result.stderr == (
            "error: no dynamic schedule called 'missing': see `squall --app examples.shop.tasks:app schedules list`\n"
        )


def test_tasks_watch_redraws_the_list_until_ctrl_c(
    shop: Runtime, squall: Squall_, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a watch that sees no failure first; between two redraws a feed import dies; then Ctrl-C.
    naps: list[float] = []
    fake_sleep = shop.clock.sleep

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise KeyboardInterrupt
        monkeypatch.setattr(shop.clock, "sleep", fake_sleep)  # the worker's own waits (retry backoff) meanwhile
        shop.app.tasks["examples.shop.tasks.import_feed"].delay("https://x.example/f.csv")
        shop.drain()
        monkeypatch.setattr(shop.clock, "sleep", sleep)

    monkeypatch.setattr(shop.clock, "sleep", sleep)

    result = squall("tasks", "--watch", "5")

    assert result.exit_code == 0
    assert naps == [5.0, 5.0]
    assert result.stderr.count("every 5 s, Ctrl-C stops") == 2
    assert "no RETRY, DEAD, REVOKED tasks in the last 24h" in result.stderr
    assert result.stdout.count("examples.shop.tasks.import_feed") == 1


def test_tasks_watch_refuses_json(squall: Squall_) -> None:
    result = squall("tasks", "--watch", "5", "--json")

    assert result.exit_code == 2
    assert "--watch redraws a table: use it without --json" in result.stderr


def test_squall_ui_on_a_taken_port_is_one_line(squall: Squall_) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = squall("ui", "--port", str(port))

    assert result.exit_code == 1
    assert (
        result.stderr
        == f"error: cannot listen on 127.0.0.1:{port} (Address already in use): pick another --port, or 0\n"
    )
