"""The fault-injection driver: N tasks of every configuration through the local runtime under every fault.

The app has three queues (different batch sizes and concurrency) and six kinds of task with retry budgets
0, 4, 12 and 13 (one kind retrying for 4.4 days, past the queues' retention; one ``async def``; two whose
bodies sleep up to 55 s against the 60 s function timeout, one of them declaring ``expected_duration``).
Sends use ``send_batch`` or, for call-time options (another queue, another ``max_retries``, a countdown),
``apply_async``; bodies fail, ask for ``retry(max_retries=N, countdown=...)`` above and below their budget
(a few more than 12 h ahead), report progress, and return results near the size limit or just past it.
Optionally the app signs its envelopes (``FaultPlan.signing``) and its keyring has outages.

The real worker and reconciler handlers run behind the emulated event source mappings on a fake clock; the
faults come from :mod:`tests.reliability.faults`. Every random choice comes from the plan's seed, so a run
repeats exactly. :func:`run_suite` returns a :class:`Report`: the configurations exercised, the faults
injected, how the tasks ended, measures on the fake clock, and every invariant that did not hold, by
invariant. ``python -m tests.reliability.run`` prints it.

This module is longer than the others: the workload, its model of each task's retry budget and the checks read
against each other. A FIFO queue runs beside them, with its own tasks and checks: tests.reliability.fifo_faults.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tests.reliability.faults import (
    PRODUCER,
    DynamoThrottles,
    KeyringOutages,
    LambdaThrottles,
    SendBatchFaults,
    SendFaults,
    Side,
    WorkerFaults,
    sdk_backoff_on_the_fake_clock,
)
from tests.reliability.fifo_faults import FifoWorkload

from squall import (
    ConfigurationError,
    EnqueueError,
    Queue,
    RevokeOutcome,
    State,
    TaskContext,
    backoff,
    clock,
    limits,
    local,
)
from squall.errors import DrainError
from squall.local import Runtime, motoshim
from squall.offload import results as offloaded_results
from squall.offload.reference import RESULT_INLINE_MAX_BYTES
from squall.sending import producer
from squall.state.limiter import LimiterItems, Reservation
from squall.state.schema import ErrorInfo, Progress, TaskRecord
from squall.state.store import TaskStore
from squall.tasks.flow import parse_rate
from squall.wire import signing as sig
from squall.wire.envelope import Envelope
from squall.worker import limiter
from squall.worker.deadletters import REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE
from squall.worker.delivery import Delivery, Outcome
from squall.worker.execution import Executor
from squall.worker.reconciler import Reconciled, Reconciler

#: Tasks sent per wave; the worker polls a few rounds between waves, so sending and running interleave.
WAVE = 50
LEDGER_TABLE = "reliability-effects"
#: Where the fake clock starts (2033-05-18), later than any real "now" the runtime began at.
START = 2_000_000_000.0
#: The app's queues, and how many invocations each event source starts per round (``high`` is capped at 2
#: by its MaximumConcurrency).
QUEUES = (Queue("default"), Queue("high", max_concurrency=2), Queue("reports", batch_size=4))
CONCURRENCY = {"default": 2, "high": 4, "reports": 1}
#: retry(max_retries=N) asks and call-time max_retries, above and below every declared budget.
ASKED_BUDGETS = (0, 1, 3, 8, 16)
CALL_BUDGETS = (0, 2, 7, 15)
SIGNING_PARAMETER = "/squall/reliability/keys"
#: How many worker invocations per task the drain may take before the run is called stuck.
DRAIN_INVOCATIONS_PER_TASK = 60


@dataclass(frozen=True)
class Kind:
    """One kind of task: how it is declared, and how long its bodies take (seconds, uniform)."""

    name: str
    queue: str
    max_retries: int
    weight: float
    retry_backoff: float = 2.0
    retry_backoff_max: float = 60.0
    retry_jitter: bool = True
    expected_duration: float | None = None
    durations: tuple[float, float] = (0.0, 0.0)
    #: Share of runs that take longer than declared (45-75 s: past 60 s the function timeout stops them), for a
    #: kind that declares its duration.
    overrun: float = 0.0
    is_async: bool = False
    #: Flow control: a global rate limit and a concurrency limit, shared by every worker.
    rate_limit: str | None = None
    concurrency_limit: int | None = None


KINDS = (
    Kind("once", "default", 0, 0.15),
    Kind("four", "high", 4, 0.24),
    Kind("twelve", "reports", 12, 0.15, retry_backoff_max=120, is_async=True),
    Kind("long", "reports", 13, 0.04, retry_backoff=3600, retry_backoff_max=36_000, retry_jitter=False),
    Kind("slow", "default", 4, 0.21, durations=(0.0, 55.0)),
    Kind("timed", "high", 4, 0.21, expected_duration=40, durations=(0.0, 40.0), overrun=0.1),
    Kind("limited", "default", 4, 0.1, durations=(0.0, 3.0), rate_limit="2/s", concurrency_limit=1),
)
KIND_BY_NAME = {kind.name: kind for kind in KINDS}
#: The suite's cap on an offloaded result, in bytes, in place of squall.offload's 100 MiB (the same check, on
#: values a run can afford to make): a result past it is refused, DEAD, never computed again.
RESULT_CAP_BYTES = 512 * 1024


class TransientError(Exception):
    """A failure that a retry may get past."""


class PoisonError(Exception):
    """A failure that is never retried (the tasks' ``dont_autoretry_for``)."""


@dataclass(frozen=True)
class FaultPlan:
    """How many tasks, what they do, and how often each fault strikes. Rates are probabilities per draw."""

    n: int = 200
    seed: int = 20261123
    #: Sign envelopes (keys in SSM) and make the worker's keyring unreadable now and then.
    signing: bool = False
    # --- the workload, per task unless said otherwise
    transient_rates: tuple[float, ...] = (0.0, 0.1, 0.3, 0.6)  # per-attempt failure probability, one per task
    poison_fraction: float = 0.03  # raises an error that is never retried
    hopeless_fraction: float = 0.03  # fails every attempt: spends its whole effective budget
    queue_override_fraction: float = 0.1  # apply_async(queue=<another queue>)
    budget_override_fraction: float = 0.1  # apply_async(max_retries=N)
    countdown_fraction: float = 0.03  # apply_async(countdown=...), half of them past SQS's 900 s
    retry_ask_rate: float = 0.15  # per failed attempt: raise task.retry(max_retries=N, countdown=...)
    long_countdown_rate: float = 0.2  # per retry ask: a countdown past 12 h (a one-time schedule)
    large_result_fraction: float = 0.02  # a result within 2 KB of MAX_RESULT_BYTES: offloaded to the bucket
    too_large_fraction: float = 0.01  # a result 1-64 bytes over RESULT_CAP_BYTES: refused
    offloaded_argument_fraction: float = 0.02  # an argument past SQS's message limit: offloaded to the bucket
    progress_fraction: float = 0.2  # reports progress twice per run (the large ones near its own limit)
    revoke_fraction: float = 0.01  # revoked right after sending, or after its first retry
    # --- infrastructure faults
    crash_rate: float = 0.08  # per invocation: the worker dies after k records of the batch
    timeout_rate: float = 0.04  # per invocation: one body sleeps past the function timeout
    duplicate_rate: float = 0.05  # per record received: a copy of its body is sent again
    concurrent_rate: float = 0.04  # per body run: the same record is handled by a second invocation meanwhile
    throttle_rate: float = 0.05  # per UpdateItem call: throttled 1-3 times, then let through
    exhaust_rate: float = 0.01  # per UpdateItem call: throttled until the SDK gives up
    sender_fault_rate: float = 0.03  # per SendMessageBatch entry
    server_fault_rate: float = 0.05  # per SendMessageBatch entry
    ambiguous_rate: float = 0.1  # per SendMessageBatch call and producer SendMessage: accepted, then a timeout
    send_failure_rate: float = 0.05  # per producer SendMessage: refused, not sent
    worker_send_failure_rate: float = 0.01  # per worker SendMessage (retry, fresh copy, dead letter)
    lambda_throttle_rate: float = 0.02  # per poll of a queue: Lambda throttles its next 1-3 batches
    throttle_windows: int = 2  # windows of 50-80 min in which Lambda throttles every batch of one queue
    keyring_outages: int = 2  # with signing: windows of 3-10 min in which the worker cannot read its keys

    def intensified(self, factor: float) -> FaultPlan:
        """This plan with every infrastructure fault rate multiplied by ``factor`` (capped at 0.9)."""
        rates = ("crash_rate", "timeout_rate", "duplicate_rate", "concurrent_rate", "throttle_rate", "exhaust_rate")
        rates += ("sender_fault_rate", "server_fault_rate", "ambiguous_rate", "send_failure_rate")
        rates += ("worker_send_failure_rate", "lambda_throttle_rate")
        return replace(self, **{name: min(0.9, getattr(self, name) * factor) for name in rates})


@dataclass(frozen=True)
class TaskPlan:
    """What one task is and does, drawn from the plan's seed."""

    id: str
    kind: Kind
    fate: str  # "ok", "poison" or "hopeless"
    failure_rate: float
    queue: str | None  # a call-time queue
    max_retries: int | None  # a call-time budget
    countdown: float | None
    result_chars: int  # 0: a small result
    progress: bool
    revoke: str | None  # "at once" or "when retrying"
    argument_chars: int = 0  # 0: no padding argument; else one that far past SQS's limit (offloaded)

    @property
    def sent_to(self) -> str:
        """The queue its messages go to (and its DLQ)."""
        return self.queue or self.kind.queue

    @property
    def budget(self) -> int:
        """Its retry budget when sent: the call's, else the declared one."""
        return self.kind.max_retries if self.max_retries is None else self.max_retries

    @property
    def too_large(self) -> bool:
        """Whether its result cannot be stored (its JSON is over RESULT_CAP_BYTES, even offloaded)."""
        return self.result_chars + 2 > RESULT_CAP_BYTES

    @property
    def arguments(self) -> tuple[str, ...]:
        """What it is sent with: its fate, and the padding argument when it has one."""
        return (self.fate, "p" * self.argument_chars) if self.argument_chars else (self.fate,)


@dataclass(frozen=True)
class AttemptPlan:
    """What one attempt of a task does, drawn from the plan's seed, the task id and the attempt number."""

    fails: bool
    ask: int | None  # retry(max_retries=ask)
    countdown: float | None  # with the ask
    duration: float


@dataclass
class Run:
    """One body run, as the task-state transitions that follow it are matched with it."""

    attempt: int
    envelope_budget: int  # the budget the delivery that ran it carried (None in the envelope: declared)
    ask: int | None = None
    ended: str = ""  # "failed", "poison", "returned" ("" while running, or killed)


@dataclass
class Report:
    """What a run exercised and injected, how its tasks ended, and every invariant that failed."""

    plan: FaultPlan
    workload: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    outcomes: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)
    measures: dict[str, str] = field(default_factory=dict)
    #: Invariant → what broke it (task ids or counts); empty when every promise held.
    violations: dict[str, list[str]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    fake_seconds: float = 0.0

    def table(self) -> str:
        """The report as Markdown tables: workload, faults injected, outcomes, outcomes by kind, measures."""
        lines = ["| configuration exercised | count |", "|---|---:|"]
        lines += [f"| {kind} | {count:,} |" for kind, count in sorted(self.workload.items())]
        lines += ["", "| fault injected | count |", "|---|---:|"]
        lines += [f"| {kind} | {count:,} |" for kind, count in sorted(self.faults.items())]
        lines += ["", "| outcome | count |", "|---|---:|"]
        lines += [f"| {name} | {value:,} |" for name, value in self.outcomes.items()]
        columns = list(next(iter(self.by_kind.values()), {}))
        lines += ["", "| kind | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
        for kind, row in self.by_kind.items():
            lines.append(f"| {kind} | " + " | ".join(f"{row[c]:,}" for c in columns) + " |")
        lines += ["", "| measure (fake clock) | value |", "|---|---:|"]
        lines += [f"| {name} | {value} |" for name, value in self.measures.items()]
        return "\n".join(lines)


class Deliveries:
    """Watches the worker's and the reconciler's step for every delivery: outcomes, and what is running.

    While :meth:`watching`, ``Executor.process`` and ``Reconciler.process`` are wrapped (the SDK's own
    code runs unchanged); ``receives`` notes when each message was last received from a source queue.
    """

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        #: Message id → the worker's outcome of its latest delivery (an ``Outcome`` value).
        self.last_outcome: dict[str, str] = {}
        self.running: list[Delivery] = []
        #: Task id → deliveries kept because the signing keys could not be read.
        self.kept_for_keys: Counter[str] = Counter()
        #: Message id → the last time a worker event source received it.
        self.received: dict[str, float] = {}
        #: Message id → reconciler passes that failed or kept it; task id → the message its DEAD came from.
        self.reconcile_failures: Counter[str] = Counter()
        self.reconciled: dict[str, str] = {}
        #: Message id → when the reconciler's event source first received it; deliveries the worker kept.
        self.intake_received: dict[str, float] = {}
        self.kept: Counter[str] = Counter()
        #: Errors other than AWS's (and unreadable keys) that escaped the worker's step: bugs.
        self.unexpected: list[str] = []
        #: Task id → (error type, reason) of the first DEAD written for it.
        self.first_dead: dict[str, tuple[str, str]] = {}
        self.intake_url = ""

    @contextlib.contextmanager
    def watching(self, rt: Runtime) -> Iterator[None]:
        """Wrap the two steps and note receives on ``rt``'s SQS client, for the block."""
        self.intake_url = rt.settings.intake_url
        clients = [rt.app.sqs, *(source.sqs() for source in [*rt.mappings, rt.intake] if source is not None)]
        for client in {id(c): c for c in clients}.values():  # the reconciler's event source has its own
            client.meta.events.register("before-parameter-build.sqs.ReceiveMessage", self._asked)
            client.meta.events.register("after-call.sqs.ReceiveMessage", self._got)
        executor, reconciler, dead = Executor.process, Reconciler.process, TaskStore.dead

        def process(
            step: Executor, delivery: Delivery, remaining: float, *, budget_seconds: float | None = None
        ) -> Any:
            self.running.append(delivery)
            try:
                outcome = executor(step, delivery, remaining, budget_seconds=budget_seconds)
            except Exception as exc:  # an AWS error, or the keys unreadable after the body ran: the record fails
                self.outcomes[f"worker: raised {type(exc).__name__}"] += 1
                if not isinstance(exc, BotoCoreError | ClientError | ConfigurationError):
                    self.unexpected.append(f"{type(exc).__name__}: {exc}")
                raise
            finally:
                self.running.pop()
            self.outcomes[f"worker: {outcome.value}"] += 1
            self.last_outcome[delivery.message_id] = outcome.value
            if outcome.keeps_message:
                self.kept[delivery.message_id] += 1
            if outcome is Outcome.KEYS_UNAVAILABLE:
                self.kept_for_keys[_task_id(delivery.body)] += 1
            return outcome

        def reconcile(step: Reconciler, delivery: Delivery) -> Any:
            task_id = _task_id(delivery.body)
            try:
                outcome = reconciler(step, delivery)
            except BaseException:
                self.reconcile_failures[delivery.message_id] += 1
                raise
            self.outcomes[f"reconciler: {outcome.value}"] += 1
            if outcome is Reconciled.RUNNING:
                self.reconcile_failures[delivery.message_id] += 1
            elif outcome is Reconciled.DEAD:
                self.reconciled.setdefault(task_id, delivery.message_id)
            return outcome

        def record_dead(store: TaskStore, task_id: str, *, reason: str, error: ErrorInfo, **more: Any) -> Any:
            current = dead(store, task_id, reason=reason, error=error, **more)
            if current is None:  # written
                self.first_dead.setdefault(task_id, (error.type, reason))
            return current

        Executor.process = process  # type: ignore[method-assign]
        Reconciler.process = reconcile  # type: ignore[method-assign]
        TaskStore.dead = record_dead  # type: ignore[method-assign]
        try:
            yield
        finally:
            Executor.process, Reconciler.process = executor, reconciler  # type: ignore[method-assign]
            TaskStore.dead = dead  # type: ignore[method-assign]

    def _asked(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["reliability.queue_url"] = params.get("QueueUrl")

    def _got(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        now, intake = clock.now(), context.get("reliability.queue_url") == self.intake_url
        for message in parsed.get("Messages", []):
            if intake:
                self.intake_received.setdefault(message["MessageId"], now)
            else:
                self.received[message["MessageId"]] = now


class Suite:
    """One run: the app, its runtime, the injectors, and what the bodies and the producer observed."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        signing_key = f"ssm:{SIGNING_PARAMETER}" if plan.signing else None
        self.fifo, self.app = FifoWorkload.with_app(plan.seed, plan.n, "reliability", QUEUES, signing_key=signing_key)
        self.plans: dict[str, TaskPlan] = {}
        self.tasks: dict[str, Any] = {}
        self.workload: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self.violations: dict[str, list[str]] = defaultdict(list)
        # What the bodies saw.
        self.running: Counter[str] = Counter()
        self.overlaps = 0
        # Flow control: bodies of each kind running at once (the most seen), and the rate slots the limiter gave.
        self.kind_running: Counter[str] = Counter()
        self.kind_most: Counter[str] = Counter()
        self.rate_slots: dict[str, list[float]] = defaultdict(list)
        self.runs: dict[str, list[Run]] = defaultdict(list)
        self.run_started: dict[str, list[float]] = defaultdict(list)
        self.refused: Counter[str] = Counter()  # ledger writes refused: the effect was applied before
        self.too_large_returned: Counter[str] = Counter()
        self.last_progress: dict[str, Progress] = {}
        # What the state transitions said, and the model of each task's effective retry budget.
        self.transitions: dict[str, list[tuple[State, float]]] = defaultdict(list)
        self.final_at: dict[str, float] = {}
        self.budget: dict[str, int] = {}
        self.claimed_unrun: dict[str, int] = {}  # task id → attempt claimed whose body has not started yet
        self.claims: Counter[str] = Counter()
        # The operator's revokes: pending ones, and when each that took effect did.
        self.revoke_pending: list[str] = []
        self.revoked_at: dict[str, float] = {}
        self.revoke_outcomes: dict[str, RevokeOutcome] = {}
        self.enqueue_lies: list[str] = []
        self.side = Side()
        self.deliveries = Deliveries()
        self.worker: WorkerFaults | None = None
        self.ledger: Any = None
        self._declare()

    # --- the app ------------------------------------------------------------------------------------------

    def _declare(self) -> None:
        for kind in KINDS:
            options: dict[str, Any] = {
                "bind": True,
                "name": f"reliability.{kind.name}",
                "queue": kind.queue,
                "max_retries": kind.max_retries,
                "retry_backoff": kind.retry_backoff,
                "retry_backoff_max": kind.retry_backoff_max,
                "retry_jitter": kind.retry_jitter,
                "dont_autoretry_for": (PoisonError,),
                "expected_duration": kind.expected_duration,
                "rate_limit": kind.rate_limit,
                "concurrency_limit": kind.concurrency_limit,
            }
            if kind.is_async:

                async def work_async(task: TaskContext, fate: str, pad: str = "") -> str:
                    await asyncio.sleep(0)
                    return self.body(task, pad)

                self.tasks[kind.name] = self.app.task(**options)(work_async)
            else:

                def work(task: TaskContext, fate: str, pad: str = "") -> str:
                    return self.body(task, pad)

                self.tasks[kind.name] = self.app.task(**options)(work)

    def attempt_plan(self, task: TaskPlan, attempt: int) -> AttemptPlan:
        """What ``attempt`` of ``task`` does (the same every run of the same seed)."""
        rng = random.Random(f"{self.plan.seed}/attempt/{task.id}/{attempt}")
        low, high = task.kind.durations
        duration = rng.uniform(low, high)
        if task.kind.overrun and rng.random() < task.kind.overrun:
            duration = rng.uniform(45.0, 75.0)
        fails = task.fate == "hopeless" or (task.fate == "ok" and rng.random() < task.failure_rate)
        ask = countdown = None
        if fails and rng.random() < self.plan.retry_ask_rate:
            ask = rng.choice(ASKED_BUDGETS)
            far = rng.random() < self.plan.long_countdown_rate
            countdown = rng.uniform(43_300.0, 64_800.0) if far else rng.uniform(1.0, 300.0)
        return AttemptPlan(fails, ask, countdown, duration)

    def body(self, task: TaskContext, pad: str = "") -> str:
        """The task: faults first, then take its time, fail, ask for a retry or apply its effect once."""
        task_id, attempt = task.request.id, task.request.attempt
        plan = self.plans[task_id]
        if pad != "p" * plan.argument_chars:
            self.violations["a body ran without its whole (offloaded) argument"].append(task_id)
        self._started(task_id, attempt)
        run = self.runs[task_id][-1]
        self.running[task_id] += 1
        kind = plan.kind.name
        self.kind_running[kind] += 1
        self.kind_most[kind] = max(self.kind_most[kind], self.kind_running[kind])
        try:
            if self.running[task_id] > 1:
                self.overlaps += 1
            assert self.worker is not None
            self.worker.before_body(task_id)
            what = self.attempt_plan(plan, attempt)
            if plan.progress:
                self._progress(task, plan, 30.0, "started")
            self._sleep(task_id, what.duration / 2)
            if plan.fate == "poison":
                self.failures["poison task failures"] += 1
                run.ended = "poison"
                raise PoisonError(f"task {task_id} can never succeed")
            if what.fails:
                self.failures["transient task failures" if plan.fate == "ok" else "hopeless task failures"] += 1
                run.ended, run.ask = "failed", what.ask
                error = TransientError(f"attempt {attempt} of {task_id} failed")
                if what.ask is not None:
                    self.workload["retry(max_retries=N) asks"] += 1
                    if what.countdown is not None and what.countdown > limits.SQS_MAX_VISIBILITY_SECONDS:
                        self.workload["retry asks with a countdown past 12 h"] += 1
                    raise task.retry(countdown=what.countdown, exc=error, max_retries=what.ask)
                raise error
            if plan.progress:
                self._progress(task, plan, 90.0, "nearly done")
            self._sleep(task_id, what.duration / 2)
            self._apply_effect(task_id, attempt)
            run.ended = "returned"
            if plan.result_chars:
                if plan.too_large:
                    self.too_large_returned[task_id] += 1
                return "x" * plan.result_chars
            return "done"
        finally:
            self.running[task_id] -= 1
            self.kind_running[kind] -= 1

    def _started(self, task_id: str, attempt: int) -> None:
        if task_id in self.final_at:
            self.violations["a body ran after its task was final"].append(task_id)
        revoked = self.revoked_at.get(task_id)
        if revoked is not None:
            self.violations["a body ran after its task was revoked"].append(task_id)
        if self.claimed_unrun.pop(task_id, None) != attempt:
            self.violations["a body ran without its own claim"].append(f"{task_id} attempt {attempt}")
        delivery = self.deliveries.running[-1]
        self.runs[task_id].append(Run(attempt, self._envelope_budget(task_id, delivery)))
        self.run_started[task_id].append(clock.now())
        if attempt > 1 and self.plans[task_id].kind.name == "long":
            self.workload["retries of the 4.4-day kind"] += 1

    def _envelope_budget(self, task_id: str, delivery: Delivery) -> int:
        envelope = Envelope.decode(sig.unverified_json(delivery.body))
        plan = self.plans[task_id]
        return plan.kind.max_retries if envelope.max_retries is None else envelope.max_retries

    def _sleep(self, task_id: str, seconds: float) -> None:
        if seconds <= 0:
            return
        assert self.worker is not None
        self.worker.sleeping = task_id
        clock.sleep(seconds)  # past the invocation's deadline, the emulator stops it here
        self.worker.sleeping = None

    def _progress(self, task: TaskContext, plan: TaskPlan, percent: float, message: str) -> None:
        blob = ""
        if plan.result_chars and percent > 50:  # the largest report beside the largest results
            room = limits.MAX_PROGRESS_BYTES - len(Progress(percent, message, {"blob": ""}).to_json())
            blob = "y" * (room - len(plan.id) % 16)
        try:
            task.progress(percent, message, blob=blob)
        except ClientError:
            # The SDK gave up on the progress write: the attempt fails, as any AWS error in a body does.
            self.failures["attempts failed by a progress write refused for good"] += 1
            self.runs[task.request.id][-1].ended = "failed"
            raise
        self.last_progress[task.request.id] = Progress(percent, message, {"blob": blob})

    def _apply_effect(self, task_id: str, attempt: int) -> None:
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

    # --- the model of each task's effective budget, checked at every decision --------------------------

    def _on_transition(self, task_id: str, state: State, at: float) -> None:
        self.transitions[task_id].append((state, at))
        if state in (State.SUCCESS, State.DEAD, State.REVOKED):
            self.final_at.setdefault(task_id, at)
        if task_id in self.fifo.sent:
            return  # a FIFO task: fifo_faults checks it
        if state is State.STARTED:
            self._claimed(task_id)
            return
        wanted = state is State.RETRY and self.plans[task_id].revoke == "when retrying"
        if wanted and task_id not in self.revoke_outcomes and task_id not in self.revoke_pending:
            self.revoke_pending.append(task_id)
        if state not in (State.RETRY, State.DEAD):
            return
        if state is State.DEAD and self.deliveries.running and self.claimed_unrun.get(task_id):
            # The worker claimed an attempt the recorded budget allows, and made the task DEAD without running it.
            self.violations["a claimed attempt within the budget was made DEAD unrun"].append(task_id)
        runs = self.runs.get(task_id)
        run = runs[-1] if runs else None
        if run is None or not run.ended or not self.deliveries.running:
            return  # not the worker deciding on a run (the reconciler, or a write of a killed attempt)
        ended, run.ended = run.ended, ""  # one decision per run
        limit = self.budget[task_id]
        if ended == "failed" and run.ask is not None:
            self.budget[task_id] = run.ask
            keeps_going = run.attempt <= run.ask
            self._decided(task_id, "retry(max_retries=)", keeps_going == (state is State.RETRY), run.ask)
        elif ended == "failed":
            keeps_going = run.attempt <= limit
            self._decided(task_id, "a failure", keeps_going == (state is State.RETRY), run.envelope_budget)
        elif ended == "poison" and state is State.RETRY:
            self.violations["a poison task was retried"].append(task_id)
        elif ended == "returned" and state is State.RETRY:
            self.violations["a task that returned was retried"].append(task_id)

    def _claimed(self, task_id: str) -> None:
        self.claims[task_id] += 1
        attempt = self.claims[task_id]  # no redrives, no expired records here: claims count the attempts
        if task_id in self.claimed_unrun:
            self.violations["an attempt was claimed and never ran"].append(task_id)
        self.claimed_unrun.pop(task_id, None)
        for run in self.runs.get(task_id, [])[-1:]:
            run.ended = ""  # an earlier run whose outcome was never recorded: no later decision is its
        if attempt - 1 > self.budget[task_id]:
            # The attempts before this one recorded no outcome (killed mid-run) and spent the task's recorded
            # budget, whatever the delivered envelope says: the worker makes it DEAD without running it
            # (AttemptsExhausted), so a body that runs now has no claim of its own.
            return
        self.claimed_unrun[task_id] = attempt

    def _decided(self, task_id: str, what: str, ok: bool, used: int) -> None:
        if ok:
            return
        if used != self.budget[task_id]:
            # The delivery carried another budget than the task's effective one: a duplicate of an earlier
            # message, or the message a retry was recorded for but could not be sent (see the xfail tests).
            self.violations["a retry decision used the budget of an earlier message"].append(task_id)
        else:
            self.violations[f"a retry decision after {what} broke the effective budget"].append(task_id)

    # --- sending ------------------------------------------------------------------------------------------

    def draw_plans(self, rng: random.Random) -> list[TaskPlan]:
        """Every task's plan, in sending order.

        Each configuration goes to exactly ``ceil(n * fraction)`` tasks chosen at random, so that even a
        small run has every one of them; kinds and failure rates are drawn per task.
        """
        plan, n = self.plan, self.plan.n

        def chosen(fraction: float, among: list[int] | None = None) -> set[int]:
            pool = list(range(n)) if among is None else among
            return set(rng.sample(pool, min(len(pool), math.ceil(n * fraction)))) if fraction else set()

        poison = chosen(plan.poison_fraction)
        hopeless = chosen(plan.hopeless_fraction, [i for i in range(n) if i not in poison])
        ok = [i for i in range(n) if i not in poison | hopeless]
        too_large = chosen(plan.too_large_fraction, ok)
        large = chosen(plan.large_result_fraction, [i for i in range(n) if i not in too_large])
        # Drawn apart, so that adding them left every other draw (and so every other figure) as it was.
        pads = random.Random(f"{plan.seed}/offload")
        padded = set(pads.sample(range(n), math.ceil(n * plan.offloaded_argument_fraction)))
        queue_calls, budget_calls = chosen(plan.queue_override_fraction), chosen(plan.budget_override_fraction)
        countdowns, progress, revokes = (
            chosen(plan.countdown_fraction),
            chosen(plan.progress_fraction),
            chosen(plan.revoke_fraction),
        )
        far, later = set(sorted(countdowns)[1::2]), set(sorted(revokes)[1::2])
        weights = [kind.weight for kind in KINDS]
        plans = []
        for i in range(n):
            kind = rng.choices(KINDS, weights)[0]
            fate = "poison" if i in poison else "hopeless" if i in hopeless else "ok"
            others = [q.name for q in QUEUES if q.name != kind.queue]
            queue = rng.choice(others) if i in queue_calls else None
            budget = rng.choice(CALL_BUDGETS) if i in budget_calls else None
            countdown = None
            if i in countdowns:  # half of them past SQS's 900 s: a one-time schedule
                countdown = rng.uniform(901.0, 3600.0) if i in far else rng.uniform(1.0, 900.0)
            result_chars = 0
            if i in too_large:
                result_chars = RESULT_CAP_BYTES - 2 + rng.randint(1, 64)
            elif i in large:
                result_chars = limits.MAX_RESULT_BYTES - 2 - rng.randint(0, 2048)
            revoke = None if i not in revokes else "when retrying" if i in later else "at once"
            rate = 0.0 if i in too_large else rng.choice(plan.transient_rates)  # it must reach its result
            pad = limits.SQS_MAX_MESSAGE_BYTES + pads.randint(0, 64 * 1024) if i in padded else 0
            plans.append(
                TaskPlan(
                    f"t{i:06d}", kind, fate, rate, queue, budget, countdown, result_chars, i in progress, revoke, pad
                )
            )
        return plans

    def _count_workload(self, plans: list[TaskPlan]) -> None:
        count = self.workload
        for task in plans:
            count[f"tasks of kind {task.kind.name} (max_retries {task.kind.max_retries})"] += 1
            count[f"tasks that {'fail every attempt' if task.fate == 'hopeless' else 'are ' + task.fate}"] += 1
            if task.fate == "ok":
                count[f"tasks failing {task.failure_rate:.0%} of their attempts"] += 1
            count["apply_async(queue=another queue)"] += task.queue is not None
            count["apply_async(max_retries=N)"] += task.max_retries is not None
            if task.countdown is not None:
                count[f"apply_async(countdown {'over' if task.countdown > 900 else 'up to'} 900 s)"] += 1
            count["results over RESULT_CAP_BYTES (never fail otherwise)"] += task.too_large
            count["results within 2 KB of MAX_RESULT_BYTES"] += bool(task.result_chars) and not task.too_large
            count["results offloaded (past the item's room)"] += task.result_chars + 2 > RESULT_INLINE_MAX_BYTES
            count["arguments offloaded (past SQS's message limit)"] += bool(task.argument_chars)
            count["tasks reporting progress"] += task.progress
            if task.revoke:
                count[f"revokes ({task.revoke})"] += 1

    def enqueue(self, tasks: list[TaskPlan], batches: SendBatchFaults) -> None:
        """Send a wave as the application would: send_batch for plain calls, apply_async for call options."""
        with self.side.acting(PRODUCER):
            plain = [t for t in tasks if t.queue is None and t.max_retries is None and t.countdown is None]
            self._send_batch([t.id for t in plain], batches)
            for task in tasks:
                if task not in plain:
                    self._apply_async(task)
                if task.revoke == "at once":
                    self.revoke_pending.append(task.id)
        self._operator()

    def _send_batch(self, ids: list[str], producer: SendBatchFaults) -> None:
        pending = list(ids)
        while pending:
            producer.delivered = set()
            signatures = [self.tasks[self.plans[i].kind.name].s(*self.plans[i].arguments) for i in pending]
            try:
                self.app.send_batch(signatures, task_ids=pending)
            except EnqueueError as exc:
                self._check_truth(pending, exc, producer.delivered)
                self.failures["tasks resent by the caller after EnqueueError"] += len(exc.failed)
                pending = [task_id for task_id in pending if task_id in exc.failed]  # in a repeatable order
                continue
            self.enqueue_lies.extend(
                f"{i}: reported sent, never reached SQS" for i in set(pending) - producer.delivered
            )
            pending = []

    def _apply_async(self, task: TaskPlan) -> None:
        while True:
            try:
                self.tasks[task.kind.name].apply_async(
                    task.arguments,
                    task_id=task.id,
                    queue=task.queue,
                    max_retries=task.max_retries,
                    countdown=task.countdown,
                )
                return
            except EnqueueError:
                self.failures["tasks resent by the caller after EnqueueError"] += 1

    def _check_truth(self, ids: list[str], exc: EnqueueError, delivered: set[str]) -> None:
        lies = self.enqueue_lies
        lies.extend(f"{i}: in .sent, never reached SQS" for i in set(exc.sent) - delivered)
        lies.extend(
            f"{i}: in .failed as not sent, but SQS has it"
            for i, why in exc.failed.items()
            if i in delivered and "may have been sent" not in why
        )
        lies.extend(f"{i}: neither in .sent nor .failed" for i in set(ids) - set(exc.sent) - set(exc.failed))

    def _operator(self) -> None:
        """Between polls: revoke what is due to be revoked (a refused write is tried again next time)."""
        pending, self.revoke_pending = self.revoke_pending, []
        for task_id in pending:
            try:
                with self.side.acting(PRODUCER):
                    outcome = self.app.revoke(task_id)
            except ClientError:
                self.failures["revokes tried again after a refused write"] += 1
                self.revoke_pending.append(task_id)
                continue
            self.revoke_outcomes[task_id] = outcome
            if outcome in (RevokeOutcome.REVOKED, RevokeOutcome.UNKNOWN):
                self.revoked_at[task_id] = clock.now()

    # --- the run ------------------------------------------------------------------------------------------

    def run(self) -> Report:
        """Send, run and drain the whole workload; then check every invariant."""
        plan, report = self.plan, Report(self.plan)
        rng = random.Random(plan.seed)
        started = time.perf_counter()
        with (
            local.run(self.app, log_level="CRITICAL") as rt,
            seeded_backoff(plan.seed),
            self.deliveries.watching(rt),
            recording_rate_slots(self.rate_slots),
        ):
            rt.clock.set(START)  # the same instants every run: float rounding then repeats too
            rt.on_transition(self._on_transition)
            began = rt.clock.now()
            self._provision(rt)
            throttles = DynamoThrottles(random.Random(f"{plan.seed}/dynamodb"), plan.throttle_rate, plan.exhaust_rate)
            batches = SendBatchFaults(
                random.Random(f"{plan.seed}/sqs"), plan.sender_fault_rate, plan.server_fault_rate, plan.ambiguous_rate
            )
            sends = SendFaults(
                random.Random(f"{plan.seed}/send"),
                self.side,
                plan.send_failure_rate,
                plan.ambiguous_rate,
                plan.worker_send_failure_rate,
            )
            lambda_throttles = LambdaThrottles(rt, random.Random(f"{plan.seed}/lambda"), plan.lambda_throttle_rate)
            outages = KeyringOutages(self.side)
            if plan.signing:
                signer = self.app.signer
                assert signer is not None
                signer._keys = outages.wrap(signer._keys)
            self.worker = WorkerFaults(
                rt,
                self.side,
                random.Random(f"{plan.seed}/worker"),
                crash_rate=plan.crash_rate,
                timeout_rate=plan.timeout_rate,
                duplicate_rate=plan.duplicate_rate,
                concurrent_rate=plan.concurrent_rate,
                writes=throttles,
                outcome_of=lambda message_id: self.deliveries.last_outcome.get(message_id),
            )
            assert rt.intake is not None
            intake_poll = rt.intake.poll

            def intake_then_operator() -> int:
                try:
                    return intake_poll()
                finally:
                    self._operator()

            rt.intake.poll = intake_then_operator  # type: ignore[method-assign]
            plans = self.draw_plans(rng)
            self.plans = {task.id: task for task in plans}
            self.budget = {task.id: task.budget for task in plans}
            self._count_workload(plans)
            waves = list(range(0, plan.n, WAVE))
            weather = random.Random(f"{plan.seed}/weather")
            throttled_at = set(weather.sample(range(len(waves)), min(len(waves), plan.throttle_windows)))
            outage_count = min(len(waves), plan.keyring_outages) if plan.signing else 0
            outages_at = set(weather.sample(range(len(waves)), outage_count))
            with contextlib.redirect_stdout(io.StringIO()):  # Powertools prints metrics even when disabled
                throttles.install(self.app.dynamodb)
                batches.install(self.app.sqs)
                sends.install(self.app.sqs)
                with sdk_backoff_on_the_fake_clock():
                    for wave, start in enumerate(waves):
                        if wave in throttled_at:
                            queue = weather.choice([q.name for q in QUEUES])
                            lambda_throttles.open_window(queue, weather.uniform(50, 80) * 60)
                        if wave in outages_at:
                            outages.open_window(weather.uniform(3, 10) * 60)
                        self.enqueue(plans[start : start + WAVE], batches)
                        self.fifo.enqueue(rt, len(waves))
                        for _ in range(3):
                            rt.poll()
                    try:
                        rt.drain(max_invocations=DRAIN_INVOCATIONS_PER_TASK * plan.n)
                    except DrainError as exc:
                        self.violations["the queues did not drain"].append(str(exc))
            report.workload.update(self.workload)
            for counts in (throttles.counts, batches.counts, sends.counts, lambda_throttles.counts, outages.counts):
                report.faults.update(counts)
            report.faults.update(self.worker.counts)
            report.faults.update(self.failures)
            report.workload["too-large results returned (then DEAD, never run again)"] = len(self.too_large_returned)
            self._check(rt, throttles, report)
            self.fifo.check(rt, self.violations, report)
            report.fake_seconds = rt.clock.now() - began
        report.wall_seconds = time.perf_counter() - started
        report.violations = {name: samples for name, samples in self.violations.items() if samples}
        return report

    def _provision(self, rt: Runtime) -> None:
        self.ledger = rt.session.client("dynamodb", region_name=rt.settings.region)
        self.ledger.create_table(
            TableName=LEDGER_TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        if self.plan.signing:
            ssm = rt.session.client("ssm", region_name=rt.settings.region)
            ssm.put_parameter(Name=SIGNING_PARAMETER, Value=sig.new_keyring_document(), Type="SecureString")
        for mapping in rt.mappings:
            mapping.concurrency = CONCURRENCY.get(mapping.resource.name, 1)

    # --- the invariants -----------------------------------------------------------------------------------

    def _check(self, rt: Runtime, throttles: DynamoThrottles, report: Report) -> None:
        assert self.worker is not None
        ids = list(self.plans)
        records = {task_id: self.app.store.get(task_id) for task_id in ids}
        states = {task_id: (r.state if r else None) for task_id, r in records.items()}
        final = {State.SUCCESS, State.DEAD, State.REVOKED}
        lost = {i for i, s in states.items() if s is None}
        unfinished = {i for i, s in states.items() if s is not None and s not in final}
        success = {i for i, s in states.items() if s is State.SUCCESS}
        dead = {i for i, s in states.items() if s is State.DEAD}
        revoked = {i for i, s in states.items() if s is State.REVOKED}
        first_dead = self.deliveries.first_dead
        causes = {i: dead_cause(*first_dead.get(i, ("", ""))) for i in dead}
        rewritten = {
            i
            for i in dead
            if records[i] and records[i].error and records[i].error.type != first_dead.get(i, ("",))[0]  # type: ignore[union-attr]
        }
        effects = _ledger_ids(self.ledger)
        v = self.violations

        def check(ok: bool, what: str, sample: Any = ()) -> None:
            if not ok:
                v[what].extend(sorted(sample) if sample else ["(see the count)"])

        # I0: nothing but AWS errors (and unreadable keys) escaped the worker's step.
        unexpected = self.deliveries.unexpected
        check(not unexpected, "the worker raised an error that is not AWS's", unexpected)
        # I1: every task final, once.
        check(not lost, "task(s) lost (no record)", lost)
        check(not unfinished, "task(s) left non-terminal (PENDING, STARTED or RETRY)", unfinished)
        twice = {i for i, seq in self.transitions.items() if len({s for s, _ in seq if s in final}) > 1}
        check(not twice, "task(s) reached two different final states", twice)
        reopened = {i for i, seq in self.transitions.items() if _started_after_final(seq)}
        check(not reopened, "task(s) claimed again after a final state", reopened)
        # I2: DLQ ⇔ DEAD, each letter with Squall's reason, in the DLQ of the queue the task was sent to.
        letters = {q.name: rt.dead_letters(q.name) for q in QUEUES}
        letter_ids = [m.attributes.get(TASK_ID_ATTRIBUTE) or _task_id(m.body) for ms in letters.values() for m in ms]
        check(set(letter_ids) == dead, "DLQ contents differ from the DEAD tasks", set(letter_ids) ^ dead)
        reasonless = [m.message_id for ms in letters.values() for m in ms if REASON_ATTRIBUTE not in m.attributes]
        check(not reasonless, "DLQ message(s) without Squall's reason", reasonless)
        misplaced = {
            _task_id(m.body) for q, ms in letters.items() for m in ms if self.plans[_task_id(m.body)].sent_to != q
        }
        check(not misplaced, "dead letter(s) in another queue's DLQ than the task was sent to", misplaced)
        # I3: nothing left anywhere.
        intake_left = motoshim.message_count(rt.settings.region, rt.settings.intake_arn.rsplit(":", 1)[-1])
        check(rt.queued() == 0, f"{rt.queued()} message(s) left on the source queues")
        check(intake_left == 0, f"{intake_left} message(s) left on the intake queue")
        # I4: DEAD only for a reason it may have; the budget model was checked at each decision.
        other = {i for i, c in causes.items() if c == "other"}
        check(not other, "DEAD for a reason other than budget, poison, size or the redrive policy", other)
        wrong_poison = {i for i, c in causes.items() if c == "poison" and self.plans[i].fate != "poison"}
        check(not wrong_poison, "DEAD as not retried, but not poison", wrong_poison)
        wrong_size = {i for i, c in causes.items() if c == "too large" and not self.plans[i].too_large}
        check(not wrong_size, "DEAD as too large, but its result fits", wrong_size)
        must_fail = {i for i in success if self.plans[i].fate != "ok" or self.plans[i].too_large}
        check(not must_fail, "task(s) that cannot succeed succeeded", must_fail)
        # I5: a policy-moved task is DEAD within the bound (measured on the fake clock).
        self._check_moved(rt, causes, report)
        # I6: effects at most once beyond the explained duplicates; no overlap; results and progress stored.
        refused_final = throttles.exhausted.get("finish", set()) | throttles.exhausted.get("dead", set())
        stopped = self.worker.stopped_writing.get("finish", set()) | self.worker.stopped_writing.get("dead", set())
        unexplained = {i for i in self.refused if i not in refused_final | stopped}
        check(not unexplained, "duplicate effects not explained by a final write that did not land", unexplained)
        check(success <= effects, "SUCCESS without its effect", success - effects)
        rerun_large = {i for i, n in self.too_large_returned.items() if n > 1 and i not in refused_final | stopped}
        check(not rerun_large, "a too-large result was computed again", rerun_large)
        check(self.overlaps == 0, f"{self.overlaps} body run(s) overlapped another run of the same task")
        # I8: flow control: never more runs at once than a kind's concurrency limit; its rate slots spaced.
        for kind in KINDS:
            if kind.concurrency_limit is not None:
                most = self.kind_most[kind.name]
                check(most <= kind.concurrency_limit, f"{most} runs of {kind.name} at once, over its limit")
            if kind.rate_limit is not None:
                interval = parse_rate(kind.rate_limit).interval
                slots = sorted(self.rate_slots[f"reliability.{kind.name}"])
                close = [f"{b - a:.4f} s" for a, b in itertools.pairwise(slots) if b - a < interval - 1e-6]
                check(not close, f"rate slots of {kind.name} closer than its limit's {interval} s", close[:5])
        report.measures["rate slots given (limited kinds)"] = f"{sum(len(v) for v in self.rate_slots.values()):,}"
        ran_twice = self.worker.counts["concurrent deliveries acknowledged while the task ran"]
        check(ran_twice == 0, f"{ran_twice} concurrent delivery(ies) acknowledged while the task ran")
        check(not self.enqueue_lies, "EnqueueError misreported", self.enqueue_lies)
        wrong_results = {i for i in success if not self._result_ok(records[i])}
        check(not wrong_results, "SUCCESS with another result or progress than the task's", wrong_results)
        # I7: revokes: a task revoked before it ran never runs; only revoked tasks are REVOKED.
        took = set(self.revoked_at)
        check(revoked <= took, "REVOKED without a revoke that took effect", revoked - took)
        check(took <= revoked, "a revoke that took effect, but the task is not REVOKED", took - revoked)
        self._report(rt, records, causes, effects, report, lost | unfinished, set(letter_ids) ^ dead, letters)
        report.outcomes["DEAD records whose reason the reconciler wrote over (a moved copy of a DEAD task)"] = len(
            rewritten
        )

    def _result_ok(self, record: TaskRecord | None) -> bool:
        if record is None or record.result_json is None:
            return False
        plan = self.plans[record.id]
        expected = "x" * plan.result_chars if plan.result_chars else "done"
        if json.loads(offloaded_results.result_text(self.app, record.result_json, record.id)) != expected:
            return False
        last = self.last_progress.get(record.id)
        return not plan.progress or (record.progress is not None and record.progress == last)

    def _check_moved(self, rt: Runtime, causes: dict[str, str], report: Report) -> None:
        """Time from a policy-moved message's last receive to its task's DEAD, against the stated bound.

        The bound: the queue's visibility timeout (the message comes back), then one polling round for a
        receive to reach it (SQS moves it then) and one for the reconciler's event source to receive it,
        plus, for each reconciler pass that could not finish (keys unreadable, a write refused, a live
        attempt), the intake's visibility timeout and one more round.
        """
        assert rt.intake is not None
        round_seconds = sum(m.round_size * m.timeout for m in [*rt.mappings, rt.intake])
        intake_visibility = rt.topology.intake.visibility_timeout
        seen = self.deliveries
        totals, at_sqs, at_reconciler, kept_before = [], [], [], 0
        for task_id, cause in causes.items():
            if cause != "moved":
                continue
            message = seen.reconciled.get(task_id)
            if message is None or message not in seen.received or message not in seen.intake_received:
                self.violations["a policy-moved task's message was never seen"].append(task_id)
                continue
            dead_at, last, moved = self.final_at[task_id], seen.received[message], seen.intake_received[message]
            visibility = rt.topology.queue(self.plans[task_id].sent_to).visibility_timeout
            passes = seen.reconcile_failures[message]
            bound = visibility + 2 * round_seconds + passes * (intake_visibility + round_seconds)
            totals.append(dead_at - last)
            at_sqs.append(moved - last)
            at_reconciler.append(dead_at - moved)
            kept_before += seen.kept[message] > 0
            if moved - last < visibility:
                self.violations["a message was moved before its visibility timeout passed"].append(task_id)
            if dead_at - last > bound:
                self.violations["a policy-moved task was not DEAD within the bound"].append(task_id)
        report.measures["policy-moved tasks"] = f"{len(totals):,}"
        report.measures["  of which the worker had kept on some of its receives (deferred, busy, keys)"] = (
            f"{kept_before:,}"
        )
        if totals:
            report.measures["longest: last receive → DEAD (s)"] = f"{max(totals):,.0f}"
            report.measures["longest: last receive → the reconciler receives it (s)"] = f"{max(at_sqs):,.0f}"
            report.measures["longest: the reconciler receives it → DEAD (s)"] = f"{max(at_reconciler):,.0f}"
            report.measures["most reconciler passes before one finished"] = (
                f"{max(seen.reconcile_failures[seen.reconciled[i]] for i in causes if causes[i] == 'moved'):,}"
            )
        queues = sorted({rt.topology.queue(q.name).visibility_timeout for q in QUEUES})
        report.measures["stated bound: last receive → DEAD (s)"] = (
            f"{'/'.join(map(str, queues))} + 2 x {round_seconds:,.0f} + {intake_visibility + round_seconds:,.0f} "
            "per pass that could not finish"
        )

    def _report(
        self,
        rt: Runtime,
        records: dict[str, TaskRecord | None],
        causes: dict[str, str],
        effects: set[str],
        report: Report,
        unfinished: set[str],
        mismatched: set[str],
        letters: dict[str, list[motoshim.PeekedMessage]],
    ) -> None:
        dead = set(causes)
        count = Counter(causes.values())
        all_letters = [m for ms in letters.values() for m in ms]
        states = Counter(r.state.value if r else "none" for r in records.values())
        attempts = [r.attempt for r in records.values() if r is not None]
        report.outcomes = {
            "tasks": len(records),
            "SUCCESS": states["SUCCESS"],
            "DEAD: effective budget spent": count["budget"],
            "DEAD: budget spent by attempts killed mid-run (AttemptsExhausted)": count["killed"],
            "DEAD: poison (not retried)": count["poison"],
            "DEAD: result too large": count["too large"],
            "DEAD: moved by the redrive policy, then reconciled": count["moved"],
            "DEAD: any other reason": count["other"],
            "REVOKED": states["REVOKED"],
            "lost": states["none"],
            "left non-terminal": len(unfinished) - states["none"],
            "DLQ vs DEAD mismatches": len(mismatched),
            "DLQ messages": len(all_letters),
            "DLQ messages beyond one per DEAD task": len(all_letters) - len({_task_id(m.body) for m in all_letters}),
            "messages left on the source and intake queues": rt.queued()
            + motoshim.message_count(rt.settings.region, rt.settings.intake_arn.rsplit(":", 1)[-1]),
            "duplicated effects (body re-ran after its effect; refused by the ledger)": sum(self.refused.values()),
            "DEAD with its effect applied": len(dead & effects),
            "most attempts of one task": max(attempts, default=0),
            "worker invocations": len(rt.invocations),
            "worker invocations stopped at the function timeout": sum(i.timed_out for i in rt.invocations),
            "worker invocations throttled": sum(i.throttled for i in rt.invocations),
            "reconciler invocations": len(rt.intake.history) if rt.intake is not None else 0,
            "bodies run": sum(len(runs) for runs in self.runs.values()),
        }
        for outcome, n in sorted(self.deliveries.outcomes.items()):
            report.outcomes[f"deliveries {outcome}"] = n
        report.outcomes["tasks kept while the keys were unreadable"] = len(self.deliveries.kept_for_keys)
        for kind in KINDS:
            members = [i for i, p in self.plans.items() if p.kind is kind]
            kind_causes = Counter(causes[i] for i in members if i in causes)
            report.by_kind[f"{kind.name} (max_retries {kind.max_retries})"] = {
                "tasks": len(members),
                "SUCCESS": sum(1 for i in members if records[i] and records[i].state is State.SUCCESS),  # type: ignore[union-attr]
                "DEAD budget": kind_causes["budget"] + kind_causes["killed"],
                "DEAD poison": kind_causes["poison"],
                "DEAD too large": kind_causes["too large"],
                "DEAD moved": kind_causes["moved"],
                "DEAD other": kind_causes["other"],
                "REVOKED": sum(1 for i in members if records[i] and records[i].state is State.REVOKED),  # type: ignore[union-attr]
                "lost or non-terminal": len(unfinished & set(members)),
                "DLQ ≠ DEAD": len(mismatched & set(members)),
            }


def dead_cause(kind: str, reason: str) -> str:
    """Why a task was made DEAD (its first DEAD's error type and reason): budget, killed, poison, ... or other."""
    if kind == "MovedByRedrivePolicy":
        return "moved"
    if kind in ("ResultTooLarge", "MessageTooLarge"):  # past the item's room, or past the offload cap
        return "too large"
    if kind == "AttemptsExhausted":
        return "killed"
    if kind.endswith("PoisonError") and "not retried" in reason:
        return "poison"
    if "retries exhausted" in reason:
        return "budget"
    return "other"


def _started_after_final(sequence: list[tuple[State, float]]) -> bool:
    finished = False
    for state, _ in sequence:
        if finished and state is State.STARTED:
            return True
        finished = finished or state in (State.SUCCESS, State.DEAD, State.REVOKED)
    return False


def _task_id(body: str) -> str:
    try:
        return str(json.loads(sig.unverified_json(body))["id"])
    except (ValueError, KeyError, TypeError):
        return "<no id>"


def _ledger_ids(client: Any) -> set[str]:
    ids: set[str] = set()
    for page in client.get_paginator("scan").paginate(TableName=LEDGER_TABLE):
        ids.update(item["pk"]["S"] for item in page["Items"])
    return ids


@contextlib.contextmanager
def seeded_backoff(seed: int) -> Iterator[None]:
    """Retry and deferral jitter from the plan's seed, so a run repeats exactly (Squall's own use SystemRandom)."""
    saved, saved_limiter = backoff._rng, limiter._rng
    backoff._rng = random.Random(f"{seed}/backoff")  # type: ignore[assignment]
    limiter._rng = random.Random(f"{seed}/limiter")  # type: ignore[assignment]
    try:
        yield
    finally:
        backoff._rng, limiter._rng = saved, saved_limiter


@contextlib.contextmanager
def recording_rate_slots(slots: dict[str, list[float]]) -> Iterator[None]:
    """Record every rate slot the limiter hands out (its reservation's start), by task."""
    original = LimiterItems.reserve

    def reserve(self: LimiterItems, task: str, key: str, **kwargs: Any) -> Reservation:
        got = original(self, task, key, **kwargs)
        if got.start is not None:
            slots[task].append(got.start)
        return got

    LimiterItems.reserve = reserve  # type: ignore[method-assign]
    try:
        yield
    finally:
        LimiterItems.reserve = original  # type: ignore[method-assign]


def run_suite(plan: FaultPlan) -> Report:
    """Run the suite once under ``plan``, with offloaded results capped at RESULT_CAP_BYTES, and batches sent one
    after another: the injected faults are drawn in call order from the plan's seed, so a run repeats exactly only
    if the calls come in one order (tests/test_send_batch_concurrent.py covers concurrent sends and their failures)."""
    original = offloaded_results.MAX_OFFLOAD_BYTES, producer.SEND_BATCH_CONCURRENCY
    offloaded_results.MAX_OFFLOAD_BYTES, producer.SEND_BATCH_CONCURRENCY = RESULT_CAP_BYTES, 1
    try:
        return Suite(plan).run()
    finally:
        offloaded_results.MAX_OFFLOAD_BYTES, producer.SEND_BATCH_CONCURRENCY = original
