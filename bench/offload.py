"""Benchmark: S3 requests and bytes of an offloaded task (squall.offload), measured on the local runtime.

Each scenario runs N tasks through ``squall.local.run(app)`` (moto in process, the fake clock) and counts every
request on the app's S3 client with botocore hooks: PutObject and GetObject, and the bytes each wrote or read.
The per-task counts are what ``squall.deploy.offload_cost`` models (tests/offload/test_offload_bench.py checks
that they agree), priced from ``squall/deploy/prices.json``; storage is priced as the bucket's lifecycle keeps
it, not as long as the task lasts.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.report import Table, money, num
from squall import Squall, TaskContext, local
from squall.deploy import cost, offload_cost
from squall.local import Runtime
from squall.offload import bucket
from squall.ops import dlq

MIB = 1024 * 1024
#: Sizes of the measured values: the argument and the result the issue's round-trip tests use.
ARGUMENT_MIB = 5
RESULT_MIB = 2


def text(n_bytes: int, seed: str) -> str:
    """ASCII text of ``n_bytes`` characters."""
    block = hashlib.sha256(seed.encode()).hexdigest()
    return (block * (n_bytes // len(block) + 1))[:n_bytes]


@dataclass
class S3Usage:
    """What one scenario's N tasks did on S3."""

    key: str
    label: str
    n: int
    requests: Counter[str] = field(default_factory=Counter)
    bytes_put: int = 0
    bytes_got: int = 0
    states: Counter[str] = field(default_factory=Counter)

    def per_task(self, operation: str) -> float:
        """Requests of ``operation`` per task."""
        return self.requests[operation] / self.n

    def attach(self, client: Any) -> None:
        """Count ``client``'s requests and bytes from now on."""
        client.meta.events.register("before-call.s3", self._before)
        client.meta.events.register("provide-client-params.s3.PutObject", self._put)
        client.meta.events.register("after-call.s3.GetObject", self._got)

    def _before(self, model: Any, **_: Any) -> None:
        self.requests[model.name] += 1

    def _put(self, params: dict[str, Any], **_: Any) -> None:
        self.bytes_put += len(params.get("Body", b""))

    def _got(self, parsed: dict[str, Any], **_: Any) -> None:
        self.bytes_got += int(parsed.get("ContentLength", 0))


Scenario = Callable[[Squall, Runtime, S3Usage], None]


def _argument_once(app: Squall, rt: Runtime, usage: S3Usage) -> None:
    task = app.tasks["measure"]
    results = [task.delay(text(ARGUMENT_MIB * MIB, f"a{i}")) for i in range(usage.n)]
    rt.drain()
    usage.states.update(r.state.value for r in results)


def _argument_retried(app: Squall, rt: Runtime, usage: S3Usage) -> None:
    task = app.tasks["once_failing"]
    results = [task.delay(text(ARGUMENT_MIB * MIB, f"r{i}")) for i in range(usage.n)]
    rt.drain()
    usage.states.update(r.state.value for r in results)


def _argument_redriven(app: Squall, rt: Runtime, usage: S3Usage) -> None:
    task = app.tasks["fragile"]
    results = [task.delay(text(ARGUMENT_MIB * MIB, f"d{i}")) for i in range(usage.n)]
    rt.drain()
    fixed.add("fragile")
    dlq.redrive(app)
    rt.drain()
    usage.states.update(r.state.value for r in results)


def _result_read_once(app: Squall, rt: Runtime, usage: S3Usage) -> None:
    task = app.tasks["report"]
    results = [task.delay(RESULT_MIB * MIB) for _ in range(usage.n)]
    rt.drain()
    for result in results:
        result.get()
    usage.states.update(r.state.value for r in results)


fixed: set[str] = set()
SCENARIOS: dict[str, tuple[str, Scenario]] = {
    "argument": (f"{ARGUMENT_MIB} MiB argument, run once", _argument_once),
    "retried": (f"{ARGUMENT_MIB} MiB argument, one retry", _argument_retried),
    "redriven": (f"{ARGUMENT_MIB} MiB argument, DEAD then redriven", _argument_redriven),
    "result": (f"{RESULT_MIB} MiB result, read once", _result_read_once),
}


def _app() -> Squall:
    app = Squall("bench-offload")
    failed: set[str] = set()

    @app.task(name="measure")
    def measure(value: str) -> int:
        return len(value)

    @app.task(name="once_failing", max_retries=1, bind=True)
    def once_failing(task: TaskContext, value: str) -> int:
        if task.request.id not in failed:
            failed.add(task.request.id)
            raise RuntimeError("the first attempt fails")
        return len(value)

    @app.task(name="fragile", max_retries=0)
    def fragile(value: str) -> int:
        if "fragile" not in fixed:
            raise RuntimeError("not fixed yet")
        return len(value)

    @app.task(name="report")
    def report(n_bytes: int) -> str:
        return text(n_bytes, "result")

    return app


def measure(n: int) -> list[S3Usage]:
    """Run every scenario with ``n`` tasks, each in a fresh local runtime."""
    measured = []
    for key, (label, scenario) in SCENARIOS.items():
        fixed.clear()
        app = _app()
        usage = S3Usage(key, label, n)
        with local.run(app, log_level="CRITICAL") as rt:
            usage.attach(app.client("s3"))
            scenario(app, rt, usage)
        measured.append(usage)
    return measured


def tables(measured: list[S3Usage], prices: cost.PriceTable | None = None) -> list[Table]:
    """The measured table: requests and MiB per task, and their price per million tasks."""
    p = prices or cost.load_prices()
    rows = []
    for usage in measured:
        puts, gets = usage.per_task("PutObject"), usage.per_task("GetObject")
        requests = puts * p["s3_put_request"].each + gets * p["s3_get_request"].each
        rows.append(
            [
                usage.label,
                num(puts),
                num(gets),
                num(usage.bytes_put / usage.n / MIB),
                num(usage.bytes_got / usage.n / MIB),
                money(requests * 1_000_000),
                ", ".join(f"{state} {count}" for state, count in sorted(usage.states.items())),
            ]
        )
    days = bucket.expiration_days(bucket.ARGUMENTS_LIFETIME_SECONDS)
    month_days = cost.SECONDS_PER_MONTH / 86_400
    storage = ARGUMENT_MIB * MIB / cost.BYTES_PER_GB * days / month_days * p["s3_storage_gb_month"].each
    return [
        Table(
            "S3 offload: requests and bytes per offloaded task",
            ["scenario", "PutObject", "GetObject", "MiB written", "MiB read", "requests per million", "states"],
            rows,
            [
                "Counted on the app's S3 client (botocore hooks) on the local runtime; every other request of the "
                "task is the same as without offload (see the per-task table).",
                f"Storage, not requests, is most of the cost: a {ARGUMENT_MIB} MiB argument is kept {days} days "
                f"(the args/ lifecycle rule): {money(storage * 1_000_000)} per million tasks at "
                f"{money(p['s3_storage_gb_month'].each)} per GB-month.",
                f"Modelled by squall cost --offload-fraction (squall.deploy.offload_cost: "
                f"{offload_cost.PUTS_PER_SEND} PUT per send, {offload_cost.PUTS_PER_RETRY} per retry, "
                f"{offload_cost.GETS_PER_DELIVERY} GET per delivery).",
            ],
        )
    ]
