"""``squall stats`` and ``squall schedules``, and how the CLI reports mistakes and a missing environment."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator

import pytest
from click.testing import Result
from examples.shop.tasks import app as shop_app
from examples.shop.tasks import build_report
from moto import mock_aws

from squall import State
from squall.local import Runtime

Squall_ = Callable[..., Result]
Send = Callable[..., str]


def test_stats_shows_queue_depths_the_dlq_and_failures_per_task(shop: Runtime, squall: Squall_, send: Send) -> None:
    send("import_feed", "--args", '["u"]')
    send("charge", "--args", '["o-1", 0]')
    shop.drain()
    send("charge", "--args", '["o-2", 5]')
    send("build_report", "--args", '["2026-10"]', "--countdown", "60")

    doc = json.loads(squall("stats", "--json").stdout)
    text = squall("stats").stdout

    queues = {q["queue"]: q for q in doc["queues"]}
    assert {k: queues["default"][k] for k in ("visible", "in_flight", "delayed", "dlq")} == {
        "visible": 1,
        "in_flight": 0,
        "delayed": 0,
        "dlq": 2,
    }
    assert queues["reports"]["delayed"] == 1
    assert queues["default"]["dlq_oldest_sent"].endswith("Z")
    assert queues["reports"]["dlq_oldest_sent"] is None
    assert {t["task"]: t["DEAD"] for t in doc["tasks"]} == {
        "examples.shop.tasks.charge": 1,
        "examples.shop.tasks.import_feed": 1,
    }
    assert "SUCCESS is not counted" in text
    assert text.splitlines()[1].split() == ["QUEUE", "VISIBLE", "IN", "FLIGHT", "DELAYED", "DLQ", "DLQ", "OLDEST"]


def test_stats_counts_tasks_in_each_state_now_so_a_retry_that_has_run_since_is_not_counted(
    shop: Runtime, squall: Squall_, send: Send
) -> None:
    # Given a task that retried once and then succeeded, and one waiting for its second attempt
    recovered = send("sync_inventory", "--args", '["sku-1"]', "--kwargs", '{"fail_times": 1}')
    shop.drain()
    waiting = send("sync_inventory", "--args", '["sku-2"]', "--kwargs", '{"fail_times": 2}')
    shop.poll()
    assert shop.app.AsyncResult(recovered).state is State.SUCCESS
    assert shop.app.AsyncResult(waiting).state is State.RETRY

    # When
    doc = json.loads(squall("stats", "--json").stdout)
    text = squall("stats").stdout

    # Then only the task in RETRY now is counted, and the table says that is what it counts
    assert doc["tasks"] == [{"task": "examples.shop.tasks.sync_inventory", "RETRY": 1, "DEAD": 0, "REVOKED": 0}]
    assert "tasks by current state, entered in the last 24h" in text
    assert "RETRY counts tasks waiting for their next attempt: a retry that has run since is not counted" in text


def test_schedules_preview_prints_the_next_fire_times_in_both_zones(squall: Squall_) -> None:
    result = squall(
        "schedules",
        "preview",
        "cron(30 9 ? * MON-FRI *)",
        "--tz",
        "Europe/Berlin",
        "--count",
        "2",
        "--start",
        "2026-03-27T12:00:00Z",
        app=None,
    )

    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "2026-03-30 07:30:00 UTC   Mon 2026-03-30 09:30:00 CEST (Europe/Berlin)",  # after the DST change
        "2026-03-31 07:30:00 UTC   Tue 2026-03-31 09:30:00 CEST (Europe/Berlin)",
    ]


def test_schedules_preview_json(squall: Squall_) -> None:
    result = squall("schedules", "preview", "rate(1 hour)", "--count", "2", "--start", "2026-11-23T09:00:00Z", "--json")

    assert json.loads(result.stdout) == [
        {"utc": "2026-11-23T10:00:00Z", "local": "2026-11-23T10:00:00+00:00"},
        {"utc": "2026-11-23T11:00:00Z", "local": "2026-11-23T11:00:00+00:00"},
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cron(0 9 * * * *)"], "error: "),
        (["rate(1 fortnight)"], "error: "),
        (["rate(1 hour)", "--tz", "Mars/Olympus"], "error: "),
    ],
)
def test_schedules_preview_of_a_bad_expression_is_one_line(squall: Squall_, args: list[str], message: str) -> None:
    result = squall("schedules", "preview", *args, app=None)

    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_schedules_list_shows_dynamic_schedules_and_counts_long_delays(
    shop: Runtime, squall: Squall_, send: Send
) -> None:
    shop.app.schedules.create("nightly", build_report.s("2026-11"), cron="0 2 * * ? *", timezone="Europe/Paris")
    send("charge", "--args", '["o-1", 1]', "--countdown", "7200")  # a long delay: a one-time schedule

    text = squall("schedules", "list")
    rows = json.loads(squall("schedules", "list", "--json").stdout)
    everything = json.loads(squall("schedules", "list", "--delays", "--json").stdout)

    assert text.exit_code == 0
    [row] = rows
    assert (row["name"], row["kind"], row["state"], row["expression"]) == (
        "d.nightly",
        "dynamic",
        "ENABLED",
        "cron(0 2 * * ? *)",
    )
    assert (row["timezone"], row["task"]) == ("Europe/Paris", "examples.shop.tasks.build_report")
    assert row["next"].endswith(":00:00Z")
    assert "and 1 one-time schedule(s) of long-delayed tasks" in text.stderr
    assert sorted(r["kind"] for r in everything) == ["delay", "dynamic"]


def test_schedules_list_of_an_empty_group_says_so(shop: Runtime, squall: Squall_) -> None:
    result = squall("schedules", "list")

    assert (result.exit_code, result.stderr) == (0, "no schedules in group squall-shop\n")


# --- mistakes and missing environments: one line each, no traceback -----------------------------------


@pytest.fixture
def undiscovered() -> Iterator[None]:
    """The shop app with no settings resolved yet, as in a fresh process."""
    assert shop_app._settings is None
    yield
    shop_app.configure(None)


@pytest.mark.usefixtures("undiscovered")
def test_no_credentials_is_one_line_saying_what_to_do(squall: Squall_, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never AWS, even if credentials turned up

    result = squall("status", "some-id")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: no AWS credentials found: for a deployed stack configure them")
    assert result.stderr.count("\n") == 1


@pytest.mark.usefixtures("undiscovered")
def test_a_stack_that_is_not_deployed_is_one_line_saying_what_to_do(squall: Squall_) -> None:
    with mock_aws():
        result = squall("dlq", "list")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: no settings found for Squall app 'shop'")
    assert "Deploy the stack (squall deploy)" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.usefixtures("undiscovered")
def test_a_dev_server_that_is_gone_is_one_line_saying_what_to_do(
    squall: Squall_, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")

    result = squall("stats")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot reach http://127.0.0.1:{port}")
    assert "is it still running?" in result.stderr


def test_a_command_without_an_app_says_how_to_name_it(squall: Squall_) -> None:
    result = squall("stats", app=None)

    assert result.exit_code == 2
    assert "name your app with --app MODULE:ATTR (or set SQUALL_APP)" in result.stderr


def test_an_app_that_cannot_be_imported_is_a_usage_error(squall: Squall_) -> None:
    result = squall("stats", app="no_such_module:app")

    assert result.exit_code == 2
    assert "cannot import 'no_such_module:app'" in result.stderr


def test_every_command_has_help(squall: Squall_) -> None:
    commands = ["send", "status", "result", "tasks", "revoke", "stats", "dev"]
    groups = {"dlq": ["list", "show", "redrive", "purge"], "schedules": ["list", "preview"]}

    for command in commands:
        assert squall(command, "--help", app=None).exit_code == 0, command
    for group, subcommands in groups.items():
        for command in subcommands:
            assert squall(group, command, "--help", app=None).exit_code == 0, (group, command)


def test_dev_on_a_taken_port_says_so_instead_of_hanging(squall: Squall_) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = squall("dev", "--port", str(port))

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: port {port} on 127.0.0.1 is taken")
    assert result.stderr.endswith("pick another with --port N (0: any free port)\n")


def test_dev_on_a_taken_api_port_names_the_api_port_option(squall: Squall_) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = squall("dev", "--port", "0", "--api-port", str(port))

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: port {port} on 127.0.0.1 is taken")
    assert "--api-port N" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_dev_defaults_to_its_documented_port() -> None:
    from squall import limits
    from squall.cli.dev import dev

    (port,) = [p for p in dev.params if p.name == "port"]

    assert port.default == limits.DEV_PORT == 8750
