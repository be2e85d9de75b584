"""The fault suite's FIFO checks, checked: a clean FIFO run passes them, and each one catches what it is for."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.reliability.fifo_faults import FifoWorkload
from tests.reliability.harness import FaultPlan, Report

from squall import Queue, State, local
from squall.local import Runtime


@pytest.fixture
def run() -> Iterator[tuple[FifoWorkload, Runtime]]:
    """A FIFO workload of the suite's smallest size, sent in one wave and drained under its own faults."""
    workload, app = FifoWorkload.with_app(7, 0, "fifocheck", (Queue("default"),))
    with local.run(app) as rt:
        workload.enqueue(rt, 1)
        rt.drain()
        yield workload, rt


def test_a_clean_fifo_run_keeps_every_fifo_invariant(run: tuple[FifoWorkload, Runtime]) -> None:
    # Given a drained FIFO workload
    workload, rt = run
    violations: dict[str, list[str]] = {}
    report = Report(FaultPlan())

    # When it is checked
    workload.check(rt, violations, report)

    # Then nothing broke, and its held task went through the FIFO intake
    assert violations == {}
    assert report.outcomes["FIFO tasks: DEAD, moved by the redrive policy and reconciled"] >= 1
    assert report.outcomes["FIFO groups checked for order"] >= 1


def test_the_fifo_checks_catch_successes_out_of_send_order(run: tuple[FifoWorkload, Runtime]) -> None:
    # Given a drained FIFO workload whose successes are noted in reverse
    workload, rt = run
    workload.completed.reverse()
    violations: dict[str, list[str]] = {}

    # When it is checked
    workload.check(rt, violations, Report(FaultPlan()))

    # Then the order check names the groups
    assert list(violations) == ["FIFO successes ran out of send order in their group"]


def test_the_fifo_checks_catch_a_held_task_that_is_not_dead_as_moved(run: tuple[FifoWorkload, Runtime]) -> None:
    # Given a drained FIFO workload, and one of its successes taken for a held task
    workload, rt = run
    ran = next(i for i in workload.sent if rt.app.store.get(i).state is State.SUCCESS)  # type: ignore[union-attr]
    group, place, _ = workload.sent[ran]
    workload.sent[ran] = (group, place, "held")
    violations: dict[str, list[str]] = {}

    # When it is checked
    workload.check(rt, violations, Report(FaultPlan()))

    # Then it is reported, as run and as not moved
    assert violations == {
        "a held FIFO task ran": [ran],
        "held FIFO task(s) not DEAD as moved by the redrive policy": [ran],
    }
