"""The HTTP-target part of the fault suite: receivers that time out, reset, drop, answer 500/429 or slowly (within
the timeout, or a byte at a time past it).

A seeded plan gives every delivery a ``max_retries`` and, for each attempt it may make, how the receiver on
127.0.0.1 behaves (:data:`BEHAVIOURS`). The receiver picks its reply by the request's ``webhook-id`` (the task id,
stable across retries) and the number of requests it has had with that id, so the plan alone says what each
delivery must end as: SUCCESS at the first attempt answered 2xx (a slow answer within the timeout included),
DEAD at once on a 404, DEAD with "retries exhausted" when every attempt the budget allows met a fault that is
retried. The invariants (:func:`check`) compare the run with the plan: no delivery lost or left non-terminal,
every DEAD with a reason naming its cause and a letter in the DLQ, no attempt beyond the budget, and a
``Retry-After`` (capped) respected as the next wait on the fake clock.

``.venv/bin/python -m pytest tests/reliability/test_http_fault_suite.py`` runs it at CI size (``FaultPlan.n``).
"""

from __future__ import annotations

import email.utils
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

from tests.targets.http_receiver import Received, Receiver, Reply

from squall import AsyncResult, Squall, State, local
from squall.limits import HTTP_TARGET_MAX_RETRY_AFTER_SECONDS
from squall.targets import client
from squall.worker.deadletters import TASK_ID_ATTRIBUTE

#: Seconds each request may take: the "timeout" receiver stalls past it, the "slow" one finishes within it.
TIMEOUT = 0.5
#: Every behaviour the receiver has, and its weight in the plan.
BEHAVIOURS: dict[str, int] = {
    "ok": 5,
    "slow": 2,  # the body arrives a byte at a time, within the timeout: a success
    "timeout": 2,  # headers only after the timeout: the attempt times out
    "drip-past-timeout": 1,  # each body byte within the read timeout, the whole past the timeout: cut, retried
    "reset": 2,  # the connection is reset (RST) without an answer
    "close": 1,  # the connection is closed without an answer
    "500": 3,
    "503-retry-after": 1,  # 503 with Retry-After in seconds
    "429-retry-after": 2,  # 429 with Retry-After in seconds
    "429-date": 1,  # 429 with Retry-After as an HTTP date
    "429-too-long": 1,  # 429 asking for more than the cap
    "404": 1,  # not retried: DEAD at once
}
SUCCESSES = frozenset({"ok", "slow"})
HOPELESS = frozenset({"404"})
#: Seconds a "...-retry-after" behaviour asks for.
RETRY_AFTER = 7


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """How many deliveries and the seed of their plans."""

    n: int = 40
    seed: int = 18


@dataclass
class Delivery:
    """One planned delivery: its budget, the receiver's behaviour per attempt, and what it must end as."""

    task_id: str
    max_retries: int
    behaviours: list[str]

    @property
    def expected(self) -> tuple[State, int, str]:
        """(final state, attempts made, a word the reason must hold) that the plan implies."""
        for attempt, behaviour in enumerate(self.behaviours, start=1):
            if behaviour in SUCCESSES:
                return State.SUCCESS, attempt, ""
            if behaviour in HOPELESS:
                return State.DEAD, attempt, "answered 404"
        return State.DEAD, len(self.behaviours), "retries exhausted"


@dataclass
class Report:
    """What a run did and which invariants it broke (name → examples)."""

    behaviours: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    violations: dict[str, list[str]] = field(default_factory=dict)

    def violate(self, name: str, example: str) -> None:
        """Note one breach of invariant ``name``."""
        self.violations.setdefault(name, []).append(example)


def plan_deliveries(plan: FaultPlan) -> list[Delivery]:
    """The seeded deliveries: a budget each, and a behaviour for each attempt it allows."""
    rng = random.Random(plan.seed)
    names, weights = list(BEHAVIOURS), list(BEHAVIOURS.values())
    deliveries = []
    for i in range(plan.n):
        max_retries = rng.choice([0, 1, 3, 5])
        behaviours = rng.choices(names, weights, k=max_retries + 1)
        deliveries.append(Delivery(f"http-{plan.seed}-{i}", max_retries, behaviours))
    return deliveries


def reply_for(behaviour: str, now: float) -> Reply:
    """The receiver's answer for ``behaviour`` (``now``: the fake clock, for an HTTP-date Retry-After)."""
    close = {"Connection": "close"}  # no kept connection outlives a fault, so each attempt meets its own
    if behaviour == "ok":
        return Reply(200, close, b'{"ok":true}')
    if behaviour == "slow":
        return Reply(200, close, b"slowly", action="drip", seconds=0.01)
    if behaviour == "timeout":
        return Reply(200, close, action="stall", seconds=TIMEOUT * 4)
    if behaviour == "drip-past-timeout":
        return Reply(200, close, b"x" * 40, action="drip", seconds=TIMEOUT / 4)  # 10 s in all if never cut
    if behaviour in ("reset", "close"):
        return Reply(action=behaviour)
    if behaviour == "500":
        return Reply(500, close, b"boom")
    if behaviour == "503-retry-after":
        return Reply(503, {**close, "Retry-After": str(RETRY_AFTER)})
    if behaviour == "429-retry-after":
        return Reply(429, {**close, "Retry-After": str(RETRY_AFTER)})
    if behaviour == "429-date":
        return Reply(429, {**close, "Retry-After": email.utils.formatdate(now + 60, usegmt=True)})
    if behaviour == "429-too-long":
        return Reply(429, {**close, "Retry-After": str(HTTP_TARGET_MAX_RETRY_AFTER_SECONDS * 10)})
    return Reply(404, close, b"no such hook")


def asked_wait(behaviour: str) -> float | None:
    """Seconds the next attempt must wait after ``behaviour`` (the capped Retry-After), if it asks."""
    return {
        "503-retry-after": float(RETRY_AFTER),
        "429-retry-after": float(RETRY_AFTER),
        "429-date": 60.0,
        "429-too-long": float(HTTP_TARGET_MAX_RETRY_AFTER_SECONDS),
    }.get(behaviour)


def run_suite(plan: FaultPlan) -> Report:
    """Send every planned delivery to a faulty receiver, drain, and check the invariants."""
    deliveries = {d.task_id: d for d in plan_deliveries(plan)}
    report = Report()
    seen: Counter[str] = Counter()
    app = Squall(f"http-faults-{uuid.uuid4().hex[:8]}", webhook_secret="whsec_" + "A" * 32)
    with local.run(app, allow_private_targets=True) as rt:

        def choose(request: Received) -> Reply:
            task_id = request.headers.get("webhook-id", "")
            seen[task_id] += 1
            delivery = deliveries.get(task_id)
            if delivery is None or seen[task_id] > len(delivery.behaviours):
                return Reply(418, body=b"not in the plan")  # noted as a violation below
            behaviour = delivery.behaviours[seen[task_id] - 1]
            report.behaviours[behaviour] += 1
            return reply_for(behaviour, rt.clock.now())

        receiver = Receiver(choose)
        try:
            results = {
                d.task_id: app.send_http(
                    receiver.url(f"/hook/{d.task_id}"),
                    {"delivery": d.task_id},
                    task_id=d.task_id,
                    max_retries=d.max_retries,
                    timeout=TIMEOUT,
                )
                for d in deliveries.values()
            }
            rt.drain()
            letters = Counter(m.attributes.get(TASK_ID_ATTRIBUTE) for m in rt.dead_letters())
            for task_id, delivery in deliveries.items():
                check(delivery, results[task_id], receiver, letters[task_id], report)
        finally:
            client.close_pools()
            receiver.close()
    return report


def check(delivery: Delivery, result: AsyncResult[object], receiver: Receiver, letters: int, report: Report) -> None:
    """Every invariant for one delivery."""
    task_id = delivery.task_id
    state, attempts, cause = delivery.expected
    record = result.record
    if record is None or record.state not in (State.SUCCESS, State.DEAD):
        report.outcomes["lost or left non-terminal"] += 1
        report.violate("every delivery ends SUCCESS or DEAD", f"{task_id}: {record and record.state}")
        return
    report.outcomes[f"{record.state.value}"] += 1
    requests = [r for r in receiver.received if r.headers.get("webhook-id") == task_id]
    if len(requests) > delivery.max_retries + 1:
        report.violate("no attempt beyond the budget", f"{task_id}: {len(requests)} > {delivery.max_retries + 1}")
    if (record.state, len(requests), record.attempt) != (state, attempts, attempts):
        report.violate(
            "the outcome the plan implies",
            f"{task_id}: {record.state} after {len(requests)} requests (attempt {record.attempt}), "
            f"planned {state} after {attempts}: {delivery.behaviours}",
        )
    if record.state is State.DEAD:
        if not record.reason or cause not in record.reason:
            report.violate("every DEAD has a reason naming its cause", f"{task_id}: {record.reason!r}, not {cause!r}")
        if letters != 1:
            report.violate("every DEAD has one letter in the DLQ", f"{task_id}: {letters} letters")
    elif letters:
        report.violate("no letter for a success", f"{task_id}: {letters} letters")
    stamps = [int(r.headers["webhook-timestamp"]) for r in requests]
    for behaviour, before, after in zip(delivery.behaviours, stamps, stamps[1:], strict=False):
        wait = asked_wait(behaviour)
        # Timestamps are whole seconds, and a wait past 900 s fires on a whole second: 2 s of slack.
        if wait is not None and not wait - 2 <= after - before <= wait + 2:
            report.violate("Retry-After (capped) is the next wait", f"{task_id}: {after - before} s after {behaviour}")
