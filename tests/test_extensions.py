"""The worker's extension points: what each sees, and that a raising extension never costs an outcome."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from squall import Squall, State, local
from squall.handler import make_handler
from squall.local import Runtime
from squall.tasks.extensions import Admission, Call, Extension, OutcomeEvent
from squall.tasks.task import Task
from squall.wire.envelope import Envelope
from squall.worker.execution import Executor


class Broken(Extension):
    """Raises at every point."""

    name = "broken"

    def before_claim(self, envelope: Envelope, task: Task[..., Any]) -> Admission:
        raise RuntimeError("before_claim is broken")

    def around_call(self, call: Call, proceed: Callable[[], Any]) -> Any:
        raise RuntimeError("around_call is broken")

    def after_outcome(self, event: OutcomeEvent) -> None:
        raise RuntimeError("after_outcome is broken")


class BrokenAfterProceeding(Extension):
    """Runs the task, then raises."""

    name = "late"

    def around_call(self, call: Call, proceed: Callable[[], Any]) -> Any:
        proceed()
        raise RuntimeError("broken after the run")


class Recorder(Extension):
    """Records every event, and whether the message was still on its queue when it came."""

    name = "recorder"

    def __init__(self) -> None:
        self.events: list[OutcomeEvent] = []
        self.queued_then: list[int] = []
        self.rt: Runtime | None = None

    def after_outcome(self, event: OutcomeEvent) -> None:
        self.events.append(event)
        assert self.rt is not None
        self.queued_then.append(self.rt.queued())


def build(*extensions: Extension) -> tuple[Squall, Any, Any]:
    app = Squall("extended", extensions=list(extensions))

    @app.task(name="ok")
    def ok(x: int) -> int:
        return x * 2

    @app.task(name="fails", max_retries=1, retry_backoff=False)
    def fails() -> None:
        raise ValueError("no")

    return app, ok, fails


@pytest.mark.parametrize("extension", [Broken(), BrokenAfterProceeding()], ids=["every-point", "after-proceeding"])
def test_a_raising_extension_is_isolated_counted_and_never_loses_the_outcome(extension: Extension) -> None:
    app, ok, fails = build(extension)
    with local.run(app) as rt:
        executor = Executor(app)
        rt.mappings[0].handler = make_handler(app, executor)
        good, bad = ok.delay(21), fails.delay()

        rt.drain()

        # The task ran once and its outcome stands; the failure was counted, by extension and point
        assert good.get(timeout=0) == 42
        assert good.record is not None
        assert good.record.attempt == 1
        assert bad.state is State.DEAD
        assert bad.record is not None
        assert bad.record.error is not None
        assert bad.record.error.message == "no"
        failures = executor.extensions.failures
        if isinstance(extension, Broken):  # three runs (ok once, fails twice), each point failing each time
            assert failures == {("broken", point): 3 for point in ("before_claim", "around_call", "after_outcome")}
        else:  # only the run that returned reached the extension's own failure; the others raised the task's
            assert failures == {("late", "around_call"): 1}


def test_after_outcome_hears_each_delivery_before_its_message_is_acknowledged() -> None:
    recorder = Recorder()
    app, ok, fails = build(recorder)
    with local.run(app) as rt:
        recorder.rt = rt
        good = ok.delay(2)
        rt.drain()
        bad = fails.delay()
        rt.drain()

    by_outcome = {(e.envelope.id if e.envelope else None, e.outcome): e for e in recorder.events}
    success = by_outcome[(good.id, "succeeded")]
    assert (success.state, success.result) == (State.SUCCESS, 4)
    retried = by_outcome[(bad.id, "retrying")]
    assert retried.state is State.RETRY
    assert retried.error is not None
    assert retried.error.message == "no"
    dead = by_outcome[(bad.id, "dead")]
    assert dead.state is State.DEAD
    assert dead.reason is not None
    assert "retries exhausted after 2 attempts" in dead.reason
    # every event came while its message was still on the queue: before the acknowledgement
    assert all(count >= 1 for count in recorder.queued_then)


def test_an_unusable_message_is_heard_too_with_no_task(rt: Runtime, app: Squall, send_raw: Any) -> None:
    recorder = Recorder()
    recorder.rt = rt
    app.extensions.append(recorder)
    rt.mappings[0].handler = make_handler(app)  # the worker reads the app's extensions when it is built

    send_raw("not json")
    rt.drain()

    [event] = recorder.events
    assert (event.outcome, event.task, event.state) == ("dead", None, State.DEAD)
    assert event.reason is not None
    assert "not valid JSON" in event.reason
