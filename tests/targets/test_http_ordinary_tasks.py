"""HTTP targets as ordinary tasks: the app's default retries, eta, periodic schedules, DLQ redrive, the fake
clock in the signature, signing with a list of secrets, connection reuse, and responses that are not HTTP."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from http_receiver import SECRET, Receiver, Reply, resolver_to
from standardwebhooks import Webhook

from squall import Squall, State, local, new_webhook_secret
from squall.deploy.topology import describe
from squall.limits import DEFAULT_MAX_RETRIES
from squall.local import Runtime
from squall.ops import dlq
from squall.targets import TASK_NAME, client


def test_max_retries_defaults_to_the_apps_default(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(500))

    result = app.send_http(receiver.url(), {})
    rt.drain()

    assert result.state is State.DEAD
    assert len(receiver.received) == DEFAULT_MAX_RETRIES + 1


def test_an_eta_delivers_at_that_time_on_the_fake_clock(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    when = datetime.fromtimestamp(rt.clock.now(), UTC) + timedelta(hours=2)

    result = app.send_http(receiver.url(), {"due": "later"}, eta=when)
    rt.advance(hours=1, run=True)
    early = list(receiver.received)
    rt.advance(hours=1, minutes=1)
    rt.drain()

    assert early == []
    assert result.state is State.SUCCESS
    (request,) = receiver.received
    assert int(request.headers["webhook-timestamp"]) >= int(when.timestamp())


def test_the_timestamp_is_the_fake_clocks_not_the_wall_clocks(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    rt.advance(hours=72)

    app.send_http(receiver.url(), {})
    rt.drain()

    (request,) = receiver.received
    stamp = int(request.headers["webhook-timestamp"])
    assert stamp == pytest.approx(rt.clock.now(), abs=1)
    assert stamp - time.time() > 71 * 3600


def test_a_list_of_secrets_signs_with_each_so_a_receiver_knowing_either_accepts(receiver: Receiver) -> None:
    new, old = new_webhook_secret(), new_webhook_secret()
    app = Squall(f"test-{uuid.uuid4().hex[:8]}", webhook_secret=[new, old])
    with local.run(app, allow_private_targets=True) as rt:
        app.send_http(receiver.url(), {"n": 3})
        rt.drain()

    (request,) = receiver.received
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new).verify(request.body, request.headers) == {"n": 3}
    assert Webhook(old).verify(request.body, request.headers) == {"n": 3}
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(request.body, request.headers)


def test_an_http_target_is_a_periodic_schedules_target(receiver: Receiver) -> None:
    app = Squall(f"test-{uuid.uuid4().hex[:8]}", webhook_secret=SECRET)
    app.http_targets.resolver = resolver_to("127.0.0.1")  # declared in code: a name, checked at each delivery
    url = f"http://hooks.example.com:{receiver.port}/tick"
    task = app.periodic("rate(5 minutes)", name="ping-hook")(app.http(url, {"tick": True}))

    assert task.name == TASK_NAME
    (resource,) = describe(app).schedules
    assert (resource.name, resource.task) == ("p.ping-hook", TASK_NAME)
    with local.run(app, allow_private_targets=True) as rt:
        rt.advance(minutes=11)
        rt.drain(until=rt.clock.now() + 1)

    assert len(receiver.received) >= 2
    assert {r.path for r in receiver.received} == {"/tick"}
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("p.ping-hook@") for i in ids)
    for r in receiver.received:  # signed at the fake clock's time, minutes ahead: compared as the spec signs
        at = datetime.fromtimestamp(int(r.headers["webhook-timestamp"]), UTC)
        assert r.headers["webhook-signature"] == Webhook(SECRET).sign(r.headers["webhook-id"], at, r.body.decode())


def test_a_periodic_signature_carries_its_own_arguments() -> None:
    from squall import TaskDefinitionError

    app = Squall(f"test-{uuid.uuid4().hex[:8]}")

    with pytest.raises(TaskDefinitionError, match="leave out args= and kwargs="):
        app.periodic("rate(5 minutes)", name="p", args=(1,))(app.http("https://example.com/hook", {}))
    with pytest.raises(TaskDefinitionError, match="no call options"):
        app.periodic("rate(5 minutes)", name="p")(app.http("https://example.com/hook", {}).set(countdown=5))


def test_a_dead_delivery_is_redriven_from_the_dlq_and_delivered(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(503), Reply(503), Reply(200, body=b"at last"))
    result = app.send_http(receiver.url(), {"order": 9}, max_retries=1, task_id="evt-redrive")
    rt.drain()
    assert result.state is State.DEAD
    assert len(rt.dead_letters()) == 1

    report = dlq.redrive(app)  # what `squall dlq redrive` runs
    rt.drain()

    assert len(report.moved) == 1, report
    assert result.state is State.SUCCESS
    assert len(receiver.received) == 3
    assert {r.headers["webhook-id"] for r in receiver.received} == {"evt-redrive"}
    assert rt.dead_letters() == []


def test_a_warm_worker_reuses_its_connection_to_a_target(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    ports: list[int] = []
    real = receiver.server.RequestHandlerClass.handle

    def handle(handler: object) -> None:
        ports.append(handler.client_address[1])  # type: ignore[attr-defined]
        real(handler)  # type: ignore[arg-type]

    receiver.server.RequestHandlerClass.handle = handle  # type: ignore[method-assign]
    for n in range(3):
        app.send_http(receiver.url(), {"n": n})
        rt.drain()

    assert len(receiver.received) == 3
    assert len(set(ports)) == 1  # one TCP connection, kept in the module-level pool between deliveries


@pytest.fixture
def not_http() -> Iterator[tuple[int, list[int]]]:
    """A TCP server on 127.0.0.1 answering each connection with bytes that are not an HTTP response."""
    server = socket.create_server(("127.0.0.1", 0))
    served: list[int] = []
    answers = [b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 abc Broken\r\n\r\n", b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answers[len(served) % len(answers)])
                served.append(1)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1], served
    client.close_pools()
    server.close()


def test_a_response_that_is_not_http_is_retried_then_dead_and_the_batch_goes_on(
    app: Squall, rt: Runtime, receiver: Receiver, not_http: tuple[int, list[int]]
) -> None:
    port, served = not_http

    @app.task
    def neighbour() -> str:
        return "fine"

    broken = app.send_http(f"http://127.0.0.1:{port}/hook", {}, max_retries=2, timeout=5)
    beside = neighbour.delay()
    rt.drain()

    assert beside.get(timeout=0) == "fine"
    assert broken.state is State.DEAD
    assert len(served) == 3
    record = broken.record
    assert record is not None
    assert record.reason is not None
    assert "retries exhausted after 3 attempts" in record.reason
