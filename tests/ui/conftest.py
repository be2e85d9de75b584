"""Fixtures for the dashboard's tests: an app with tasks in every state it can reach on the local runtime."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from squall import Squall, local
from squall.local import Runtime
from squall.ui import RecentTasks, create_app

#: Text that runs script if a page renders it unescaped: it sets a global and opens a dialog.
XSS = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2</script>'


@dataclass
class Tasks:
    """The ids of one task in each state, and the runtime they ran on."""

    rt: Runtime
    app: Squall
    recent: RecentTasks
    success: str
    dead: str
    xss_dead: str
    retry: str
    revoked: str
    pending: str


def make_app() -> Squall:
    """An app with a task that succeeds, one that fails for good, one that retries, and a dynamic schedule's task."""
    app = Squall(f"ui-{uuid.uuid4().hex[:8]}")

    @app.task(name="ui.add")
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="ui.boom", max_retries=0)
    def boom(text: str) -> None:
        raise ValueError(text)

    @app.task(name="ui.flaky", max_retries=3)
    def flaky() -> None:
        raise RuntimeError("not yet")

    @app.periodic("rate(1 hour)", timezone="Europe/Paris")
    @app.task(name="ui.tick")
    def tick() -> None:
        return None

    return app


@pytest.fixture
def tasks() -> Iterator[Tasks]:
    """Tasks in SUCCESS, DEAD (one with an XSS payload in its argument and error), RETRY, REVOKED and PENDING."""
    app = make_app()
    recent = RecentTasks()
    with local.run(app) as rt:
        rt.on_transition(recent.add)
        add, boom, flaky = app.tasks["ui.add"], app.tasks["ui.boom"], app.tasks["ui.flaky"]
        success = add.delay(2, 3).id
        dead = boom.delay("plain failure").id
        xss_dead = boom.delay(XSS).id
        rt.drain()
        retry = flaky.delay().id
        rt.poll()
        revoked = add.apply_async((1, 1), countdown=3_600).id
        app.revoke(revoked)
        pending = add.delay(4, 4).id
        app.schedules.create("nightly", add.s(1, 2), cron="0 3 * * ? *", timezone="America/New_York")
        yield Tasks(rt, app, recent, success, dead, xss_dead, retry, revoked, pending)


@pytest.fixture
def web(tasks: Tasks) -> Flask:
    """The dashboard of the tasks' app (a Flask app, not served)."""
    web = create_app(tasks.app, recent=tasks.recent)
    web.testing = True
    return web


@pytest.fixture
def client(web: Flask) -> FlaskClient:
    """A test client of the dashboard."""
    return web.test_client()


def csrf(client: FlaskClient, path: str = "/dlq") -> str:
    """The CSRF token in the forms of the page at ``path``."""
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)
