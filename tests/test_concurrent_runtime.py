"""``rt.run_concurrently()``: every event source polls at once on the fake clock, each keeping up to its
MaximumConcurrency invocations in flight, scaling up as Lambda does, each invocation with its own timeout."""

from __future__ import annotations

from typing import Any

import pytest

from squall import Queue, Squall, State, WorkerSizing, clock, local
from squall.local.esm import Invocation


def app_with(queue: Queue) -> tuple[Squall, Any]:
    app = Squall("concurrent", queues=[queue])

    @app.task(queue=queue.name, max_retries=0)
    def hold(seconds: float) -> float:
        clock.sleep(seconds)
        return seconds

    return app, hold


def most_at_once(invocations: list[Invocation]) -> int:
    """The most invocations that were running at one instant."""
    edges = sorted([(i.started_at, 1) for i in invocations] + [(i.ended_at or 0.0, -1) for i in invocations])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def test_invocations_overlap_in_time_up_to_the_cap() -> None:
    app, hold = app_with(Queue("work", batch_size=1, max_concurrency=2))
    with local.run(app) as rt:
        t0 = rt.clock.now()
        results = [hold.delay(5) for _ in range(6)]
        rt.run_concurrently()
        assert all(r.state is State.SUCCESS for r in results)
        assert rt.clock.now() - t0 == pytest.approx(15)  # three rounds of two at once, not six one after another
        assert most_at_once(rt.invocations) == 2


def test_an_event_source_starts_with_five_invocations_and_scales_up_by_300_a_minute() -> None:
    app, hold = app_with(Queue("work", batch_size=1, max_concurrency=20))
    with local.run(app) as rt:
        t0 = rt.clock.now()
        for _ in range(40):
            hold.delay(60)
        rt.run_concurrently(until=t0 + 2)
        starts = sorted(i.started_at - t0 for i in rt.invocations)
        assert starts.count(0.0) == 5  # five batches at once when messages appear
        assert len(starts) == 15  # then five more a second (300 a minute): ten more by t0 + 2
        rt.run_concurrently()
        assert most_at_once(rt.invocations) == 20  # never past MaximumConcurrency


def test_each_invocation_is_stopped_at_its_own_timeout() -> None:
    app, hold = app_with(Queue("work", batch_size=1, max_concurrency=2))
    with local.run(app, sizing=WorkerSizing(timeout=30)) as rt:
        t0 = rt.clock.now()
        slow, quick = hold.delay(100), hold.delay(10)
        rt.run_concurrently(until=t0 + 20)
        assert quick.state is State.SUCCESS  # ran to its end while the other went on
        rt.run_concurrently(until=t0 + 31)
        (stopped,) = [i for i in rt.invocations if i.timed_out]
        assert stopped.started_at == t0
        assert stopped.ended_at == t0 + 30
        assert slow.state is not State.SUCCESS


def test_a_batching_window_holds_a_batch_that_is_not_full() -> None:
    app, hold = app_with(Queue("work", batch_size=10, batching_window=5, max_concurrency=2))
    with local.run(app) as rt:
        t0 = rt.clock.now()
        for _ in range(3):
            hold.delay(1)
        rt.run_concurrently()
        (only,) = rt.invocations
        assert (only.started_at - t0, len(only.message_ids)) == (5, 3)


def test_a_producer_call_runs_at_its_time_and_its_error_is_raised() -> None:
    app, hold = app_with(Queue("work", batch_size=1))
    with local.run(app) as rt:
        t0 = rt.clock.now()
        seen: list[float] = []

        def later() -> None:
            seen.append(rt.clock.now())
            hold.delay(1)

        rt.run_concurrently(at=[(t0 + 50, later)])
        assert seen == [t0 + 50]
        assert rt.invocations[0].started_at == t0 + 50

        def broken() -> None:
            raise RuntimeError("the producer failed")

        with pytest.raises(RuntimeError, match="the producer failed"):
            rt.run_concurrently(at=[(rt.clock.now() + 1, broken)])


def test_the_wall_clock_cannot_run_concurrently() -> None:
    app, _ = app_with(Queue("work"))
    with local.run(app, realtime=True) as rt, pytest.raises(Exception, match="run_concurrently needs the fake clock"):
        rt.run_concurrently()
