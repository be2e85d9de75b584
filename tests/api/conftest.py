"""Fixtures for the REST API's tests: the app's tasks, the API's in-process client, and the local runtime."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from tests.api.api_client import TOKEN, Client

from squall import Squall, TaskContext, local
from squall.api import make_resolver, static_tokens
from squall.local import Runtime


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    """The tasks the API sends: a sum, one that reports progress, one that always fails, one that revokes itself."""
    seen: dict[str, Any] = {}

    @app.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="report", bind=True)
    def report(task: TaskContext, rows: int) -> str:
        task.progress(50, "half way", rows=rows)
        return "ok"

    @app.task(name="broken", max_retries=0)
    def broken(order: str) -> None:
        raise ValueError(f"order {order} is broken")

    @app.task(name="self_revoking", bind=True)
    def self_revoking(task: TaskContext) -> str:
        seen["revoke"] = seen["client"].delete(f"/v1/tasks/{task.request.id}")
        return "ran"

    return SimpleNamespace(add=add, report=report, broken=broken, self_revoking=self_revoking, seen=seen)


@pytest.fixture
def client(app: Squall, tasks: SimpleNamespace) -> Client:
    """The app's API, with one valid token (:data:`TOKEN`)."""
    made = Client(make_resolver(app, static_tokens(TOKEN)))
    tasks.seen["client"] = made
    return made


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    """The app on moto with a fake clock (its tasks declared first)."""
    with local.run(app) as runtime:
        yield runtime
