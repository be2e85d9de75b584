"""Sending by name (``app.send_task``): a producer needs none of the worker's code, as with Celery and arq."""

from __future__ import annotations

import pytest

from squall import InvalidArguments, Squall, State, local


@pytest.fixture
def worker_app() -> Squall:
    app = Squall("by-name", queues=["default", "reports"])

    @app.task(name="reports.build", queue="reports")
    def build(month: str, *, pages: int = 1) -> str:
        return f"{month}:{pages}"

    return app


def test_a_producer_without_the_code_sends_by_name_and_the_worker_runs_it(worker_app: Squall) -> None:
    with local.run(worker_app) as rt:
        # Given a producer app of the same name that registers no task
        producer = Squall("by-name", queues=["default", "reports"])
        producer.configure(worker_app.settings, session=None)

        # When it sends the worker's task by name, to the task's queue, an hour late
        result = producer.send_task("reports.build", ["2026-11"], {"pages": 3}, queue="reports", countdown=3600)
        rt.drain()

        # Then the worker ran it with those arguments
        assert worker_app.AsyncResult(result.id).get(timeout=0) == "2026-11:3"


def test_a_registered_task_sent_by_name_is_checked_like_any_send(worker_app: Squall) -> None:
    with local.run(worker_app) as rt:
        with pytest.raises(InvalidArguments, match=r"arguments do not fit reports\.build"):
            worker_app.send_task("reports.build", [], {"color": "red"})
        result = worker_app.send_task("reports.build", ["2026-12"])
        rt.drain()
        assert result.get(timeout=0) == "2026-12:1"


def test_a_name_no_worker_knows_is_dead_with_the_reason_and_a_bad_queue_or_name_is_refused(
    worker_app: Squall,
) -> None:
    with local.run(worker_app) as rt:
        result = worker_app.send_task("nobody.has.this", [1])
        rt.drain()
        assert result.state is State.DEAD
        assert "nobody.has.this" in (result.record.reason or "")  # type: ignore[union-attr]
        assert len(rt.dead_letters("default")) == 1

        with pytest.raises(InvalidArguments, match="queue 'nowhere' is not one app 'by-name' declares"):
            worker_app.send_task("nobody.has.this", queue="nowhere")
        with pytest.raises(InvalidArguments, match="is not a task name"):
            worker_app.send_task("spaces are not allowed")
