"""Fixtures for HTTP-target tests: a scripted receiver on 127.0.0.1, and an app that may call it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from http_receiver import SECRET, Receiver

from squall import Squall, local
from squall.local import Runtime
from squall.targets import client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 (a free port), stopped after the test; pooled connections are closed too."""
    server = Receiver()
    yield server
    client.close_pools()
    server.close()


@pytest.fixture
def app() -> Squall:
    """A fresh app that signs its HTTP-target requests with ``SECRET``."""
    return Squall(f"test-{uuid.uuid4().hex[:8]}", webhook_secret=SECRET)


@pytest.fixture
def rt(app: Squall) -> Iterator[Runtime]:
    """``app`` on the local runtime (fake clock), allowed to call the receiver on 127.0.0.1."""
    with local.run(app, allow_private_targets=True) as runtime:
        yield runtime


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails the test if any connection pool is made (a refused target must never be connected to)."""
    attempted: list[str] = []

    def refuse(target: Any, address: Any) -> Any:
        attempted.append(f"{target.url} at {address}")
        raise AssertionError(f"a connection was attempted to {target.url} at {address}")

    monkeypatch.setattr(client, "pool_for", refuse)
    return attempted
