"""Benchmark 1: AWS requests, write units and dollars per task, measured on the local runtime.

Each scenario runs N tasks through ``squall.local.run(app)``: the real worker handler behind the emulated
event source, moto in process, a fake clock. Every request on the app's SQS, DynamoDB and Scheduler
clients is counted with botocore hooks, including the event source's own ReceiveMessage and
DeleteMessageBatch (they are real calls on ``app.sqs``). Empty receives are reported apart as idle polling:
the emulator makes one whenever it drains the queue, as the real event source does when a queue is empty,
and their cost depends on time, not on tasks (see ``squall.deploy.cost.idle_receives_per_queue_month``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.counting import RequestCounter
from bench.report import Table, money, num
from squall import AsyncResult, Squall, State, TaskContext, clock, local
from squall.deploy import cost
from squall.errors import SquallError
from squall.local import Runtime
from squall.scheduler import scheduling

Enqueue = Callable[[Squall, Runtime, int], list[AsyncResult[Any]]]
Drive = Callable[[Runtime, int], int]


@dataclass
class Measured:
    """What one scenario used for its N tasks."""

    key: str
    label: str
    n: int
    workload: cost.Workload
    sqs: Counter[str] = field(default_factory=Counter)
    dynamodb_writes: int = 0
    write_units: int = 0
    read_units: float = 0.0
    scheduler_calls: int = 0
    scheduler_invocations: int = 0
    invocations: int = 0
    deliveries: int = 0
    largest_item: int = 0
    index_write_units: int = 0
    emulator_calls: int = 0
    #: Reads of limit overrides (per worker and time, not per task): reported apart, like idle receives.
    limiter_config_reads: int = 0
    states: Counter[str] = field(default_factory=Counter)
    unavailable: str | None = None

    def usage(self) -> cost.Usage:
        """Per-task usage as measured; Lambda duration from the workload's stated duration."""
        n, w = self.n, self.workload
        return cost.Usage(
            sqs_send=self.sqs["send"] / n,
            sqs_receive=self.sqs["receive"] / n,
            sqs_delete=self.sqs["delete"] / n,
            sqs_visibility=self.sqs["visibility"] / n,
            dynamodb_writes=self.dynamodb_writes / n,
            dynamodb_write_units=self.write_units / n,
            dynamodb_read_units=self.read_units / n,
            scheduler_calls=self.scheduler_calls / n,
            scheduler_invocations=self.scheduler_invocations / n,
            lambda_invocations=self.invocations / n,
            lambda_gb_seconds=self.deliveries / n * w.duration_ms / 1000 * w.memory_mb / 1024,
            log_bytes=self.invocations / n * cost.EMF_BYTES_PER_INVOCATION,
        )


@dataclass(frozen=True)
class Scenario:
    """A workload to measure: its tasks, how they are sent and driven, and the model's equivalent."""

    key: str
    label: str
    workload: cost.Workload
    declare: Callable[[Squall], Enqueue]
    drive: Drive | None = None
    #: Keyword arguments of the scenario's ``Squall(...)``.
    app_options: dict[str, Any] = field(default_factory=dict)


def _noop(app: Squall) -> Enqueue:
    @app.task(name="bench.noop")
    def noop(i: int) -> int:
        return i

    return lambda app, rt, n: app.send_batch([noop.s(i) for i in range(n)])


def _ignore_result(app: Squall) -> Enqueue:
    @app.task(name="bench.fire_and_forget", ignore_result=True)
    def fire_and_forget(i: int) -> None:
        return None

    return lambda app, rt, n: app.send_batch([fire_and_forget.s(i) for i in range(n)])


#: Runs of the untracked scenario's task: it has no record to read its outcome from.
_UNTRACKED_RUNS: Counter[str] = Counter()


def _untracked(app: Squall) -> Enqueue:
    _UNTRACKED_RUNS.clear()

    @app.task(name="bench.untracked", track=False)
    def untracked(i: int) -> None:
        _UNTRACKED_RUNS["ran, untracked"] += 1

    return lambda app, rt, n: app.send_batch([untracked.s(i) for i in range(n)])


def _rate_limited(app: Squall) -> Enqueue:
    @app.task(name="bench.rate_limited", rate_limit="500/s")
    def limited(i: int) -> int:
        return i

    return lambda app, rt, n: app.send_batch([limited.s(i) for i in range(n)])


def _progress(app: Squall) -> Enqueue:
    @app.task(name="bench.reporting", bind=True)
    def reporting(task: TaskContext, i: int) -> int:
        # Ten reports over one second of (fake) time: a step of work, a report, and so on.
        for step in range(10):
            task.progress(step * 10, f"step {step}")
            clock.sleep(0.1)
        return i

    return lambda app, rt, n: app.send_batch([reporting.s(i) for i in range(n)])


class Flaky(Exception):
    """The first attempt of a flaky task fails with this."""


def _retry_once(app: Squall) -> Enqueue:
    @app.task(name="bench.flaky", bind=True, max_retries=3, retry_backoff=1, retry_jitter=False)
    def flaky(task: TaskContext, i: int) -> int:
        if task.request.attempt == 1:
            raise Flaky(f"task {i}: first attempt fails")
        return i

    return lambda app, rt, n: app.send_batch([flaky.s(i) for i in range(n)])


def _long_delay(app: Squall) -> Enqueue:
    @app.task(name="bench.later")
    def later(i: int) -> int:
        return i

    three_days = 3 * 86400
    return lambda app, rt, n: [later.apply_async((i,), countdown=three_days) for i in range(n)]


def _drive_long_delay(rt: Runtime, n: int) -> int:
    rt.advance(days=3, minutes=2)
    return rt.drain()


def _periodic(app: Squall) -> Enqueue:
    periodic = getattr(app, "periodic", None)
    if periodic is None:
        raise _Unavailable("this Squall has no app.periodic (the scheduling work has not landed)")

    @periodic("rate(1 hour)", name="bench-tick")
    def tick() -> str:
        return "tick"

    return lambda app, rt, n: []


def _drive_periodic(rt: Runtime, n: int) -> int:
    rt.advance(0)  # a rate schedule fires when created ("starts invoking immediately")
    handled = rt.drain()
    for _ in range(n - 1):
        rt.advance(hours=1)
        handled += rt.drain()
    return handled


class _Unavailable(Exception):
    """A scenario cannot run on this Squall; the message says why."""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("noop", "no-op, with result", cost.Workload(), _noop),
    Scenario("ignore_result", "no-op, ignore_result=True", cost.Workload(ignore_result=True), _ignore_result),
    Scenario(
        "index_success",
        "no-op, Squall(index_success=True)",
        cost.Workload(index_success=True),
        _noop,
        app_options={"index_success": True},
    ),
    Scenario(
        "untracked",
        "no-op, track=False",
        cost.Workload(tracked=False, duration_ms=cost.UNTRACKED_DURATION_MS),
        _untracked,
    ),
    Scenario("rate_limited", "no-op, rate_limit='500/s'", cost.Workload(limiter_writes=1), _rate_limited),
    Scenario("progress", "10 progress reports over 1 s", cost.Workload(progress=10, duration_ms=1000), _progress),
    Scenario("retry", "one retry, then success", cost.Workload(retries=1), _retry_once),
    Scenario(
        "long_delay",
        "3-day delay (Scheduler at())",
        cost.Workload(delayed_fraction=1.0),
        _long_delay,
        _drive_long_delay,
    ),
    # Firings an hour apart arrive alone: each is a batch of one.
    Scenario(
        "periodic",
        "periodic firing (rate(1 hour))",
        cost.Workload(periodic_fraction=1.0, batch_size=1),
        _periodic,
        _drive_periodic,
    ),
)


def measure(scenario: Scenario, n: int) -> Measured:
    """Run ``scenario`` with ``n`` tasks (or firings) and count what it used."""
    # Powertools Metrics prints a metric set once it holds 100 values even when metrics are disabled, as
    # they are on the local runtime; keep those lines out of the report.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        return _measure(scenario, n)


def _measure(scenario: Scenario, n: int) -> Measured:
    measured = Measured(scenario.key, scenario.label, n, scenario.workload)
    app = Squall(f"bench-{scenario.key.replace('_', '-')}", **scenario.app_options)
    try:
        enqueue = scenario.declare(app)
    except _Unavailable as exc:
        measured.unavailable = str(exc)
        return measured
    with local.run(app) as rt:
        counter = RequestCounter()
        peek = rt.session.client("dynamodb", region_name=rt.settings.region)
        counter.attach(app.sqs)
        counter.attach(app.dynamodb, peek=peek)
        scheduler = app.client("scheduler")
        counter.attach(scheduler)
        # A limited task's worker reads its limits' overrides at most every LIMITS_CACHE_SECONDS: a cost per
        # worker and time, like idle polling, not per task. Counted apart (and out of the read units).
        config_reads = Counter[str]()

        def limiter_config_read(params: dict[str, Any], **_: Any) -> None:
            if params.get("Key", {}).get("pk", {}).get("S", "").startswith("limit#config#"):
                config_reads["reads"] += 1

        app.dynamodb.meta.events.register("before-parameter-build.dynamodb.GetItem", limiter_config_read)
        # Final states as the worker writes them: a result read back later may have expired (result_ttl), as
        # 1000 hourly firings span six weeks of fake time.
        finished: dict[str, str] = {}
        rt.on_transition(lambda task_id, state, at: finished.__setitem__(task_id, str(state)))
        try:
            results = enqueue(app, rt, n)
        except SquallError as exc:
            measured.unavailable = f"{type(exc).__name__}: {exc}"
            return measured
        measured.deliveries = (scenario.drive or (lambda rt, n: rt.drain()))(rt, n)
        measured.states = Counter(finished.get(r.id, str(State.PENDING)) for r in results)
        if scenario.key == "untracked":  # nothing is written: count the runs instead
            measured.states = Counter(_UNTRACKED_RUNS)
        measured.sqs = Counter(counter.sqs)
        measured.dynamodb_writes = counter.dynamodb_writes
        measured.write_units = counter.write_units + counter.index_write_units
        measured.index_write_units = counter.index_write_units
        measured.read_units = counter.read_units - config_reads["reads"]  # the counter counts 1 unit a GetItem
        measured.limiter_config_reads = config_reads["reads"]
        measured.scheduler_calls = counter.service_calls("scheduler")
        measured.scheduler_invocations = len(rt.scheduler.fired) if rt.scheduler is not None else 0
        measured.emulator_calls = counter.emulator_calls()
        measured.invocations = len(rt.invocations)
        measured.largest_item = max(counter.item_sizes, default=0)
        if not results:  # periodic: the tasks are the firings (a rate schedule also fires when created)
            measured.n = measured.scheduler_invocations
            ids = [scheduling.firing_id(f.schedule, f.scheduled_time) for f in rt.scheduler.fired]
            measured.states = Counter(finished.get(task_id, str(State.PENDING)) for task_id in ids)
    return measured


def run(n: int, only: tuple[str, ...] = ()) -> list[Measured]:
    """Measure every scenario (or those in ``only``)."""
    return [measure(s, n) for s in SCENARIOS if not only or s.key in only]


def tables(results: list[Measured]) -> list[Table]:
    """The per-task table, and the dollars per million tasks by service."""
    rows = []
    dollars = []
    for m in results:
        if m.unavailable:
            rows.append([m.label, f"not measured: {m.unavailable}"] + [""] * 12)
            continue
        u = m.usage()
        measured_cost = cost.price_per_million(u, m.workload.arch)
        model = cost.estimate(m.workload)
        # An untracked task has no state: its runs are counted instead.
        state = "ran, untracked" if m.key == "untracked" else str(State.SUCCESS)
        ok = m.states.get(state, 0)
        rows.append(
            [
                m.label,
                num(u.sqs_send),
                num(u.sqs_receive),
                num(u.sqs_delete),
                num(u.sqs_visibility),
                num(u.sqs_requests),
                num(u.dynamodb_writes),
                num(u.dynamodb_write_units),
                num(u.dynamodb_read_units),
                num(u.scheduler_calls),
                num(u.scheduler_invocations),
                num(u.lambda_invocations),
                money(sum(measured_cost.values())),
                money(model.total_per_million),
            ]
        )
        dollars.append(
            [
                m.label,
                *(money(v) for v in measured_cost.values()),
                money(sum(measured_cost.values())),
                f"{ok}/{m.n} {state}; {m.sqs['idle_receive']} idle receives, {m.emulator_calls} emulator calls; "
                + (f"{m.limiter_config_reads} limit-override reads; " if m.limiter_config_reads else "")
                + f"largest item {m.largest_item} B",
            ]
        )
    n = results[0].n if results else 0
    per_task = Table(
        f"Requests and units per task (measured, N = {n} per scenario, batches of 10)",
        [
            "scenario",
            "SQS send",
            "receive",
            "delete",
            "visibility",
            "SQS total",
            "DDB writes",
            "write units",
            "read units",
            "Scheduler API calls",
            "Scheduler invocations",
            "Lambda invocations",
            "$/M tasks (measured counts)",
            "$/M tasks (model)",
        ],
        rows,
        notes=[
            "Counted with botocore after-call hooks on app.sqs, app.dynamodb and the Scheduler client; the emulated "
            "event source's ReceiveMessage/DeleteMessageBatch are real calls on app.sqs and are included.",
            "Write units are computed from the items as written (read back through an uncounted client): "
            "1 unit per started KB of the larger of the item before and after; moto's ConsumedCapacity is a constant. "
            "They include the listing index (a sparse GSI): an entry appearing, changing or leaving costs units too.",
            "Empty receives (idle polling) are not in these columns; they cost per queue and month, not per task.",
            f"Dollars: the measured counts at list prices (squall/prices.json, {cost.load_prices().as_of}), "
            f"128 MB arm64, with an ASSUMED billed duration of {cost.DEFAULT_DURATION_MS:g} ms per delivery "
            "(1000 ms for the progress scenario, whose task runs one second); '(model)' is `squall cost` for "
            "the same workload.",
        ],
    )
    breakdown = Table(
        "Dollars per million tasks by service (measured counts x list prices)",
        [
            "scenario",
            "SQS",
            "DynamoDB",
            "Lambda requests",
            "Lambda duration",
            "Scheduler",
            "CloudWatch Logs",
            "total",
            "check",
        ],
        dollars,
        notes=[
            "'idle receives': empty ReceiveMessage calls the emulated event source made while draining (for all "
            "N tasks, not per task). 'emulator calls': ListSchedules/GetSchedule/DeleteSchedule/GetQueueUrl that "
            "the local Scheduler emulation makes to find and fire schedules; the service does this internally, so "
            "they are left out. Its SendMessage per firing is counted: that is the Scheduler's billed invocation.",
            "Long-delayed tasks created together fire together and share receive batches; periodic firings an "
            "hour apart arrive alone (a batch of one each), which is what makes them the dearest per task.",
        ],
    )
    return [per_task, breakdown]


def model_mismatches(m: Measured) -> dict[str, tuple[float, float]]:
    """Fields where the measured per-task usage differs from the model's (for tests/test_cost.py)."""
    measured = m.usage()
    modelled = cost.usage(m.workload)
    fields = (
        "sqs_send",
        "sqs_receive",
        "sqs_delete",
        "sqs_visibility",
        "dynamodb_writes",
        "dynamodb_write_units",
        "dynamodb_read_units",
        "scheduler_invocations",
        "lambda_invocations",
    )
    out = {}
    for name in fields:
        a, b = getattr(measured, name), getattr(modelled, name)
        if abs(a - b) > 1e-9:
            out[name] = (a, b)
    return out


__all__ = ["SCENARIOS", "Measured", "Scenario", "measure", "model_mismatches", "run", "tables"]
