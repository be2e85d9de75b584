"""Fixtures for the CLI's tests: the example shop app on the local runtime, and a way to run ``squall``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator

import pytest
from click.testing import CliRunner, Result
from examples.shop.tasks import app as shop_app

from squall import local
from squall.cli import COMMAND_MODULES, cli
from squall.clock import FakeClock
from squall.local import Runtime

for _module in COMMAND_MODULES:
    importlib.import_module(_module)  # as squall.cli.main() does: each module adds its commands

APP = "examples.shop.tasks:app"
Squall_ = Callable[..., Result]


@pytest.fixture
def shop() -> Iterator[Runtime]:
    """The shop app on moto in process, with a fake clock."""
    with local.run(shop_app) as runtime:
        yield runtime


@pytest.fixture
def squall() -> Squall_:
    """Run ``squall --app examples.shop.tasks:app ARGS...`` in process; bugs raise, exits are results."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, app: str | None = APP) -> Result:
        prefix = ["--app", app] if app else []
        return runner.invoke(cli, [*prefix, *args], input=input, prog_name="squall", catch_exceptions=False)

    return invoke


@pytest.fixture
def worker_runs_while_waiting(shop: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Let each wait on the fake clock run the worker once, as a deployed worker would meanwhile."""
    clock = shop.clock
    assert isinstance(clock, FakeClock)

    def sleep(seconds: float) -> None:
        shop.poll()
        FakeClock.advance(clock, seconds)

    monkeypatch.setattr(clock, "sleep", sleep)


@pytest.fixture
def send(squall: Squall_) -> Callable[..., str]:
    """``send(ARGS...)``: run ``squall send ARGS...`` and return the task id it printed."""

    def run(*args: str) -> str:
        result = squall("send", *args)
        assert result.exit_code == 0, result.output
        return result.stdout.strip()

    return run
