"""squall.celery's tasks behave as Celery's on Squall's worker: retries only when asked, self.retry() raising,
FAILURE with the exception as the result, custom states, Ignore and Reject, the hooks of a base class."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from squall import clock, local
from squall.celery import Celery, Task, current_app, current_task, states
from squall.celery.exceptions import Ignore, MaxRetriesExceededError, Reject
from squall.local import Runtime


class PaymentDeclined(Exception):
    """An exception the app names (so its results rebuild this very class)."""


class Unnamed(Exception):
    """An exception no task names."""


@pytest.fixture
def app() -> Celery:
    return Celery("face-tasks", broker="sqs://ignored", backend="redis://ignored")


@pytest.fixture
def rt(app: Celery) -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def test_a_failing_task_runs_once_and_reads_failure_with_its_exception(app: Celery) -> None:
    runs: list[int] = []

    @app.task(throws=(PaymentDeclined,))
    def charge(amount: int) -> None:
        runs.append(amount)
        raise PaymentDeclined(f"declined {amount}")

    with local.run(app) as rt:
        result = charge.delay(5)
        rt.drain()

        assert runs == [5]  # Celery: no retry unless asked
        assert result.state == states.FAILURE == result.status
        assert (result.failed(), result.ready(), result.successful()) == (True, True, False)
        assert isinstance(result.result, PaymentDeclined)
        assert str(result.result) == "declined 5"
        assert "PaymentDeclined: declined 5" in (result.traceback or "")
        assert isinstance(result.get(propagate=False), PaymentDeclined)
        with pytest.raises(PaymentDeclined, match="declined 5"):
            result.get()


def test_an_exception_no_task_names_comes_back_as_a_class_of_its_name_and_builtins_as_themselves(
    app: Celery, rt: Runtime
) -> None:
    @app.task
    def odd() -> None:
        raise Unnamed("who")

    @app.task
    def lookup() -> None:
        raise KeyError("k")

    first, second = odd.delay(), lookup.delay()
    rt.drain()

    rebuilt = first.result
    assert type(rebuilt).__name__ == "Unnamed"
    assert not isinstance(rebuilt, Unnamed)  # nothing is imported by a name read from storage
    assert type(second.result) is KeyError


def test_retry_without_raise_still_retries_after_the_default_delay_and_then_succeeds(app: Celery, rt: Runtime) -> None:
    seen: list[tuple[int, float]] = []

    @app.task(bind=True)
    def deliver(self: Task, url: str) -> str:
        seen.append((self.request.retries, clock.now()))
        if self.request.retries < 2:
            self.retry()  # no raise: Celery's retry raises by itself
            raise AssertionError("retry() returned")
        return f"sent {url}"

    result = deliver.delay("https://example.invalid/hook")
    rt.drain()

    assert result.get() == "sent https://example.invalid/hook"
    assert [retries for retries, _ in seen] == [0, 1, 2]
    gaps = [later - earlier for (_, earlier), (_, later) in itertools.pairwise(seen)]
    assert all(180 <= gap < 200 for gap in gaps), gaps  # default_retry_delay, 180 s


def test_retries_past_max_retries_raise_max_retries_exceeded_or_the_given_exception(app: Celery, rt: Runtime) -> None:
    attempts: dict[str, int] = {}

    @app.task(bind=True, max_retries=2, default_retry_delay=1)
    def plain(self: Task) -> None:
        attempts["plain"] = attempts.get("plain", 0) + 1
        raise self.retry()

    @app.task(bind=True, max_retries=1)
    def with_exc(self: Task) -> None:
        attempts["exc"] = attempts.get("exc", 0) + 1
        try:
            raise ConnectionError("down")
        except ConnectionError as exc:
            raise self.retry(exc=exc, countdown=5) from exc

    @app.task(bind=True, max_retries=1)
    def handled(self: Task) -> str:
        try:
            raise self.retry(countdown=1)
        except MaxRetriesExceededError:
            return "gave up cleanly"

    first, second, third = plain.delay(), with_exc.delay(), handled.delay()
    rt.drain()

    assert attempts == {"plain": 3, "exc": 2}
    assert isinstance(first.result, MaxRetriesExceededError)
    assert type(second.result) is ConnectionError
    assert third.get() == "gave up cleanly"


def test_autoretry_for_retries_with_celerys_backoff_and_retry_kwargs(app: Celery, rt: Runtime) -> None:
    times: list[float] = []

    @app.task(autoretry_for=(TimeoutError,), retry_backoff=4, retry_jitter=False, retry_kwargs={"max_retries": 3})
    def fetch() -> None:
        times.append(clock.now())
        raise TimeoutError("slow upstream")

    result = fetch.delay()
    rt.drain()

    assert result.state == states.FAILURE
    assert type(result.result) is TimeoutError
    gaps = [round(later - earlier) for earlier, later in itertools.pairwise(times)]
    assert len(times) == 4  # one run and max_retries 3
    assert [gap - gap % 4 for gap in gaps] == [4, 8, 16]  # factor * 2**retries (jitter off), whole seconds


def test_update_state_writes_a_custom_state_read_with_its_meta_while_it_runs(app: Celery, rt: Runtime) -> None:
    seen: list[tuple[str, Any]] = []

    @app.task(bind=True)
    def report(self: Task, total: int) -> dict[str, int]:
        for step in range(total):
            self.update_state(state="PROGRESS", meta={"current": step, "total": total})
            clock.sleep(1.5)  # progress writes are coalesced to one a second
            handle = app.AsyncResult(self.request.id or "")
            seen.append((handle.state, handle.info))
        return {"current": total, "total": total}

    result = report.delay(2)
    rt.drain()

    assert seen[-1] == ("PROGRESS", {"current": 1, "total": 2})
    assert result.state == states.SUCCESS
    assert result.info == {"current": 2, "total": 2}
    record = result.record
    assert record is not None
    assert record.progress is not None
    assert record.progress.percent == 50.0


def test_a_running_task_reads_pending_unless_it_tracks_started(app: Celery, rt: Runtime) -> None:
    states_seen: dict[str, str] = {}

    @app.task(bind=True)
    def untracked(self: Task) -> None:
        states_seen["untracked"] = app.AsyncResult(self.request.id or "").state

    @app.task(bind=True, track_started=True)
    def tracked(self: Task) -> None:
        states_seen["tracked"] = app.AsyncResult(self.request.id or "").state

    untracked.delay()
    tracked.delay()
    rt.drain()

    assert states_seen == {"untracked": states.PENDING, "tracked": states.STARTED}


def test_ignore_leaves_the_last_custom_state_and_reject_dead_letters_with_the_reason(app: Celery, rt: Runtime) -> None:
    @app.task(bind=True)
    def skipped(self: Task) -> None:
        self.update_state(state="SKIPPED", meta={"why": "duplicate"})
        raise Ignore()

    @app.task
    def refused() -> None:
        raise Reject("malformed payload", requeue=False)

    first, second = skipped.delay(), refused.delay()
    rt.drain()

    assert (first.state, first.info, first.ready()) == ("SKIPPED", {"why": "duplicate"}, False)
    assert second.state == states.FAILURE
    assert "rejected: malformed payload" in str(second.result)
    assert len(rt.dead_letters(app.default_queue)) == 1


def test_retry_with_throw_false_returns_and_the_run_is_retried(app: Celery, rt: Runtime) -> None:
    runs: list[int] = []

    @app.task(bind=True, default_retry_delay=1)
    def polite(self: Task) -> str:
        runs.append(self.request.retries)
        if self.request.retries == 0:
            returned = self.retry(throw=False)
            assert returned is not None
        return "second time"

    result = polite.delay()
    rt.drain()

    assert runs == [0, 1]
    assert result.get() == "second time"


class Audited(Task):
    """A base class with Celery's hooks, as code bases write them."""

    events: list[str] = []

    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.events.append(f"start {args}")

    def on_success(self, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.events.append(f"success {retval}")

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        self.events.append(f"failure {exc}")

    def on_retry(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        self.events.append(f"retry {exc}")

    def after_return(self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        self.events.append(f"after {status}")


def test_a_base_class_hooks_run_in_the_worker_and_its_attributes_are_the_tasks(app: Celery, rt: Runtime) -> None:
    Audited.events = []

    @app.task(bind=True, base=Audited, default_retry_delay=1)
    def audited(self: Audited, fail: bool) -> str:
        assert isinstance(self, Audited)
        assert current_task.request.id == self.request.id
        assert current_app.main == "face-tasks"
        if self.request.retries == 0:
            raise self.retry(exc=ValueError("first"))
        if fail:
            raise ValueError("second")
        return "ok"

    audited.delay(False)
    rt.drain()
    assert Audited.events == ["start (False,)", "retry first", "start (False,)", "success ok", "after SUCCESS"]

    Audited.events = []
    audited.delay(True)
    rt.drain()
    assert Audited.events[-2:] == ["failure second", "after FAILURE"]


def test_the_request_carries_celerys_fields(app: Celery) -> None:
    requests: list[Any] = []

    @app.task(bind=True, queue="reports")  # a queue is infrastructure: declared before the app is deployed
    def look(self: Task, x: int, *, flag: bool = False) -> None:
        requests.append(self.request)

    with local.run(app) as rt:
        look.apply_async((1,), {"flag": True}, task_id="given-id")
        rt.drain()

    (request,) = requests
    assert (request.id, request.task, request.args, request.kwargs) == ("given-id", look.name, (1,), {"flag": True})
    assert (request.retries, request.called_directly, request.is_eager) == (0, False, False)
    assert request.delivery_info["routing_key"] == "reports"
    assert look.name == "test_celery_tasks.look"  # Celery's naming: <module>.<function>


def test_calling_a_task_runs_it_here_directly(app: Celery) -> None:
    @app.task(bind=True)
    def echo(self: Task, x: int) -> tuple[int, bool]:
        return x, self.request.called_directly

    assert echo(3) == (3, True)


def test_forget_drops_the_result_and_a_late_copy_still_does_not_run(app: Celery, rt: Runtime) -> None:
    runs: list[int] = []

    @app.task
    def once(x: int) -> int:
        runs.append(x)
        return x * 2

    result = once.apply_async((4,), task_id="forget-me")
    rt.drain()
    assert result.get() == 8

    result.forget()
    app.AsyncResult("never-sent").forget()  # an unknown id: nothing to forget
    once.apply_async((4,), task_id="forget-me")  # a late copy
    rt.drain()

    assert (result.state, result.result, runs) == (states.SUCCESS, None, [4])


def test_rate_limit_and_expires_are_enforced_by_squall(app: Celery) -> None:
    starts: list[float] = []

    @app.task(rate_limit="2/s")
    def sync(i: int) -> int:
        starts.append(clock.now())
        return i

    @app.task(expires=60)
    def remind(i: int) -> int:
        return i

    declared = app.tasks[sync.name].options
    assert (declared.rate_limit, app.tasks[remind.name].options.expires) == ("2/s", 60.0)
    with local.run(app) as rt:
        late = remind.apply_async((1,), countdown=120)  # due after its task's 60 s expiry
        by_call = sync.apply_async((0,), expires=5, countdown=30)
        for i in range(1, 5):
            sync.delay(i)
        rt.drain()

        assert late.state == states.REVOKED
        assert by_call.state == states.REVOKED
        assert len(starts) == 4
        assert all(b - a >= 0.5 - 1e-6 for a, b in itertools.pairwise(starts))  # 2/s: half a second apart


def test_time_limits_of_a_task_and_of_the_conf_are_enforced_and_raise_celerys_exceptions(app: Celery) -> None:
    from squall.celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

    app.conf.task_soft_time_limit = 5
    cleaned: list[str] = []

    @app.task(bind=True, max_retries=0)
    def report(self: Task, seconds: float) -> str:
        try:
            clock.sleep(seconds)
        except SoftTimeLimitExceeded:
            cleaned.append(self.request.id)
            return "partial"
        return "full"

    @app.task(time_limit=3, max_retries=0)
    def stuck() -> None:
        clock.sleep(60)

    assert app.tasks[report.name].options.soft_time_limit == 5.0
    assert (app.tasks[stuck.name].options.time_limit, app.tasks[stuck.name].options.soft_time_limit) == (3.0, None)
    assert TimeLimitExceeded.__name__ == "TimeLimitExceeded"
    with local.run(app) as rt:
        quick, slow, hard = report.delay(1), report.delay(30), stuck.delay()
        rt.drain()

        assert (quick.get(), slow.get()) == ("full", "partial")
        assert cleaned == [slow.id]
        assert hard.state == states.FAILURE
        assert isinstance(hard.result, TimeLimitExceeded)
