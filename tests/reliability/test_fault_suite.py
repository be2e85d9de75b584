"""The fault-injection suite at CI size: every fault at once, then every invariant (see docs/reliability.md).

``.venv/bin/python -m tests.reliability.run --n 5000`` runs the same suite at any size and prints the table.
"""

from __future__ import annotations

import pytest
from tests.reliability.harness import FaultPlan, Report, run_suite

#: Each kind of fault the suite must actually have injected for its result to mean anything.
INJECTED = [
    "transient task failures",
    "poison task failures",
    "worker crashes after k records of a batch",
    "timeouts (a body ran past the function timeout)",
    "duplicate deliveries (a copy sent again)",
    "concurrent deliveries of a running task",
    "dynamodb writes throttled, then retried through",
    "dynamodb writes refused for good",
    "send entries failed (SenderFault True, sender fault)",
    "send entries failed (SenderFault False, service fault)",
    "send calls timed out after SQS accepted them",
]


@pytest.fixture(scope="module")
def report() -> Report:
    return run_suite(FaultPlan(n=200))


def test_every_kind_of_fault_was_injected(report: Report) -> None:
    assert {kind: report.faults[kind] for kind in INJECTED if not report.faults[kind]} == {}


def test_no_task_is_lost_duplicated_or_left_behind_under_every_fault_at_once(report: Report) -> None:
    assert report.violations == [], report.table()
    assert report.outcomes["lost"] == 0
    assert report.outcomes["left STARTED"] == 0
    assert report.outcomes["messages left on the source queue"] == 0
    assert (
        report.outcomes["SUCCESS"] + report.outcomes["DEAD (poison)"] + report.outcomes["DEAD (every attempt failed)"]
        == report.outcomes["tasks"]
    )


def test_a_run_repeats_exactly_with_its_seed() -> None:
    plan = FaultPlan(n=40, seed=7).intensified(3)

    first, second = run_suite(plan), run_suite(plan)

    assert (first.faults, first.outcomes) == (second.faults, second.outcomes)
    assert first.violations == second.violations == []
