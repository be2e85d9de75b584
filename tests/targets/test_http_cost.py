"""HTTP-target deliveries priced beside Cloud Tasks and QStash: the model, the bench's counts, `squall cost`."""

from __future__ import annotations

import json

import pytest
from bench import http_targets
from click.testing import CliRunner

import squall.cli.cost  # noqa: F401  # registers `squall cost` on the group
from squall.cli import cli
from squall.deploy import cost, http_cost


def test_the_peers_are_priced_per_attempt_from_the_price_table() -> None:
    p = cost.load_prices()

    _, cloud_tasks, qstash = http_cost.comparison(retries=2)

    assert cloud_tasks.requests == pytest.approx(4_000_000)  # CreateTask + 3 push attempts
    assert cloud_tasks.usd == pytest.approx(4_000_000 * p["cloud_tasks_operation"].each)
    assert qstash.requests == pytest.approx(3_000_000)
    assert qstash.usd == pytest.approx(3_000_000 * p["qstash_message"].each)


def test_squalls_row_is_the_task_model_with_one_send_per_delivery() -> None:
    (squall, *_) = http_cost.comparison(http_ms=250, retries=1)

    u = cost.usage(cost.Workload(duration_ms=250, retries=1, producer_batch=1))
    assert squall.requests == pytest.approx(u.sqs_requests * 1_000_000)
    assert squall.write_units == pytest.approx(u.dynamodb_write_units * 1_000_000)
    assert squall.usd == pytest.approx(sum(cost.price_per_million(u).values()))


def test_waiting_longer_for_the_target_costs_more_lambda_time() -> None:
    fast, slow = http_cost.comparison(http_ms=50)[0], http_cost.comparison(http_ms=2000)[0]

    assert slow.usd > fast.usd
    assert slow.requests == fast.requests


def test_the_measured_counts_of_a_delivery_equal_the_model() -> None:
    results = http_targets.measure(20)

    for m in results:
        assert m.unavailable is None
        assert m.states["SUCCESS"] == 20
        measured, modelled = m.usage(), cost.usage(m.workload)
        assert measured.sqs_send == pytest.approx(modelled.sqs_send, abs=1e-4)
        assert measured.dynamodb_write_units == pytest.approx(modelled.dynamodb_write_units, abs=1e-4)
        assert measured.lambda_invocations <= modelled.lambda_invocations * 2  # partial batches at small N


def test_squall_cost_prints_the_comparison_and_its_json() -> None:
    runner = CliRunner()

    text = runner.invoke(cli, ["cost", "--http-ms", "100", "--retries", "1"])
    doc = runner.invoke(cli, ["cost", "--http-ms", "100", "--json"])

    assert text.exit_code == 0, text.output
    assert "Google Cloud Tasks" in text.output
    assert "Upstash QStash" in text.output
    rows = json.loads(doc.output)["http_targets_per_million"]
    assert [row["name"] for row in rows][1:] == ["Google Cloud Tasks (HTTP target)", "Upstash QStash (pay as you go)"]
