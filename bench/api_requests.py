"""Benchmark: the REST API handler's own time per request, beside sending the same task from Python.

In one run on moto (the local runtime): N ``POST /v1/tasks`` through the resolver the API function runs (payload
format 2.0 events, bearer token checked), N ``task.delay(...)`` of the same task straight from the SDK, and N
``GET /v1/tasks/{id}``. The difference is what the API adds on top of the SDK's send: parsing, validation, the
token check and the JSON answer. moto's in-process SQS stands in for the network call, so the absolute times are
this machine's, not Lambda's; the ratio is the figure to compare. The API's added dollars per request are priced by
:mod:`squall.deploy.api_cost` with the stated billed duration.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aws_lambda_powertools.utilities.typing import LambdaContext

from bench.report import Table, micros, money, ratio
from squall import Squall, local
from squall.api import make_resolver, static_tokens
from squall.deploy import api_cost

#: The bearer token the benchmark's resolver accepts (a fixed test value, not a secret).
TOKEN = "bench-token-0123456789abcdef"  # noqa: S105
#: The routes read nothing of the Lambda context.
NO_CONTEXT = cast(LambdaContext, None)


@dataclass(frozen=True, slots=True)
class ApiTimes:
    """Median seconds per call of each path, over ``n`` calls."""

    n: int
    api_post: float
    sdk_delay: float
    api_get: float


def _event(method: str, path: str, body: Any = None) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
            "requestId": "bench",
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
        },
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def _median(n: int, call: Callable[[int], object]) -> float:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def measure(n: int) -> ApiTimes:
    """Time ``n`` calls of each path, interleaved in one local runtime."""
    app = Squall("bench-api")

    @app.task(name="add")
    def add(a: int, b: int) -> int:
        return a + b

    with local.run(app):
        resolver = make_resolver(app, static_tokens(TOKEN))
        ids: list[str] = []

        def post(i: int) -> None:
            answer = resolver.resolve(_event("POST", "/v1/tasks", {"task": "add", "args": [i, 1]}), NO_CONTEXT)
            ids.append(json.loads(answer["body"])["id"])

        api_post = _median(n, post)
        sdk_delay = _median(n, lambda i: add.delay(i, 1))
        api_get = _median(n, lambda i: resolver.resolve(_event("GET", f"/v1/tasks/{ids[i]}"), NO_CONTEXT))
    return ApiTimes(n=n, api_post=api_post, sdk_delay=sdk_delay, api_get=api_get)


def tables(times: ApiTimes) -> list[Table]:
    """The handler's time per request, its ratio to the SDK's send, and the API's added dollars per million."""
    token = api_cost.estimate(api_cost.ApiUsage(auth="token"))
    iam = api_cost.estimate(api_cost.ApiUsage(auth="iam"))
    return [
        Table(
            f"REST API: handler time per request (median of {times.n}, moto) and added cost per million requests",
            ["path", "time per call", "vs task.delay()"],
            [
                ["POST /v1/tasks (API handler)", micros(times.api_post), ratio(times.api_post / times.sdk_delay)],
                ["task.delay() (SDK, same task)", micros(times.sdk_delay), ratio(1.0)],
                ["GET /v1/tasks/{id} (API handler)", micros(times.api_get), ratio(times.api_get / times.sdk_delay)],
            ],
            notes=[
                f"Added per million requests on AWS at {api_cost.DEFAULT_API_MS:g} ms billed at "
                f"{api_cost.API_MEMORY_MB} MB arm64: {money(token.total_per_million)} with bearer tokens "
                f"(one warm instance), {money(iam.total_per_million)} with IAM auth "
                "(API Gateway, Lambda, access logs, secret reads; squall cost --api-requests).",
                "POST makes two AWS calls where task.delay() makes one: the SendMessage, then the PENDING record "
                "(an UpdateItem), so that a GET right after finds the task; that write is priced as pending_records.",
                "The task's own cost (its SendMessage, the worker) is the per-task figure above, as from the SDK.",
            ],
        )
    ]
