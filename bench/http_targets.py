"""Benchmark: requests, write units and dollars per million HTTP-target deliveries, beside Cloud Tasks and QStash.

Each scenario sends N deliveries with ``app.send_http`` to a receiver on 127.0.0.1 and counts every request on
the app's SQS and DynamoDB clients, exactly as :mod:`bench.per_task` does for plain tasks (the same counter, the
same local runtime; the receiver's address is let through with the local-testing opt-in). Squall's dollars are
the measured counts at list prices, with Lambda duration from the stated wait for the target's answer; the
peers are priced from their list prices (:mod:`squall.deploy.http_cost`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench import per_task
from bench.report import Table, money, num
from squall import AsyncResult, Squall, State
from squall.deploy import cost, http_cost
from squall.local import Runtime
from squall.targets import client

#: The wait for the target's answer the dollars assume, in ms (Lambda bills it; the local receiver is instant).
HTTP_MS = http_cost.DEFAULT_HTTP_MS


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: Requests answered 503 before a 200, per webhook-id (0: always 200).
    failures_first = 0
    seen: dict[str, int] = {}  # per server class, reset by _receiver

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        key = self.headers.get("webhook-id", "")
        count = self.seen[key] = self.seen.get(key, 0) + 1
        status = 503 if count <= self.failures_first else 200
        body = b'{"ok":true}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def _receiver(failures_first: int) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"failures_first": failures_first, "seen": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        client.close_pools()
        server.shutdown()
        server.server_close()


def _declare(failures_first: int) -> Any:
    def declare(app: Squall) -> per_task.Enqueue:
        app.http_targets.task()  # registered before the worker starts

        def enqueue(app: Squall, rt: Runtime, n: int) -> list[AsyncResult[Any]]:
            app.http_targets.allow_private = True  # the local-testing opt-in, restored when the run ends
            url = _URLS[failures_first]
            return [app.send_http(url, {"i": i}, max_retries=3) for i in range(n)]

        return enqueue

    return declare


_URLS: dict[int, str] = {}

SCENARIOS = (
    per_task.Scenario(
        "http_ok",
        "HTTP delivery, answered 200",
        cost.Workload(duration_ms=HTTP_MS, producer_batch=1),
        _declare(0),
    ),
    per_task.Scenario(
        "http_retry",
        "HTTP delivery, 503 once then 200",
        cost.Workload(duration_ms=HTTP_MS, producer_batch=1, retries=1),
        _declare(1),
    ),
)


def measure(n: int) -> list[per_task.Measured]:
    """Run each scenario with ``n`` deliveries against its own receiver."""
    results = []
    for scenario, failures in zip(SCENARIOS, (0, 1), strict=True):
        with _receiver(failures) as url:
            _URLS[failures] = url
            results.append(per_task.measure(scenario, n))
    return results


def tables(results: list[per_task.Measured]) -> list[Table]:
    """Per million deliveries: Squall measured and modelled, Cloud Tasks and QStash at the same attempts."""
    rows = []
    for m in results:
        if m.unavailable:
            rows.append([m.label, f"not measured: {m.unavailable}", "", "", ""])
            continue
        u = m.usage()
        measured = sum(cost.price_per_million(u, m.workload.arch).values())
        retries = m.workload.retries
        _, cloud_tasks, qstash = http_cost.comparison(http_ms=HTTP_MS, retries=retries, usage=u)
        modelled = http_cost.comparison(http_ms=HTTP_MS, retries=retries)[0]
        ok = m.states.get(str(State.SUCCESS), 0)
        rows.append(
            [
                m.label,
                f"{num(u.sqs_requests)} SQS, {num(u.dynamodb_write_units)} WU ({ok}/{m.n} SUCCESS)",
                f"{money(measured)} (model {money(modelled.usd)})",
                f"{num(cloud_tasks.requests / 1e6)} ops, {money(cloud_tasks.usd)}",
                f"{num(qstash.requests / 1e6)} msgs, {money(qstash.usd)}",
            ]
        )
    return [
        Table(
            "HTTP targets: per delivery, and dollars per million deliveries beside hosted HTTP queues",
            [
                "scenario",
                "Squall per delivery (measured)",
                "Squall $/M",
                "Cloud Tasks per delivery, $/M",
                "QStash, $/M",
            ],
            rows,
            [
                f"Squall: measured counts at list prices; Lambda duration assumes {HTTP_MS:g} ms waiting for the "
                "target (128 MB arm64), batches of 10. Squall includes the result store, the DLQ and the compute; "
                "the peers are the queue only.",
                "Cloud Tasks: 1 CreateTask + 1 operation per push attempt ($0.40 per million operations). QStash: "
                "1 message per delivery attempt ($1 per 100,000), as its pricing FAQ counts retries. "
                "No free tier applied.",
            ],
        )
    ]
