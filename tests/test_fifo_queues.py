"""FIFO queues: order within a message group through retries, a DEAD head unblocking its group, groups
independent of each other, per-message delays refused, and the task id as the deduplication id."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

import squall.cli.cost  # noqa: F401  # registers `squall cost` on the group
from squall import Queue, Squall, State, TaskContext, local
from squall.cli import cli
from squall.deploy import cost
from squall.deploy.topology import describe
from squall.errors import InvalidArguments, InvalidSchedule, TaskDefinitionError
from squall.local import Runtime
from squall.ops import dlq

if TYPE_CHECKING:
    from conftest import ApiCalls


class Flaky(ConnectionError):
    """A transient failure worth retrying."""


@pytest.fixture
def app() -> Squall:
    return Squall(f"fifo-{uuid.uuid4().hex[:6]}", queues=[Queue("default"), Queue("ledger", fifo=True)])


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    runs: list[tuple[str, int]] = []
    failures: dict[str, int] = {}

    @app.task(queue="ledger", bind=True, autoretry_for=(ConnectionError,), retry_backoff=5, retry_jitter=False)
    def post(task: TaskContext, entry: str) -> str:
        runs.append((entry, task.request.attempt))
        if task.request.attempt <= failures.get(entry, 0):
            raise Flaky(f"{entry}: attempt {task.request.attempt} failed")
        return entry

    @app.task(queue="ledger", bind=True, max_retries=1, retry_backoff=False)
    def doomed(task: TaskContext, entry: str) -> None:
        runs.append((entry, task.request.attempt))
        raise Flaky(f"{entry} never works")

    @app.task(queue="ledger", bind=True, track=False, autoretry_for=(ConnectionError,), max_retries=2)
    def note(task: TaskContext, entry: str) -> None:
        runs.append((entry, task.request.attempt))
        if task.request.attempt <= failures.get(entry, 0):
            raise Flaky(f"{entry}: attempt {task.request.attempt} failed")

    return SimpleNamespace(runs=runs, failures=failures, post=post, doomed=doomed, note=note)


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def entries(tasks: SimpleNamespace, prefix: str = "") -> list[str]:
    """The entries that ran, in the order they ran (every attempt)."""
    return [entry for entry, _ in tasks.runs if entry.startswith(prefix)]


def test_a_fifo_queue_and_its_dlq_are_named_and_made_fifo(rt: Runtime) -> None:
    resource = rt.topology.queue("ledger")

    assert resource.queue_name.endswith("-ledger.fifo")
    assert resource.dlq_name.endswith("-ledger-dlq.fifo")
    assert resource.queue_attributes("arn:intake", "arn:moved.fifo")["FifoQueue"] == "true"
    assert resource.dlq_attributes()["ContentBasedDeduplication"] == "false"
    assert (
        '"deadLetterTargetArn":"arn:moved.fifo"'
        in resource.queue_attributes("arn:intake", "arn:moved.fifo")["RedrivePolicy"]
    )


def test_a_group_runs_in_order_and_a_failed_head_blocks_it_through_its_retries(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    tasks.failures["a1"] = 2  # the head fails twice, then succeeds
    results = [tasks.post.apply_async(args=(f"a{i}",), message_group_id="acct-a") for i in range(1, 5)]

    rt.drain()

    assert [r.state for r in results] == [State.SUCCESS] * 4
    assert entries(tasks) == ["a1", "a1", "a1", "a2", "a3", "a4"]


def test_a_retry_keeps_the_received_message_hidden_for_its_backoff_instead_of_sending_a_new_one(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    tasks.failures["a1"] = 1
    first = tasks.post.apply_async(args=("a1",), message_group_id="acct-a")
    tasks.post.apply_async(args=("a2",), message_group_id="acct-a")
    start = rt.clock.now()

    rt.poll("ledger")

    assert first.state is State.RETRY
    assert entries(tasks) == ["a1"]
    assert rt.queued("ledger") == 2  # no third message: the retry is the same one
    record = first.record
    assert record is not None
    assert record.next_attempt_at == pytest.approx(start + 5, abs=1e-4)


def test_the_rest_of_a_failed_heads_group_waits_only_for_its_backoff(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.failures["a1"] = 1
    tasks.post.apply_async(args=("a1",), message_group_id="acct-a")
    second = tasks.post.apply_async(args=("a2",), message_group_id="acct-a")
    start = rt.clock.now()
    rt.poll("ledger")

    rt.poll("ledger")  # the skipped a2 is visible again, but its head is in flight: nothing runs

    assert entries(tasks) == ["a1"]
    rt.advance(5)
    rt.poll("ledger")
    assert entries(tasks) == ["a1", "a1", "a2"]
    assert second.state is State.SUCCESS
    assert rt.clock.now() - start < 6  # not a whole visibility timeout


def test_a_dead_head_of_group_unblocks_the_rest(rt: Runtime, tasks: SimpleNamespace) -> None:
    head = tasks.doomed.apply_async(args=("a1",), message_group_id="acct-a")
    rest = [tasks.post.apply_async(args=(f"a{i}",), message_group_id="acct-a") for i in (2, 3)]

    rt.drain()

    assert head.state is State.DEAD
    assert [r.state for r in rest] == [State.SUCCESS, State.SUCCESS]
    assert entries(tasks) == ["a1", "a1", "a2", "a3"]
    assert len(rt.dead_letters("ledger")) == 1


def test_a_budget_past_the_receives_is_dead_with_the_reason_and_in_the_dlq_never_moved_unrecorded(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    # Given a budget of 20 retries on a FIFO queue, where each retry is one more receive of the same message
    tasks.failures["a1"] = 99
    head = tasks.post.apply_async(args=("a1",), message_group_id="acct-a", max_retries=20)
    after = tasks.post.apply_async(args=("a2",), message_group_id="acct-a")

    rt.drain()

    # Then it is DEAD, with the reason, before the redrive policy's 10 receives; the DLQ holds it; the group goes on
    assert head.state is State.DEAD
    record = head.record
    assert record is not None
    assert record.reason is not None
    assert "not retried: this FIFO message was received 9 times" in record.reason
    assert entries(tasks, "a1") == ["a1"] * 9
    assert [head.id in letter.body for letter in rt.dead_letters("ledger")] == [True]
    assert after.state is State.SUCCESS


def test_a_dead_letter_of_a_fifo_queue_is_redriven_into_its_group_and_runs(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.failures["a1"] = 99
    head = tasks.post.apply_async(args=("a1",), message_group_id="acct-a", max_retries=0)
    rt.drain()
    assert head.state is State.DEAD
    tasks.failures["a1"] = 0

    report = dlq.redrive(rt.app)
    rt.drain()

    assert [m.task_id for m in report.moved] == [head.id]
    assert head.state is State.SUCCESS
    assert entries(tasks) == ["a1", "a1"]


def test_an_untracked_task_is_refused_on_a_fifo_queue(rt: Runtime, tasks: SimpleNamespace) -> None:
    with pytest.raises(InvalidArguments, match="untracked"):
        tasks.note.apply_async(args=("n1",), message_group_id="acct-n")

    assert rt.queued("ledger") == 0


def test_an_untracked_task_from_another_producer_spends_at_most_its_budget_in_place(
    rt: Runtime, tasks: SimpleNamespace, envelope_body: Callable[..., str]
) -> None:
    tasks.failures["n1"] = 99
    sqs = rt.session.client("sqs", region_name=rt.settings.region)
    body = envelope_body(tasks.note.name, args=["n1"], queue="ledger")
    sqs.send_message(
        QueueUrl=rt.settings.queue("ledger").url, MessageBody=body, MessageGroupId="n", MessageDeduplicationId="n1"
    )

    rt.drain()

    assert tasks.runs == [("n1", 1), ("n1", 2), ("n1", 3)]
    assert len(rt.dead_letters("ledger")) == 1


def test_groups_are_independent_a_blocked_group_does_not_hold_another(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.failures["a1"] = 1
    for i in (1, 2):
        tasks.post.apply_async(args=(f"a{i}",), message_group_id="acct-a")
        tasks.post.apply_async(args=(f"b{i}",), message_group_id="acct-b")

    rt.poll("ledger")

    assert entries(tasks, "b") == ["b1", "b2"]
    assert entries(tasks, "a") == ["a1"]
    rt.drain()
    assert entries(tasks, "a") == ["a1", "a1", "a2"]


def test_a_timed_out_batch_comes_back_in_its_order(rt: Runtime, tasks: SimpleNamespace) -> None:
    for i in range(1, 4):
        tasks.post.apply_async(args=(f"a{i}",), message_group_id="acct-a")
    rt.throttle("ledger")  # received, never handled: all three come back after the visibility timeout

    rt.poll("ledger")
    rt.drain()

    assert entries(tasks) == ["a1", "a2", "a3"]


def test_concurrent_invocations_run_one_batch_per_group_and_keep_each_groups_order(
    rt: Runtime, tasks: SimpleNamespace
) -> None:
    tasks.failures.update(a1=2, b2=1)
    for i in range(1, 6):
        for group in "abc":
            tasks.post.apply_async(args=(f"{group}{i}",), message_group_id=f"acct-{group}")

    rt.run_concurrently()

    for group in "abc":
        positions = [int(entry[1:]) for entry in entries(tasks, group)]
        assert positions == sorted(positions), group  # no task ran before one ahead of it in its group was done
    assert entries(tasks, "a") == ["a1", "a1", "a1", "a2", "a3", "a4", "a5"]
    assert entries(tasks, "b") == ["b1", "b2", "b2", "b3", "b4", "b5"]


def test_a_task_without_a_message_group_is_a_group_of_its_own(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.failures["x1"] = 1
    first = tasks.post.delay("x1")
    tasks.post.delay("x2")

    rt.poll("ledger")

    assert entries(tasks) == ["x1", "x2"]  # x2 does not wait behind x1's retry
    assert first.state is State.RETRY


def test_the_task_id_is_the_deduplication_id(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.post.apply_async(args=("a1",), task_id="entry-1", message_group_id="acct-a")
    tasks.post.apply_async(args=("a1",), task_id="entry-1", message_group_id="acct-a")

    assert rt.queued("ledger") == 1
    rt.drain()
    assert entries(tasks) == ["a1"]


def test_equal_arguments_are_two_tasks_on_a_fifo_queue(rt: Runtime, tasks: SimpleNamespace) -> None:
    tasks.post.apply_async(args=("a1",), message_group_id="acct-a")
    tasks.post.apply_async(args=("a1",), message_group_id="acct-a")

    assert rt.queued("ledger") == 2


@pytest.mark.parametrize(
    "delay", [{"countdown": 10}, {"eta": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)}], ids=["countdown", "eta"]
)
def test_a_per_message_delay_on_a_fifo_queue_is_refused_at_call_time(
    rt: Runtime, tasks: SimpleNamespace, delay: dict[str, object]
) -> None:
    with pytest.raises(InvalidSchedule, match="is FIFO, which takes no per-message delay"):
        tasks.post.apply_async(args=("a1",), message_group_id="acct-a", **delay)

    assert rt.queued("ledger") == 0


def test_a_per_message_delay_by_task_name_on_a_fifo_queue_is_refused(rt: Runtime, app: Squall) -> None:
    with pytest.raises(InvalidSchedule, match="ledger"):
        app.send_task("post", args=("a1",), queue="ledger", countdown=5)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"lanes": ("high", "low")}, "cannot have lanes"),
        ({"batch_size": 11, "batching_window": 1}, "batch_size of at most 10"),
        ({"batching_window": 5}, "no batching_window"),
    ],
)
def test_a_fifo_queue_refuses_settings_lambda_or_ordering_cannot_honour(
    options: dict[str, object], problem: str
) -> None:
    with pytest.raises(TaskDefinitionError, match=problem):
        Queue("ledger", fifo=True, **options)  # type: ignore[arg-type]


def test_a_fifo_retry_costs_one_visibility_change_and_no_send(
    rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls
) -> None:
    tasks.failures["a1"] = 1
    tasks.post.apply_async(args=("a1",), message_group_id="acct-a")
    calls.reset()

    rt.drain()

    assert calls.count("ChangeMessageVisibility") == cost.FIFO_VISIBILITY_CHANGES_PER_RETRY
    assert calls.count("SendMessage") == 0
    assert calls.count("DeleteMessageBatch") == 1  # the success only


def test_the_cost_model_prices_a_fifo_queue_at_the_fifo_rate_with_kept_retries() -> None:
    standard = cost.usage(cost.Workload(retries=1))
    fifo = cost.usage(cost.Workload(retries=1, fifo=True))
    prices = cost.load_prices()

    assert fifo.sqs_send == pytest.approx(standard.sqs_send - cost.SENDS_PER_RETRY)
    assert fifo.sqs_visibility == cost.FIFO_VISIBILITY_CHANGES_PER_RETRY
    assert cost.price_per_million(fifo, fifo=True)["sqs"] == pytest.approx(
        fifo.sqs_requests * 1_000_000 * prices["sqs_fifo_request"].each
    )


def test_a_periodic_task_on_a_fifo_queue_is_refused_when_the_app_is_described(app: Squall) -> None:
    @app.periodic("rate(1 hour)")
    @app.task(queue="ledger")
    def tick() -> None: ...

    with pytest.raises(TaskDefinitionError, match="EventBridge Scheduler"):
        describe(app)


def test_squall_cost_fifo_prices_the_fifo_model() -> None:
    result = CliRunner().invoke(cli, ["cost", "--retries", "1", "--fifo", "--json"])

    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["usage_per_task"]["sqs_visibility"] == cost.FIFO_VISIBILITY_CHANGES_PER_RETRY
    assert doc["per_million_tasks_usd"]["sqs"] == pytest.approx(
        doc["usage_per_task"]["sqs_requests"] * 1_000_000 * cost.load_prices()["sqs_fifo_request"].each
    )
