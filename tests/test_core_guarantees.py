"""The core's promises outside the default configuration: budgets, long delays, sizes, signing, expiry.

Each test is one case where the core used to break a promise; together with tests/test_reconciliation.py and
tests/test_local_twin.py they cover the invariants of docs/reliability.md (I1-I7).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from squall import ConfigurationError, Squall, State, TaskContext, clock, local
from squall.errors import EncodeError, InvalidSchedule
from squall.limits import (
    MAX_ETA_AHEAD_SECONDS,
    MAX_RECEIVE_COUNT,
    MAX_RESULT_BYTES,
    SIGNED_ENVELOPE_MAX_AGE_SECONDS,
)
from squall.local import Runtime
from squall.ops import dlq
from squall.scheduler.periodic import schedule_input
from squall.wire import signing as sig
from squall.worker.deadletters import REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE


class Flaky(Exception):
    """A failure that is retried."""


def reason_of(rt: Runtime, task_id: str) -> str:
    """The reason on the one dead letter of ``task_id``."""
    [letter] = [m for m in rt.dead_letters() if m.attributes.get(TASK_ID_ATTRIBUTE) == task_id]
    return letter.attributes[REASON_ATTRIBUTE]


# --- I2: the worker decides DEAD, for every budget the API accepts --------------------------------------


def test_a_call_time_queue_does_not_cut_a_retry_budget_longer_than_the_receive_count() -> None:
    # Given a task with more retries than SQS's receive count allows, sent to another queue at call time
    app = Squall("budget-queue", queues=["default", "high"])
    runs: list[int] = []

    @app.task(max_retries=MAX_RECEIVE_COUNT + 5, retry_backoff=False)
    def flaky() -> None:
        runs.append(1)
        raise Flaky("down")

    with local.run(app) as rt:
        result = flaky.apply_async(queue="high")

        # When it fails every time
        rt.drain()

        # Then every attempt ran and the worker, not the redrive policy, made it DEAD with its reason
        assert len(runs) == MAX_RECEIVE_COUNT + 6
        assert result.state is State.DEAD
        assert f"retries exhausted after {MAX_RECEIVE_COUNT + 6} attempts" in reason_of(rt, result.id)
        assert rt.queued() == 0


@pytest.mark.parametrize(("asked", "attempts"), [(12, 13), (0, 1)])
def test_retry_with_its_own_max_retries_gets_exactly_that_budget(asked: int, attempts: int) -> None:
    app = Squall("budget-retry")
    runs: list[int] = []

    @app.task(bind=True, max_retries=2, retry_backoff=False)
    def stubborn(task: TaskContext) -> None:
        runs.append(task.request.attempt)
        raise task.retry(max_retries=asked, countdown=1)

    with local.run(app) as rt:
        result = stubborn.delay()
        rt.drain()

        assert runs == list(range(1, attempts + 1))
        assert result.state is State.DEAD
        assert f"(max_retries={asked})" in reason_of(rt, result.id)


@pytest.mark.parametrize(("asked", "attempts"), [(12, 13), (0, 1)])
def test_a_call_time_max_retries_overrides_the_declared_budget_both_ways(asked: int, attempts: int) -> None:
    app = Squall("budget-call")
    runs: list[int] = []

    @app.task(max_retries=3, retry_backoff=False)
    def flaky() -> None:
        runs.append(1)
        raise Flaky("down")

    with local.run(app) as rt:
        result = flaky.apply_async(max_retries=asked)
        rt.drain()

        assert len(runs) == attempts
        record = result.record
        assert record is not None
        assert (record.state, record.attempt, record.max_retries) == (State.DEAD, attempts, asked)


def test_a_call_time_max_retries_out_of_range_is_refused_before_sending(app: Squall) -> None:
    @app.task
    def noop() -> None: ...

    with pytest.raises(TypeError, match=r"max_retries=-1 must be an int 0-900"):
        noop.apply_async(max_retries=-1)


# --- I2: retry delays of any length, schedules longer than retention --------------------------------------


def test_a_retry_delay_longer_than_twelve_hours_is_honoured() -> None:
    # Given a task that asks for its next attempt in 50,000 s (beyond SQS's 12-hour in-flight cap)
    app = Squall("long-retry")
    started: list[float] = []

    @app.task(bind=True, max_retries=1)
    def later(task: TaskContext) -> int:
        started.append(clock.now())
        if task.request.attempt == 1:
            raise task.retry(countdown=50_000)
        return task.request.attempt

    with local.run(app) as rt:
        result = later.delay()
        rt.poll()
        record = result.record
        assert record is not None
        assert record.state is State.RETRY
        assert record.next_attempt_at == pytest.approx(started[0] + 50_000, abs=1)

        # When the worker keeps running
        rt.drain()

        # Then the second attempt ran when it was due, not after a visibility timeout
        assert result.get(timeout=0) == 2
        assert started[1] - started[0] == pytest.approx(50_000, abs=61)


def test_a_backoff_capped_at_twelve_hours_waits_twelve_hours() -> None:
    app = Squall("long-backoff")
    started: list[float] = []

    @app.task(max_retries=1, retry_backoff=43_200, retry_backoff_max=43_200, retry_jitter=False)
    def sleepy() -> str:
        started.append(clock.now())
        if len(started) == 1:
            raise Flaky("again tomorrow")
        return "done"

    with local.run(app) as rt:
        result = sleepy.delay()
        rt.drain()

        assert result.get(timeout=0) == "done"
        assert started[1] - started[0] == pytest.approx(43_200, abs=61)


def test_a_retry_schedule_longer_than_the_queues_retention_ends_dead_not_lost() -> None:
    # Given 13 retries with backoff from an hour, capped at ten: about 4.4 days of retrying, past the queue's
    # four-day retention counted from the first send
    app = Squall("outlives-retention")
    runs: list[float] = []

    @app.task(max_retries=13, retry_backoff=3600, retry_backoff_max=36_000, retry_jitter=False)
    def hopeless() -> None:
        runs.append(clock.now())
        raise Flaky("still down")

    with local.run(app) as rt:
        result = hopeless.delay()

        rt.drain()

        # Then every attempt ran and the task is DEAD with its reason, its message in the DLQ
        assert len(runs) == 14
        assert runs[-1] - runs[0] > 4 * 86_400
        assert result.state is State.DEAD
        assert "retries exhausted after 14 attempts" in reason_of(rt, result.id)


def test_an_eta_further_ahead_than_squall_accepts_is_refused_when_sent(app: Squall) -> None:
    @app.task
    def noop() -> None: ...

    with pytest.raises(InvalidSchedule, match=r"not milliseconds"):
        noop.apply_async(countdown=MAX_ETA_AHEAD_SECONDS + 86_400)


@pytest.mark.parametrize(
    ("eta", "why"),
    [
        (lambda now: now * 1000, "give epoch seconds"),  # milliseconds where seconds belong: past year 9999
        (lambda now: now + 3 * 366 * 86_400, "not milliseconds"),  # a real date, further than Squall waits
    ],
)
def test_a_far_future_eta_on_the_queue_is_dead_with_a_reason_on_its_first_receive(
    rt: Runtime, app: Squall, send_raw: Any, envelope_body: Any, eta: Any, why: str
) -> None:
    @app.task(name="noop")
    def noop() -> None: ...

    # Given a foreign producer's message due further ahead than Squall waits
    send_raw(envelope_body("noop", id="far-1", eta=eta(rt.clock.now())))

    rt.poll()

    # Then it is DEAD on its first receive, with the reason, instead of waiting until retention drops it
    assert app.AsyncResult("far-1").state is State.DEAD
    assert why in reason_of(rt, "far-1")


# --- I4: sizes account for the whole item ---------------------------------------------------------------


def test_a_result_at_the_limit_after_a_large_error_succeeds_and_runs_once_per_attempt() -> None:
    # Given a task whose first attempt fails with the largest error Squall stores (4-byte characters)
    app = Squall("big-result")
    runs: list[int] = []

    @app.task(bind=True, max_retries=1, retry_backoff=False)
    def big(task: TaskContext) -> str:
        runs.append(task.request.attempt)
        if task.request.attempt == 1:
            raise Flaky("\U0001f600" * 20_000)
        return "x" * (MAX_RESULT_BYTES - 2)  # with its JSON quotes: exactly the limit

    with local.run(app) as rt:
        result = big.delay()
        rt.drain()

        # Then the second attempt's result is stored: the earlier error no longer shares the item
        assert runs == [1, 2]
        assert result.state is State.SUCCESS
        value = result.get(timeout=0)
        assert value is not None
        assert len(value) == MAX_RESULT_BYTES - 2
        assert result.error is None


def test_a_result_over_the_limit_is_dead_with_a_reason_and_never_runs_again(no_payload_bucket: None) -> None:
    app = Squall("too-big")
    runs: list[int] = []

    @app.task(max_retries=3)
    def huge() -> str:
        runs.append(1)
        return "x" * MAX_RESULT_BYTES

    with local.run(app) as rt:
        result = huge.delay()
        rt.drain()

        assert runs == [1]
        assert result.state is State.DEAD
        assert f"over the {MAX_RESULT_BYTES:,}-byte limit of a stored result" in reason_of(rt, result.id)


def test_a_progress_report_too_large_to_store_is_refused_to_the_task(rt: Runtime, app: Squall) -> None:
    refused: list[str] = []

    @app.task(bind=True)
    def chatty(task: TaskContext) -> str:
        try:
            task.progress(50, "half", blob="y" * 20_000)
        except EncodeError as exc:
            refused.append(str(exc))
        return "ok"

    result = chatty.delay()
    rt.drain()

    assert result.get(timeout=0) == "ok"
    assert len(refused) == 1
    assert "over the 16,384-byte limit" in refused[0]


# --- I7: semantics ----------------------------------------------------------------------------------------


def test_a_resent_id_whose_result_expired_runs_again(rt: Runtime, app: Squall) -> None:
    runs: list[int] = []

    @app.task(result_ttl=60)
    def once() -> int:
        runs.append(1)
        return len(runs)

    first = once.apply_async(task_id="again-1")
    rt.drain()
    assert first.get(timeout=0) == 1

    # When its result has expired (DynamoDB deletes expired items lazily: the item is still there) and
    # the same id is sent again
    rt.advance(120)
    second = once.apply_async(task_id="again-1")
    rt.drain()

    # Then it runs again, from attempt 1
    assert runs == [1, 1]
    record = second.record
    assert record is not None
    assert (record.state, record.attempt) == (State.SUCCESS, 1)


# --- I6: signing --------------------------------------------------------------------------------------------

PARAMETER = "/squall/core-signed/keys"


@pytest.fixture
def signed() -> Iterator[SimpleNamespace]:
    """An app that signs, with its keys in SSM, running locally."""
    app = Squall("core-signed", signing_key=f"ssm:{PARAMETER}")
    ran: list[Any] = []

    @app.task(name="signed.pay", max_retries=0)
    def pay(order: str) -> str:
        ran.append(order)
        return order

    @app.task(name="signed.brief", result_ttl=60)
    def brief() -> None: ...

    with local.run(app) as rt:
        ssm = rt.session.client("ssm", region_name=rt.settings.region)
        ssm.put_parameter(Name=PARAMETER, Value=sig.new_keyring_document(), Type="SecureString")
        yield SimpleNamespace(app=app, rt=rt, pay=pay, brief=brief, ran=ran)


def test_a_sender_set_task_id_attribute_never_names_a_victim_in_the_dlq(signed: SimpleNamespace) -> None:
    rt = signed.rt
    victim = signed.pay.delay("o-1")
    rt.drain()
    assert victim.state is State.SUCCESS

    # Given junk sent with Squall's own attributes, naming the victim
    rt.session.client("sqs", region_name=rt.settings.region).send_message(
        QueueUrl=rt.settings.queue("default").url,
        MessageBody="junk",
        MessageAttributes={
            TASK_ID_ATTRIBUTE: {"DataType": "String", "StringValue": victim.id},
            REASON_ATTRIBUTE: {"DataType": "String", "StringValue": "all fine"},
        },
    )
    rt.drain()

    # Then its dead letter names no task, carries Squall's reason, and a redrive leaves the victim alone
    [letter] = rt.dead_letters()
    assert TASK_ID_ATTRIBUTE not in letter.attributes
    assert "unsigned message" in letter.attributes[REASON_ATTRIBUTE]
    report = dlq.redrive(signed.app)
    assert report.moved == []
    assert victim.state is State.SUCCESS


def test_a_signed_envelope_replayed_after_its_window_is_refused(signed: SimpleNamespace) -> None:
    rt = signed.rt
    sent: list[str] = []
    signed.app.sqs.meta.events.register(
        "provide-client-params.sqs.SendMessage", lambda params, **_: sent.append(params["MessageBody"])
    )
    first = signed.brief.delay()
    rt.drain()
    assert first.state is State.SUCCESS

    # When the body is replayed after the signing window (and so the record's TTL) have passed
    rt.advance(SIGNED_ENVELOPE_MAX_AGE_SECONDS + 3600)
    rt.session.client("sqs", region_name=rt.settings.region).send_message(
        QueueUrl=rt.settings.queue("default").url, MessageBody=sent[0]
    )
    rt.drain()

    # Then it does not run again: it is dead-lettered with the reason
    assert first.record is not None
    assert first.record.attempt == 1
    assert "signed envelope expired" in reason_of(rt, first.id)


def test_a_signed_task_kept_within_its_window_still_runs(signed: SimpleNamespace) -> None:
    result = signed.pay.apply_async(("o-3",), countdown=SIGNED_ENVELOPE_MAX_AGE_SECONDS + 86_400)

    signed.rt.drain()

    assert result.get(timeout=0) == "o-3"


def test_a_finished_signed_task_keeps_its_record_through_the_window(signed: SimpleNamespace) -> None:
    # Given a task whose result is kept only a minute
    result = signed.brief.delay()
    signed.rt.drain()

    record = result.record
    assert record is not None
    assert record.expires_at is not None
    assert record.expires_at - signed.rt.clock.now() >= SIGNED_ENVELOPE_MAX_AGE_SECONDS - 1


def test_a_redriven_declared_periodic_firing_runs_again(signed: SimpleNamespace) -> None:
    # Given a periodic task declared in code (its schedule Input is unsigned) whose firing went DEAD
    app, rt = signed.app, signed.rt
    calls: list[int] = []

    @app.periodic("rate(1 hour)", name="flaky-hourly")
    @app.task(name="signed.hourly", max_retries=0)
    def hourly() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise Flaky("first firing fails")

    when = datetime.fromtimestamp(rt.clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    firing = app_schedule_body(app, "flaky-hourly", when)
    rt.session.client("sqs", region_name=rt.settings.region).send_message(
        QueueUrl=rt.settings.queue("default").url, MessageBody=firing
    )
    rt.drain()
    [letter] = dlq.peek(app)
    assert letter.task_id == f"p.flaky-hourly@{when}"

    # When it is redriven
    report = dlq.redrive(app)
    rt.drain()

    # Then it ran again and succeeded
    assert len(report.moved) == 1
    assert calls == [1, 1]
    assert app.AsyncResult(letter.task_id).state is State.SUCCESS


def test_a_keyring_outage_keeps_every_message_on_its_queue_without_spending_its_budget(
    signed: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, rt = signed.app, signed.rt
    results = [signed.pay.delay(f"o-{i}") for i in range(3)]
    signer = app.signer
    assert signer is not None
    working = signer._keys

    def unreachable() -> sig.Keyring:
        raise ConfigurationError("cannot read the signing keys ssm:/squall/core-signed/keys: timed out")

    # Given SSM unreachable for longer than MAX_RECEIVE_COUNT receives take
    monkeypatch.setattr(signer, "_keys", unreachable)
    rt.advance(seconds=(MAX_RECEIVE_COUNT + 5) * 61, run=True)

    # Then nothing ran, nothing was dead-lettered, every message is still queued
    assert signed.ran == []
    assert rt.dead_letters() == []
    assert rt.queued() == 3
    assert all(r.state is State.PENDING for r in results)

    # And once the keys can be read again, every task runs
    monkeypatch.setattr(signer, "_keys", working)
    rt.drain()
    assert sorted(signed.ran) == ["o-0", "o-1", "o-2"]


def app_schedule_body(app: Squall, periodic: str, when: str) -> str:
    """A declared periodic schedule's Input as EventBridge Scheduler sends it at ``when``."""
    return schedule_input(app, app.periodic_schedules[periodic]).replace(sig.SCHEDULED_TIME, when)


def test_a_result_past_the_offload_cap_is_dead_with_a_reason_and_never_runs_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("squall.offload.results.MAX_OFFLOAD_BYTES", 600_000)  # for speed: the rule is the same
    app = Squall("too-big-offloaded")
    runs: list[int] = []

    @app.task(max_retries=3)
    def huge() -> str:
        runs.append(1)
        return "x" * 700_000

    with local.run(app) as rt:
        result = huge.delay()
        rt.drain()

        assert runs == [1]
        assert result.state is State.DEAD
        assert "S3 offload (its result) limit of 600,000 bytes" in reason_of(rt, result.id)
