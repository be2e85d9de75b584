"""Revoking a long-delayed workflow step (squall.ops.revoking): its schedule is deleted and its workflow still ends.

Beyond the chain and the chord: the error callbacks are not called, a second revoke changes nothing, a revoke that
raised half-way is finished by the next, signing on, a schedule whose body cannot be read, and a step whose
schedule fired already (the worker stops the workflow then).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError

from squall import AsyncResult, Keyring, RevokeOutcome, Squall, State, chain, chord, group, local
from squall.local import Runtime
from squall.sending.delays import long_delay_name
from squall.tasks.canvas import MemberFailed
from squall.wire.signing import unverified_json

HOUR = 3600


def flow_tasks(app: Squall) -> SimpleNamespace:
    runs: list[str] = []

    @app.task
    def add(x: int, y: int) -> int:
        runs.append(f"add{x},{y}")
        return x + y

    @app.task(queue="reports")
    def total(results: list[Any]) -> str:
        runs.append("total")
        return ",".join("failed" if isinstance(r, MemberFailed) else str(r) for r in results)

    @app.task
    def alert(task_id: str) -> None:
        runs.append(f"alert {task_id}")

    return SimpleNamespace(add=add, total=total, alert=alert, runs=runs)


@pytest.fixture
def app() -> Squall:
    return Squall("revoking", queues=["default", "reports"])


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    return flow_tasks(app)


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def schedules(app: Squall) -> list[str]:
    page = app.scheduler.list_schedules(GroupName=app.settings.schedule_group)
    return sorted(item["Name"] for item in page["Schedules"])


def reason(result: AsyncResult) -> str:
    record = result.record
    assert record is not None
    return record.reason or ""


def test_a_revoked_scheduled_chain_head_ends_its_chain_without_its_error_callbacks(
    rt: Runtime, app: Squall, tasks: SimpleNamespace
) -> None:
    # Given a chain whose first step waits an hour, with an error callback
    head = tasks.add.s(1, 1).set(countdown=HOUR, task_id="head-1")
    head.link_error(tasks.alert.s())
    last = chain(head, tasks.add.s(2), tasks.add.s(3)).delay()
    assert isinstance(last, AsyncResult)
    middle = last.parent
    assert middle is not None
    assert schedules(app) == [long_delay_name("head-1")]

    # When it is revoked, and the clock passes the hour
    assert app.revoke("head-1") is RevokeOutcome.REVOKED
    rt.advance(2 * HOUR)
    rt.drain()

    # Then no schedule is left, nothing ran, and both later steps are DEAD naming the revoked step
    assert schedules(app) == []
    assert tasks.runs == []
    assert app.AsyncResult("head-1").state is State.REVOKED
    for later in (middle, last):
        assert later.state is State.DEAD
        assert "(head-1), was revoked" in reason(later)

    # And a second revoke changes nothing
    assert app.revoke("head-1") is RevokeOutcome.REVOKED
    assert (middle.state, last.state, tasks.runs) == (State.DEAD, State.DEAD, [])


def test_a_revoked_scheduled_chord_member_is_counted_and_the_body_runs_once_with_it_failed(
    rt: Runtime, app: Squall, tasks: SimpleNamespace
) -> None:
    # Given a chord (body run on failure) whose first member waits an hour; the other has run
    result = chord(group(tasks.add.s(1, 1).set(countdown=HOUR), tasks.add.s(2, 2)), tasks.total.s(), on_failure="run")
    body = result.delay()
    assert isinstance(body, AsyncResult)
    rt.poll("default")  # the member without a countdown runs; drain would move the clock past the hour
    member = body.parent.results[0]  # type: ignore[union-attr]
    assert tasks.runs == ["add2,2"]

    # When the waiting member is revoked
    assert app.revoke(member.id) is RevokeOutcome.REVOKED
    rt.drain()

    # Then the body ran once, at once, with the revoked member marked failed
    assert body.get() == "failed,4"
    assert tasks.runs == ["add2,2", "total"]
    rt.advance(2 * HOUR)
    rt.drain()
    assert tasks.runs == ["add2,2", "total"]


def test_a_revoked_scheduled_member_makes_the_body_dead_naming_it(
    rt: Runtime, app: Squall, tasks: SimpleNamespace
) -> None:
    body = chord(group(tasks.add.s(1, 1).set(countdown=HOUR), tasks.add.s(2, 2)), tasks.total.s()).delay()
    assert isinstance(body, AsyncResult)
    member = body.parent.results[0]  # type: ignore[union-attr]

    app.revoke(member.id)
    rt.drain()

    assert body.state is State.DEAD
    assert f"chord member {member.id} is REVOKED" in reason(body)
    assert "total" not in tasks.runs


def test_a_revoke_that_raised_half_way_is_finished_by_the_next(
    rt: Runtime, app: Squall, tasks: SimpleNamespace
) -> None:
    # Given a chord whose last unfinished member waits an hour
    body = chord(group(tasks.add.s(1, 1).set(countdown=HOUR), tasks.add.s(2, 2)), tasks.total.s(), on_failure="run")
    result = body.delay()
    assert isinstance(result, AsyncResult)
    rt.poll("default")
    member = result.parent.results[0]  # type: ignore[union-attr]

    # When revoking it cannot send the chord's body (SQS refuses once)
    refusals = [ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "injected"}}, "SendMessage")]

    def refuse(**_: Any) -> None:
        if refusals:
            raise refusals.pop()

    app.sqs.meta.events.register("before-call.sqs.SendMessage", refuse)
    app.sqs.meta.events.register("before-call.sqs.SendMessageBatch", refuse)
    with pytest.raises(Exception, match="injected"):
        app.revoke(member.id)

    # Then the member is REVOKED and its schedule kept, so that the next revoke can finish: it sends the body
    assert member.state is State.REVOKED
    assert schedules(app) == [long_delay_name(member.id)]
    assert app.revoke(member.id) is RevokeOutcome.REVOKED
    assert schedules(app) == []
    rt.drain()
    assert result.get() == "failed,4"
    assert tasks.runs.count("total") == 1


def test_revoking_works_signed_and_a_schedule_whose_body_is_forged_is_deleted(caplog: pytest.LogCaptureFixture) -> None:
    signed = Squall("signed-revoking", queues=["default", "reports"], signing_key=Keyring("k1", {"k1": bytes(32)}))
    tasks = flow_tasks(signed)
    with local.run(signed) as runtime:
        # A signed chain's scheduled head, revoked: the rest of the chain is DEAD naming it
        last = chain(tasks.add.s(1, 1).set(countdown=HOUR, task_id="signed-head"), tasks.add.s(2)).delay()
        assert signed.revoke("signed-head") is RevokeOutcome.REVOKED
        runtime.drain()
        assert last.state is State.DEAD
        assert "(signed-head), was revoked" in reason(last)

        # A schedule whose body was replaced by an unsigned one: revoked and deleted; its workflow is not trusted
        later = chain(tasks.add.s(1, 1).set(countdown=HOUR, task_id="forged-head"), tasks.add.s(2)).delay()
        name, group_name = long_delay_name("forged-head"), signed.settings.schedule_group
        doc = signed.scheduler.get_schedule(Name=name, GroupName=group_name)
        envelope = json.loads(unverified_json(doc["Target"]["Input"]))
        update = {key: doc[key] for key in ("ScheduleExpression", "FlexibleTimeWindow", "Target")}
        update["Target"]["Input"] = json.dumps(envelope)
        signed.scheduler.update_schedule(Name=name, GroupName=group_name, **update)
        with caplog.at_level(logging.WARNING, logger="squall.ops.revoking"):
            assert signed.revoke("forged-head") is RevokeOutcome.REVOKED
        assert "forged-head: its schedule's body cannot be read" in caplog.text
        assert schedules(signed) == []
        assert later.state is not State.DEAD  # the forged body's options were never acted on
        assert tasks.runs == []


def test_a_step_whose_schedule_fired_is_stopped_by_the_worker(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    # Given a scheduled chain head whose schedule fired (its message waits in SQS)
    last = chain(tasks.add.s(1, 1).set(countdown=HOUR, task_id="fired-head"), tasks.add.s(2)).delay()
    rt.advance(HOUR + 1)
    assert schedules(app) == []

    # When it is revoked before a worker receives it
    assert app.revoke("fired-head") is RevokeOutcome.REVOKED
    rt.drain()

    # Then it never ran, and the worker stopped its chain
    assert tasks.runs == []
    assert last.state is State.DEAD
    assert "(fired-head), was revoked" in reason(last)
