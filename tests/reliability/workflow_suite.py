"""The fault suite for workflows: N workflows through the local runtime under every fault, then the model's checks.

The app has the suite's three queues and three tasks, one per role: ``first`` (a workflow's first step, or an
immutable one), ``then`` (given its parent's result first) and ``merge`` (a chord's body, given its members'
results), each on its own queue, with a budget of two retries. A body applies its fate (see
:mod:`tests.reliability.workflows`), records what it was given and how often it ran to completion, and returns
``r:<its id>``; a chord's body also checks, as it starts, that every member of its chord is final.

The faults are the existing suite's (:mod:`tests.reliability.faults`: crashes after k records, timeouts, duplicate
and concurrent deliveries, DynamoDB throttling, SQS send failures, Lambda throttling) and the workflow ones
(:mod:`tests.reliability.workflow_faults`). The producer sends waves of workflows as an application should: it
freezes each (every id decided), sends its first messages with ``app.send_launches`` and sends again, with the
same ids, whatever ``EnqueueError.failed`` names. Every random choice comes from the plan's seed.
"""

from __future__ import annotations

import contextlib
import io
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from tests.reliability.faults import (
    PRODUCER,
    DynamoThrottles,
    LambdaThrottles,
    SendBatchFaults,
    SendFaults,
    Side,
    WorkerFaults,
    sdk_backoff_on_the_fake_clock,
)
from tests.reliability.harness import CONCURRENCY, QUEUES, START, PoisonError, TransientError, seeded_backoff
from tests.reliability.workflow_checks import NOTHING, Checker, Facts, end_state, result_of
from tests.reliability.workflow_faults import ContinuationFaults, CounterFaults, CounterThrottles
from tests.reliability.workflows import (
    FIRST,
    MERGE,
    THEN,
    ChainSpec,
    ChordSpec,
    Drawer,
    GroupSpec,
    Spec,
    Step,
    Workflow,
    WorkflowPlan,
    build,
    first_step,
    frozen_ids,
    groups_of,
    steps_of,
)

from squall import EnqueueError, MemberFailed, Squall, State, TaskContext, WorkflowPartlySent, clock, local
from squall.errors import DrainError
from squall.local import Runtime
from squall.state.groups import get_many
from squall.tasks import canvas
from squall.worker.delivery import Delivery
from squall.worker.execution import Executor
from squall.worker.reconciler import Reconciler

#: Workflows sent per wave; the worker polls a few rounds between waves.
WAVE = 10
#: The queue of each task.
QUEUE_OF = {FIRST: "default", THEN: "high", MERGE: "reports"}
#: Workflows per Lambda throttling window (of 50-80 min, 4 batches in 5 of one queue throttled).
WORKFLOWS_PER_WINDOW = 500
#: How many times the producer calls a revoke that raises before the run counts it a violation.
REVOKE_CALLS = 20
#: How many worker invocations per task the drain may take before the run is called stuck.
DRAIN_INVOCATIONS_PER_TASK = 40


@dataclass
class WorkflowReport:
    """What a run exercised and injected, how its workflows ended, and every invariant that failed."""

    plan: WorkflowPlan
    workload: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: dict[str, list[str]] = field(default_factory=dict)
    wall_seconds: float = 0.0
    fake_seconds: float = 0.0

    def table(self) -> str:
        """The report as Markdown tables: workload, faults injected, outcomes."""
        lines = []
        for title, rows in (("workload", self.workload), ("fault injected", self.faults), ("outcome", self.outcomes)):
            lines += ["", f"| {title} | count |", "|---|---:|"]
            lines += [f"| {name} | {count:,} |" for name, count in sorted(rows.items())]
        return "\n".join(lines[1:])


class WorkflowSuite:
    """One run: the app, its runtime, the injectors, and what the task bodies saw."""

    def __init__(self, plan: WorkflowPlan) -> None:
        self.plan = plan
        self.app = Squall("reliability-workflows", queues=QUEUES)
        self.tasks: dict[str, Any] = {}
        self.steps: dict[str, Step] = {}
        #: The first step of each chord body -> the chord's group.
        self.bodies: dict[str, GroupSpec] = {}
        self.starts: Counter[str] = Counter()
        self.executions: Counter[str] = Counter()
        self.received: dict[str, list[Any]] = defaultdict(list)
        self.final_at: dict[str, float] = {}
        self.failures: Counter[str] = Counter()
        self.violations: dict[str, list[str]] = defaultdict(list)
        self.outcomes: Counter[str] = Counter()
        self.side = Side()
        self.worker: WorkerFaults | None = None
        self._declare()

    # --- the app --------------------------------------------------------------------------------------------

    def _declare(self) -> None:
        options: dict[str, Any] = {"bind": True, "max_retries": 2, "retry_backoff": 1.0, "retry_backoff_max": 20.0}
        options["dont_autoretry_for"] = (PoisonError,)
        app = self.app

        @app.task(name="wf.first", queue=QUEUE_OF[FIRST], **options)
        def first(task: TaskContext, label: str, fate: str) -> str:
            return self.body(task, label, NOTHING)

        @app.task(name="wf.then", queue=QUEUE_OF[THEN], **options)
        def then(task: TaskContext, parent: Any, label: str, fate: str) -> str:
            return self.body(task, label, parent)

        @app.task(name="wf.merge", queue=QUEUE_OF[MERGE], **options)
        def merge(task: TaskContext, results: list[Any], label: str, fate: str) -> str:
            given = [["failed", r.task_id] if isinstance(r, MemberFailed) else r for r in results]
            return self.body(task, label, given)

        self.tasks = {FIRST: first, THEN: then, MERGE: merge}

    def body(self, task: TaskContext, label: str, given: Any) -> str:
        """Every task: faults first, then its fate; what it was given is noted when it runs to completion."""
        task_id, attempt = task.request.id, task.request.attempt
        step = self.steps[task_id]
        self.starts[task_id] += 1
        if label != task_id:
            self.violations["a step ran under another step's id"].append(task_id)
        if task_id in self.final_at:
            self.violations["a step ran after its task was final (or cancelled)"].append(task_id)
        group = self.bodies.get(task_id)
        if group is not None:
            unfinished = [
                f"{group.id}.{i}" for i in range(len(group.members)) if f"{group.id}.{i}" not in self.final_at
            ]
            if unfinished:
                self.violations["a chord body started before every member was final"].append(task_id)
        assert self.worker is not None
        self.worker.before_body(task_id)
        rng = random.Random(f"{self.plan.seed}/attempt/{task_id}/{attempt}")
        clock.sleep(rng.uniform(0.0, 3.0))
        if step.fate == "poison":
            self.failures["poison step failures"] += 1
            raise PoisonError(f"{task_id} can never succeed")
        if step.fate == "hopeless" or rng.random() < step.failure_rate:
            self.failures["transient step failures" if step.fate == "ok" else "hopeless step failures"] += 1
            raise TransientError(f"attempt {attempt} of {task_id} failed")
        self.executions[task_id] += 1
        self.received[task_id].append(given)
        return result_of(task_id)

    # --- sending --------------------------------------------------------------------------------------------

    def _index(self, workflow: Workflow) -> None:
        for step in steps_of(workflow.spec):
            self.steps[step.id] = step
        stack: list[Spec] = [workflow.spec]
        while stack:
            spec = stack.pop()
            if isinstance(spec, ChordSpec):
                self.bodies[first_step(spec.body).id] = spec.group
                stack += [spec.group, spec.body]
            elif isinstance(spec, ChainSpec):
                stack += spec.steps
            elif isinstance(spec, GroupSpec):
                stack += spec.members

    def send(self, workflow: Workflow) -> None:
        """Send one workflow as an application should: ``send_workflow``, then ``send_rest`` until all went."""
        node = build(workflow.spec, self.tasks)
        doc, _ = canvas.freeze(self.app, node)  # every id is given: the same ids send_workflow freezes
        if frozen_ids(doc) != [step.id for step in steps_of(workflow.spec)]:
            self.violations["a frozen workflow's ids differ from those given"].append(workflow.name)
        with self.side.acting(PRODUCER):
            try:
                self.app.send_workflow(node)
                return
            except WorkflowPartlySent as partly:
                rest, failed = partly, len(partly.failed)
            while True:
                self.failures["first messages sent again by the producer (WorkflowPartlySent.send_rest)"] += failed
                try:
                    rest.send_rest()
                    return
                except EnqueueError as exc:
                    failed = len(exc.failed)

    def revoke(self, workflow: Workflow) -> None:
        """Revoke the workflow's first step if its fate says so, calling again while the revoke raises."""
        step = first_step(workflow.spec)
        if step.fate != "revoked":
            return
        with self.side.acting(PRODUCER):
            for _ in range(REVOKE_CALLS):
                try:
                    self.outcomes[f"revokes: {self.app.revoke(step.id).value}"] += 1
                    return
                except (BotoCoreError, ClientError, EnqueueError):
                    self.failures["revokes that raised, called again (as an operator would)"] += 1
        self.violations["a revoke raised every time it was called"].append(step.id)

    # --- the run --------------------------------------------------------------------------------------------

    def run(self) -> WorkflowReport:
        """Send, run and drain every workflow; then check every invariant."""
        plan, infra, report = self.plan, self.plan.infra, WorkflowReport(self.plan)
        rng = random.Random(plan.seed)
        started = time.perf_counter()
        with (
            local.run(self.app, log_level="CRITICAL", start=START) as rt,
            seeded_backoff(plan.seed),
            self._watching(),
        ):
            began = rt.clock.now()
            rt.on_transition(self._on_transition)
            for mapping in rt.mappings:
                mapping.concurrency = CONCURRENCY[mapping.resource.name]

            def seeded(name: str) -> random.Random:
                return random.Random(f"{plan.seed}/{name}")

            throttles = DynamoThrottles(seeded("dynamodb"), infra.throttle_rate, infra.exhaust_rate)
            batches = SendBatchFaults(
                seeded("sqs"), infra.sender_fault_rate, infra.server_fault_rate, infra.ambiguous_rate
            )
            sends = SendFaults(
                seeded("send"), self.side, infra.send_failure_rate, infra.ambiguous_rate, infra.worker_send_failure_rate
            )
            lambda_throttles = LambdaThrottles(rt, seeded("lambda"), infra.lambda_throttle_rate)
            self.worker = worker = WorkerFaults(
                rt,
                self.side,
                seeded("worker"),
                crash_rate=infra.crash_rate,
                timeout_rate=infra.timeout_rate,
                duplicate_rate=infra.duplicate_rate,
                concurrent_rate=infra.concurrent_rate,
                writes=throttles,
            )
            continuations = ContinuationFaults(
                worker,
                seeded("continuations"),
                crash_before=plan.crash_before_send_rate,
                crash_after=plan.crash_after_send_rate,
                elsewhere=plan.finish_elsewhere_rate,
            )
            counter_throttles = CounterThrottles(
                seeded("counter"), plan.counter_throttle_rate, plan.counter_failure_rate
            )
            counters = CounterFaults(
                worker,
                continuations,
                seeded("counts"),
                counter_throttles,
                crash_between=plan.crash_between_counts_rate,
                elsewhere=plan.counter_elsewhere_rate,
            )
            workflows = Drawer(plan, rng).draw()
            for workflow in workflows:
                self._index(workflow)
            self._count_workload(workflows, report)
            weather = random.Random(f"{plan.seed}/weather")
            waves = list(range(0, len(workflows), WAVE))
            window_count = min(len(waves), infra.throttle_windows, math.ceil(plan.n / WORKFLOWS_PER_WINDOW))
            windows = set(weather.sample(range(len(waves)), window_count))
            with contextlib.redirect_stdout(io.StringIO()), continuations.installed():  # Powertools prints metrics
                throttles.install(self.app.dynamodb)
                counters.install(self.app.dynamodb)
                batches.install(self.app.sqs)
                sends.install(self.app.sqs)
                with sdk_backoff_on_the_fake_clock():
                    for wave, start in enumerate(waves):
                        if wave in windows:
                            queue = weather.choice([q.name for q in QUEUES])
                            lambda_throttles.open_window(queue, weather.uniform(50, 80) * 60)
                        for workflow in workflows[start : start + WAVE]:
                            self.send(workflow)
                            self.revoke(workflow)
                        for _ in range(3):
                            rt.poll()
                    try:
                        rt.drain(max_invocations=DRAIN_INVOCATIONS_PER_TASK * len(self.steps))
                    except DrainError as exc:
                        self.violations["the queues did not drain"].append(str(exc))
            for counts in (throttles.counts, batches.counts, sends.counts, lambda_throttles.counts, worker.counts):
                report.faults.update(counts)
            report.faults.update({f"counter: {k}": v for k, v in counter_throttles.counts.items()})
            report.faults.update(continuations.counts)
            report.faults.update(counters.counts)
            report.faults.update(self.failures)
            rerun = throttles.exhausted.get("finish", set()) | worker.stopped_writing.get("finish", set())
            self._check(rt, workflows, rerun, report)
            report.fake_seconds = rt.clock.now() - began
        report.wall_seconds = time.perf_counter() - started
        report.violations = {name: sorted(ids) for name, ids in self.violations.items() if ids}
        return report

    def _on_transition(self, task_id: str, state: State, at: float) -> None:
        if state in (State.SUCCESS, State.DEAD, State.REVOKED):
            self.final_at.setdefault(task_id, at)

    @contextlib.contextmanager
    def _watching(self) -> Iterator[None]:
        """Count every delivery's outcome; an error other than AWS's (or an EnqueueError) escaping is a bug."""
        executor, reconciler = Executor.process, Reconciler.process

        def process(
            step: Executor, delivery: Delivery, remaining: float, *, budget_seconds: float | None = None
        ) -> Any:
            try:
                outcome = executor(step, delivery, remaining, budget_seconds=budget_seconds)
            except Exception as exc:
                self.outcomes[f"deliveries worker: raised {type(exc).__name__}"] += 1
                if not isinstance(exc, BotoCoreError | ClientError | EnqueueError):
                    self.violations["the worker raised an error that is not AWS's"].append(
                        f"{type(exc).__name__}: {exc}"
                    )
                raise
            self.outcomes[f"deliveries worker: {outcome.value}"] += 1
            return outcome

        def reconcile(step: Reconciler, delivery: Delivery) -> Any:
            outcome = reconciler(step, delivery)
            self.outcomes[f"deliveries reconciler: {outcome.value}"] += 1
            return outcome

        Executor.process = process  # type: ignore[method-assign,assignment]
        Reconciler.process = reconcile  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            Executor.process, Reconciler.process = executor, reconciler  # type: ignore[method-assign]

    def _count_workload(self, workflows: list[Workflow], report: WorkflowReport) -> None:
        count = report.workload
        for workflow in workflows:
            count[f"workflows: {workflow.shape}"] += 1
        for step in self.steps.values():
            count["tasks"] += 1
            if step.fate == "ok":
                count[f"steps failing {step.failure_rate:.0%} of their attempts"] += 1
            else:
                count[f"steps that are {step.fate}"] += 1
            count["immutable steps (.si)"] += step.immutable
        chords = list(self.bodies.values())
        count["chords (a group in the middle of a chain included)"] = len(chords)
        count["chords of more than one counting shard (over 64 members)"] = sum(len(g.members) > 64 for g in chords)
        count["group members that are chains of two"] = sum(
            isinstance(m, ChainSpec) for w in workflows for s in groups_of(w.spec) for m in s.members
        )

    # --- the invariants -------------------------------------------------------------------------------------

    def _check(self, rt: Runtime, workflows: list[Workflow], rerun: set[str], report: WorkflowReport) -> None:
        ids = list(self.steps)
        records = get_many(self.app.dynamodb, self.app.settings.table, ids)
        facts = Facts(records, self.starts, self.executions, dict(self.received), rerun)
        checker = Checker(facts)
        for workflow in workflows:
            checker.workflow(workflow)
        for name, samples in checker.violations.items():
            self.violations[name].extend(samples)
        groups = list({g.id: g for w in workflows for g in groups_of(w.spec)}.values())
        letters = end_state(self.app, rt, records, groups, self.violations)
        report.outcomes.update(checker.counts)
        report.outcomes.update(self.outcomes)
        report.outcomes["tasks"] = len(ids)
        report.outcomes["task bodies started"] = sum(self.starts.values())
        report.outcomes["task bodies run to completion"] = sum(self.executions.values())
        report.outcomes["DLQ messages"] = len(letters)
        report.outcomes["messages left on the source queues"] = rt.queued()
        report.outcomes["worker invocations"] = len(rt.invocations)


def run_workflow_suite(plan: WorkflowPlan) -> WorkflowReport:
    """Run the workflow suite once under ``plan``."""
    return WorkflowSuite(plan).run()
