"""The fault-injection suite at CI size, and the SDK bugs it found, each reproduced in one case.

The suite (every configuration and every fault at once, then every invariant; see docs/reliability.md) runs
at N = 200 with signing on, so that keyring outages are in it too. ``.venv/bin/python -m
tests.reliability.run --n 5000`` runs the same suite at any size and prints the tables.

Each SDK bug the suite found is reproduced below in one small case, kept as a regression test now that it is
fixed; the constant above each names the bug and its fix.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.reliability.harness import START, FaultPlan, Report, run_suite

from squall import ConfigurationError, Squall, State, Task, TaskContext, local
from squall.limits import MAX_RECEIVE_COUNT
from squall.local import Runtime
from squall.wire import signing as sig
from squall.worker.deadletters import REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE

#: Each kind of fault the suite must actually have injected for its result to mean anything.
INJECTED = [
    "transient task failures",
    "hopeless task failures",
    "poison task failures",
    "worker crashes after k records of a batch",
    "timeouts (a body slept past the function timeout (injected))",
    "timeouts (a slow body ran out of time)",
    "duplicate deliveries (a copy sent again)",
    "concurrent deliveries of a running task",
    "dynamodb writes throttled, then retried through",
    "dynamodb writes refused for good",
    "send entries failed (SenderFault True, sender fault)",
    "send entries failed (SenderFault False, service fault)",
    "send calls timed out after SQS accepted them",
    "producer SendMessage failed (not sent)",
    "producer SendMessage timed out after SQS accepted it",
    "worker SendMessage failed (the SDK gave up)",
    "batches throttled by Lambda (a few now and then)",
    "batches throttled by Lambda (in a window)",
    "keyring reads refused during an outage",
]
#: Each configuration the API accepts that the workload must have used.
EXERCISED = [
    "tasks of kind once (max_retries 0)",
    "tasks of kind four (max_retries 4)",
    "tasks of kind twelve (max_retries 12)",
    "tasks of kind long (max_retries 13)",
    "tasks of kind slow (max_retries 4)",
    "tasks of kind timed (max_retries 4)",
    "apply_async(queue=another queue)",
    "apply_async(max_retries=N)",
    "apply_async(countdown up to 900 s)",
    "apply_async(countdown over 900 s)",
    "retry(max_retries=N) asks",
    "retry asks with a countdown past 12 h",
    "retries of the 4.4-day kind",
    "results within 2 KB of MAX_RESULT_BYTES",
    "results offloaded (past the item's room)",
    "arguments offloaded (past SQS's message limit)",
    "too-large results returned (then DEAD, never run again)",
    "tasks reporting progress",
    "revokes (at once)",
    "revokes (when retrying)",
]
#: What the worker must have done under those faults: hand-backs, fresh copies, keys kept, policy moves.
HAPPENED = [
    "deliveries worker: deferred",
    "deliveries worker: resent",
    "deliveries worker: keys_unavailable",
    "deliveries worker: held",  # the limiter deferred it (rate or concurrency): no attempt spent
    "deliveries reconciler: dead",
    "DEAD: moved by the redrive policy, then reconciled",
    "DEAD: result too large",
    "REVOKED",
]


@pytest.fixture(scope="module")
def report() -> Report:
    return run_suite(FaultPlan(n=200, signing=True))


def test_every_kind_of_fault_was_injected(report: Report) -> None:
    assert {kind: report.faults[kind] for kind in INJECTED if not report.faults[kind]} == {}


def test_every_configuration_was_exercised(report: Report) -> None:
    assert {kind: report.workload[kind] for kind in EXERCISED if not report.workload[kind]} == {}
    assert {name: report.outcomes.get(name, 0) for name in HAPPENED if not report.outcomes.get(name)} == {}


def test_no_task_is_lost_duplicated_left_behind_or_dead_without_cause_under_every_fault_at_once(
    report: Report,
) -> None:
    assert dict(report.violations) == {}, report.table()
    outcomes = report.outcomes
    assert (outcomes["lost"], outcomes["left non-terminal"], outcomes["DLQ vs DEAD mismatches"]) == (0, 0, 0)
    assert outcomes["messages left on the source and intake queues"] == 0
    assert outcomes["DEAD: any other reason"] == 0
    finals = sum(v for k, v in outcomes.items() if k == "SUCCESS" or k == "REVOKED" or k.startswith("DEAD: "))
    assert finals == outcomes["tasks"]


def test_a_run_repeats_exactly_with_its_seed() -> None:
    plan = FaultPlan(n=25, seed=7).intensified(2)

    first, second = run_suite(plan), run_suite(plan)

    assert (first.workload, first.faults, first.outcomes) == (second.workload, second.faults, second.outcomes)
    assert (first.by_kind, first.measures, first.violations) == (second.by_kind, second.measures, second.violations)


# --- SDK bugs the suite found, one case each --------------------------------------------------------------

BUDGET_FROM_THE_ENVELOPE = (
    "Fixed SDK bug: the worker took the retry budget from the delivered envelope and the claim wrote it over the "
    "record's, so a message sent before a retry(max_retries=N) (a duplicate, or the one kept when the retry's new "
    "message could not be sent) ran the next attempt with the old budget. Now a claim keeps the recorded budget."
)
AN_UNRECORDED_OUTCOME_RUNS_AGAIN = (
    "At-least-once, by design: an outcome the worker could not write is not an outcome. A DEAD decided by "
    "retry(max_retries=0) whose DEAD write fails leaves the message to come back, and the task runs again with "
    "its recorded budget, exactly as a task whose SUCCESS write fails does; nothing reaches the DLQ unless the "
    "record says DEAD."
)
A_DEAD_TASK_KEEPS_ITS_REASON = (
    "Fixed SDK bug: the reconciler recorded DEAD over a task DEAD already, replacing its reason and error with "
    "'moved by SQS's redrive policy', and added a second letter. Now a moved copy of a DEAD task whose letter is "
    "noted sent (lettered_at) is a leftover; one whose letter is not (the send or its note failed) becomes the "
    "letter, with the recorded reason."
)
KEPT_RECEIVES_COUNT_TOWARD_THE_POLICY = (
    "Fixed SDK bug: a message the worker keeps (keys unreadable, deferred, busy, early) spent a receive each time "
    "and was sent fresh only on its last receive, so one throttled receive let the redrive policy move it. Now the "
    "worker sends a fresh copy with RECEIVE_HEADROOM receives to spare."
)

ONE_LETTER_PER_DEAD_TASK = (
    "Found at N = 5,000: every delivery of a DEAD task sent it a letter (DEAD is written before its letter, so the "
    "worker could not know whether one was sent), and duplicate deliveries left 389 letters beyond one per DEAD "
    "task. Now the record notes its letter once sent (lettered_at): later copies are acknowledged as duplicates, "
    "and only a letter whose send or note failed is sent again."
)


class Flaky(Exception):
    """A failure that is retried."""


@pytest.fixture
def broken(app: Squall) -> Task[[], None]:
    """A task that fails at once and for good: DEAD on its first run, with its own reason."""

    @app.task(name="broken", max_retries=0)
    def broken() -> None:
        raise Flaky("the real cause")

    return broken


def sent_bodies(app: Squall) -> list[str]:
    """Every body ``app`` sends with SendMessage from now on, in order."""
    bodies: list[str] = []
    app.sqs.meta.events.register(
        "provide-client-params.sqs.SendMessage", lambda params, **_: bodies.append(params["MessageBody"])
    )
    return bodies


def deliver_again(rt: Runtime, body: str, queue: str = "default") -> None:
    """SQS delivers ``body`` once more (at least once), from another client."""
    rt.session.client("sqs", region_name=rt.settings.region).send_message(
        QueueUrl=rt.settings.queue(queue).url, MessageBody=body
    )


def letters_of(rt: Runtime, task_id: str) -> list[Any]:
    """The dead letters naming ``task_id``."""
    return [m for m in rt.dead_letters() if m.attributes.get(TASK_ID_ATTRIBUTE) == task_id]


def test_a_duplicate_of_an_earlier_message_keeps_the_budget_its_retry_asked_for(app: Squall) -> None:
    runs: list[int] = []

    @app.task(bind=True, max_retries=1, retry_backoff=False)
    def stubborn(task: TaskContext) -> None:
        runs.append(task.request.attempt)
        if task.request.attempt == 1:
            raise task.retry(max_retries=5, countdown=1)
        raise Flaky("still down")

    with local.run(app) as rt:
        # Given a task whose first attempt asked for five retries instead of its one
        bodies = sent_bodies(app)
        result = stubborn.delay()
        rt.poll()
        assert result.state is State.RETRY

        # When SQS delivers its first message again (at least once) while the retry is due
        deliver_again(rt, bodies[0])
        rt.drain()

        # Then it still gets the six attempts its retry asked for
        assert runs == [1, 2, 3, 4, 5, 6]
        assert result.record is not None
        assert "retries exhausted after 6 attempts" in (result.record.reason or "")


def test_a_retry_whose_message_could_not_be_sent_keeps_the_budget_it_asked_for(app: Squall) -> None:
    runs: list[int] = []

    @app.task(bind=True, max_retries=1, retry_backoff=False)
    def stubborn(task: TaskContext) -> None:
        runs.append(task.request.attempt)
        if task.request.attempt == 1:
            raise task.retry(max_retries=5, countdown=1)
        raise Flaky("still down")

    with local.run(app) as rt:
        result = stubborn.delay()
        # Given the worker's first SendMessage (the retry's new message) fails after RETRY was recorded
        refusals = [ClientError({"Error": {"Code": "InternalError", "Message": "injected"}}, "SendMessage")]

        def refuse(**_: Any) -> None:
            if refusals:
                raise refusals.pop()

        app.sqs.meta.events.register("provide-client-params.sqs.SendMessage", refuse)

        # When the kept message comes back and the task keeps failing
        rt.drain()

        # Then the retry's budget still holds: six attempts
        assert runs == [1, 2, 3, 4, 5, 6]
        assert result.state is State.DEAD


def test_a_dead_decision_whose_write_fails_runs_the_task_again_and_the_dlq_agrees(app: Squall) -> None:
    """See AN_UNRECORDED_OUTCOME_RUNS_AGAIN."""
    runs: list[int] = []

    @app.task(bind=True, max_retries=4, retry_backoff=False)
    def done_trying(task: TaskContext) -> str:
        runs.append(task.request.attempt)
        if task.request.attempt == 1:
            raise task.retry(max_retries=0, countdown=1)  # no more attempts: DEAD now
        return "ran again"

    with local.run(app) as rt:
        result = done_trying.delay()
        # Given DynamoDB refuses the DEAD write once, after the SDK's own retries
        refusals = [ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "UpdateItem")]

        def refuse(params: dict[str, Any], **_: Any) -> None:
            if b'":dead"' in params["body"] and refusals:
                raise refusals.pop()

        app.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", refuse)

        # When the message comes back
        rt.drain()

        # Then the attempt whose outcome was lost ran again, and the record and the DLQ agree
        assert refusals == []
        assert runs == [1, 2]
        assert result.state is State.SUCCESS
        assert letters_of(rt, result.id) == []


def test_a_moved_copy_of_a_dead_task_leaves_its_reason_alone(app: Squall, broken: Task[[], None]) -> None:
    """See A_DEAD_TASK_KEEPS_ITS_REASON."""

    with local.run(app) as rt:
        # Given a task DEAD for its own reason
        bodies = sent_bodies(app)
        result = broken.delay()
        rt.drain()
        before = result.record
        assert before is not None
        assert before.state is State.DEAD

        # When a leftover copy of its message is throttled until SQS's redrive policy moves it
        deliver_again(rt, bodies[0])
        rt.throttle(invocations=MAX_RECEIVE_COUNT)
        rt.drain()

        # Then the task keeps its reason and error, and the DLQ its one letter
        after = result.record
        assert after is not None
        assert (after.state, after.reason, after.error) == (State.DEAD, before.reason, before.error)
        assert [m.attributes[REASON_ATTRIBUTE] for m in letters_of(rt, result.id)] == [before.reason]


def test_a_message_kept_while_the_keys_are_unreadable_runs_after_one_throttled_receive() -> None:
    parameter = "/squall/kept-keys/keys"
    app = Squall("kept-keys", signing_key=f"ssm:{parameter}")
    ran: list[str] = []

    @app.task(name="pay", max_retries=0)
    def pay(order: str) -> str:
        ran.append(order)
        return order

    with local.run(app) as rt:
        ssm = rt.session.client("ssm", region_name=rt.settings.region)
        ssm.put_parameter(Name=parameter, Value=sig.new_keyring_document(), Type="SecureString")
        result = pay.delay("o-1")
        signer = app.signer
        assert signer is not None
        working = signer._keys

        def unreachable() -> sig.Keyring:
            raise ConfigurationError("cannot read the signing keys: SSM timed out")

        # Given the keys are unreadable for nine receives (each keeps the message a minute, no attempt spent)
        signer._keys = unreachable
        for _ in range(MAX_RECEIVE_COUNT - 1):
            rt.poll()
            rt.advance(61)
        signer._keys = working

        # When Lambda throttles the next batch once, and the worker then keeps polling
        rt.throttle(invocations=1)
        rt.drain()

        # Then the task ran once the keys were back
        assert ran == ["o-1"]
        assert result.state is State.SUCCESS


def test_a_duplicate_delivery_of_a_dead_task_adds_no_second_letter(app: Squall, broken: Task[[], None]) -> None:
    """See ONE_LETTER_PER_DEAD_TASK."""

    with local.run(app) as rt:
        # Given a task DEAD with its letter in the DLQ
        bodies = sent_bodies(app)
        result = broken.delay()
        rt.drain()
        record = result.record
        assert record is not None
        assert record.lettered_at is not None

        # When SQS delivers its message again
        deliver_again(rt, bodies[0])
        rt.drain()

        # Then the copy was acknowledged and the DLQ still holds one letter
        assert [m.attributes[REASON_ATTRIBUTE] for m in letters_of(rt, result.id)] == [record.reason]
        assert rt.queued() == 0


def test_a_dead_letter_whose_note_failed_is_sent_again_by_the_next_copy(app: Squall, broken: Task[[], None]) -> None:
    """See ONE_LETTER_PER_DEAD_TASK: a failed note costs at most one more letter, never a missing one."""

    with local.run(app) as rt:
        # Given DynamoDB refuses the note of the letter for good (the letter itself went out)
        bodies = sent_bodies(app)
        refusals = [ClientError({"Error": {"Code": "ThrottlingException", "Message": "injected"}}, "UpdateItem")]

        def refuse(params: dict[str, Any], **_: Any) -> None:
            if b"SET #lettered_at" in params["body"] and refusals:
                raise refusals.pop()

        app.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", refuse)
        result = broken.delay()
        rt.drain()
        assert refusals == []
        record = result.record
        assert record is not None
        assert (record.state, record.lettered_at) == (State.DEAD, None)

        # When SQS delivers its message again
        deliver_again(rt, bodies[0])
        rt.drain()

        # Then the copy became a second letter, and the record notes it now
        reasons = [m.attributes[REASON_ATTRIBUTE] for m in letters_of(rt, result.id)]
        assert reasons == [record.reason, record.reason]
        noted = result.record
        assert noted is not None
        assert noted.lettered_at is not None


def test_the_flow_control_checks_catch_a_limiter_handing_out_slots_too_close(monkeypatch: pytest.MonkeyPatch) -> None:
    from squall.state.limiter import LimiterItems, Reservation

    # A limiter that gives every delivery the same slot, whatever the item says: the rate check must see it
    def reserve(self: LimiterItems, task: str, key: str, *, now: float, **_: object) -> Reservation:
        return Reservation(START, None)

    monkeypatch.setattr(LimiterItems, "reserve", reserve)
    report = run_suite(FaultPlan(n=80, seed=7))

    assert [name for name in report.violations if name.startswith("rate slots of limited closer")], report.table()
