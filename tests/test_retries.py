"""Retries: which errors retry, explicit task.retry, and backoff applied as the message's visibility."""

from __future__ import annotations

import math
import random
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squall import Squall, State, TaskContext
from squall.backoff import retry_delay
from squall.limits import MAX_ETA_AHEAD_SECONDS
from squall.local import Runtime

if TYPE_CHECKING:
    from conftest import ApiCalls


class Flaky(ConnectionError):
    """A transient failure worth retrying."""


class Fatal(Flaky):
    """A subclass of a retried error that must not be retried."""


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    runs: list[int] = []

    @app.task(bind=True, autoretry_for=(ConnectionError,), retry_backoff=2, retry_jitter=False)
    def flaky(task: TaskContext, failures: int) -> int:
        runs.append(task.request.attempt)
        if task.request.attempt <= failures:
            raise Flaky(f"attempt {task.request.attempt} failed")
        return task.request.attempt

    @app.task(autoretry_for=(ConnectionError,), dont_autoretry_for=(Fatal,))
    def fatal() -> None:
        runs.append(1)
        raise Fatal("will never work")

    @app.task(autoretry_for=(ConnectionError,))
    def wrong_kind() -> None:
        runs.append(1)
        raise KeyError("not a connection problem")

    @app.task(bind=True, max_retries=3)
    def polite(task: TaskContext, countdown: float) -> int:
        runs.append(task.request.attempt)
        if task.request.attempt == 1:
            raise task.retry(countdown=countdown, exc=TimeoutError("upstream asked us to wait"))
        return task.request.attempt

    @app.task(bind=True, max_retries=5)
    def stubborn(task: TaskContext, limit: int) -> None:
        runs.append(task.request.attempt)
        raise task.retry(countdown=1, max_retries=limit)

    @app.task(max_retries=12, retry_backoff=2, retry_backoff_max=600, retry_jitter=False)
    def doomed() -> None:
        raise Flaky("down")

    @app.task(max_retries=2, retry_backoff=False)
    def eager() -> None:
        raise Flaky("down")

    return SimpleNamespace(
        runs=runs,
        flaky=flaky,
        fatal=fatal,
        wrong_kind=wrong_kind,
        polite=polite,
        stubborn=stubborn,
        doomed=doomed,
        eager=eager,
    )


def retry_delays(calls: ApiCalls) -> list[int]:
    """The DelaySeconds of every message the worker sent for a retry (the first send is the producer's)."""
    return [p["DelaySeconds"] for p in calls.params("SendMessage")[1:] if not p["QueueUrl"].endswith("-dlq")]


# --- which errors retry ----------------------------------------------------------------------------------


def test_error_in_autoretry_for_is_retried_until_it_succeeds(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.flaky.delay(failures=2)

    rt.drain()

    assert result.get(timeout=0) == 3
    assert tasks.runs == [1, 2, 3]
    record = result.record
    assert record is not None
    assert record.attempt == 3
    assert record.state is State.SUCCESS


def test_retrying_task_reads_retry_with_its_last_error_between_attempts(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.flaky.delay(failures=1)

    rt.poll()

    assert result.state is State.RETRY
    assert result.error is not None
    assert result.error.type == f"{Flaky.__module__}.Flaky"
    assert result.error.message == "attempt 1 failed"
    assert result.info == result.error
    assert not result.ready()
    record = result.record
    assert record is not None
    assert record.next_attempt_at == pytest.approx(rt.clock.now() + 2)


def test_error_in_dont_autoretry_for_is_dead_at_once(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.fatal.delay()

    rt.drain()

    assert result.state is State.DEAD
    assert tasks.runs == [1]
    record = result.record
    assert record is not None
    assert record.attempt == 1
    assert record.reason is not None
    assert "not retried" in record.reason


def test_error_outside_autoretry_for_is_dead_at_once(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.wrong_kind.delay()

    rt.drain()

    assert result.state is State.DEAD
    assert tasks.runs == [1]
    assert result.error is not None
    assert result.error.type == "KeyError"


# --- explicit retry --------------------------------------------------------------------------------------


def test_explicit_retry_hides_the_message_for_its_countdown(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a task that asks to be retried in 30 s on its first attempt
    result = tasks.polite.delay(countdown=30)

    # When its first attempt runs
    rt.poll()

    # Then it waits exactly 30 s: nothing runs at 29 s, the second attempt runs at 31 s
    assert result.state is State.RETRY
    assert rt.next_wakeup() == pytest.approx(rt.clock.now() + 30, abs=0.01)
    rt.advance(29)
    assert rt.poll() == 0
    assert tasks.runs == [1]
    rt.advance(2)
    assert rt.poll() == 1
    assert tasks.runs == [1, 2]
    assert result.get(timeout=0) == 2


def test_explicit_retry_records_the_error_it_carries(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.polite.delay(countdown=30)

    rt.poll()

    assert result.error is not None
    assert result.error.type == "TimeoutError"
    assert result.error.message == "upstream asked us to wait"


def test_explicit_retry_is_a_new_message_delayed_by_its_countdown(
    rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls
) -> None:
    tasks.polite.delay(countdown=30)

    rt.poll()

    assert retry_delays(calls) == [30]
    assert calls.count("ChangeMessageVisibility") == 0
    assert calls.count("DeleteMessageBatch") == 1  # the failed delivery is acknowledged


def test_explicit_retry_respects_its_own_max_retries(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.stubborn.delay(limit=1)

    rt.drain()

    assert tasks.runs == [1, 2]
    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.reason is not None
    assert "retries exhausted after 2 attempts (max_retries=1)" in record.reason


# --- backoff ---------------------------------------------------------------------------------------------


def test_backoff_doubles_each_retry_up_to_the_cap(rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls) -> None:
    # Given a task that always fails, with backoff 2 s capped at 600 s and no jitter
    result = tasks.doomed.delay()

    # When every attempt runs, noting how long the message is hidden after each
    hidden_for = []
    while rt.poll():
        wake = rt.next_wakeup()
        if wake is not None:
            hidden_for.append(round(wake - rt.clock.now(), 2))
            rt.advance(wake - rt.clock.now())

    # Then the delays are 2, 4, 8, ... capped at 600, each the DelaySeconds of a new message, never a wait
    expected = [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600, 600]
    assert hidden_for == expected
    assert retry_delays(calls) == expected
    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.attempt == 13


def test_retry_backoff_false_retries_at_once(rt: Runtime, tasks: SimpleNamespace, calls: ApiCalls) -> None:
    result = tasks.eager.delay()

    rt.drain()

    assert retry_delays(calls) == [0, 0]
    assert result.state is State.DEAD


def test_jittered_backoff_stays_within_its_ceiling(rt: Runtime, app: Squall, calls: ApiCalls) -> None:
    @app.task(max_retries=6, retry_backoff=10, retry_backoff_max=100)
    def jittery() -> None:
        raise Flaky("down")

    jittery.delay()
    rt.drain()

    delays = retry_delays(calls)
    ceilings = [10, 20, 40, 80, 100, 100]
    assert len(delays) == len(ceilings)
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))


@pytest.mark.parametrize(
    ("retry", "expected"),
    [(1, 2), (2, 4), (3, 8), (9, 512), (10, 600), (11, 600), (1_000, 600), (10**9, 600)],
)
def test_retry_delay_without_jitter_doubles_up_to_the_cap(retry: int, expected: int) -> None:
    assert retry_delay(retry, base=2, cap=600, jitter=False) == expected


def test_retry_delay_never_exceeds_the_longest_wait_squall_accepts() -> None:
    assert retry_delay(100, base=2, cap=10**12, jitter=False) == MAX_ETA_AHEAD_SECONDS


def test_retry_delay_of_zero_base_is_zero() -> None:
    assert retry_delay(5, base=0, cap=600, jitter=True) == 0


@pytest.mark.parametrize("retry", [0, -1])
def test_retry_numbers_start_at_one(retry: int) -> None:
    with pytest.raises(ValueError, match="retry must be 1 or more"):
        retry_delay(retry, base=2, cap=600, jitter=False)


def test_full_jitter_spreads_delays_over_zero_to_the_ceiling() -> None:
    # Given a seeded generator, and retry 6 whose ceiling is min(600, 2 * 2**5) = 64 s
    rng = random.Random(20261123)

    # When
    delays = [retry_delay(6, base=2, cap=600, jitter=True, rng=rng) for _ in range(2_000)]

    # Then every draw is a whole second in [0, 64], and the draws cover the range ("full" jitter)
    assert all(isinstance(d, int) and 0 <= d <= 64 for d in delays)
    assert min(delays) == 0
    assert max(delays) == 64
    assert 28 <= sum(delays) / len(delays) <= 36


def test_full_jitter_is_reproducible_with_the_same_seed() -> None:
    def draws(rng: random.Random) -> list[int]:
        return [retry_delay(3, base=5, cap=60, jitter=True, rng=rng) for _ in range(20)]

    assert draws(random.Random(7)) == draws(random.Random(7))


@settings(max_examples=100)
@given(
    retry=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0, max_value=1_000),
    cap=st.floats(min_value=0, max_value=MAX_ETA_AHEAD_SECONDS),
    jitter=st.booleans(),
    seed=st.integers(),
)
def test_retry_delay_is_a_whole_second_between_zero_and_its_ceiling(
    retry: int, base: float, cap: float, jitter: bool, seed: int
) -> None:
    ceiling = min(cap, base * 2 ** min(retry - 1, 62))

    delay = retry_delay(retry, base=base, cap=cap, jitter=jitter, rng=random.Random(seed))

    assert isinstance(delay, int)
    assert 0 <= delay <= math.ceil(ceiling)
    if not jitter:
        assert delay == round(ceiling)
