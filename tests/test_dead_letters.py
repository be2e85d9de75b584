"""DEAD: exhausted and malformed messages are dead-lettered on that attempt, with a reason, and state agrees."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from squall import Squall, State, TaskContext
from squall.local import Runtime
from squall.states import FINAL_STATES
from squall.worker.deadletters import REASON_ATTRIBUTE, RECEIVES_ATTRIBUTE, SOURCE_ATTRIBUTE, TASK_ID_ATTRIBUTE

if TYPE_CHECKING:
    from conftest import ApiCalls


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task(max_retries=2, retry_backoff=1)
    def broken(url: str) -> None:
        raise ValueError(f"feed {url} is not valid CSV")

    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(bind=True, max_retries=1)
    def echo(task: TaskContext, value: Any) -> Any:
        return value

    return SimpleNamespace(broken=broken, add=add, echo=echo)


def dead_ids_in_table(rt: Runtime) -> set[str]:
    """Ids of every task whose stored state is DEAD (a scan: tests only)."""
    items = rt.app.dynamodb.scan(TableName=rt.settings.table)["Items"]
    return {item["pk"]["S"].removeprefix("task#") for item in items if item.get("state", {}).get("S") == "DEAD"}


# --- exhausted retries -----------------------------------------------------------------------------------


def test_task_is_dead_lettered_after_max_retries(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a task that always fails, allowed 2 retries
    result = tasks.broken.delay("http://x")

    # When it has run as often as it may
    rt.drain()

    # Then it is DEAD on its third attempt, with the reason recorded
    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.attempt == 3
    assert record.reason == "ValueError: feed http://x is not valid CSV (retries exhausted after 3 attempts)"
    assert record.finished_at is not None

    # And its message is in the DLQ, carrying the reason, and gone from the source queue
    (message,) = rt.dead_letters()
    assert json.loads(message.body)["id"] == result.id
    assert message.attributes[REASON_ATTRIBUTE] == record.reason
    assert message.attributes[TASK_ID_ATTRIBUTE] == result.id
    assert message.attributes[SOURCE_ATTRIBUTE] == rt.settings.queue("default").arn
    # each attempt was a message of its own: the last one was received once
    assert message.attributes[RECEIVES_ATTRIBUTE] == "1"
    assert rt.queued() == 0


def test_dead_lettering_is_squalls_not_the_redrive_policys(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.broken.delay("http://x")

    rt.drain()

    # Its last message was received once, far below the redrive policy's maxReceiveCount
    (message,) = rt.dead_letters()
    assert int(message.attributes[RECEIVES_ATTRIBUTE]) < rt.settings.queue("default").max_receive_count


# --- malformed messages ----------------------------------------------------------------------------------

MALFORMED = {
    "not-json": ("this is not json", "malformed message: body is not valid JSON"),
    "blank": ("   ", "malformed message: body is not valid JSON"),
    "json-null": ("null", "not an envelope object"),
    "empty-object": ("{}", "envelope version None is not supported"),
    "list": ("[1, 2, 3]", "not an envelope object"),
}


@pytest.mark.parametrize(("body", "reason"), list(MALFORMED.values()), ids=list(MALFORMED))
def test_message_that_is_not_an_envelope_is_dead_lettered_after_one_receive(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str], body: str, reason: str
) -> None:
    # Given a bad message between two good ones
    before = tasks.add.delay(1, 1)
    send_raw(body)
    after = tasks.add.delay(2, 2)

    # When one batch carries all three
    assert rt.poll() == 3

    # Then the bad one is in the DLQ with its reason, and its neighbours ran
    (dead,) = rt.dead_letters()
    assert dead.body == body
    assert reason in dead.attributes[REASON_ATTRIBUTE]
    assert dead.attributes[RECEIVES_ATTRIBUTE] == "1"
    assert TASK_ID_ATTRIBUTE not in dead.attributes
    assert (before.get(timeout=0), after.get(timeout=0)) == (2, 4)
    assert rt.queued() == 0
    assert rt.invocations[-1].kept == set()
    assert rt.invocations[-1].error is None


@pytest.mark.parametrize(
    ("fields", "reason", "recorded"),
    [
        pytest.param({"v": 3}, "envelope version 3 is not supported", True, id="wrong-version"),
        pytest.param(
            {"task": "nobody.registered.this"}, "no task named 'nobody.registered.this'", True, id="unknown-task"
        ),
        pytest.param({"args": []}, "missing a required argument: 'a'", True, id="args-do-not-bind"),
        pytest.param({"kwargs": {"c": 1}}, "unexpected keyword argument 'c'", True, id="unexpected-kwarg"),
        pytest.param({"args": "1, 2"}, "field 'args' must be a list", True, id="args-not-a-list"),
        pytest.param({"queue": 7}, "field 'queue' must be a string", True, id="bad-queue-field"),
        # A tagged value that does not decode spoils the envelope, but the plain JSON still names the id.
        pytest.param({"args": [{"__squall__": "uuid", "v": "zz"}, 1]}, "body is not valid JSON", True, id="bad-tagged"),
    ],
)
def test_unusable_envelope_is_dead_on_its_first_attempt_with_its_reason(
    rt: Runtime,
    tasks: SimpleNamespace,
    send_raw: Callable[..., str],
    envelope_body: Callable[..., str],
    fields: dict[str, Any],
    reason: str,
    recorded: bool,
) -> None:
    # Given an envelope of task "add" with one thing wrong, sent between good ones
    fields = {"id": "broken-1", "args": [1, 2], **fields}
    neighbour = tasks.add.delay(3, 4)
    send_raw(envelope_body(tasks.add.name, **fields))

    # When one batch carries both
    rt.poll()

    # Then it is dead-lettered with the reason, and its neighbour succeeded
    (dead,) = rt.dead_letters()
    assert reason in dead.attributes[REASON_ATTRIBUTE]
    assert neighbour.get(timeout=0) == 7
    assert rt.queued() == 0
    # And when its id could be read, the task reads DEAD with the same reason
    if not recorded:
        assert TASK_ID_ATTRIBUTE not in dead.attributes
        assert rt.app.AsyncResult("broken-1").state is State.PENDING
    else:
        assert dead.attributes[TASK_ID_ATTRIBUTE] == "broken-1"
        record = rt.app.AsyncResult("broken-1").record
        assert record is not None
        assert record.state is State.DEAD
        assert record.reason is not None
        assert reason in record.reason
        assert record.attempt == 0  # never claimed, never run


def test_envelope_with_an_unusable_id_is_dead_lettered_without_a_record(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str], envelope_body: Callable[..., str]
) -> None:
    send_raw(envelope_body(tasks.add.name, args=[1, 2], id="has spaces"))

    rt.poll()

    (dead,) = rt.dead_letters()
    assert "field 'id'" in dead.attributes[REASON_ATTRIBUTE]
    assert TASK_ID_ATTRIBUTE not in dead.attributes
    assert dead_ids_in_table(rt) == set()


def test_huge_unusable_arguments_still_give_a_storable_reason(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str], envelope_body: Callable[..., str]
) -> None:
    # Given a message whose error message would be enormous (a 300 KB unexpected keyword)
    send_raw(envelope_body(tasks.add.name, id="huge-1", args=[1, 2], kwargs={"k" * 300_000: 1}))

    # When
    rt.poll()

    # Then it is DEAD once, with a bounded reason, and nothing is left to retry
    assert rt.app.AsyncResult("huge-1").state is State.DEAD
    (dead,) = rt.dead_letters()
    assert len(dead.attributes[REASON_ATTRIBUTE]) <= 1_024
    assert rt.queued() == 0


def test_redelivered_malformed_message_is_dead_lettered_again_not_run(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str], envelope_body: Callable[..., str]
) -> None:
    body = envelope_body("nobody.registered.this", id="ghost")
    send_raw(body)
    send_raw(body)

    rt.drain()

    assert rt.app.AsyncResult("ghost").state is State.DEAD
    assert [m.attributes[TASK_ID_ATTRIBUTE] for m in rt.dead_letters()] == ["ghost", "ghost"]


def test_malformed_duplicate_of_a_finished_task_does_not_undo_its_success(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str], envelope_body: Callable[..., str]
) -> None:
    # Given a task that succeeded
    tasks.add.apply_async((1, 2), task_id="done-1")
    rt.drain()

    # When a broken message claiming the same id arrives
    send_raw(envelope_body("nobody.registered.this", id="done-1"))
    rt.drain()

    # Then the task still reads SUCCESS; the broken message is kept in the DLQ for inspection
    assert rt.app.AsyncResult("done-1").get(timeout=0) == 3
    assert len(rt.dead_letters()) == 1


# --- crashes: the redrive policy is the safety net -----------------------------------------------------


def test_attempt_that_crashed_counts_and_the_task_dies_when_attempts_run_out(
    rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls
) -> None:
    # Given a task allowed one retry, whose recording of success fails twice (a crash after the body ran)
    failures = {"left": 2}

    def crash_on_finish(params: dict[str, Any], **_: Any) -> None:
        body = params.get("body") or b"{}"
        if b":success" in body and failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("the worker died before recording SUCCESS")

    rt.app.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", crash_on_finish)
    result = tasks.echo.delay("hello")

    # When SQS redelivers it after each visibility timeout
    rt.drain()

    # Then the third delivery finds its attempts spent, and dead-letters it instead of running it again
    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.attempt == 3
    assert record.error is not None
    assert record.error.type == "AttemptsExhausted"
    assert len(rt.dead_letters()) == 1
    assert [invocation.error for invocation in rt.invocations] == [None, None, None]


# --- state and DLQ agree ---------------------------------------------------------------------------------


def test_dead_letter_queue_and_dead_state_agree(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str], envelope_body: Callable[..., str]
) -> None:
    # Given a mixed workload: successes, exhausted retries, and malformed messages with and without ids
    ok = [tasks.add.delay(i, i) for i in range(5)]
    exhausted = [tasks.broken.delay(f"http://{i}") for i in range(3)]
    send_raw(envelope_body("nobody.registered.this", id="unknown-1"))
    send_raw(envelope_body(tasks.add.name, id="unbound-1", args=[1]))
    send_raw(envelope_body(tasks.add.name, id="version-1", v=0))
    send_raw("garbage without an id")

    # When everything has run its course
    rt.drain()

    # Then every DLQ message with a task id reads DEAD, and every DEAD task has its message in the DLQ
    letters = rt.dead_letters()
    with_ids = {m.attributes[TASK_ID_ATTRIBUTE] for m in letters if TASK_ID_ATTRIBUTE in m.attributes}
    assert with_ids == {r.id for r in exhausted} | {"unknown-1", "unbound-1", "version-1"}
    assert all(rt.app.AsyncResult(task_id).state is State.DEAD for task_id in with_ids)
    assert dead_ids_in_table(rt) == with_ids
    assert len(letters) == len(with_ids) + 1  # the garbage has no id to record
    assert all(r.state is State.SUCCESS for r in ok)
    assert all(r.state in FINAL_STATES for r in ok + exhausted)
    assert rt.queued() == 0


def test_unusable_message_sharing_a_running_tasks_id_does_not_mark_it_dead(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str], envelope_body: Callable[..., str]
) -> None:
    # Given a task that a live attempt holds
    claim = rt.app.store.claim(
        "busy-1",
        name=tasks.add.name,
        queue="default",
        created=0.0,
        eta=None,
        max_retries=3,
        lease_seconds=600,
        ttl_seconds=3600,
    )
    assert claim.outcome == "claimed"

    # When an unusable message with the same id arrives
    send_raw(envelope_body("nobody.registered.this", id="busy-1", args=[]))
    rt.poll()

    # Then the message is dead-lettered, but the task stays with its attempt
    (dead,) = rt.dead_letters()
    assert "no task named" in dead.attributes[REASON_ATTRIBUTE]
    record = rt.app.AsyncResult("busy-1").record
    assert record is not None
    assert record.state is State.STARTED
