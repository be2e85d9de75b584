"""``squall dev --state``: what the dev server holds survives a stop and a start (a JSON snapshot of moto's data)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from squall import Squall, State, local
from squall.errors import ConfigurationError
from squall.local import devstate
from squall.local.devserver import UNREGISTERED_IN_DEV, not_registered_in_dev


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task(max_retries=3, retry_backoff=600)
    def flaky(n: int) -> int:
        if n < 0:
            raise ValueError("negative")
        return n * 2

    return SimpleNamespace(flaky=flaky)


def test_results_queued_and_delayed_messages_come_back_after_a_restart(
    app: Squall, tasks: SimpleNamespace, tmp_path: Path
) -> None:
    with local.run(app) as rt:
        done = tasks.flaky.delay(21)
        rt.drain()
        queued = tasks.flaky.delay(1)
        later = tasks.flaky.apply_async((2,), countdown=300)
        saved = devstate.save(rt, tmp_path)
        started = rt.clock.now()
    assert (saved.messages, saved.items) == (2, 1)

    with local.run(app, start=started + 3600) as rt:  # stopped for an hour: that hour does not count
        restored = devstate.restore(rt, tmp_path)

        assert restored == saved
        assert done.get(timeout=0) == 42  # the result, read from the restored table
        rt.poll()
        assert queued.get(timeout=0) == 2  # visible at once, as when saved
        assert later.state is not State.SUCCESS
        rt.advance(seconds=290, run=True)
        assert later.state is not State.SUCCESS  # 300 s of delay remained, not 300 - 3600
        rt.advance(seconds=20, run=True)
        assert later.get(timeout=0) == 4


def test_a_retry_waiting_out_its_backoff_keeps_its_remaining_wait(
    app: Squall, tasks: SimpleNamespace, tmp_path: Path
) -> None:
    with local.run(app) as rt:
        failing = tasks.flaky.delay(-1)
        rt.poll()  # the first attempt fails: the message waits out its backoff, hidden
        assert failing.state is State.RETRY
        devstate.save(rt, tmp_path)
        started = rt.clock.now()

    with local.run(app, start=started + 86400) as rt:
        devstate.restore(rt, tmp_path)
        (held,) = [m for name in rt.settings.deployed() for m in _queue(rt, name)]

        assert failing.state is State.RETRY
        assert 0 < held["delayed_ms"] <= 600_000  # the backoff's remaining delay, though a day passed
        assert rt.poll() == 0  # still waiting out the backoff
        rt.drain()
        assert failing.state is State.DEAD


def _queue(rt: local.Runtime, name: str) -> list[dict[str, Any]]:
    physical = rt.settings.queue(name).url.rsplit("/", 1)[-1]
    return devstate._dump_queues(rt)[physical]


def test_a_dynamic_schedule_comes_back_keeping_its_phase_and_fires(app: Squall, tmp_path: Path) -> None:
    @app.task
    def tick() -> str:
        return "tick"

    with local.run(app) as rt:
        app.schedules.create("every-ten", tick.s(), rate="10 minutes")
        rt.advance(minutes=25, run=True)  # fired at 0, 10 and 20 minutes
        before = {f.scheduled_time for f in rt.scheduler.fired}  # type: ignore[union-attr]
        devstate.save(rt, tmp_path)
        stopped = rt.clock.now()

    with local.run(app, start=stopped) as rt:
        devstate.restore(rt, tmp_path)
        rt.advance(minutes=6, run=True)
        fired = [f.scheduled_time for f in rt.scheduler.fired]  # type: ignore[union-attr]

        assert len(before) == 3
        assert len(fired) == 1  # the one at 30 minutes: the phase is kept, the old firings are not made again
        assert fired[0] not in before
        assert [s.name for s in app.schedules.list()] == ["every-ten"]


def test_the_snapshot_is_json_and_another_format_is_refused(app: Squall, tmp_path: Path) -> None:
    with local.run(app) as rt:
        devstate.save(rt, tmp_path)
    path = devstate.snapshot_path(tmp_path)
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({**doc, "format": 99}))

    with local.run(app) as rt, pytest.raises(ConfigurationError, match="format 99, not 1: move it away"):
        devstate.restore(rt, tmp_path)


def test_another_apps_snapshot_is_refused(app: Squall, tmp_path: Path) -> None:
    with local.run(Squall("another-app")) as rt:
        devstate.save(rt, tmp_path)

    with local.run(app) as rt, pytest.raises(ConfigurationError, match="another-app"):
        devstate.restore(rt, tmp_path)


def test_nothing_to_restore_the_first_time(app: Squall, tmp_path: Path) -> None:
    with local.run(app) as rt:
        assert devstate.restore(rt, tmp_path / "none-yet") is None


def test_in_dev_an_unknown_task_name_says_to_restart_squall_dev(app: Squall, tasks: SimpleNamespace) -> None:
    with local.run(app) as rt:
        undo = not_registered_in_dev(app)
        sent = app.send_task("tasks.added_since_start")
        rt.drain()
        record = app.store.get(sent.id)
        undo()

        assert record is not None
        assert record.reason == UNREGISTERED_IN_DEV.format(name="tasks.added_since_start")
        assert record.reason == (
            "task 'tasks.added_since_start' is not registered in this worker; restart squall dev "
            "(or run it with --reload) to load new code"
        )
        assert record.error is not None
        assert (record.error.type, record.error.message) == ("TaskNotRegistered", record.reason)


def test_outside_dev_an_unknown_task_name_keeps_the_workers_reason(app: Squall, tasks: SimpleNamespace) -> None:
    with local.run(app) as rt:
        undo = not_registered_in_dev(app)
        undo()
        sent = app.send_task("tasks.unknown")
        rt.drain()
        record = app.store.get(sent.id)

        assert record is not None
        assert record.reason is not None
        assert record.reason.startswith("no task named 'tasks.unknown' is registered with this app.")
