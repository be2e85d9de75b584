"""HTTP targets delivered by the local runtime to a real server on 127.0.0.1: results, retries, DEAD, redirects."""

from __future__ import annotations

import email.utils
import json

import pytest
from http_receiver import SECRET, Receiver, Reply
from standardwebhooks import Webhook

from squall import DeliveryFailed, InvalidArguments, Squall, State, TargetRefused, chord
from squall.limits import HTTP_TARGET_MAX_BODY_BYTES, HTTP_TARGET_MAX_REDIRECTS, HTTP_TARGET_MAX_RETRY_AFTER_SECONDS
from squall.local import Runtime
from squall.targets import TASK_NAME


def test_a_2xx_answer_is_the_tasks_result(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(201, {"X-Seen": "yes"}, b'{"created": 1}'))

    result = app.send_http(receiver.url(), {"user_id": "123"}, headers={"X-Tenant": "acme"}, task_id="evt-123")
    rt.drain()

    assert result.id == "evt-123"
    outcome = result.get(timeout=0)
    assert outcome is not None
    assert outcome["status"] == 201
    assert outcome["headers"]["x-seen"] == "yes"
    assert outcome["body"] == '{"created": 1}'
    (request,) = receiver.received
    assert request.method == "POST"
    assert request.path == "/hook"
    assert json.loads(request.body) == {"user_id": "123"}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-tenant"] == "acme"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"


def test_the_request_is_signed_as_standard_webhooks_specifies(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    result = app.send_http(receiver.url(), {"n": 1})
    rt.drain()

    (request,) = receiver.received
    assert request.headers["webhook-id"] == result.id
    assert int(request.headers["webhook-timestamp"]) == pytest.approx(rt.clock.now(), abs=2)
    # The independent implementation accepts it (its clock check uses the wall clock, which the fake one
    # starts at) and refuses the same body altered.
    assert Webhook(SECRET).verify(request.body, request.headers) == {"n": 1}
    with pytest.raises(Exception, match="signature"):
        Webhook(SECRET).verify(request.body.replace(b"1", b"2"), request.headers)


def test_a_404_is_dead_at_once_with_the_status_in_the_reason(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(404, body=b"no such hook"))

    result = app.send_http(receiver.url(), {}, max_retries=5)
    rt.drain()

    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.reason is not None
    assert record.attempt == 1
    assert "answered 404" in record.reason
    assert "no such hook" in record.reason
    assert len(receiver.received) == 1


def test_a_500_is_retried_with_the_same_webhook_id_and_a_valid_signature_each_time(
    app: Squall, rt: Runtime, receiver: Receiver
) -> None:
    receiver.answer(Reply(500), Reply(503), Reply(200))

    sent_at = rt.clock.now()
    result = app.send_http(receiver.url(), {"order": 7}, max_retries=3)
    rt.drain()

    assert result.state is State.SUCCESS
    assert len(receiver.received) == 3
    assert {r.headers["webhook-id"] for r in receiver.received} == {result.id}
    timestamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
    assert timestamps == sorted(timestamps)
    # Each attempt is stamped with the fake clock when it is made (a jittered backoff may be under a second)
    assert timestamps[0] == pytest.approx(sent_at, abs=1)
    assert timestamps[-1] == pytest.approx(rt.clock.now(), abs=1)
    for request in receiver.received:
        expected = Webhook(SECRET).sign(
            request.headers["webhook-id"],
            email.utils.parsedate_to_datetime(email.utils.formatdate(int(request.headers["webhook-timestamp"]))),
            request.body.decode(),
        )
        assert request.headers["webhook-signature"] == expected


def test_retries_stop_at_max_retries_and_the_task_is_dead(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(502))

    result = app.send_http(receiver.url(), None, max_retries=2)
    rt.drain()

    assert result.state is State.DEAD
    assert len(receiver.received) == 3
    record = result.record
    assert record is not None
    assert record.reason is not None
    assert "retries exhausted after 3 attempts" in record.reason
    assert "answered 502" in record.reason


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_retry_after_in_seconds_is_the_next_delay(app: Squall, rt: Runtime, receiver: Receiver, status: int) -> None:
    receiver.answer(Reply(status, {"Retry-After": "120"}), Reply(200))

    result = app.send_http(receiver.url(), {})
    rt.poll()

    assert result.state is State.RETRY
    assert rt.next_wakeup() == pytest.approx(rt.clock.now() + 120, abs=0.5)
    rt.advance(118)
    assert rt.poll() == 0
    rt.advance(3)
    assert rt.poll() == 1
    assert result.state is State.SUCCESS


def test_retry_after_as_an_http_date_is_honoured(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    when = email.utils.formatdate(rt.clock.now() + 300, usegmt=True)
    receiver.answer(Reply(429, {"Retry-After": when}), Reply(200))

    result = app.send_http(receiver.url(), {})
    rt.poll()

    assert result.state is State.RETRY
    assert rt.next_wakeup() == pytest.approx(rt.clock.now() + 300, abs=1.5)


def test_a_longer_retry_after_is_cut_to_the_cap(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(503, {"Retry-After": str(10 * 24 * 3600)}), Reply(200))

    app.send_http(receiver.url(), {})
    rt.poll()

    # A wait past SQS's 900 s delay goes through a one-time schedule, which fires on a whole second.
    assert rt.next_wakeup() == pytest.approx(rt.clock.now() + HTTP_TARGET_MAX_RETRY_AFTER_SECONDS, abs=1.01)


def test_a_303_is_followed_as_a_get_without_body(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(303, {"Location": "/elsewhere"}), Reply(200, body=b"done"))

    result = app.send_http(receiver.url(), {"a": 1})
    rt.drain()

    outcome = result.get(timeout=0)
    assert outcome is not None
    assert (outcome["status"], outcome["body"]) == (200, "done")
    first, second = receiver.received
    assert (first.method, second.method, second.path, second.body) == ("POST", "GET", "/elsewhere", b"")


def test_a_307_is_followed_with_the_same_method_and_body(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(307, {"Location": receiver.url("/v2")}), Reply(200))

    app.send_http(receiver.url(), {"a": 1}, method="PUT")
    rt.drain()

    second = receiver.received[1]
    assert (second.method, second.path, json.loads(second.body)) == ("PUT", "/v2", {"a": 1})
    assert second.headers["webhook-id"] == receiver.received[0].headers["webhook-id"]


def test_too_many_redirects_are_dead(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(302, {"Location": "/again"}))

    result = app.send_http(receiver.url(), {})
    rt.drain()

    assert result.state is State.DEAD
    assert len(receiver.received) == HTTP_TARGET_MAX_REDIRECTS + 1
    record = result.record
    assert record is not None
    assert record.reason is not None
    assert f"redirected more than {HTTP_TARGET_MAX_REDIRECTS} times" in record.reason


def test_a_redirect_to_another_scheme_is_refused(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(301, {"Location": "file:///etc/passwd"}))

    result = app.send_http(receiver.url(), {})
    rt.drain()

    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.reason is not None
    assert "refused" in record.reason
    assert "file" in record.reason


def test_only_the_first_64_kib_of_the_body_are_kept(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(200, body=b"x" * (HTTP_TARGET_MAX_BODY_BYTES * 3)))

    result = app.send_http(receiver.url(), {})
    rt.drain()

    outcome = result.get(timeout=0)
    assert outcome is not None
    assert outcome["body"] == "x" * HTTP_TARGET_MAX_BODY_BYTES


def test_a_body_that_is_not_utf8_still_makes_a_result(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    receiver.answer(Reply(200, {"Content-Type": "text/plain; charset=latin-1"}, b"caf\xe9"))

    result = app.send_http(receiver.url(), {})
    rt.drain()

    outcome = result.get(timeout=0)
    assert outcome is not None
    assert outcome["body"] == "caf\ufffd"


def test_a_get_without_payload_sends_no_body(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    app.send_http(receiver.url("/ping?x=1"), method="GET")
    rt.drain()

    (request,) = receiver.received
    assert (request.method, request.path, request.body) == ("GET", "/ping?x=1", b"")


def test_a_countdown_delays_the_delivery(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    app.send_http(receiver.url(), {}, countdown=30)

    assert rt.poll() == 0
    rt.advance(31)
    rt.drain()
    assert len(receiver.received) == 1


def test_bad_requests_are_refused_when_sent(app: Squall, rt: Runtime) -> None:
    with pytest.raises(TargetRefused, match=r"refused.*scheme 'ftp'"):
        app.send_http("ftp://example.com/x", {})
    with pytest.raises(InvalidArguments, match="method"):
        app.send_http("https://example.com/x", {}, method="BREW")
    with pytest.raises(InvalidArguments, match="set by Squall"):
        app.send_http("https://example.com/x", {}, headers={"webhook-id": "mine"})
    with pytest.raises(InvalidArguments, match="JSON"):
        app.send_http("https://example.com/x", {"when": object()})
    with pytest.raises(InvalidArguments, match="timeout"):
        app.send_http("https://example.com/x", {}, timeout=0)


def test_a_malformed_request_spec_on_the_queue_is_dead_not_dropped(app: Squall, rt: Runtime) -> None:
    result = app.send_task(TASK_NAME, [{"url": "https://example.com", "bogus": 1}, "example.com"])
    rt.drain()

    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.reason is not None
    assert "unknown fields" in record.reason


def test_an_http_target_is_a_link_of_another_task(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    @app.task
    def total(a: int, b: int) -> int:
        return a + b

    result = total.apply_async((2, 3), link=app.http(receiver.url("/after"), {"event": "summed"}))
    rt.drain()

    assert result.get(timeout=0) == 5
    (request,) = receiver.received
    assert (request.path, json.loads(request.body)) == ("/after", {"event": "summed"})


def test_an_http_target_is_a_chords_body(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    @app.task
    def square(x: int) -> int:
        return x * x

    handle = app.send_workflow(chord([square.s(1), square.s(2)], app.http(receiver.url("/done"), {"all": "done"})))
    rt.drain()

    assert handle.state is State.SUCCESS  # type: ignore[union-attr]
    (request,) = receiver.received
    assert request.path == "/done"


def test_an_http_target_is_a_dynamic_schedules_target(app: Squall, rt: Runtime, receiver: Receiver) -> None:
    app.schedules.create("ping-hook", app.http(receiver.url("/tick"), {"tick": True}), rate="5 minutes")

    rt.advance(minutes=11)
    rt.drain(until=rt.clock.now() + 1)

    assert len(receiver.received) >= 2
    assert {r.path for r in receiver.received} == {"/tick"}
    assert len({r.headers["webhook-id"] for r in receiver.received}) == len(receiver.received)  # one id per firing


def test_the_built_in_task_keys_flow_control_by_the_targets_host(app: Squall) -> None:
    app.http_targets.limit(rate_limit="10/s", concurrency_limit=2)
    signature = app.http("https://API.Example.com:8443/hooks", {})

    task = app.get_task(TASK_NAME)
    assert (task.options.rate_limit, task.options.concurrency_limit) == ("10/s", 2)
    assert task.options.flow_key == "host"
    assert task.argument("host", signature.args, signature.kwargs) == "api.example.com"


def test_a_delivery_failure_names_the_target(app: Squall) -> None:
    problem = DeliveryFailed("https://x.example/h", "answered 410")
    assert "https://x.example/h" in str(problem)
    assert "410" in str(problem)
