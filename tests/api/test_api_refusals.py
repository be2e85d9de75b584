"""The REST API's refusals in process: 401 without or with a wrong token, 400 for bad input, 413, 404."""

from __future__ import annotations

import pytest
from tests.api.api_client import Client

from squall.api.payloads import MAX_BODY_BYTES
from squall.local import Runtime

PROTECTED = [
    ("POST", "/v1/tasks"),
    ("POST", "/v1/batches"),
    ("POST", "/v1/workflows"),
    ("GET", "/v1/tasks/t-1"),
    ("DELETE", "/v1/tasks/t-1"),
    ("POST", "/v1/schedules"),
    ("GET", "/v1/schedules"),
    ("GET", "/v1/schedules/s-1"),
    ("DELETE", "/v1/schedules/s-1"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_but_the_document_needs_a_token(client: Client, rt: Runtime, method: str, path: str) -> None:
    missing = client.call(method, path, {"task": "add"}, token=None)
    wrong = client.call(method, path, {"task": "add"}, token="not-the-token-0123456789")

    assert (missing.status, wrong.status) == (401, 401)
    assert "Authorization: Bearer" in missing.body["error"]
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert rt.queued() == 0


def test_a_token_with_another_scheme_is_refused(client: Client, rt: Runtime) -> None:
    from tests.api.api_client import TOKEN

    answer = client.call("GET", "/v1/schedules", token=None, headers={"Authorization": f"Basic {TOKEN}"})

    assert answer.status == 401


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("{not json", "not valid JSON"),
        ("", "no body"),
        ("[1, 2]", "JSON object"),
        ('{"task": "add", "args": [1, 2], "countdown": NaN}', "not valid JSON"),
        ('{"args": [1]}', 'either "task"'),
        ('{"task": "add", "target": "https://example.com"}', 'either "task"'),
        ('{"task": "add", "args": {"a": 1}}', '"args" must be a JSON array'),
        ('{"task": "add", "kwargs": []}', '"kwargs" must be a JSON object'),
        ('{"task": "add", "args": [1, 2], "countdown": -5}', "cannot be negative"),
        ('{"task": "add", "args": [1, 2], "countdown": 5, "eta": "2030-01-01T00:00:00Z"}', "not both"),
        ('{"task": "add", "args": [1, 2], "eta": "tomorrow"}', "ISO 8601"),
        ('{"task": "add", "args": [1, 2], "eta": "2030-01-01T00:00:00"}', "UTC offset"),
        ('{"task": "add", "args": [1, 2], "max_retries": "3"}', "whole number"),
        ('{"task": "add", "args": [1, 2], "priority": "high"}', "unknown field(s) priority"),
        ('{"task": "add", "args": [1, 2, 3]}', "arguments do not fit add"),
        ('{"task": "add", "kwargs": {"a": 1, "c": 2}}', "arguments do not fit add"),
        ('{"task": "charge", "args": []}', "unknown task 'charge'"),
        ('{"target": "https://example.com/hook", "method": "TRACE"}', '"method" must be one of'),
    ],
)
def test_bad_input_is_a_400_that_says_what_was_wrong(client: Client, rt: Runtime, raw: str, says: str) -> None:
    answer = client.call("POST", "/v1/tasks", raw=raw)

    assert answer.status == 400
    assert says in answer.body["error"]
    assert rt.queued() == 0


def test_a_bad_idempotency_key_is_a_400(client: Client, rt: Runtime) -> None:
    answer = client.post("/v1/tasks", {"task": "add", "args": [1, 2]}, headers={"Idempotency-Key": "x" * 300})

    assert answer.status == 400


def test_a_body_over_the_cap_is_a_413_and_nothing_is_sent(client: Client, rt: Runtime) -> None:
    big = '{"task": "add", "args": ["' + "x" * MAX_BODY_BYTES + '", 1]}'

    answer = client.call("POST", "/v1/tasks", raw=big)

    assert answer.status == 413
    assert str(MAX_BODY_BYTES) in answer.body["error"]
    assert rt.queued() == 0


def test_an_unknown_route_is_a_404_that_points_at_the_document(client: Client, rt: Runtime) -> None:
    answer = client.get("/v1/queues")

    assert answer.status == 404
    assert "/v1/openapi.json" in answer.body["error"]


def test_a_batch_over_the_cap_is_a_400(client: Client, rt: Runtime) -> None:
    answer = client.post("/v1/batches", {"tasks": [{"task": "add", "args": [1, 1]}] * 101})

    assert answer.status == 400
    assert "at most 100" in answer.body["error"]


def test_revoking_an_id_that_cannot_be_a_task_id_is_a_documented_400(client: Client, rt: Runtime) -> None:
    answer = client.delete("/v1/tasks/" + "x" * 300)  # the client checks the status is in the OpenAPI document

    assert answer.status == 400
    assert "task_id" in answer.body["error"]


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/v1/batches", {"tasks": [{"task": "add", "args": [1, 2]}]}, 'its own "id"'),
        ("/v1/workflows", {"workflow": {"task": "add", "args": [1, 2]}}, '"task_id"'),
    ],
)
def test_an_idempotency_key_where_it_names_no_single_task_is_a_400_not_ignored(
    client: Client, rt: Runtime, path: str, body: dict[str, object], says: str
) -> None:
    answer = client.post(path, body, headers={"Idempotency-Key": "retry-me"})

    assert answer.status == 400
    assert "Idempotency-Key" in answer.body["error"]
    assert says in answer.body["error"]
    assert rt.queued() == 0
