"""squall.celery's signals, sent by the worker as Celery's are, and eager mode (apply(), task_always_eager), with
workflows run in process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from squall import local
from squall.celery import Celery, Task, chain, chord, group, signals, states
from squall.celery.exceptions import MaxRetriesExceededError
from squall.celery.result import EagerResult


@pytest.fixture
def heard() -> Iterator[list[tuple[str, Any]]]:
    """Every signal sent, as (signal name, the interesting argument); receivers disconnected after."""
    log: list[tuple[str, Any]] = []
    receivers = {
        signals.task_prerun: lambda sender, task_id, **kw: log.append(("prerun", sender.name)),
        signals.task_success: lambda sender, result, **kw: log.append(("success", result)),
        signals.task_failure: lambda sender, exception, **kw: log.append(("failure", str(exception))),
        signals.task_retry: lambda sender, reason, request, **kw: log.append(("retry", str(reason.exc))),
        signals.task_postrun: lambda sender, state, retval, **kw: log.append(("postrun", state)),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        yield log
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)


def test_the_worker_sends_prerun_success_failure_retry_and_postrun_in_order(heard: list[tuple[str, Any]]) -> None:
    app = Celery("signals-app")

    @app.task(bind=True, default_retry_delay=1, max_retries=1)
    def flaky(self: Task) -> str:
        if self.request.retries == 0:
            raise self.retry(exc=OSError("first"))
        raise ValueError("second")

    @app.task
    def fine() -> int:
        return 7

    with local.run(app) as rt:
        fine.delay()
        rt.drain()
        flaky.delay()
        rt.drain()

    assert heard == [
        ("prerun", fine.name), ("success", 7), ("postrun", states.SUCCESS),
        ("prerun", flaky.name), ("retry", "first"), ("postrun", states.RETRY),
        ("prerun", flaky.name), ("failure", "second"), ("postrun", states.FAILURE),
    ]  # fmt: skip


def test_a_receiver_for_another_sender_is_not_called_and_one_that_raises_does_not_stop_the_task() -> None:
    app = Celery("signals-filter")
    calls: list[str] = []

    @app.task
    def mine() -> str:
        return "ran"

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    signals.task_success.connect(lambda **kw: calls.append("other"), sender="someone.else")
    signals.task_success.connect(broken)
    signals.task_success.connect(lambda **kw: calls.append("mine"), sender=mine.name)
    try:
        assert mine.apply().get() == "ran"
    finally:
        for receiver in signals.task_success.receivers:
            signals.task_success.disconnect(receiver, sender="someone.else")
            signals.task_success.disconnect(receiver, sender=mine.name)
            signals.task_success.disconnect(receiver)
    assert calls == ["mine"]


def test_worker_process_init_is_sent_once_before_the_first_task(monkeypatch: pytest.MonkeyPatch) -> None:
    app = Celery("signals-init")
    order: list[str] = []
    monkeypatch.setattr(signals, "_started", type(signals._started)())  # a fresh process, as far as it knows

    @app.task
    def job() -> None:
        order.append("job")

    signals.worker_process_init.connect(lambda **kw: order.append("init"))
    try:
        with local.run(app) as rt:
            job.delay()
            job.delay()
            rt.drain()
    finally:
        signals.worker_process_init._receivers.clear()
    assert order == ["init", "job", "job"]


def test_apply_runs_here_with_retries_and_reports_celerys_states() -> None:
    app = Celery("eager-apply")
    runs: list[int] = []

    @app.task(bind=True, max_retries=2)
    def always_retry(self: Task) -> None:
        runs.append(self.request.retries)
        raise self.retry(countdown=3600)  # eager: no waiting

    @app.task(bind=True)
    def progress(self: Task) -> int:
        assert self.request.is_eager
        return 1

    failed = always_retry.apply()
    assert runs == [0, 1, 2]
    assert isinstance(failed, EagerResult)
    assert failed.state == states.FAILURE
    assert isinstance(failed.result, MaxRetriesExceededError)
    with pytest.raises(MaxRetriesExceededError):
        failed.get()
    assert progress.apply().get() == 1
    with pytest.raises(MaxRetriesExceededError):
        always_retry.apply(throw=True)


def test_always_eager_runs_delay_and_workflows_here_without_any_aws() -> None:
    app = Celery("eager-all", task_always_eager=True)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def total(values: list[int]) -> int:
        return sum(values)

    @app.task
    def fail(x: int) -> int:
        raise ValueError(f"no {x}")

    assert add.delay(2, 3).get() == 5
    assert add.s(1, 1).delay().get() == 2
    assert chain(add.s(1, 2), add.s(10)).delay().get() == 13
    assert group(add.s(i, i) for i in range(3)).delay().get() == [0, 2, 4]
    assert chord((add.s(i, 1) for i in range(3)), total.s()).delay().get() == 6
    stopped = chain(fail.s(1), add.s(1)).delay()
    assert stopped.state == states.FAILURE
    assert str(stopped.result) == "no 1"
