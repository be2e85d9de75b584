"""The public API: declaring tasks, sending them (one, delayed, in batches), and what is refused up front."""

from __future__ import annotations

import datetime as dt
import sys
import types
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from squall import (
    AsyncResult,
    ConfigurationError,
    EncodeError,
    InvalidArguments,
    InvalidSchedule,
    MessageTooLarge,
    Queue,
    Signature,
    Squall,
    State,
    TaskContext,
    TaskDefinitionError,
    TaskNotRegistered,
)
from squall.app import default_task_name
from squall.limits import SQS_MAX_MESSAGE_BYTES
from squall.local import Runtime
from squall.wire.envelope import Envelope

if TYPE_CHECKING:
    from conftest import ApiCalls


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="shop.charge")
    def charge(order_id: str, amount: int, *, currency: str = "EUR") -> dict[str, Any]:
        return {"order_id": order_id, "amount": amount, "currency": currency}

    @app.task
    def collect(*items: Any, **extra: Any) -> int:
        return len(items) + len(extra)

    @app.task(bind=True)
    def whoami(task: TaskContext) -> dict[str, Any]:
        return {"id": task.request.id, "attempt": task.request.attempt, "task": task.request.task}

    return SimpleNamespace(add=add, charge=charge, collect=collect, whoami=whoami)


def queued_envelopes(rt: Runtime) -> list[Envelope]:
    """The envelopes waiting on the default queue, read without receiving them."""
    from squall.local import motoshim

    return [
        Envelope.decode(m.body) for m in motoshim.peek(rt.settings.region, rt.settings.queue("default").physical_name)
    ]


# --- calling and sending ---------------------------------------------------------------------------------


def test_calling_a_task_runs_the_function_here(tasks: SimpleNamespace) -> None:
    assert tasks.add(2, 3) == 5
    assert tasks.charge("o-1", 5, currency="USD") == {"order_id": "o-1", "amount": 5, "currency": "USD"}


def test_calling_a_bound_task_gives_it_a_local_context(tasks: SimpleNamespace) -> None:
    assert tasks.whoami() == {"id": "local-call", "attempt": 1, "task": tasks.whoami.name}


def test_delay_sends_one_envelope_and_returns_its_result_handle(rt: Runtime, tasks: SimpleNamespace) -> None:
    # When
    result = tasks.charge.delay("o-1", 100, currency="USD")

    # Then
    assert isinstance(result, AsyncResult)
    (envelope,) = queued_envelopes(rt)
    assert envelope.id == result.id
    assert envelope.task == "shop.charge"
    assert envelope.args == ("o-1", 100)
    assert envelope.kwargs == {"currency": "USD"}
    assert envelope.queue == "default"
    assert envelope.created == rt.clock.now()
    assert envelope.eta is None
    assert result.state is State.PENDING


def test_delayed_task_runs_and_returns_its_result(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.add.delay(2, 3)

    rt.drain()

    assert result.get(timeout=0) == 5


def test_each_send_gets_a_fresh_task_id(rt: Runtime, tasks: SimpleNamespace) -> None:
    ids = {tasks.add.delay(1, 1).id for _ in range(5)}

    assert len(ids) == 5


def test_apply_async_with_countdown_and_task_id_waits_that_long(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given
    start = rt.clock.now()

    # When
    result = tasks.add.apply_async((1, 2), countdown=45, task_id="my-id")

    # Then the message is delayed 45 s, carries its eta, and runs only after it
    assert result.id == "my-id"
    (envelope,) = queued_envelopes(rt)
    assert envelope.id == "my-id"
    assert envelope.eta == pytest.approx(start + 45)
    assert rt.next_wakeup() == pytest.approx(start + 45)
    rt.advance(44)
    assert rt.poll() == 0
    rt.advance(2)
    assert rt.poll() == 1
    assert result.get(timeout=0) == 3


def test_apply_async_with_an_aware_eta_waits_until_then(rt: Runtime, tasks: SimpleNamespace) -> None:
    start = rt.clock.now()
    eta = dt.datetime.fromtimestamp(start + 120.5, dt.UTC)

    tasks.add.apply_async((1, 2), eta=eta)

    # SQS delays are whole seconds: rounded up, never early
    assert rt.next_wakeup() == pytest.approx(start + 121)


def test_eta_in_the_past_runs_at_once(rt: Runtime, tasks: SimpleNamespace) -> None:
    eta = dt.datetime.fromtimestamp(rt.clock.now() - 3600, dt.UTC)

    result = tasks.add.apply_async((1, 2), eta=eta)

    assert rt.poll() == 1
    assert result.get(timeout=0) == 3


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        pytest.param({"eta": dt.datetime(2030, 1, 1)}, "no time zone", id="naive-eta"),
        pytest.param({"countdown": 5, "eta": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)}, "not both", id="both"),
        pytest.param({"countdown": -1}, ">= 0", id="negative-countdown"),
    ],
)
def test_unusable_delay_is_refused_before_sending(
    rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls, options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidSchedule, match=problem):
        tasks.add.apply_async((1, 2), **options)

    assert calls.count(service="sqs") == 0


@pytest.mark.parametrize("task_id", ["", "has space", "-leading-dash", "x" * 129])
def test_unusable_task_id_is_refused_before_sending(
    rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls, task_id: str
) -> None:
    with pytest.raises(ValueError, match="task_id"):
        tasks.add.apply_async((1, 2), task_id=task_id)

    assert calls.count(service="sqs") == 0


def test_async_result_by_id_reads_the_task(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    tasks.add.apply_async((20, 22), task_id="answer")
    rt.drain()

    result = app.AsyncResult("answer")

    assert result.id == "answer"
    assert result.get(timeout=0) == 42
    assert result == AsyncResult("answer", app=app)


def test_bound_task_sees_its_own_id_and_attempt(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.whoami.delay()

    rt.drain()

    assert result.get(timeout=0) == {"id": result.id, "attempt": 1, "task": tasks.whoami.name}


# --- signatures and batches ------------------------------------------------------------------------------


def test_s_makes_a_signature_that_can_be_sent_later(rt: Runtime, tasks: SimpleNamespace) -> None:
    signature = tasks.add.s(4, 5)

    assert isinstance(signature, Signature)
    assert (signature.args, signature.kwargs) == ((4, 5), {})
    result = signature.delay()
    rt.drain()
    assert result.get(timeout=0) == 9


def test_s_may_be_partial_but_sending_it_checks_the_arguments(rt: Runtime, tasks: SimpleNamespace) -> None:
    partial = tasks.add.s(1)  # in a chain, it is given its parent's result first
    with pytest.raises(InvalidArguments, match="missing a required argument: 'b'"):
        partial.delay()
    with pytest.raises(InvalidArguments, match="missing a required argument: 'b'"):
        tasks.add.si(1)  # immutable: complete as it is, so checked at once
    assert rt.queued() == 0


def test_send_batch_sends_ten_per_request(rt: Runtime, app: Squall, tasks: SimpleNamespace, calls: ApiCalls) -> None:
    # When
    results = app.send_batch([tasks.add.s(i, i) for i in range(25)])

    # Then 25 tasks went in 3 SendMessageBatch requests of 10, 10 and 5
    assert calls.count("SendMessageBatch") == 3
    assert sorted(len(p["Entries"]) for p in calls.params("SendMessageBatch")) == [5, 10, 10]  # sent concurrently
    assert calls.count("SendMessage") == 0
    assert len({r.id for r in results}) == 25
    rt.drain()
    assert [r.get(timeout=0) for r in results] == [2 * i for i in range(25)]


def test_send_batch_splits_requests_at_the_batch_size_limit(
    rt: Runtime, app: Squall, tasks: SimpleNamespace, calls: ApiCalls
) -> None:
    # Given ten messages of ~300 KB: only three fit in one 1 MiB request
    blob = "x" * 300_000

    app.send_batch([tasks.collect.s(blob, i) for i in range(10)])

    assert sorted(len(p["Entries"]) for p in calls.params("SendMessageBatch")) == [1, 3, 3, 3]  # sent concurrently


def test_send_batch_groups_by_queue(rt: Runtime, calls: ApiCalls) -> None:
    # Given an app with two queues
    multi = Squall("test-multi", queues=["default", "slow"])

    @multi.task
    def fast() -> str:
        return "fast"

    @multi.task(queue="slow")
    def slow() -> str:
        return "slow"

    from squall import local

    with local.run(multi) as other:
        # When
        results = multi.send_batch([fast.s(), slow.s(), fast.s()])

        # Then each queue got its own messages
        assert other.queued("default") == 2
        assert other.queued("slow") == 1
        other.drain()
        assert [r.get(timeout=0) for r in results] == ["fast", "slow", "fast"]


def test_send_batch_checks_every_signature_before_sending_any(
    rt: Runtime, app: Squall, tasks: SimpleNamespace, calls: ApiCalls
) -> None:
    with pytest.raises(EncodeError, match="items"):
        app.send_batch([tasks.add.s(1, 2), tasks.collect.s({1})])

    assert calls.count(service="sqs") == 0
    assert rt.queued() == 0


# --- refusals at enqueue ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "problem"),
    [
        pytest.param((1,), {}, "missing a required argument: 'b'", id="missing"),
        pytest.param((1, 2, 3), {}, "too many positional arguments", id="too-many"),
        pytest.param((1, 2), {"c": 3}, "unexpected keyword argument 'c'", id="unexpected"),
        pytest.param((1,), {"a": 2}, "multiple values for argument 'a'", id="twice"),
    ],
)
def test_arguments_that_do_not_bind_are_refused_naming_the_problem(
    rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls, args: tuple[Any, ...], kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(InvalidArguments, match=problem) as refused:
        tasks.add.delay(*args, **kwargs)

    assert tasks.add.name in str(refused.value)
    assert calls.count(service="sqs") == 0


def test_keyword_only_argument_passed_positionally_is_refused(rt: Runtime, tasks: SimpleNamespace) -> None:
    with pytest.raises(InvalidArguments, match="too many positional"):
        tasks.charge.delay("o-1", 1, "EUR")


@pytest.mark.parametrize(
    ("args", "kwargs", "where"),
    [
        pytest.param(({1, 2}, 3), {}, "argument 'a'", id="positional-by-name"),
        pytest.param((1,), {"b": object()}, "argument 'b'", id="keyword"),
        pytest.param(({"x": [1, {2}]}, 1), {}, "argument 'a'['x'][1]", id="deep-inside"),
        pytest.param((float("nan"), 1), {}, "argument 'a'", id="nan"),
    ],
)
def test_argument_json_cannot_carry_is_refused_naming_it(
    rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls, args: tuple[Any, ...], kwargs: dict[str, Any], where: str
) -> None:
    with pytest.raises(EncodeError) as refused:
        tasks.add.delay(*args, **kwargs)

    assert where in str(refused.value)
    assert calls.count(service="sqs") == 0


def test_variadic_argument_is_named_by_position(rt: Runtime, tasks: SimpleNamespace) -> None:
    with pytest.raises(EncodeError, match=r"argument 'items\[1\]'"):
        tasks.collect.delay(1, {2})
    with pytest.raises(EncodeError, match="argument 'extra_key'"):
        tasks.collect.delay(extra_key={3})


def test_message_over_one_mib_is_refused_and_nothing_is_sent(
    no_payload_bucket: None, rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls
) -> None:
    with pytest.raises(MessageTooLarge) as refused:
        tasks.collect.delay("x" * SQS_MAX_MESSAGE_BYTES)

    assert refused.value.limit == SQS_MAX_MESSAGE_BYTES
    assert refused.value.size > SQS_MAX_MESSAGE_BYTES
    assert "S3" in str(refused.value)
    assert calls.count(service="sqs") == 0
    assert rt.queued() == 0


def test_message_size_counts_utf8_bytes_not_characters(
    no_payload_bucket: None, rt: Runtime, tasks: SimpleNamespace
) -> None:
    # 600,000 characters, but 1.2 MB once encoded
    with pytest.raises(MessageTooLarge):
        tasks.collect.delay("é" * 600_000)


def test_message_just_under_the_limit_is_sent(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.collect.delay("x" * (SQS_MAX_MESSAGE_BYTES - 1_000))

    rt.drain()

    assert result.get(timeout=0) == 1


# --- declaring tasks -------------------------------------------------------------------------------------


def test_default_task_name_is_module_and_qualname(app: Squall) -> None:
    def resize(path: str) -> None: ...

    task = app.task(resize)

    assert task.name == f"{__name__}.test_default_task_name_is_module_and_qualname.<locals>.resize"
    assert app.get_task(task.name) is task


def test_script_run_as_main_names_tasks_after_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    script = types.ModuleType("__main__")
    script.__file__ = "/srv/jobs/nightly.py"
    script.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", script)

    def cleanup() -> None: ...

    cleanup.__module__ = "__main__"

    assert default_task_name(cleanup) == "nightly.test_script_run_as_main_names_tasks_after_its_file.<locals>.cleanup"


@pytest.mark.parametrize("name", ["has space", "1starts-with-digit", "tâche", "x" * 257])
def test_task_name_the_worker_would_refuse_is_refused_at_declaration(app: Squall, name: str) -> None:
    with pytest.raises(TaskDefinitionError, match="cannot travel in an envelope"):
        app.task(name=name)(lambda: None)


def test_task_declared_inside_a_function_is_sent_and_run(rt: Runtime, app: Squall) -> None:
    # Given a task whose default name holds "<locals>" (declared in a factory, a fixture or a test)
    def make_task() -> Any:
        @app.task
        def inner(x: int) -> int:
            return x + 1

        return inner

    inner = make_task()
    assert "<locals>" in inner.name

    # When it is sent and run
    result = inner.delay(1)
    rt.drain()

    # Then the worker accepts its name and runs it
    assert result.get(timeout=0) == 2


def test_explicit_name_and_docstring_are_kept(app: Squall) -> None:
    @app.task(name="reports.build")
    def build() -> None:
        """Build it."""

    assert build.name == "reports.build"
    assert build.__doc__ == "Build it."


def test_two_tasks_with_one_name_are_refused(app: Squall) -> None:
    app.task(name="dup")(lambda: 1)

    with pytest.raises(TaskDefinitionError, match="two tasks are named 'dup'"):
        app.task(name="dup")(lambda: 2)


def test_task_on_an_undeclared_queue_is_refused_listing_the_declared_ones(app: Squall) -> None:
    with pytest.raises(TaskDefinitionError, match=r"queue 'nope'.*declared: default"):

        @app.task(queue="nope")
        def lost() -> None: ...


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        pytest.param({"max_retries": -1}, "max_retries", id="negative-retries"),
        pytest.param({"max_retries": 901}, "max_retries", id="too-many-retries"),
        pytest.param({"max_retries": 2.5}, "max_retries", id="float-retries"),
        pytest.param({"max_retries": "3"}, "max_retries", id="string-retries"),
        pytest.param({"retry_backoff": -1}, "retry_backoff", id="negative-backoff"),
        pytest.param({"retry_backoff_max": -1}, "retry_backoff_max", id="negative-cap"),
        pytest.param({"retry_backoff_max": 2 * 366 * 86_400 + 1}, "63244800", id="cap-over-the-longest-wait"),
        pytest.param({"result_ttl": 0}, "result_ttl", id="zero-ttl"),
        pytest.param({"autoretry_for": (ValueError, "OSError")}, "autoretry_for", id="autoretry-not-class"),
        pytest.param({"dont_autoretry_for": (int,)}, "dont_autoretry_for", id="dont-autoretry-not-exception"),
    ],
)
def test_unusable_task_options_are_refused_naming_the_option(
    app: Squall, options: dict[str, Any], problem: str
) -> None:
    with pytest.raises(TaskDefinitionError, match=problem):
        app.task(**options)(lambda: None)


def test_bound_task_must_take_the_context(app: Squall) -> None:
    with pytest.raises(TaskDefinitionError, match="bind=True"):
        app.task(bind=True)(lambda: None)


def test_retry_backoff_false_means_no_delay(app: Squall) -> None:
    task = app.task(retry_backoff=False)(lambda: None)

    assert task.options.retry_backoff == 0.0


def test_unknown_task_name_lists_the_registered_ones(app: Squall, tasks: SimpleNamespace) -> None:
    with pytest.raises(TaskNotRegistered, match=r"shop\.charge"):
        app.get_task("shop.refund")


@pytest.mark.parametrize("name", ["Shop", "shop_app", "1shop", "", "x" * 41, "shop app"])
def test_app_name_that_cannot_name_aws_resources_is_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="lowercase"):
        Squall(name)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        pytest.param({"name": "bad name"}, "queue name", id="name"),
        pytest.param({"name": "q", "batch_size": 11}, "batching_window", id="big-batch-without-window"),
        pytest.param({"name": "q", "batch_size": 0}, "batch_size", id="empty-batch"),
        pytest.param({"name": "q", "batching_window": 301}, "batching_window", id="long-window"),
        pytest.param({"name": "q", "max_concurrency": 1}, "max_concurrency", id="concurrency-below-two"),
    ],
)
def test_unusable_queue_is_refused(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(TaskDefinitionError, match=problem):
        Queue(**options)


def test_app_with_no_queue_is_refused() -> None:
    with pytest.raises(TaskDefinitionError, match="no queue"):
        Squall("test-empty", queues=[])
