"""The fault-injection driver: N tasks through the local runtime under every fault, then the invariants.

The real worker handler runs behind the emulated event source mapping on a fake clock; the faults come
from :mod:`tests.reliability.faults` and from :class:`WorkerFaults` here (crashes, timeouts, duplicate and
concurrent deliveries). Every random choice comes from the plan's seed, so a run can be repeated exactly.
:func:`run_suite` returns a :class:`Report`: what was injected, how the tasks ended, and every invariant
that did not hold (none, when Squall keeps its promise). ``python -m tests.reliability.run`` prints it.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError
from tests.reliability.faults import (
    Crash,
    DynamoThrottles,
    SendBatchFaults,
    Timeout,
    as_function_error,
    sdk_backoff_on_the_fake_clock,
)

from squall import EnqueueError, Squall, State, TaskContext, backoff, clock, limits, local
from squall.local import Runtime
from squall.local.esm import FakeLambdaContext
from squall.worker.execution import REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE
from squall.worker.handler import Handler, make_handler

#: Retries of the suite's task: five attempts in all.
MAX_RETRIES = 4
#: Tasks sent per wave; the worker polls a few rounds between waves, so sending and running interleave.
WAVE = 50
LEDGER_TABLE = "reliability-effects"
#: Where the fake clock starts (2033-05-18), later than any real "now" the runtime began at.
START = 2_000_000_000.0


class TransientError(Exception):
    """A failure that a retry may get past."""


class PoisonError(Exception):
    """A failure that every attempt hits."""


@dataclass(frozen=True)
class FaultPlan:
    """How many tasks, and how often each fault strikes. Rates are probabilities per draw."""

    n: int = 200
    seed: int = 20261123
    #: Per-attempt failure probability; each task gets one of these at random.
    transient_rates: tuple[float, ...] = (0.0, 0.1, 0.3, 0.6)
    poison_fraction: float = 0.04
    crash_rate: float = 0.08  # per invocation: the worker dies after k records of the batch
    timeout_rate: float = 0.05  # per invocation: one body runs past the function timeout
    duplicate_rate: float = 0.05  # per record received: a copy of its body is sent again
    concurrent_rate: float = 0.04  # per body run: the same record is handled by a second invocation meanwhile
    throttle_rate: float = 0.05  # per UpdateItem call: throttled 1-3 times, then let through
    exhaust_rate: float = 0.01  # per UpdateItem call: throttled until the SDK gives up
    sender_fault_rate: float = 0.03  # per SendMessageBatch entry
    server_fault_rate: float = 0.05  # per SendMessageBatch entry
    ambiguous_rate: float = 0.1  # per SendMessageBatch call: accepted, then the client times out

    def intensified(self, factor: float) -> FaultPlan:
        """This plan with every infrastructure fault rate multiplied by ``factor`` (capped at 0.9)."""
        rates = ("crash_rate", "timeout_rate", "duplicate_rate", "concurrent_rate", "throttle_rate", "exhaust_rate")
        rates += ("sender_fault_rate", "server_fault_rate", "ambiguous_rate")
        return replace(self, **{name: min(0.9, getattr(self, name) * factor) for name in rates})


@dataclass
class Report:
    """What a run injected, how its tasks ended, and every invariant that failed."""

    plan: FaultPlan
    faults: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    fake_seconds: float = 0.0

    def table(self) -> str:
        """The report as two Markdown tables: faults injected, then outcomes."""
        lines = ["| fault injected | count |", "|---|---:|"]
        lines += [f"| {kind} | {count:,} |" for kind, count in sorted(self.faults.items())]
        lines += ["", "| outcome | count |", "|---|---:|"]
        lines += [f"| {name} | {value:,} |" for name, value in self.outcomes.items()]
        return "\n".join(lines)


@dataclass
class _Invocation:
    event: dict[str, Any]
    context: Any
    crash_at: int | None
    timeout_at: int | None
    started: int = 0


class WorkerFaults:
    """Wraps each event source's handler: crashes, timeouts, duplicate and concurrent deliveries."""

    def __init__(self, rt: Runtime, plan: FaultPlan, rng: random.Random) -> None:
        self.rt, self.plan, self.rng = rt, plan, rng
        self.counts: Counter[str] = Counter()
        self.current: _Invocation | None = None
        self.copies = rt.session.client("sqs", region_name=rt.settings.region)
        #: A second execution environment: another invocation that receives the same record meanwhile.
        self.elsewhere: Handler = make_handler(rt.app)
        for mapping in rt.mappings:
            mapping.handler = self._wrap(mapping.handler, mapping.address.url)

    def _wrap(self, inner: Any, url: str) -> Any:
        def handler(event: dict[str, Any], context: Any) -> Any:
            records = event["Records"]
            draw = self.rng.random()
            crash_at = self.rng.randrange(len(records)) if draw < self.plan.crash_rate else None
            late = draw > 1 - self.plan.timeout_rate
            timeout_at = self.rng.randrange(len(records)) if late else None
            for record in records:
                if self.rng.random() < self.plan.duplicate_rate:
                    delay = self.rng.choice((0, 0, 5, 60, 600, 900))
                    self.copies.send_message(QueueUrl=url, MessageBody=record["body"], DelaySeconds=delay)
                    self.counts["duplicate deliveries (a copy sent again)"] += 1
            self.current = _Invocation(event, context, crash_at, timeout_at)
            try:
                with as_function_error():
                    response = inner(event, context)
            finally:
                self.current = None
            if context.get_remaining_time_in_millis() <= 0:
                # Lambda stops an invocation at its timeout: whatever it did, nothing is acknowledged.
                self.counts["timeouts (invocation ran out of time)"] += 1
                raise TimeoutError("the invocation ran past its timeout")
            return response

        return handler

    def before_body(self, task_id: str) -> None:
        """Called as a body starts: kill the invocation here, or deliver the record elsewhere meanwhile."""
        invocation = self.current
        if invocation is None:  # the concurrent invocation's own records: no faults inside it
            return
        index = invocation.started
        invocation.started += 1
        if invocation.crash_at == index:
            self.counts["worker crashes after k records of a batch"] += 1
            raise Crash(f"crashed after {index} records")
        if invocation.timeout_at == index:
            self.counts["timeouts (a body ran past the function timeout)"] += 1
            remaining = invocation.context.get_remaining_time_in_millis() / 1000
            clock.current().sleep(remaining + limits.LEASE_SLACK_SECONDS + 1)
            raise Timeout(f"task {task_id} ran past the function timeout")
        if self.rng.random() < self.plan.concurrent_rate:
            self._deliver_elsewhere(invocation, task_id)

    def _deliver_elsewhere(self, invocation: _Invocation, task_id: str) -> None:
        record = next(r for r in invocation.event["Records"] if json.loads(r["body"])["id"] == task_id)
        self.current = None
        try:
            context = FakeLambdaContext("elsewhere", self.rt.topology.sizing.timeout, 256, self.rt.settings.region)
            response = self.elsewhere({"Records": [record]}, context)
        finally:
            self.current = invocation
        kept = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        self.counts["concurrent deliveries of a running task"] += 1
        if record["messageId"] not in kept:
            self.counts["concurrent deliveries acknowledged while the task ran"] += 1


class Suite:
    """One run: the app, its runtime, the injectors, and what the bodies and producer observed."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.app = Squall("reliability")
        self.running: Counter[str] = Counter()
        self.overlaps = 0
        self.refused: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.kinds: dict[str, tuple[str, float]] = {}
        self.transitions: dict[str, list[State]] = defaultdict(list)
        self.enqueue_lies: list[str] = []
        self.worker: WorkerFaults | None = None
        self.ledger: Any = None

        @self.app.task(bind=True, name="reliability.work", max_retries=MAX_RETRIES, retry_backoff_max=60)
        def work(task: TaskContext, kind: str, failure_rate: float) -> str:
            return self.body(task, kind, failure_rate)

        self.work = work
        self.app.transition_listeners.append(lambda task_id, state, _: self.transitions[task_id].append(state))

    def body(self, task: TaskContext, kind: str, failure_rate: float) -> str:
        """The task: faults first, then fail or apply its effect once (a conditional write to the ledger)."""
        task_id, attempt = task.request.id, task.request.attempt
        self.running[task_id] += 1
        try:
            if self.running[task_id] > 1:
                self.overlaps += 1
            assert self.worker is not None
            self.worker.before_body(task_id)
            if kind == "poison":
                self.failures["poison task failures"] += 1
                raise PoisonError(f"task {task_id} can never succeed")
            if random.Random(f"{self.plan.seed}/fail/{task_id}/{attempt}").random() < failure_rate:
                self.failures["transient task failures"] += 1
                raise TransientError(f"attempt {attempt} of {task_id} failed")
            try:
                self.ledger.put_item(
                    TableName=LEDGER_TABLE,
                    Item={"pk": {"S": task_id}, "attempt": {"N": str(attempt)}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
                self.refused[task_id] += 1  # the effect was applied before: this run is a duplicate
            return "done"
        finally:
            self.running[task_id] -= 1

    def enqueue(self, ids: list[str], producer: SendBatchFaults) -> None:
        """Send ``ids`` as the application would: resend whatever EnqueueError says did not go."""
        pending = list(ids)
        while pending:
            producer.delivered = set()
            signatures = [self.work.s(*self.kinds[task_id]) for task_id in pending]
            try:
                self.app.send_batch(signatures, task_ids=pending)
            except EnqueueError as exc:
                self._check_truth(pending, exc, producer.delivered)
                producer.counts["tasks resent by the caller after EnqueueError"] += len(exc.failed)
                pending = [task_id for task_id in pending if task_id in exc.failed]  # in a repeatable order
                continue
            self.enqueue_lies.extend(
                f"{i}: reported sent, never reached SQS" for i in set(pending) - producer.delivered
            )
            pending = []

    def _check_truth(self, ids: list[str], exc: EnqueueError, delivered: set[str]) -> None:
        lies = self.enqueue_lies
        lies.extend(f"{i}: in .sent, never reached SQS" for i in set(exc.sent) - delivered)
        lies.extend(
            f"{i}: in .failed as not sent, but SQS has it"
            for i, why in exc.failed.items()
            if i in delivered and "may have been sent" not in why
        )
        lies.extend(f"{i}: neither in .sent nor .failed" for i in set(ids) - set(exc.sent) - set(exc.failed))

    def run(self) -> Report:
        """Send, run and drain the whole workload; then check every invariant."""
        plan, report = self.plan, Report(self.plan)
        rng = random.Random(plan.seed)
        started = time.perf_counter()
        with local.run(self.app) as rt, _seeded_backoff(plan.seed):
            rt.clock.set(START)  # the same instants every run: float rounding then repeats too
            began = rt.clock.now()
            self.ledger = rt.session.client("dynamodb", region_name=rt.settings.region)
            self.ledger.create_table(
                TableName=LEDGER_TABLE,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            throttles = DynamoThrottles(random.Random(f"{plan.seed}/dynamodb"), plan.throttle_rate, plan.exhaust_rate)
            producer = SendBatchFaults(
                random.Random(f"{plan.seed}/sqs"), plan.sender_fault_rate, plan.server_fault_rate, plan.ambiguous_rate
            )
            self.worker = WorkerFaults(rt, plan, random.Random(f"{plan.seed}/worker"))
            ids = [f"t{i:06d}" for i in range(plan.n)]
            for task_id in ids:
                poison = rng.random() < plan.poison_fraction
                self.kinds[task_id] = ("poison", 0.0) if poison else ("ok", rng.choice(plan.transient_rates))
            report.faults["poison tasks"] = sum(kind == "poison" for kind, _ in self.kinds.values())
            for rate in plan.transient_rates:
                tasks = sum(kind == "ok" and r == rate for kind, r in self.kinds.values())
                report.faults[f"tasks failing {rate:.0%} of their attempts"] = tasks
            with contextlib.redirect_stdout(io.StringIO()):  # Powertools prints metrics even when disabled
                throttles.install(self.app.dynamodb)
                producer.install(self.app.sqs)
                with sdk_backoff_on_the_fake_clock():
                    for start in range(0, plan.n, WAVE):
                        self.enqueue(ids[start : start + WAVE], producer)
                        for _ in range(3):
                            rt.poll()
                    rt.drain(max_invocations=50 * plan.n)
            report.faults.update(throttles.counts + producer.counts + self.worker.counts)
            report.faults.update(self.failures)
            self._check(rt, ids, throttles, report)
            report.fake_seconds = rt.clock.now() - began
        report.wall_seconds = time.perf_counter() - started
        return report

    def _check(self, rt: Runtime, ids: list[str], throttles: DynamoThrottles, report: Report) -> None:
        violations = report.violations
        records = {task_id: self.app.store.get(task_id) for task_id in ids}
        states = {task_id: (r.state if r else None) for task_id, r in records.items()}
        dead = {i for i, s in states.items() if s is State.DEAD}
        success = {i for i, s in states.items() if s is State.SUCCESS}
        lost = set(ids) - dead - success
        started_left = {i for i, s in states.items() if s is State.STARTED}
        effects = _ledger_ids(self.ledger)
        terminal_twice = {
            i for i, seq in self.transitions.items() if sum(s in (State.SUCCESS, State.DEAD) for s in seq) > 1
        }
        refused_finish = throttles.exhausted.get("finish", set())
        unexplained = {i for i in self.refused if i not in refused_finish}
        letters = rt.dead_letters()
        letter_ids = [m.attributes.get(TASK_ID_ATTRIBUTE) or _body_id(m.body) for m in letters]
        poison = {i for i, (kind, _) in self.kinds.items() if kind == "poison"}

        def check(ok: bool, what: str, sample: Any = ()) -> None:
            if not ok:
                violations.append(f"{what} {sorted(sample)[:5] if sample else ''}".strip())

        check(not lost, f"{len(lost)} task(s) lost (not SUCCESS or DEAD):", lost)
        check(not started_left, f"{len(started_left)} task(s) left STARTED:", started_left)
        check(not terminal_twice, "task(s) reached a final state twice:", terminal_twice)
        check(not unexplained, "duplicate effects not explained by a refused SUCCESS write:", unexplained)
        check(success <= effects, "SUCCESS without its effect:", success - effects)
        check(not (poison & success), "poison task(s) succeeded:", poison & success)
        check(set(letter_ids) == dead, "DLQ contents differ from the DEAD tasks:", set(letter_ids) ^ dead)
        unexplained_letters = [m for m in letters if REASON_ATTRIBUTE not in m.attributes]
        check(not unexplained_letters, f"{len(unexplained_letters)} DLQ message(s) without Squall's reason")
        check(rt.queued() == 0, f"{rt.queued()} message(s) left on the source queue")
        check(self.overlaps == 0, f"{self.overlaps} body run(s) overlapped another run of the same task")
        ran_twice = self.worker.counts["concurrent deliveries acknowledged while the task ran"] if self.worker else 0
        check(ran_twice == 0, f"{ran_twice} concurrent delivery(ies) acknowledged while the task ran")
        check(not self.enqueue_lies, "EnqueueError misreported:", self.enqueue_lies)
        exhausted = [i for i in dead - poison if records[i] and records[i].attempt < MAX_RETRIES + 1]  # type: ignore[union-attr]
        check(not exhausted, "DEAD before its attempts ran out:", exhausted)
        report.outcomes = {
            "tasks": len(ids),
            "SUCCESS": len(success),
            "DEAD (poison)": len(dead & poison),
            "DEAD (every attempt failed)": len(dead - poison),
            "lost": len(lost),
            "left STARTED": len(started_left),
            "duplicated effects (body re-ran after its effect; refused by the ledger)": sum(self.refused.values()),
            "  of which not explained by a SUCCESS write refused for good": len(unexplained),
            "DEAD with its effect applied (SUCCESS write refused for good)": len(dead & effects),
            "DLQ messages": len(letters),
            "DLQ messages beyond one per DEAD task": len(letters) - len(set(letter_ids)),
            "messages left on the source queue": rt.queued(),
            "worker invocations": len(rt.invocations),
        }


def _body_id(body: str) -> str:
    try:
        return str(json.loads(body)["id"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return f"<no id: {uuid.uuid4().hex[:6]}>"


def _ledger_ids(client: Any) -> set[str]:
    ids: set[str] = set()
    for page in client.get_paginator("scan").paginate(TableName=LEDGER_TABLE):
        ids.update(item["pk"]["S"] for item in page["Items"])
    return ids


@contextlib.contextmanager
def _seeded_backoff(seed: int) -> Iterator[None]:
    """Retry jitter from the plan's seed, so a run repeats exactly (Squall's own draws use SystemRandom)."""
    saved = backoff._rng
    backoff._rng = random.Random(f"{seed}/backoff")  # type: ignore[assignment]
    try:
        yield
    finally:
        backoff._rng = saved


def run_suite(plan: FaultPlan) -> Report:
    """Run the suite once under ``plan``."""
    return Suite(plan).run()
