"""What operators hit: options after the subcommand, pasteable suggestions, ISO times, clear import failures."""

from __future__ import annotations

import builtins
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import Result
from examples.shop.tasks import build_report

from squall.cli import AppRef, cli
from squall.cli._support import suggest, with_app
from squall.local import Runtime

Squall_ = Callable[..., Result]
Send = Callable[..., str]
APP = "examples.shop.tasks:app"


# --- global options after the subcommand ------------------------------------------------------------------


def test_app_given_after_the_subcommand_works_as_before_it(shop: Runtime, squall: Squall_) -> None:
    result = squall("send", "--app", APP, "charge", "--args", '["o-1", 5]', app=None)

    assert result.exit_code == 0, result.output
    assert shop.app.AsyncResult(result.stdout.strip()).state.value == "PENDING"


def test_app_given_after_a_nested_subcommand_works(shop: Runtime, squall: Squall_) -> None:
    result = squall("dlq", "list", "--app", APP, app=None)

    assert result.exit_code == 0, result.output
    assert result.stderr == "the dead-letter queues are empty\n"


def test_app_after_the_subcommand_overrides_the_one_before(shop: Runtime, squall: Squall_) -> None:
    result = squall("stats", "--app", APP, "--json", app="nothere:app")

    assert result.exit_code == 0, result.output
    assert "queues" in json.loads(result.stdout)


def test_stage_given_after_the_subcommand_is_applied(squall: Squall_) -> None:
    result = squall("status", "some-id", "--stage", "Prod-1")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: stage 'Prod-1' cannot name AWS resources")


def test_help_of_a_subcommand_lists_the_global_options(squall: Squall_) -> None:
    text = squall("dlq", "list", "--help", app=None).stdout

    assert "--app MODULE:ATTR" in text
    assert "--stage STAGE" in text


# --- suggested commands name the app ---------------------------------------------------------------------


def test_a_suggested_command_names_the_app_and_stage_it_runs_with() -> None:
    with click.Context(cli, obj=AppRef("my tasks:app", "prod")):
        suggested = suggest("dlq", "list")
        rewritten = with_app("look it up with `squall status ID`, or `squall --app x:app stats`")

    assert suggested == "squall --app 'my tasks:app' --stage prod dlq list"
    assert rewritten == (
        "look it up with `squall --app 'my tasks:app' --stage prod status ID`, or `squall --app x:app stats`"
    )


def test_a_dead_tasks_result_suggests_a_status_command_naming_the_app(
    shop: Runtime, squall: Squall_, send: Send
) -> None:
    task_id = send("import_feed", "--args", '["https://x.example/f.csv"]')
    shop.drain()

    result = squall("result", task_id)

    assert f"(`squall --app {APP} status {task_id} --traceback` for more)" in result.stderr


def test_a_suggestion_from_below_the_cli_is_given_the_app(shop: Runtime, squall: Squall_) -> None:
    result = squall("tasks", "--state", "STARTED")

    assert result.exit_code == 1
    assert f"`squall --app {APP} status ID` for one task" in result.stderr


# --- --json times ------------------------------------------------------------------------------------------


def epoch_like(doc: Any, path: str = "") -> list[str]:
    """Where in ``doc`` a number looks like epoch seconds (after 2001), which --json must print as ISO 8601."""
    if isinstance(doc, dict):
        return [hit for key, value in doc.items() for hit in epoch_like(value, f"{path}.{key}")]
    if isinstance(doc, list):
        return [hit for i, value in enumerate(doc) for hit in epoch_like(value, f"{path}[{i}]")]
    if isinstance(doc, float | int) and not isinstance(doc, bool) and doc > 1e9:
        return [f"{path}={doc}"]
    return []


def test_every_json_output_prints_times_as_iso_8601(shop: Runtime, squall: Squall_, send: Send) -> None:
    dead = send("import_feed", "--args", '["https://x.example/f.csv"]')
    shop.drain()
    done = send("charge", "--args", '["o-1", 5]')
    shop.drain()
    send("build_report", "--args", '["2026-10"]', "--countdown", "60")
    shop.app.schedules.create("every10", build_report.s("2026-11"), rate="10 minutes")
    commands = [
        ["status", dead],
        ["status", done],
        ["result", done],
        ["tasks"],
        ["dlq", "list"],
        ["dlq", "show", dead],
        ["stats"],
        ["schedules", "list"],
        ["schedules", "preview", "rate(5 minutes)"],
    ]

    outputs = {" ".join(args): json.loads(squall(*args, "--json").stdout) for args in commands}

    assert {command: epoch_like(doc) for command, doc in outputs.items() if epoch_like(doc)} == {}
    assert outputs[f"status {dead}"]["finished_at"].endswith("Z")


# --- squall dev without the local extra --------------------------------------------------------------------


def test_dev_without_the_local_extra_says_what_to_install_in_one_line(
    squall: Squall_, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def without_moto(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "moto" or name.startswith("moto."):
            raise ModuleNotFoundError(f"No module named {name!r}", name="moto")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_moto)

    result = squall("dev")

    assert result.exit_code == 1
    assert result.stderr == (
        "error: squall dev needs the local extra (moto is not installed): pip install 'squall[local]'\n"
    )


# --- an error in the user's module -------------------------------------------------------------------------


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("brokencli_tasks", "missingdep_tasks"):
        sys.modules.pop(name, None)


def test_an_error_raised_importing_the_app_shows_only_the_users_frames(user_dir: Path, squall: Squall_) -> None:
    source = "import json\n\n\ndef load():\n    return json.loads('{nope')\n\n\nSETTINGS = load()\n"
    (user_dir / "brokencli_tasks.py").write_text(source)

    result = squall("stats", app="brokencli_tasks:app")

    lines = result.stderr.splitlines()
    assert result.exit_code == 1
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1] == f'  File "{user_dir / "brokencli_tasks.py"}", line 8, in <module>'
    assert "click" not in result.stderr
    assert "importlib" not in result.stderr
    assert lines[-1] == (
        "error: cannot import the app 'brokencli_tasks:app': its module raised at brokencli_tasks.py:5: "
        "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
    )


def test_a_missing_dependency_of_the_users_module_is_shown_with_its_import_line(
    user_dir: Path, squall: Squall_
) -> None:
    (user_dir / "missingdep_tasks.py").write_text("import no_such_dependency_xyz\n")

    result = squall("stats", app="missingdep_tasks:app")

    assert result.exit_code == 1
    assert "    import no_such_dependency_xyz\n" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: cannot import the app 'missingdep_tasks:app'")


def test_a_module_that_is_not_there_is_still_a_usage_error(squall: Squall_) -> None:
    result = squall("stats", app="no_such_module_xyz:app")

    assert result.exit_code == 2
    assert "cannot import 'no_such_module_xyz:app': No module named 'no_such_module_xyz'" in result.stderr


# --- schedules list: the real next firing of a rate --------------------------------------------------------


def test_schedules_list_shows_a_rates_next_firing_in_its_own_phase(shop: Runtime, squall: Squall_) -> None:
    # Given a rate schedule created some time ago (its first firing is pinned one second after creation)
    info = shop.app.schedules.create("every10", build_report.s("2026-11"), rate="10 minutes")
    assert info.start is not None
    shop.advance(minutes=25)

    # When
    [row] = json.loads(squall("schedules", "list", "--json").stdout)

    # Then it fires next three intervals after its start, not ten minutes from now
    assert datetime.fromisoformat(row["next"]) == info.start + timedelta(minutes=30)
    # (which, 25 minutes after the start, is a different time: the test tells the two apart)
    assert datetime.fromtimestamp(shop.clock.now(), UTC) + timedelta(minutes=10) != info.start + timedelta(minutes=30)


def test_schedules_list_shows_a_future_start_as_the_first_firing(shop: Runtime, squall: Squall_) -> None:
    start = datetime.fromtimestamp(shop.clock.now(), UTC).replace(microsecond=0) + timedelta(hours=2)
    shop.app.schedules.create("later", build_report.s("2026-11"), rate="10 minutes", start=start)

    [row] = json.loads(squall("schedules", "list", "--json").stdout)

    assert datetime.fromisoformat(row["next"]) == start


def test_schedules_list_shows_no_firing_past_the_end_date(shop: Runtime, squall: Squall_) -> None:
    now = datetime.fromtimestamp(shop.clock.now(), UTC).replace(microsecond=0)
    shop.app.schedules.create(
        "ending",
        build_report.s("2026-11"),
        rate="1 hour",
        start=now + timedelta(minutes=1),
        end=now + timedelta(minutes=30),
    )
    shop.advance(minutes=5)

    [row] = json.loads(squall("schedules", "list", "--json").stdout)

    assert row["next"] is None
