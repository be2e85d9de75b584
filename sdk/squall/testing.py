"""pytest plugin: fixtures for testing Squall apps (registered through the ``pytest11`` entry point).

Name your app with a ``squall_app`` fixture (in ``conftest.py``), or in the pytest configuration
(``squall_app = "tasks:app"`` under ``[tool.pytest.ini_options]``); then a test reads::

    def test_charge_succeeds(squall_runtime):
        r = charge.delay("o-1", 100)
        squall_runtime.drain()
        assert r.get(timeout=0) == {"charged": 100}

Fixtures:

- ``squall_runtime``: the app on moto in process with a fake clock (:class:`squall.local.Runtime`).
  ``drain()`` runs the real worker until nothing is visible, delayed or in flight; ``advance(...)`` moves
  the clock, firing the schedules due meanwhile (``scheduler.fired`` lists the firings); ``invocations``
  lists the worker invocations. Nothing leaves the machine.
- ``squall_dead_letters``: call it for what the dead-letter queues hold, as :class:`squall.ops.dlq.DeadLetter`
  (task id, task name, reason), without receiving anything. To bring them back:
  ``squall.ops.dlq.redrive(app)``, then ``squall_runtime.drain()``.
- ``squall_app``: the app under test, from the ``squall_app`` ini option unless you define the fixture.

See ``examples/test_shop.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.local import Runtime
    from squall.ops.dlq import DeadLetter

#: The ini option naming the app when no ``squall_app`` fixture is defined.
APP_OPTION = "squall_app"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``squall_app`` ini option."""
    parser.addini(APP_OPTION, "The Squall app under test, as MODULE:ATTR (e.g. tasks:app).", default="")


@pytest.fixture
def squall_app(request: pytest.FixtureRequest) -> Squall:
    """The app named by the ``squall_app`` ini option; define your own ``squall_app`` fixture to override."""
    from squall.app import load_app

    spec = str(request.config.getini(APP_OPTION) or "")
    if ":" not in spec:
        raise pytest.UsageError(
            "squall's fixtures need your app: define a `squall_app` fixture returning it, or set "
            '`squall_app = "module:attribute"` in your pytest configuration'
        )
    return load_app(spec)


@pytest.fixture
def squall_runtime(squall_app: Squall) -> Iterator[Runtime]:
    """The app provisioned on moto in process, with a fake clock; torn down after the test."""
    from squall import local

    with local.run(squall_app) as runtime:
        yield runtime


@pytest.fixture
def squall_dead_letters(squall_runtime: Runtime) -> Callable[..., list[DeadLetter]]:
    """``squall_dead_letters(queue=None)``: the messages in the dead-letter queues, left where they are."""
    from squall.ops.dlq import DeadLetter

    def dead_letters(queue: str | None = None) -> list[DeadLetter]:
        names = [queue] if queue else list(squall_runtime.settings.queues)
        return [
            DeadLetter.build(name, m.message_id, m.body, m.attributes)
            for name in names
            for m in squall_runtime.dead_letters(name)
        ]

    return dead_letters
