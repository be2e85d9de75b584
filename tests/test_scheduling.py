"""Delays of any length, cancellation, and periodic tasks declared in code (issue 4)."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

import squall
from squall import InvalidSchedule, RevokeOutcome, Squall, State, TaskDefinitionError, TaskRevoked
from squall.deploy.topology import describe
from squall.errors import ConfigurationError, EncodeError
from squall.local import Runtime
from squall.local.scheduler import fill_context
from squall.scheduler.periodic import schedule_input
from squall.scheduler.scheduling import SCHEDULED_TIME
from squall.sending.delays import long_delay_name
from squall.wire.envelope import Envelope, valid_task_id


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    ran: list[Any] = []

    @app.task
    def remind(user: str) -> str:
        ran.append(user)
        return f"reminded {user}"

    return SimpleNamespace(remind=remind, ran=ran)


def schedules(rt: Runtime) -> list[dict[str, Any]]:
    client = rt.app.scheduler
    names = [s["Name"] for s in client.list_schedules(GroupName=rt.settings.schedule_group)["Schedules"]]
    return [dict(client.get_schedule(Name=name, GroupName=rt.settings.schedule_group)) for name in names]


# --- delays of any length ----------------------------------------------------------------------------


def test_a_delay_of_900_seconds_uses_sqs_delay_seconds(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.remind.apply_async(("ann",), countdown=900)

    assert schedules(rt) == []
    assert rt.queued() == 1
    assert result.eta == datetime.fromtimestamp(rt.clock.now() + 900, UTC)


def test_a_delay_over_900_seconds_becomes_one_at_schedule(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a task due in 901.25 s
    due = rt.clock.now() + 901.25
    result = tasks.remind.apply_async(("ann",), countdown=901.25, task_id="remind-ann")

    # Then nothing is on the queue, and one at() schedule, rounded up to the second, carries the envelope
    assert rt.queued() == 0
    (schedule,) = schedules(rt)
    assert schedule["Name"] == "t.remind-ann"
    moment = datetime.fromtimestamp(int(due) + 1, UTC)
    assert schedule["ScheduleExpression"] == f"at({moment:%Y-%m-%dT%H:%M:%S})"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == rt.settings.queue("default").arn
    assert target["RoleArn"] == rt.settings.scheduler_role_arn
    assert target["DeadLetterConfig"] == {"Arn": rt.settings.scheduler_dlq_arn}
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    envelope = Envelope.decode(target["Input"])
    assert (envelope.id, envelope.args) == ("remind-ann", ("ann",))
    assert envelope.eta == pytest.approx(due)
    # And the task reads PENDING with its ETA
    assert result.state is State.PENDING
    assert app_result(rt, "remind-ann").eta == datetime.fromtimestamp(due, UTC)


def app_result(rt: Runtime, task_id: str) -> squall.AsyncResult[Any]:
    return rt.app.AsyncResult(task_id)


def test_sending_a_long_delayed_task_twice_makes_one_schedule(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.remind.apply_async(("ann",), countdown=3600, task_id="once")
    tasks.remind.apply_async(("ann",), countdown=7200, task_id="once")  # a retried call, even with another eta

    (schedule,) = schedules(rt)
    assert schedule["Name"] == "t.once"
    assert app_result(rt, "once").eta == datetime.fromtimestamp(rt.clock.now() + 3600, UTC)


def test_a_long_delayed_resend_of_a_finished_task_makes_no_schedule(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.remind.apply_async(("ann",), task_id="done-1")
    rt.drain()

    tasks.remind.apply_async(("ann",), countdown=86_400, task_id="done-1")

    assert schedules(rt) == []
    assert app_result(rt, "done-1").state is State.SUCCESS


def test_an_eta_in_the_past_runs_now(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.remind.apply_async(("ann",), eta=datetime.fromtimestamp(rt.clock.now() - 86_400, UTC))

    assert schedules(rt) == []
    rt.poll()
    assert result.get(timeout=0) == "reminded ann"


def test_ids_that_cannot_name_a_schedule_are_hashed_deterministically() -> None:
    assert long_delay_name("order-1.retry_2") == "t.order-1.retry_2"
    hashed = long_delay_name("tenant/42:order@1")
    assert hashed == long_delay_name("tenant/42:order@1")
    assert hashed.startswith("t-")
    assert len(hashed) <= 64
    assert long_delay_name("x" * 63).startswith("t-")
    assert long_delay_name("tenant/42:order@1") != long_delay_name("tenant/42:order@2")


def test_long_delays_need_the_scheduler_settings(rt: Runtime, tasks: SimpleNamespace) -> None:
    rt.app.configure(replace(rt.settings, scheduler_role_arn="", scheduler_dlq_arn=""), rt.session)

    with pytest.raises(ConfigurationError, match="scheduler_role_arn, scheduler_dlq_arn") as caught:
        tasks.remind.apply_async(("ann",), countdown=901)
    assert caught.value.missing == ("scheduler_role_arn", "scheduler_dlq_arn")


# --- cancellation ---------------------------------------------------------------------------------------


def test_revoking_a_long_delayed_task_deletes_its_schedule(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.remind.apply_async(("ann",), countdown=3 * 86_400)

    assert result.revoke() is RevokeOutcome.REVOKED

    assert schedules(rt) == []
    assert result.state is State.REVOKED
    with pytest.raises(TaskRevoked):
        result.get(timeout=0)
    rt.advance(days=4)
    rt.drain()
    assert tasks.ran == []


def test_a_revoked_short_delayed_task_is_acknowledged_without_running(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.remind.apply_async(("ann",), countdown=60)

    # No record exists before a worker claims it: revoke says so, and stops it all the same
    assert rt.app.revoke(result.id) is RevokeOutcome.UNKNOWN
    rt.drain()

    assert tasks.ran == []
    assert rt.queued() == 0
    assert rt.dead_letters() == []
    assert result.state is State.REVOKED


def test_a_running_task_cannot_be_revoked_and_revoke_says_so(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given an attempt that holds a live claim (as while the worker runs it)
    claim = rt.app.store.claim(
        "busy-1",
        name=tasks.remind.name,
        queue="default",
        created=rt.clock.now(),
        eta=None,
        max_retries=3,
        lease_seconds=60,
        ttl_seconds=3600,
    )
    assert claim.outcome == "claimed"

    assert rt.app.revoke("busy-1") is RevokeOutcome.RUNNING
    assert app_result(rt, "busy-1").state is State.STARTED

    # Once its lease lapses (the attempt crashed), the task can be revoked
    rt.advance(seconds=61)
    assert rt.app.revoke("busy-1") is RevokeOutcome.REVOKED


def test_revoking_a_finished_task_changes_nothing(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.remind.delay("ann")
    rt.drain()

    assert result.revoke() is RevokeOutcome.ALREADY_FINISHED
    assert result.get(timeout=0) == "reminded ann"


def test_revoking_an_unknown_id_says_so_and_revoking_it_again_finds_it_revoked(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    assert rt.app.revoke("never-sent") is RevokeOutcome.UNKNOWN
    assert rt.app.revoke("never-sent") is RevokeOutcome.REVOKED
    # A task sent after its id was revoked does not run either
    tasks.remind.apply_async(("ann",), task_id="never-sent")
    rt.drain()
    assert tasks.ran == []


# --- periodic tasks declared in code ---------------------------------------------------------------------


def declare(app: Squall, expression: str = "rate(1 hour)", **options: Any) -> None:
    def job(n: int = 0) -> None: ...

    app.periodic(expression, **options)(job)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"expression": "cron(0 9 * * MON-FRI *)"}, "expression: .*exactly one of them must be '\\?'"),
        ({"expression": "cron(0 25 * * ? *)"}, "expression: .*hours field '25'"),
        ({"expression": "rate(1 minutes)"}, "expression: .*singular"),
        ({"expression": "at(2030-01-01T00:00:00)"}, "periodic schedule needs cron"),
        ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus'"),
        ({"flexible_window_minutes": 0}, "flexible_window_minutes"),
        ({"flexible_window_minutes": 1441}, "flexible_window_minutes"),
        ({"start": datetime(2030, 1, 1)}, "start must be an aware datetime"),
        ({"start": datetime(2030, 1, 2, tzinfo=UTC), "end": datetime(2030, 1, 1, tzinfo=UTC)}, "end .* after start"),
        ({"name": "has space"}, "name 'has space'"),
        ({"name": "x" * 63}, "name 'x+'"),
    ],
)
def test_periodic_declarations_are_checked_naming_the_field(app: Squall, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSchedule, match=message):
        declare(app, **options)
    assert app.tasks == {}
    assert app.periodic_schedules == {}


def test_periodic_arguments_must_fit_the_task_and_json(app: Squall) -> None:
    with pytest.raises(TaskDefinitionError, match="args/kwargs"):
        declare(app, args=(1, 2))
    with pytest.raises(EncodeError, match="argument 'n'"):
        declare(app, args=(object(),))
    assert app.tasks == {}


def test_two_periodic_schedules_cannot_share_a_name(app: Squall) -> None:
    declare(app, name="sync")
    with pytest.raises(TaskDefinitionError, match="two periodic schedules are named 'sync'"):
        declare(app, name="sync")


def test_periodic_applied_to_a_task_schedules_that_task(app: Squall) -> None:
    @app.task(max_retries=5)
    def sync_inventory(full: bool = False) -> None: ...

    returned = app.periodic("rate(15 minutes)", name="sync", kwargs={"full": True})(sync_inventory)

    assert returned is sync_inventory
    periodic = app.periodic_schedules["sync"]
    assert (periodic.task, periodic.kwargs, periodic.schedule_name) == (sync_inventory, {"full": True}, "p.sync")


def test_a_firing_of_the_input_template_is_a_valid_envelope(app: Squall) -> None:
    @app.periodic("cron(0 9 ? * MON-FRI *)", timezone="Europe/Berlin", args=("weekly",), name="digest")
    def morning_digest(kind: str) -> None: ...

    template = schedule_input(app, app.periodic_schedules["digest"])
    json.loads(template)  # the placeholder text is valid JSON as it stands
    assert SCHEDULED_TIME in template

    body = fill_context(template, "arn:aws:scheduler:::schedule/g/p.digest", "2026-11-23T08:00:00Z")
    envelope = Envelope.decode(body)
    assert envelope.id == "p.digest@2026-11-23T08:00:00Z"
    assert valid_task_id(envelope.id)
    assert envelope.created == datetime(2026, 11, 23, 8, tzinfo=UTC).timestamp()
    assert (envelope.task, envelope.args) == (morning_digest.name, ("weekly",))


def test_the_topology_describes_each_periodic_schedule(app: Squall) -> None:
    start = datetime(2030, 1, 1, tzinfo=UTC)

    @app.periodic("cron(0 9 ? * mon-fri *)", timezone="Europe/Berlin", flexible_window_minutes=5, start=start)
    def digest() -> None: ...

    (resource,) = describe(app).schedules
    assert resource.name == f"p.{resource.periodic_name}"
    # The task's name is too long for a schedule name: its end is kept, with a hash of the whole
    assert re.fullmatch(r"[0-9A-Za-z_.-]+\.digest-[0-9a-f]{8}", resource.periodic_name)
    assert len(resource.periodic_name) <= 62
    assert resource.expression == "cron(0 9 ? * MON-FRI *)"
    assert (resource.timezone, resource.queue, resource.task) == ("Europe/Berlin", "default", digest.name)
    assert (resource.flexible_window_minutes, resource.start, resource.end, resource.enabled) == (5, start, None, True)
    assert resource.input == schedule_input(app, app.periodic_schedules[resource.periodic_name])
    assert describe(app).scheduler_dlq_name == f"squall-{app.name}-scheduler-dlq"


def test_preview_schedule_is_public_and_reads_the_clock() -> None:
    assert "preview_schedule" in squall.__all__
    start = datetime(2026, 3, 27, tzinfo=UTC)  # Berlin springs forward on Sunday 29 March 2026
    fires = squall.preview_schedule("cron(30 2 * * ? *)", "Europe/Berlin", start=start, count=3)
    assert fires == [
        datetime(2026, 3, 27, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),  # 02:30 did not exist on the 29th
    ]
    assert squall.preview_schedule("rate(1 day)", start=start, count=1) == [start + timedelta(days=1)]
