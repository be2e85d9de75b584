"""Per-queue workers: a queue that declares its own sizing is served by a function of its own, whose timeout its
visibility timeout, the deadline its invocations see and the time limits of its tasks derive from."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from squall import Squall, State, TaskDefinitionError, WorkerSizing, clock, local
from squall.deploy.topology import Queue, describe
from squall.local import Runtime


def _app() -> Squall:
    return Squall(
        f"test-{uuid.uuid4().hex[:8]}",
        queues=[Queue("default"), Queue("quick", timeout=30), Queue("reports", timeout=900, memory=1024)],
    )


@pytest.fixture
def app() -> Squall:
    return _app()


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task(max_retries=0)
    def crunch(seconds: float) -> str:
        clock.sleep(seconds)
        return "crunched"

    @app.task(expected_duration=20)
    def step(n: int) -> int:
        clock.sleep(20)
        return n

    return SimpleNamespace(crunch=crunch, step=step)


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def test_each_queue_is_polled_with_its_own_functions_timeout(rt: Runtime) -> None:
    timeouts = {mapping.resource.name: mapping.timeout for mapping in rt.mappings}

    assert timeouts == {"default": 60.0, "quick": 30.0, "reports": 900.0}


def test_visibility_timeout_derives_from_each_queues_own_function(app: Squall) -> None:
    topology = describe(app)

    assert topology.queue("quick").visibility_timeout == 6 * 30
    assert topology.queue("reports").visibility_timeout == 6 * 900
    assert topology.queue("default").visibility_timeout == 6 * topology.sizing.timeout


def test_a_long_run_fits_in_the_long_queue(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.crunch.apply_async(kwargs={"seconds": 100}, queue="reports")
    started = rt.clock.now()

    rt.poll("reports")

    assert result.get(timeout=0) == "crunched"
    invocation = rt.invocations[-1]
    assert not invocation.timed_out
    assert invocation.ended_at == pytest.approx(started + 100, abs=1e-3)


def test_the_same_run_is_stopped_at_the_short_queues_timeout(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.crunch.apply_async(kwargs={"seconds": 100}, queue="quick")
    started = rt.clock.now()

    rt.poll("quick")

    invocation = rt.invocations[-1]
    assert invocation.timed_out
    assert invocation.ended_at == pytest.approx(started + 30, abs=1e-3)
    assert result.state is not State.SUCCESS


def test_the_short_queue_hands_back_what_its_remaining_time_cannot_fit(rt: Runtime, tasks: SimpleNamespace) -> None:
    first, second = (tasks.step.apply_async(kwargs={"n": n}, queue="quick") for n in (1, 2))

    rt.poll("quick")

    # 30 s timeout: after a 20 s run, 10 s are left, under the second's 20 s plus the margin for its writes.
    states = sorted(r.state.value for r in (first, second))
    assert states == sorted([State.SUCCESS.value, State.PENDING.value])
    assert len(rt.invocations) == 1
    assert len(rt.invocations[0].kept) == 1


def test_the_long_queue_runs_both_in_one_invocation(rt: Runtime, tasks: SimpleNamespace) -> None:
    first, second = (tasks.step.apply_async(kwargs={"n": n}, queue="reports") for n in (1, 2))

    rt.poll("reports")

    assert first.get(timeout=0) == 1
    assert second.get(timeout=0) == 2
    assert len(rt.invocations) == 1


def test_a_time_limit_past_the_short_queues_timeout_is_refused() -> None:
    app = _app()

    @app.task(queue="quick", time_limit=100)
    def render() -> None: ...

    with pytest.raises(TaskDefinitionError, match=r"time_limit 100 s does not fit in the worker's 30 s timeout"):
        describe(app)


def test_the_same_time_limit_is_accepted_on_the_long_queue() -> None:
    app = _app()

    @app.task(queue="reports", time_limit=100)
    def render() -> None: ...

    topology = describe(app)

    assert topology.sizing_of("reports").timeout == 900


def test_the_refusal_names_the_queues_own_setting() -> None:
    app = _app()

    @app.task(queue="quick", expected_duration=40)
    def render() -> None: ...

    with pytest.raises(TaskDefinitionError, match=r"Queue\('quick', timeout=\.\.\.\)"):
        describe(app)


def test_queues_without_sizing_share_the_default_worker(app: Squall) -> None:
    topology = describe(app)

    assert [worker.queue for worker in topology.workers] == ["quick", "reports"]
    assert topology.worker("default") is None


def test_what_a_sized_queue_leaves_unset_is_the_default_workers(app: Squall) -> None:
    topology = describe(app)

    assert topology.sizing_of("quick").memory == topology.sizing.memory
    assert topology.sizing_of("reports").memory == 1024


def test_a_queue_with_lanes_is_served_by_one_function_for_all_its_lanes() -> None:
    app = Squall("lanes", queues=[Queue("emails", lanes=("high", "low"), timeout=120)])

    topology = describe(app)

    assert [worker.queue for worker in topology.workers] == ["emails"]
    assert topology.queue("emails:high").visibility_timeout == 6 * 120
    assert topology.queue("emails:low").visibility_timeout == 6 * 120


@pytest.mark.parametrize(
    ("sizing", "message"),
    [
        ({"timeout": 0}, r"timeout 0 must be 1-900 seconds"),
        ({"timeout": 901}, r"timeout 901 must be 1-900 seconds"),
        ({"memory": 127}, r"memory 127 must be 128-10240 MB"),
        ({"memory": 10_241}, r"memory 10241 must be 128-10240 MB"),
        ({"ephemeral_storage": 511}, r"ephemeral_storage 511 must be 512-10240 MB"),
        ({"ephemeral_storage": 10_241}, r"ephemeral_storage 10241 must be 512-10240 MB"),
        ({"reserved_concurrency": -1}, r"reserved_concurrency -1 must be at least 0"),
        ({"timeout": 1.5}, r"timeout 1.5 must be a whole number"),
    ],
)
def test_sizing_outside_lambdas_ranges_is_refused(sizing: dict[str, int], message: str) -> None:
    with pytest.raises(TaskDefinitionError, match=rf"queue 'reports': {message}"):
        Queue("reports", **sizing)  # type: ignore[arg-type]


def test_a_reservation_below_the_event_sources_cap_is_refused() -> None:
    with pytest.raises(TaskDefinitionError, match=r"queue 'reports': reserved_concurrency 3 is below .* \(5:"):
        Queue("reports", max_concurrency=5, reserved_concurrency=3)


def test_an_uncapped_queue_cannot_reserve_concurrency() -> None:
    with pytest.raises(TaskDefinitionError, match=r"a queue without max_concurrency"):
        Queue("reports", max_concurrency=None, reserved_concurrency=50)


def test_a_reservation_covering_every_lane_is_accepted() -> None:
    queue = Queue("emails", lanes=("high", "low"), lane_concurrency={"high": 4, "low": 2}, reserved_concurrency=6)

    assert queue.reserved_concurrency == 6


def test_a_reservation_of_zero_stops_the_function_and_is_accepted() -> None:
    queue = Queue("reports", reserved_concurrency=0)

    assert queue.reserved_concurrency == 0


def test_the_default_workers_reservation_must_cover_the_queues_it_serves() -> None:
    app = Squall("shared", queues=["default", Queue("reports", timeout=900, max_concurrency=10)])

    with pytest.raises(TaskDefinitionError, match=r"the default worker: reserved_concurrency 5 is below .* \(10:"):
        describe(app, WorkerSizing(reserved_concurrency=5))


def test_a_sized_queue_does_not_count_toward_the_default_workers_reservation() -> None:
    app = Squall("shared", queues=["default", Queue("reports", timeout=900, max_concurrency=10)])

    topology = describe(app, WorkerSizing(reserved_concurrency=10))

    assert topology.sizing.reserved_concurrency == 10
