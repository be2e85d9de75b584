"""The REST API's target form (``{"target", "payload", ...}``): sent as ``app.send_http`` sends it.

The only server a test connects to is its own, on 127.0.0.1 (``allow_private_targets=True``); a refused target
is refused at send time, before any connection.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from tests.api.api_client import Client

from squall import Squall, local
from squall.local import Runtime


class Receiver(BaseHTTPRequestHandler):
    """Answers 200 and keeps what it was sent."""

    seen: list[dict[str, Any]]

    def do_POST(self) -> None:  # http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append({"path": self.path, "body": json.loads(body), "tenant": self.headers.get("X-Tenant")})
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"thanks")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[SimpleNamespace]:
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (Receiver,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}", seen=seen)
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    """The app on moto, allowed to call this test's own server on 127.0.0.1."""
    with local.run(app, allow_private_targets=True) as runtime:
        yield runtime


def test_a_target_posted_to_the_api_is_delivered_and_its_response_read_back(
    client: Client, rt: Runtime, receiver: SimpleNamespace
) -> None:
    body = {"target": f"{receiver.url}/hooks/user", "payload": {"user_id": "123"}, "headers": {"X-Tenant": "acme"}}

    sent = client.post("/v1/tasks", body, headers={"Idempotency-Key": "evt-123"})
    queued = client.get("/v1/tasks/evt-123")
    rt.drain()
    done = client.get("/v1/tasks/evt-123")

    assert (sent.status, sent.body) == (202, {"id": "evt-123", "state": "PENDING"})
    assert queued.body["state"] == "PENDING"
    assert receiver.seen == [{"path": "/hooks/user", "body": {"user_id": "123"}, "tenant": "acme"}]
    assert done.body["state"] == "SUCCESS"
    assert (done.body["result"]["status"], done.body["result"]["body"]) == (200, "thanks")


def test_a_batch_mixes_targets_and_tasks(client: Client, rt: Runtime, receiver: SimpleNamespace) -> None:
    calls = [{"target": f"{receiver.url}/one", "payload": 1}, {"task": "add", "args": [1, 2]}]

    sent = client.post("/v1/batches", {"tasks": calls})
    rt.drain()

    states = [client.get(f"/v1/tasks/{t['id']}").body["state"] for t in sent.body["tasks"]]
    assert states == ["SUCCESS", "SUCCESS"]
    assert [s["body"] for s in receiver.seen] == [1]


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "ftp://example.com/file",
        "http://[::ffff:10.0.0.1]/",
    ],
)
def test_a_refused_target_is_a_400_that_says_refused_and_nothing_is_sent(
    client: Client, app: Squall, target: str
) -> None:
    with local.run(app) as runtime:  # the default: private addresses refused
        answer = client.post("/v1/tasks", {"target": target, "payload": {}})

        assert answer.status == 400
        assert "refused" in answer.body["error"]
        assert runtime.queued() == 0


def test_a_target_with_a_bad_method_or_timeout_is_a_400(client: Client, rt: Runtime, receiver: SimpleNamespace) -> None:
    bad_timeout = client.post("/v1/tasks", {"target": receiver.url, "timeout": -1})

    assert bad_timeout.status == 400
    assert receiver.seen == []


def test_a_workflow_posted_to_the_api_may_end_in_a_target_as_a_chord_body_and_a_link(
    client: Client, rt: Runtime, receiver: SimpleNamespace
) -> None:
    chord = {
        "chord": {"group": [{"task": "add", "args": [1, 2]}, {"task": "add", "args": [3, 4]}]},
        "body": {"target": f"{receiver.url}/all-done", "payload": {"chord": "done"}},
    }
    linked = {"task": "add", "args": [5, 5], "link": {"target": f"{receiver.url}/summed", "payload": {"n": 10}}}

    first = client.post("/v1/workflows", {"workflow": chord})
    second = client.post("/v1/workflows", {"workflow": linked})
    rt.drain()

    assert (first.status, second.status) == (202, 202)
    assert sorted((s["path"], json.dumps(s["body"])) for s in receiver.seen) == [
        ("/all-done", '{"chord": "done"}'),
        ("/summed", '{"n": 10}'),
    ]
    assert client.get(f"/v1/tasks/{second.body['id']}").body["result"] == 10


def test_a_target_step_is_checked_like_a_target_call(client: Client, app: Squall) -> None:
    with local.run(app) as runtime:  # the default: private addresses refused
        refused = client.post("/v1/workflows", {"workflow": {"chain": [{"target": "http://10.1.1.1/x"}]}})
        misfit = client.post("/v1/workflows", {"workflow": {"target": "https://example.com/x", "args": [1]}})

        assert refused.status == 400
        assert "refused" in refused.body["error"]
        assert misfit.status == 400
        assert "unknown field(s) args in a target step" in misfit.body["error"]
        assert runtime.queued() == 0


def test_a_schedule_posted_to_the_api_may_target_a_url(client: Client, rt: Runtime, receiver: SimpleNamespace) -> None:
    body = {"name": "tick", "target": f"{receiver.url}/tick", "payload": {"tick": 1}, "rate": "5 minutes"}

    created = client.post("/v1/schedules", body)
    rt.advance(minutes=11, run=True)
    rt.drain(until=rt.clock.now() + 1)

    assert created.status == 201
    assert created.body["task"] == "squall.http"
    assert len(receiver.seen) >= 2
    assert {(s["path"], json.dumps(s["body"])) for s in receiver.seen} == {("/tick", '{"tick": 1}')}


def test_a_schedule_of_a_refused_target_or_of_both_forms_is_a_400(client: Client, app: Squall) -> None:
    with local.run(app):
        refused = client.post("/v1/schedules", {"name": "t", "target": "http://169.254.169.254/", "rate": "1 hour"})
        both = client.post("/v1/schedules", {"name": "t", "target": "https://example.com", "task": "add"})
        listed = client.get("/v1/schedules")

    assert (refused.status, both.status) == (400, 400)
    assert "refused" in refused.body["error"]
    assert "not both" in both.body["error"]
    assert listed.body == {"schedules": []}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/tasks", {"task": "squall.http", "args": [{"url": "http://10.0.0.1/"}, "10.0.0.1"]}),
        (
            "/v1/workflows",
            {"workflow": {"chain": [{"task": "squall.http", "args": [{"url": "http://10.0.0.1/"}, "x"]}]}},
        ),
        (
            "/v1/schedules",
            {"name": "s", "task": "squall.http", "args": [{"url": "http://10.0.0.1/"}, "x"], "rate": "1 hour"},
        ),
        ("/v1/batches", {"tasks": [{"task": "squall.http", "args": [{"url": "http://10.0.0.1/"}, "10.0.0.1"]}]}),
    ],
)
def test_the_built_in_http_task_is_sent_only_in_the_target_form_even_once_registered(
    client: Client, app: Squall, path: str, body: dict[str, Any]
) -> None:
    with local.run(app) as runtime:
        client.post("/v1/tasks", {"target": "https://example.com/hook", "payload": {}})  # registers squall.http
        sent = runtime.queued()

        answer = client.post(path, body)

        assert answer.status == 400
        assert '{"target": "<url>"' in answer.body["error"]
        assert runtime.queued() == sent


def test_a_target_with_a_countdown_is_delivered_only_when_due(
    client: Client, rt: Runtime, receiver: SimpleNamespace
) -> None:
    sent = client.post("/v1/tasks", {"target": f"{receiver.url}/later", "payload": {"due": 1}, "countdown": 120})

    rt.advance(60, run=True)
    early = list(receiver.seen)
    rt.advance(61)
    rt.drain()

    assert sent.status == 202
    assert early == []
    assert [s["path"] for s in receiver.seen] == ["/later"]
    assert client.get(f"/v1/tasks/{sent.body['id']}").body["state"] == "SUCCESS"
