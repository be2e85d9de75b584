"""The cost model: its arithmetic against hand-computed figures, and its counts against the bench's measurements."""

from __future__ import annotations

import json
import math

import pytest
from bench import per_task
from click.testing import CliRunner

import squall.cli.cost  # noqa: F401  # registers `squall cost` on the group
from squall.cli import cli
from squall.deploy import cost

ARM_GB_S = 0.0000133334
MILLION = 1_000_000


def test_price_table_ships_with_a_source_and_date_for_every_price() -> None:
    prices = cost.load_prices()
    assert prices.region == "us-east-1"
    for price in prices.prices.values():
        assert price.source.startswith("https://"), price.key
        assert price.as_of, price.key
        assert price.usd > 0, price.key
        assert price.per > 0, price.key


def test_noop_task_with_result_costs_what_a_hand_calculation_says() -> None:
    estimate = cost.estimate(cost.Workload())

    usage = estimate.usage
    assert (usage.sqs_send, usage.sqs_receive, usage.sqs_delete, usage.sqs_visibility) == (0.1, 0.1, 0.1, 0.0)
    assert usage.dynamodb_write_units == 2
    assert usage.lambda_invocations == 0.1
    assert usage.lambda_gb_seconds == pytest.approx(0.020 * 128 / 1024)
    per_million = estimate.per_million
    assert per_million["sqs"] == pytest.approx(0.3 * 0.40)
    assert per_million["dynamodb"] == pytest.approx(2 * 0.625)
    assert per_million["lambda_requests"] == pytest.approx(0.1 * 0.20)
    assert per_million["lambda_duration"] == pytest.approx(0.0025 * MILLION * ARM_GB_S)
    assert per_million["cloudwatch_logs"] == pytest.approx(0.1 * cost.EMF_BYTES_PER_INVOCATION * MILLION / 2**30 * 0.5)
    assert per_million["scheduler"] == 0
    assert estimate.total_per_million == pytest.approx(0.12 + 1.25 + 0.02 + 0.0333335 + per_million["cloudwatch_logs"])


def test_noop_task_with_result_meets_the_dollar_target_at_128_mb_arm64() -> None:
    assert cost.estimate(cost.Workload(memory_mb=128, arch="arm64", batch_size=10)).total_per_million <= 1.50


def test_one_retry_adds_a_delivery_a_new_message_and_four_write_units() -> None:
    usage = cost.usage(cost.Workload(retries=1))

    assert usage.sqs_receive == pytest.approx(0.2)
    assert usage.sqs_delete == pytest.approx(0.2)
    assert usage.sqs_send == pytest.approx(1.1)
    assert usage.sqs_visibility == 0
    assert usage.dynamodb_writes == 4  # claim, retry, claim, finish
    assert usage.dynamodb_write_units == 6  # and the listing index: in with RETRY, out with the claim
    assert usage.lambda_invocations == pytest.approx(0.2)


def test_x86_duration_uses_the_x86_price() -> None:
    workload = cost.Workload(memory_mb=1024, duration_ms=100, arch="x86_64")

    assert cost.estimate(workload).per_million["lambda_duration"] == pytest.approx(0.1 * MILLION * 0.0000166667)


def test_batches_above_ten_need_a_receive_and_a_delete_per_ten_records() -> None:
    usage = cost.usage(cost.Workload(batch_size=25))

    assert usage.sqs_receive == pytest.approx(3 / 25)
    assert usage.sqs_delete == pytest.approx(3 / 25)
    assert usage.lambda_invocations == pytest.approx(1 / 25)


def test_long_delays_cost_a_hold_write_and_a_scheduler_invocation_after_the_free_allowance() -> None:
    estimate = cost.estimate(cost.Workload(tasks_per_month=20 * MILLION, delayed_fraction=1.0))

    assert estimate.usage.dynamodb_write_units == 3
    assert estimate.usage.sqs_send == 1
    assert estimate.per_million["scheduler"] == pytest.approx(1.00)
    assert estimate.monthly["scheduler"] == pytest.approx(6.00)  # 20 M invocations less 14 M free, at $1/M


def test_fixed_monthly_lines_do_not_depend_on_the_task_count() -> None:
    estimate = cost.estimate(cost.Workload(tasks_per_month=0, queues=2))

    idle = (2 + 1) * cost.ESM_IDLE_POLLERS * cost.SECONDS_PER_MONTH / cost.ESM_LONG_POLL_SECONDS * 0.40 / MILLION
    assert estimate.fixed_monthly["idle_polling"] == pytest.approx(idle)
    assert estimate.fixed_monthly["custom_metrics"] == pytest.approx(cost.WORKER_CUSTOM_METRICS * 0.30)
    assert estimate.total_monthly == pytest.approx(idle + cost.WORKER_CUSTOM_METRICS * 0.30)


@pytest.mark.parametrize(
    ("reports", "duration_ms", "writes"),
    [(0, 1000, 0), (1, 0, 1), (10, 1000, 1), (10, 2000, 2), (10, 10_000, 10), (3, 60_000, 3)],
)
def test_progress_reports_are_coalesced_to_one_write_a_second(reports: int, duration_ms: float, writes: int) -> None:
    assert cost.progress_writes(reports, duration_ms) == writes


def test_item_sizes_follow_dynamodbs_rules() -> None:
    assert cost.item_bytes({"pk": {"S": "task#abc"}}) == 2 + 8
    assert cost.number_bytes("1700000000.5") == math.ceil(11 / 2) + 1
    assert cost.number_bytes("100") == 2
    assert cost.item_bytes({"m": {"M": {"a": {"BOOL": True}}}}) == 1 + 3 + (1 + 1 + 1)
    assert (cost.write_units(0, 1024), cost.write_units(0, 1025), cost.write_units(2000, 10)) == (1, 2, 2)


def test_the_model_charges_every_custom_metric_the_worker_can_publish() -> None:
    from squall import handler

    names = {*handler.OUTCOME_METRICS.values(), *handler.RECONCILED_METRICS.values(), handler.ERROR_METRIC}

    assert len(names) == cost.WORKER_CUSTOM_METRICS


def test_workload_refuses_impossible_values_and_names_them() -> None:
    with pytest.raises(ValueError, match="delayed_fraction"):
        cost.Workload(delayed_fraction=0.8, periodic_fraction=0.5)
    with pytest.raises(ValueError, match="batch_size"):
        cost.Workload(batch_size=0)


def test_cost_command_prints_the_model_as_json() -> None:
    result = CliRunner().invoke(cli, ["cost", "--tasks-per-month", "5000000", "--retries", "0.5", "--json"])

    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    expected = cost.estimate(cost.Workload(tasks_per_month=5 * MILLION, retries=0.5))
    assert doc["per_million_tasks_usd"]["total"] == pytest.approx(expected.total_per_million)
    assert doc["monthly_usd"]["total"] == pytest.approx(expected.total_monthly)


def test_cost_command_prints_a_breakdown_by_service() -> None:
    result = CliRunner().invoke(cli, ["cost", "--ignore-result", "--arch", "x86_64", "--memory", "256"])

    assert result.exit_code == 0, result.output
    for line in ("SQS requests", "DynamoDB on-demand", "Lambda duration", "EventBridge Scheduler", "total"):
        assert line in result.output


@pytest.mark.parametrize("scenario", per_task.SCENARIOS, ids=lambda s: s.key)
def test_the_bench_measures_exactly_the_counts_the_model_uses(scenario: per_task.Scenario) -> None:
    measured = per_task.measure(scenario, 20)

    assert measured.unavailable is None
    # An untracked task has no state to read: the bench counts its runs
    assert measured.states == {"ran, untracked" if scenario.key == "untracked" else "SUCCESS": measured.n}
    assert per_task.model_mismatches(measured) == {}
    assert measured.largest_item <= 1024  # so each write is one unit, as the model assumes


def test_an_untracked_task_makes_no_writes_and_meets_its_twenty_cent_target() -> None:
    estimate = cost.estimate(cost.Workload(tracked=False, duration_ms=cost.UNTRACKED_DURATION_MS))

    assert estimate.usage.dynamodb_writes == estimate.usage.dynamodb_write_units == 0
    assert estimate.per_million["dynamodb"] == 0
    assert estimate.total_per_million <= 0.20
    # Retries of an untracked task cost messages and deliveries, still no writes
    retried = cost.usage(cost.Workload(tracked=False, retries=1))
    assert retried.dynamodb_write_units == 0
    assert retried.sqs_send == pytest.approx(1.1)


def test_limiter_writes_are_charged_per_delivery() -> None:
    plain = cost.usage(cost.Workload())
    limited = cost.usage(cost.Workload(limiter_writes=1, retries=1))
    assert limited.dynamodb_write_units - cost.usage(cost.Workload(retries=1)).dynamodb_write_units == 2
    assert cost.usage(cost.Workload(limiter_writes=3)).dynamodb_writes == plain.dynamodb_writes + 3
    with pytest.raises(ValueError, match="limiter_writes"):
        cost.Workload(limiter_writes=-1)


def test_cost_command_prices_untracked_and_limited_tasks() -> None:
    untracked = CliRunner().invoke(cli, ["cost", "--untracked", "--duration-ms", "7", "--json"])
    limited = CliRunner().invoke(cli, ["cost", "--limiter-writes", "1", "--json"])

    assert untracked.exit_code == 0, untracked.output
    assert json.loads(untracked.output)["per_million_tasks_usd"]["total"] <= 0.20
    assert json.loads(limited.output)["per_million_tasks_usd"]["total"] == pytest.approx(1.43 + 0.625, abs=0.01)
