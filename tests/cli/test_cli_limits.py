"""``squall limits``: list, show, set, clear, pause and resume, as tables and as JSON, and one-line refusals."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from click.testing import Result

from squall import Squall, State, local
from squall.local import Runtime

Squall_ = Callable[..., Result]

#: The app the commands load (``--app test_cli_limits:app``), run on the local runtime by the ``rt`` fixture.
app = Squall("cliflow", queues=["default"])
APP = "test_cli_limits:app"


@app.task(name="cliflow.sync", rate_limit="10/s", flow_key="customer")
def sync(customer: str) -> str:
    return customer


@app.task(name="cliflow.exclusive", concurrency_limit=1)
def exclusive() -> None: ...


@app.task(name="cliflow.free")
def free() -> None: ...


@pytest.fixture
def rt() -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def limits(squall: Squall_, *args: str) -> Result:
    result = squall("limits", *args, app=APP)
    assert result.exit_code == 0, result.output
    return result


def test_list_shows_every_limited_task_and_only_those(rt: Runtime, squall: Squall_) -> None:
    rows = json.loads(limits(squall, "list", "--json").stdout)
    text = limits(squall, "list").stdout

    assert [row["task"] for row in rows] == ["cliflow.exclusive", "cliflow.sync"]
    assert {row["task"]: (row["rate"], row["concurrency"]) for row in rows} == {
        "cliflow.exclusive": (None, 1),
        "cliflow.sync": ("10/s", None),
    }
    assert text.splitlines()[0].split()[:4] == ["TASK", "RATE", "BURST", "CONCURRENCY"]
    assert "cliflow.free" not in text


def test_set_then_clear_changes_the_limits_in_force(rt: Runtime, squall: Squall_) -> None:
    changed = json.loads(limits(squall, "set", "cliflow.sync", "--rate", "2/s", "--burst", "3", "--json").stdout)
    assert (changed["rate"], changed["burst"], changed["overridden"]) == ("2/s", 3, True)
    assert changed["declared"] == {"rate": "10/s", "burst": 1, "concurrency": None}
    assert "2/s (set)" in limits(squall, "show", "cliflow.sync").stdout

    cleared = json.loads(limits(squall, "clear", "cliflow.sync", "--json").stdout)
    assert (cleared["rate"], cleared["burst"], cleared["overridden"]) == ("10/s", 1, False)


def test_pause_and_resume_one_key_and_show_finds_every_key(rt: Runtime, squall: Squall_) -> None:
    sync.delay("acme")
    sync.delay("globex")
    rt.drain()

    paused = limits(squall, "pause", "cliflow.sync", "--key", "acme")
    assert "paused cliflow.sync key acme" in paused.stdout
    held = sync.delay("acme")
    rt.drain(until=rt.clock.now() + 120)
    shown = json.loads(limits(squall, "show", "cliflow.sync", "--json").stdout)
    one = json.loads(limits(squall, "show", "cliflow.sync", "--key", "globex", "--json").stdout)

    assert {k["key"]: k["paused"] for k in shown["keys"]} == {"acme": True, "globex": False}
    assert all(k["tat"] is not None for k in shown["keys"])
    assert all(k["tat"].endswith("Z") for k in shown["keys"])  # ISO 8601 UTC, as every --json time
    assert [k["key"] for k in one["keys"]] == ["globex"]
    assert held.state is State.PENDING

    resumed = json.loads(limits(squall, "resume", "cliflow.sync", "--key", "acme", "--json").stdout)
    assert resumed == {"task": "cliflow.sync", "key": "acme", "paused": False}
    rt.drain()
    assert held.state is State.SUCCESS


def test_pausing_the_whole_task_shows_in_list(rt: Runtime, squall: Squall_) -> None:
    limits(squall, "pause", "cliflow.exclusive")

    (row,) = [r for r in json.loads(limits(squall, "list", "--json").stdout) if r["task"] == "cliflow.exclusive"]
    assert row["paused"] is True
    assert " task" in limits(squall, "show", "cliflow.exclusive").stdout  # the PAUSED column

    limits(squall, "resume", "cliflow.exclusive")
    (row,) = [r for r in json.loads(limits(squall, "list", "--json").stdout) if r["task"] == "cliflow.exclusive"]
    assert row["paused"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("set", "cliflow.sync", "--rate", "often"), "rate must be a rate like '100/s'"),
        (("set", "cliflow.sync", "--concurrency", "0"), "concurrency must be an int from 1"),
        (("set", "cliflow.free", "--rate", "1/s"), "declares no rate_limit or concurrency_limit"),
        (("set", "cliflow.sync"), "give rate=, concurrency= or burst="),
        (("show", "cliflow.nope"), "no task named 'cliflow.nope'"),
    ],
)
def test_bad_input_is_one_line_naming_what_is_wrong(
    rt: Runtime, squall: Squall_, args: tuple[str, ...], message: str
) -> None:
    result = squall("limits", *args, app=APP)

    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
