"""Workflows on the local runtime and the real worker: chain, group, chord, link and link_error.

Beyond the happy paths: a member delivered twice, or on two workers at once, counts once; a crash between
recording a task's outcome and sending its next step sends it on the next delivery, and it runs once; a DEAD step
stops its chain and makes a chord's body DEAD naming the member; bad workflows are refused before anything goes.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from squall import Squall, State, limits, local
from squall.errors import InvalidArguments, TaskFailed, TaskNotRegistered
from squall.local import Runtime
from squall.state.groups import GROUP_PREFIX, GroupCounter
from squall.state.result import GroupResult, group_size
from squall.state.schema import KEY_PREFIX, TaskRecord
from squall.tasks import canvas
from squall.tasks.canvas import MemberFailed
from squall.tasks.signature import chain, chord, group


@pytest.fixture
def app() -> Squall:
    return Squall("workflows", queues=["default", "reports"])


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    runs: dict[str, int] = {}

    def counted(name: str) -> None:
        runs[name] = runs.get(name, 0) + 1

    @app.task
    def add(x: int, y: int) -> int:
        counted(f"add{x},{y}")
        return x + y

    @app.task
    def mul(x: int, y: int) -> int:
        return x * y

    @app.task(queue="reports")
    def total(results: list[Any], label: str = "") -> str:
        counted("total")
        return f"{label}{sum(r for r in results if isinstance(r, int))}"

    @app.task
    def fmt(x: int) -> str:
        return f"={x}"

    @app.task(max_retries=0)
    def boom(x: int) -> int:
        raise ValueError(f"boom {x}")

    @app.task
    def alert(task_id: str) -> str:
        counted("alert")
        return f"alerted {task_id}"

    @app.task
    def failures(results: list[Any]) -> list[str]:
        return [r.task_id for r in results if isinstance(r, MemberFailed)]

    return SimpleNamespace(add=add, mul=mul, total=total, fmt=fmt, boom=boom, alert=alert, failures=failures, runs=runs)


def records(app: Squall) -> list[TaskRecord]:
    """Every task record in the local table (a scan: tests only)."""
    items = app.dynamodb.scan(TableName=app.settings.table)["Items"]
    return [TaskRecord.from_item(item) for item in items if item["pk"]["S"].startswith(KEY_PREFIX)]


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def test_a_chain_passes_each_result_on_and_its_handle_walks_back(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = (tasks.add.s(2, 2) | tasks.mul.s(4) | tasks.fmt.s()).delay()
    rt.drain()
    assert result.get() == "=16"
    assert result.parent is not None
    assert result.parent.get() == 16
    assert result.parent.parent.get() == 4  # type: ignore[union-attr]


def test_an_immutable_step_ignores_its_parents_result(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = chain(tasks.add.s(1, 1), tasks.mul.si(5, 5)).delay()
    rt.drain()
    assert result.get() == 25


def test_a_chain_with_a_countdown_waits_then_runs(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = chain(tasks.add.s(1, 1), tasks.mul.s(3)).apply_async(countdown=600)
    assert result.state is State.PENDING
    rt.drain()
    assert result.get() == 6


def test_a_group_returns_its_results_in_order_and_restores_from_its_id(
    rt: Runtime, app: Squall, tasks: SimpleNamespace
) -> None:
    handle = group(tasks.add.s(i, i) for i in range(25)).delay()
    assert group_size(handle.id) == 25
    rt.drain()
    assert handle.get() == [2 * i for i in range(25)]
    restored = app.GroupResult(handle.id)
    assert (restored.completed_count(), restored.ready(), restored.successful(), restored.failed()) == (
        25,
        True,
        True,
        False,
    )
    assert restored.get() == handle.get()


def test_group_reads_use_batch_get_item(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    handle = group(tasks.add.s(i, 0) for i in range(250)).delay()
    rt.drain()
    calls: list[str] = []
    app.dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    assert len(handle.get()) == 250
    assert calls == ["BatchGetItem"] * 3  # 100 keys a request


def test_a_chord_body_runs_once_with_every_result_in_order(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = chord(group(tasks.add.s(i, 1) for i in range(130)), tasks.total.s(label="sum=")).delay()
    rt.drain()
    assert result.get() == f"sum={sum(range(1, 131))}"
    assert tasks.runs["total"] == 1
    assert isinstance(result.parent, GroupResult)


def test_chord_header_then_body_call_sends_at_once(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = chord([tasks.add.s(1, 1), tasks.add.s(2, 2)])(tasks.total.s())
    rt.drain()
    assert result.get() == "6"


def test_a_group_inside_a_chain_is_a_chord(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = (tasks.add.s(1, 1) | group(tasks.mul.s(i) for i in range(4)) | tasks.total.s()).delay()
    rt.drain()
    assert result.get() == str(2 * (0 + 1 + 2 + 3))


def test_a_chain_inside_a_group_counts_once_its_last_step_finishes(rt: Runtime, tasks: SimpleNamespace) -> None:
    header = group(tasks.add.s(i, i) | tasks.mul.s(10) for i in range(3))
    result = chord(header, tasks.total.s()).delay()
    rt.drain()
    assert result.get() == str(10 * (0 + 2 + 4))


def test_link_gets_the_result_and_link_error_the_failed_tasks_id(rt: Runtime, tasks: SimpleNamespace) -> None:
    ok = tasks.add.apply_async((1, 2), link=tasks.mul.s(10), link_error=tasks.alert.s())
    failed = tasks.boom.apply_async((7,), link=tasks.mul.s(10), link_error=tasks.alert.s())
    rt.drain()
    assert ok.get() == 3
    assert failed.state is State.DEAD
    assert tasks.runs["alert"] == 1
    # The failed task's callback was given its id; the successful one's link its result.
    done = {(r.name or "").rsplit(".", 1)[-1]: r for r in records(rt.app)}
    assert done["alert"].result_json == f'"alerted {failed.id}"'
    assert done["mul"].result_json == "30"


def test_a_dead_step_stops_its_chain_and_names_itself_in_the_later_steps(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = (tasks.add.s(1, 1) | tasks.boom.s() | tasks.mul.s(3) | tasks.fmt.s()).delay()
    rt.drain()
    assert result.state is State.DEAD
    middle = result.parent
    assert middle is not None
    assert middle.state is State.DEAD
    failed = middle.parent
    assert failed is not None
    assert failed.state is State.DEAD
    assert result.record is not None
    assert f"({failed.id}), is DEAD: ValueError: boom 2" in (result.record.reason or "")
    with pytest.raises(TaskFailed):
        result.get()


def test_a_dead_member_makes_the_body_dead_naming_it(rt: Runtime, tasks: SimpleNamespace) -> None:
    header = group([tasks.add.s(1, 1), tasks.boom.s(3), tasks.add.s(2, 2)])
    result = chord(header, tasks.total.s()).delay()
    rt.drain()
    assert result.state is State.DEAD
    assert result.record is not None
    dead_member = f"{result.parent.id}.1"  # type: ignore[union-attr]
    assert f"chord member {dead_member} is DEAD" in (result.record.reason or "")
    assert "total" not in tasks.runs


def test_on_failure_run_gives_the_body_the_failed_members_marked(rt: Runtime, tasks: SimpleNamespace) -> None:
    header = group([tasks.add.s(1, 1), tasks.boom.s(3)])
    result = chord(header, tasks.failures.s(), on_failure="run").delay()
    rt.drain()
    assert result.get() == [f"{result.parent.id}.1"]  # type: ignore[union-attr]


def test_a_member_counted_twice_or_concurrently_counts_once(app: Squall, rt: Runtime) -> None:
    counter = GroupCounter(lambda: app.dynamodb, app.settings.table)
    size = 130  # three shards
    completions = [counter.finish("g130-" + "a" * 32, i, size, ttl_seconds=60) for i in [*range(size - 1), 5, 5, 64]]
    assert not any(completions)
    assert counter.finish("g130-" + "a" * 32, size - 1, size, ttl_seconds=60)
    assert counter.finish("g130-" + "a" * 32, 0, size, ttl_seconds=60)  # a repeat finds it complete, harmlessly
    item = app.dynamodb.get_item(TableName=app.settings.table, Key={"pk": {"S": f"{GROUP_PREFIX}g130-{'a' * 32}"}})
    assert sorted(item["Item"]["shards"]["SS"]) == ["0", "1", "2"]


def test_a_crash_between_recording_success_and_sending_the_next_step_resends_it(
    rt: Runtime, app: Squall, tasks: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = app.send_launches
    failures = {"left": 1}

    def flaky(launches: Any, **options: Any) -> None:
        if failures["left"] and any(launch.signature.name.endswith(".total") for launch in launches):
            failures["left"] -= 1
            raise ConnectionError("the worker died before sending the body")
        original(launches, **options)

    monkeypatch.setattr(app, "send_launches", flaky)
    result = chord(group(tasks.add.s(i, 0) for i in range(3)), tasks.total.s()).delay()
    rt.drain()
    assert failures["left"] == 0
    assert result.get() == "3"
    assert tasks.runs["total"] == 1


def test_a_body_sent_twice_runs_once(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    header = group(tasks.add.s(i, 0) for i in range(2))
    doc, handle = canvas.freeze(app, chord(header, tasks.total.s()))
    launches = canvas.plan(app, doc)
    app.send_launches(launches)
    app.send_launches(launches)  # every member twice: each counts once, the body is sent twice and runs once
    rt.drain()
    assert handle.get() == "1"
    assert tasks.runs["total"] == 1


def test_a_group_of_ten_thousand_is_frozen_and_planned_within_the_limits(app: Squall, tasks: SimpleNamespace) -> None:
    doc, handle = canvas.freeze(app, chord(group(tasks.add.s(i, 1) for i in range(10_000)), tasks.total.s()))
    launches = canvas.plan(app, doc)
    assert len(launches) == 10_000
    assert isinstance(handle.parent, GroupResult)
    assert handle.parent.size == 10_000
    assert {launch.options["chord"]["index"] for launch in launches} == set(range(10_000))
    with pytest.raises(InvalidArguments, match="10,001 members, over the 10,000 a group may have"):
        canvas.freeze(app, group(tasks.add.s(i, 1) for i in range(10_001)))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda t: group([]), "the group has no members"),
        (lambda t: chain(t.add.s(1, 1), t.mul.s(1, 2)), r"step 2 \(.*mul\).*given its parent's result first"),
        (lambda t: chain(t.add.s(1, 1), t.mul.s()), r"step 2 \(.*mul\): arguments do not fit"),
        (lambda t: t.add.s(1), "arguments do not fit"),
        (lambda t: chord(group([t.add.s(1, 1)]), t.mul.s(1, 2)), r"body \(.*mul\)"),
    ],
)
def test_bad_workflows_are_refused_before_anything_is_sent(
    rt: Runtime, app: Squall, tasks: SimpleNamespace, build: Any, message: str
) -> None:
    node = build(tasks)
    with pytest.raises(InvalidArguments, match=message):
        app.send_workflow(node)
    rt.drain()
    assert records(app) == []


def test_a_signature_of_an_unknown_task_is_refused_at_send(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    from squall.tasks.signature import Signature

    with pytest.raises(TaskNotRegistered):
        chain(tasks.add.s(1, 1), Signature("nowhere.task", app=app)).delay()
    rt.drain()
    assert records(app) == []


def test_members_follow_their_own_queue(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = chord(group(tasks.add.s(i, 0) for i in range(3)), tasks.total.s()).delay()
    rt.drain()
    assert result.record is not None
    assert result.record.queue == "reports"
    assert result.get() == "3"


def test_a_member_sqs_moved_to_the_intake_still_counts_and_its_body_is_dead_naming_it(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    # Given a chord whose first member's batches Lambda throttles on every receive the redrive policy allows
    # (the members run on "default", the body on "reports")
    result = chord(group(tasks.add.s(1, 1), tasks.add.s(2, 2)), tasks.total.s(), on_failure="dead").delay()
    rt.throttle("default", invocations=limits.MAX_RECEIVE_COUNT)
    rt.drain()

    # Then the reconciler recorded a member DEAD and counted it: the body is DEAD and names it, and ran nothing
    assert result.state is State.DEAD
    assert result.record is not None
    assert "chord member g2-" in (result.record.reason or "")
    assert "moved by SQS's redrive policy" in (result.record.reason or "")
    assert "total" not in tasks.runs


def test_a_group_partly_sent_says_what_did_not_go_and_sends_the_rest_once(
    rt: Runtime, app: Squall, tasks: SimpleNamespace
) -> None:
    # Given SQS failing every entry of the second SendMessageBatch request (members 10-19 of 25), found by its
    # entries: the batches are sent concurrently, and both hooks of one request run in its own thread
    sent, failed = threading.local(), threading.Event()

    def fail_second(parsed: dict[str, Any], **_: Any) -> None:
        if not failed.is_set() and any('.10"' in entry["MessageBody"] for entry in sent.entries):
            failed.set()  # once: sending the rest goes through
            parsed["Successful"], parsed["Failed"] = (
                [],
                [
                    {"Id": e["Id"], "Code": "InternalError", "SenderFault": True, "Message": "down"}
                    for e in sent.entries
                ],
            )

    app.sqs.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch", lambda params, **_: setattr(sent, "entries", params["Entries"])
    )
    app.sqs.meta.events.register("after-call.sqs.SendMessageBatch", fail_second)

    # When the group is sent, the error names the ten that did not go and carries the handle
    with pytest.raises(canvas.WorkflowPartlySent) as caught:
        group(tasks.add.s(i, 0) for i in range(25)).delay()
    assert len(caught.value.failed) == 10
    assert len(caught.value.sent) == 15
    assert "10 task(s) were not enqueued" in str(caught.value)

    # Then sending the rest completes the group, each member once
    handle = caught.value.send_rest()
    rt.drain()
    assert isinstance(handle, GroupResult)
    assert handle.get() == list(range(25))
    assert sum(count for name, count in tasks.runs.items() if name.startswith("add")) == 25


def test_a_step_carried_without_its_frozen_id_is_dead_lettered_with_the_reason(
    rt: Runtime, app: Squall, tasks: SimpleNamespace
) -> None:
    # Given a message whose chain step was never frozen (a hand-made or foreign producer's envelope)
    step = {"task": tasks.mul.name, "args": [2]}  # (the SDK refuses to encode this: EncodeError)
    body = {"v": 2, "id": "hand-1", "task": tasks.add.name, "args": [1, 1], "kwargs": {}, "queue": "default",
            "created": rt.clock.now(), "options": {"chain": [step]}, "required": ["chain"]}  # fmt: skip
    app.sqs.send_message(QueueUrl=app.settings.queue("default").url, MessageBody=json.dumps(body))
    rt.drain()

    # Then it never ran, and it is DEAD saying why
    record = app.AsyncResult("hand-1").record
    assert record is not None
    assert record.state is State.DEAD
    assert "has its task id (options.task_id)" in (record.reason or "")
    assert "add1,1" not in tasks.runs


def test_a_revoked_step_stops_its_chain_without_its_error_callbacks_and_counts_as_a_member(
    rt: Runtime, app: Squall, tasks: SimpleNamespace
) -> None:
    # Given a chord whose first member is a chain; its first step is revoked before it runs
    member = tasks.add.s(1, 1).set(countdown=60) | tasks.mul.s(3)
    result = chord(group(member, tasks.add.s(2, 2)), tasks.total.s(), on_failure="run").delay()
    chain_head = result.parent.results[0].parent  # type: ignore[union-attr]
    assert chain_head is not None
    app.revoke(chain_head.id)
    rt.drain()

    # Then the chain's later step reads DEAD naming the revoked one, and the body ran with it marked
    assert chain_head.state is State.REVOKED
    later = result.parent.results[0]  # type: ignore[union-attr]
    assert later.state is State.DEAD
    assert f"({chain_head.id}), was revoked" in (later.record.reason or "")  # type: ignore[union-attr]
    assert result.get() == "4"
    assert "alert" not in tasks.runs


def test_a_next_step_that_can_never_be_sent_is_dead_with_the_reason_and_stops_its_chain(
    rt: Runtime, app: Squall, tasks: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a chain whose second step's task changed shape between the send and the first step's run
    result = (tasks.add.s(1, 1) | tasks.mul.s(3) | tasks.fmt.s()).delay()
    monkeypatch.setattr(tasks.mul, "_signature", inspect.signature(lambda x, y, z: None))
    rt.drain()

    # Then the first step succeeded, the second is DEAD saying why, and the third never ran
    assert result.parent.parent.get() == 2  # type: ignore[union-attr]
    second = result.parent
    assert second is not None
    assert second.state is State.DEAD
    assert "this workflow step could not be sent: InvalidArguments" in (second.record.reason or "")  # type: ignore[union-attr]
    assert result.state is State.DEAD
    assert rt.queued() == 0


def test_a_step_that_keeps_no_result_cannot_pass_one_on(app: Squall, tasks: SimpleNamespace) -> None:
    @app.task(ignore_result=True)
    def quiet(x: int) -> int:
        return x

    with pytest.raises(
        InvalidArguments, match=r"step 1 \(.*quiet\) has ignore_result=True, but its result is passed on"
    ):
        canvas.freeze(app, quiet.s(1) | tasks.mul.s(2))
    with pytest.raises(InvalidArguments, match=r"header member 0 \(.*quiet\) has ignore_result=True"):
        canvas.freeze(app, chord([quiet.s(1)], tasks.total.s()))
    canvas.freeze(app, quiet.s(1) | tasks.mul.si(2, 2))  # an immutable next step needs no result


def test_workflows_run_signed_and_a_forged_next_step_never_runs(tasks: SimpleNamespace) -> None:
    from squall import Keyring

    signed = Squall("signed-flows", signing_key=Keyring("k1", {"k1": bytes(range(32))}))

    @signed.task
    def inc(x: int) -> int:
        return x + 1

    @signed.task
    def collect(xs: list[int]) -> int:
        return sum(xs)

    with local.run(signed) as runtime:
        result = (inc.s(1) | group(inc.s() for _ in range(3)) | collect.s()).delay()
        runtime.drain()
        assert result.get() == 9  # every step the worker sent was signed, and checked

        # An unsigned body naming a step is refused before any option is read
        body = json.dumps({"v": 1, "id": "forged-1", "task": inc.name, "args": [1], "kwargs": {}, "queue": "default",
                           "created": runtime.clock.now()})  # fmt: skip
        signed.sqs.send_message(QueueUrl=signed.settings.queue("default").url, MessageBody=body)
        runtime.drain()
        assert signed.AsyncResult("forged-1").state is not State.SUCCESS


def test_a_task_id_for_a_whole_workflow_is_refused(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    with pytest.raises(InvalidArguments, match="a workflow's task ids are decided when it is sent, one per step"):
        group(tasks.add.s(1, 1), tasks.add.s(2, 2)).apply_async(task_id="x")
    rt.drain()
    assert records(app) == []


def test_callbacks_added_to_a_step_with_link_run_when_it_finishes(rt: Runtime, tasks: SimpleNamespace) -> None:
    step = tasks.boom.s().link_error(tasks.alert.s())
    result = (tasks.add.s(1, 1).link(tasks.mul.s(100)) | step).delay()
    rt.drain()
    assert result.state is State.DEAD
    assert tasks.runs["alert"] == 1
    done = {(r.name or "").rsplit(".", 1)[-1]: r for r in records(rt.app)}
    assert done["mul"].result_json == "200"
