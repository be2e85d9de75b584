"""The scale model (bench/scale.py) predicts what the real worker does on the local runtime at small scale.

The simulation is not the model again: ``rt.run_concurrently`` runs the app's worker on moto, invocation by
invocation, with the local event source's scale-up (the same documented figures, from ``squall.limits``); the model
is a fluid rate calculation. They must agree on drain time, peak concurrency and the table writes made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from bench import scale

from squall import Queue, Squall, State, clock, local
from squall.local.esm import Invocation


def most_at_once(invocations: list[Invocation]) -> int:
    """The most invocations running at one instant."""
    edges = sorted([(i.started_at, 1) for i in invocations] + [(i.ended_at or 0.0, -1) for i in invocations])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


#: DynamoDB operations that spend write units on the table.
WRITE_OPERATIONS = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


@dataclass(frozen=True)
class Simulated:
    """What the real worker did on the local runtime: drain seconds, most invocations at once, table writes."""

    seconds: float
    peak: int
    writes: int


def simulate(tasks: int, batch_size: int, cap: int, seconds: float) -> Simulated:
    """Drain ``tasks`` that each hold their record ``seconds`` on the fake clock, through the real worker."""
    app = Squall("scale", queues=[Queue("work", batch_size=batch_size, max_concurrency=cap)])

    @app.task(queue="work", max_retries=0)
    def hold() -> None:
        clock.sleep(seconds)

    writes: list[str] = []

    def count(event_name: str, **_: Any) -> None:
        writes.append(event_name)

    with local.run(app) as rt:
        results = app.send_batch([hold.s() for _ in range(tasks)])
        for operation in WRITE_OPERATIONS:
            app.dynamodb.meta.events.register(f"before-call.dynamodb.{operation}", count)
        t0 = rt.clock.now()
        rt.run_concurrently()
        assert all(r.state is State.SUCCESS for r in results)
        return Simulated(rt.clock.now() - t0, most_at_once(rt.invocations), len(writes))


@pytest.mark.parametrize(
    ("tasks", "batch_size", "cap", "seconds"),
    [
        (120, 1, 20, 10.0),  # the ramp (5, then +5 a second) matters: 20 reached after 3 s
        (400, 10, 8, 2.0),  # batches of 10 at a cap below the first figure's reach
        (60, 1, 30, 30.0),  # the burst runs out before the ceiling
    ],
)
def test_the_model_predicts_the_simulated_drain_time_and_peak_concurrency(
    tasks: int, batch_size: int, cap: int, seconds: float
) -> None:
    burst = scale.Burst(
        tasks=tasks,
        batch_size=batch_size,
        record_ms=seconds * 1000,
        max_concurrency=cap,
        warm_writes=1e9,  # moto never throttles: the simulation has no write ceiling
        step=0.25,
    )

    predicted = scale.drain(burst)
    simulated = simulate(tasks, batch_size, cap, seconds)

    assert predicted.peak_concurrency == simulated.peak
    # The model is fluid (tasks finish at a rate), the simulation in whole invocations: they agree within one.
    assert abs(predicted.seconds - simulated.seconds) <= burst.invocation_seconds
    # The table writes the model charges against DynamoDB's ceilings are the ones the worker makes.
    assert simulated.writes == pytest.approx(burst.writes_per_task * tasks)


def test_the_model_scales_up_at_the_documented_rate() -> None:
    burst = scale.Burst(max_concurrency=None)

    assert scale.allowed(burst, 0) == 5
    assert scale.allowed(burst, 60) == 305
    assert scale.allowed(burst, 3600) == 1250
    provisioned = scale.Burst(mode="provisioned", max_pollers=2000)
    assert scale.allowed(provisioned, 0) == 20
    assert scale.allowed(provisioned, 60) == 1020
    assert scale.allowed(provisioned, 3600) == 20_000


def test_a_new_table_doubles_its_write_ceiling_only_after_a_peak_held_30_minutes() -> None:
    capacity = scale.WriteCapacity(None)

    capacity.use(0, 4000)
    assert capacity.at(1799) == 4000
    assert capacity.at(1800) == 8000


def test_a_burst_of_a_million_on_a_new_table_is_bound_by_its_writes() -> None:
    drained = scale.drain(scale.Burst(tasks=1_000_000, max_concurrency=None))

    # 2 writes a task at 4,000 units a second: 2,000 tasks a second, 500 s (and the event source's first
    # seconds of scaling up), however many invocations run.
    assert drained.bottleneck == "DynamoDB writes"
    assert drained.first_throttle is not None
    assert drained.first_throttle[0] == "DynamoDB writes"
    assert 500 <= drained.seconds <= 510


def test_the_in_flight_limit_bounds_provisioned_mode_at_large_batches() -> None:
    # 10 s invocations of 100 records: provisioned mode (20, +1,000 a minute) reaches 120,000 / 100 = 1,200
    # invocations after 71 s, with 10 million tasks far from drained; the in-flight limit holds the rest of the
    # drain. (With 1 ms records the burst drains in 34 s, at 570 invocations, before the ramp meets the limit.)
    burst = scale.Burst(tasks=10_000_000, mode="provisioned", max_pollers=2000, batch_size=100, record_ms=100,
                        account_concurrency=50_000, warm_writes=1e9)  # fmt: skip

    drained = scale.drain(burst)

    assert drained.peak_concurrency == 120_000 // 100
    assert drained.bound_by["event source scale-up"] == pytest.approx(71.0, abs=1e-4)
    assert drained.bottleneck == "SQS in flight"


def test_provisioned_mode_stops_at_its_default_maximum_pollers() -> None:
    burst = scale.Burst(mode="provisioned")

    assert scale.allowed(burst, 3600) == 200 * 10


def test_a_fifo_queue_meets_its_smaller_in_flight_limit() -> None:
    assert scale.in_flight_limit(scale.Burst(fifo=True, batch_size=10)) == 2000


def test_a_fifo_burst_runs_one_batch_per_message_group() -> None:
    burst = scale.Burst(tasks=10_000, fifo=True, message_groups=3, max_concurrency=None, warm_writes=1e9)

    drained = scale.drain(burst)

    assert drained.peak_concurrency == 3
    assert drained.bottleneck == "FIFO message groups"
