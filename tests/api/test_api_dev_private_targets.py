"""``squall dev --allow-private-targets`` as a separate process: a target on 127.0.0.1 is delivered, other schemes
stay refused; without the flag (the other dev-process tests' server) a private target is refused.

The only receiver is this test's own, on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.dev_process import DevServer
from tests.targets.http_receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
APP = "examples.shop.tasks:app"
#: Longest wait for a delivery sent through the API to finish, in seconds (it takes well under one).
FINISH_TIMEOUT = 30.0


def call(url: str, token: str, method: str, body: Any = None) -> tuple[int, Any]:
    """One request to the dev server's API: the status and the JSON body."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310  # 127.0.0.1
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310  # the dev server on 127.0.0.1
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as failed:
        return failed.code, json.loads(failed.read())


def api_of(server: DevServer) -> tuple[str, str]:
    url = server.wait_for_output(r"^api: http://127\.0\.0\.1:\d+/v1$").split(" ", 1)[1]
    token = server.wait_for_output(r"^token: \S{16,}$").split(" ", 1)[1]
    return url, token


@pytest.fixture(scope="module")
def permissive() -> Iterator[tuple[str, str]]:
    dev = DevServer(APP, ROOT, "--allow-private-targets")
    try:
        yield api_of(dev)
    finally:
        dev.stop(signal.SIGKILL)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_the_flag_lets_a_target_on_loopback_be_delivered(permissive: tuple[str, str], receiver: Receiver) -> None:
    url, token = permissive

    status, sent = call(f"{url}/tasks", token, "POST", {"target": receiver.url("/local"), "payload": {"n": 1}})
    task: dict[str, Any] = {}
    deadline = time.monotonic() + FINISH_TIMEOUT
    while time.monotonic() < deadline and task.get("state") not in ("SUCCESS", "DEAD"):
        _, task = call(f"{url}/tasks/{sent['id']}", token, "GET")
        time.sleep(0.1)

    assert (status, sent["state"]) == (202, "PENDING")
    assert task["state"] == "SUCCESS", task
    assert task["result"]["status"] == 200
    (request,) = receiver.received
    assert (request.path, json.loads(request.body)) == ("/local", {"n": 1})
    assert request.headers["webhook-id"] == sent["id"]


@pytest.mark.parametrize("target", ["ftp://127.0.0.1/file", "file:///etc/passwd", "gopher://127.0.0.1:70/"])
def test_the_flag_never_relaxes_the_scheme_rule(permissive: tuple[str, str], target: str) -> None:
    url, token = permissive

    status, body = call(f"{url}/tasks", token, "POST", {"target": target, "payload": {}})

    assert status == 400
    assert "refused" in body["error"]
    assert "scheme" in body["error"]


def test_without_the_flag_a_loopback_target_is_refused_and_nothing_is_sent(receiver: Receiver) -> None:
    dev = DevServer(APP, ROOT)
    try:
        url, token = api_of(dev)
        status, body = call(f"{url}/tasks", token, "POST", {"target": receiver.url(), "payload": {}})
    finally:
        dev.stop(signal.SIGKILL)

    assert status == 400
    assert "refused" in body["error"]
    assert "loopback" in body["error"]
    assert receiver.received == []
