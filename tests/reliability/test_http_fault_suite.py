"""The fault suite's HTTP targets: faulty receivers on 127.0.0.1, every delivery SUCCESS or DEAD as planned."""

from __future__ import annotations

import pytest
from tests.reliability.http_faults import BEHAVIOURS, FaultPlan, Report, plan_deliveries, run_suite

from squall import State


@pytest.fixture(scope="module")
def report() -> Report:
    return run_suite(FaultPlan(n=40))


def test_every_receiver_fault_was_met(report: Report) -> None:
    assert {name: report.behaviours[name] for name in BEHAVIOURS if not report.behaviours[name]} == {}


def test_both_outcomes_happened(report: Report) -> None:
    assert report.outcomes[State.SUCCESS.value] > 0
    assert report.outcomes[State.DEAD.value] > 0


def test_every_delivery_ends_as_planned_within_its_budget_with_its_reason(report: Report) -> None:
    assert report.violations == {}
    assert report.outcomes["lost or left non-terminal"] == 0
    assert report.outcomes[State.SUCCESS.value] + report.outcomes[State.DEAD.value] == 40


def test_the_plan_repeats_with_its_seed() -> None:
    first, second = plan_deliveries(FaultPlan(n=10, seed=3)), plan_deliveries(FaultPlan(n=10, seed=3))

    assert [(d.max_retries, d.behaviours) for d in first] == [(d.max_retries, d.behaviours) for d in second]


def test_the_checks_catch_a_delivery_that_ends_otherwise_than_planned(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.reliability import http_faults

    # A receiver that turns every 404 into a success: those deliveries no longer end as their plan says
    real = http_faults.reply_for
    monkeypatch.setattr(http_faults, "reply_for", lambda b, now: real("ok" if b == "404" else b, now))

    broken = run_suite(FaultPlan(n=40))

    assert "the outcome the plan implies" in broken.violations
