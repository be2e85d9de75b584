"""The REST API's added cost per request (squall.deploy.api_cost) and ``squall cost --api-requests``."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import squall.cli.cost  # noqa: F401  # registers `squall cost` on the group
from squall.api import auth
from squall.cli import cli
from squall.deploy import api_cost, cost


def test_each_request_pays_the_gateway_the_invocation_and_its_duration_at_list_prices() -> None:
    p = cost.load_prices()
    result = api_cost.estimate(api_cost.ApiUsage(duration_ms=100.0, arch="x86_64"))

    assert result.per_million["api_gateway"] == pytest.approx(1_000_000 * p["apigateway_http_request"].each)
    assert result.per_million["lambda_requests"] == pytest.approx(1_000_000 * p["lambda_request"].each)
    assert result.per_million["lambda_duration"] == pytest.approx(
        1_000_000 * 0.5 * 0.1 * p["lambda_gb_second_x86_64"].each
    )
    assert result.total_per_million == pytest.approx(sum(result.per_million.values()))


def test_secret_reads_are_amortised_over_the_requests_a_warm_instance_serves() -> None:
    few = api_cost.estimate(api_cost.ApiUsage(requests_per_month=1_000_000))
    many = api_cost.estimate(api_cost.ApiUsage(requests_per_month=10_000_000))
    reads = cost.SECONDS_PER_MONTH / api_cost.SECRET_CACHE_SECONDS

    assert few.secret_reads_per_month == pytest.approx(reads)
    assert many.per_million["secret_reads"] == pytest.approx(few.per_million["secret_reads"] / 10)


def test_an_instance_never_reads_the_secret_more_often_than_it_is_called() -> None:
    result = api_cost.estimate(api_cost.ApiUsage(requests_per_month=100, warm_instances=5))

    assert result.secret_reads_per_month == 100


def test_iam_mode_reads_and_stores_no_secret() -> None:
    token = api_cost.estimate(api_cost.ApiUsage(auth="token"))
    iam = api_cost.estimate(api_cost.ApiUsage(auth="iam"))

    assert iam.per_million["secret_reads"] == 0
    assert token.per_month - iam.per_month == pytest.approx(
        token.per_million["secret_reads"] + cost.load_prices()["secretsmanager_secret_month"].each
    )


def test_the_model_caches_the_secret_as_long_as_the_api_does() -> None:
    assert api_cost.SECRET_CACHE_SECONDS == auth.SECRET_MAX_AGE_SECONDS


def test_a_bad_usage_is_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="auth must be token or iam"):
        api_cost.ApiUsage(auth="jwt")


def test_squall_cost_prints_the_api_added_cost_and_its_json() -> None:
    runner = CliRunner()
    text = runner.invoke(cli, ["cost", "--api-requests", "2000000", "--api-auth", "iam"])
    doc = json.loads(runner.invoke(cli, ["cost", "--api-requests", "2000000", "--json"]).output)
    expected = api_cost.estimate(api_cost.ApiUsage(requests_per_month=2_000_000))

    assert text.exit_code == 0
    assert "REST API on AWS (iam auth" in text.output
    assert doc["api"]["total_per_million"] == pytest.approx(expected.total_per_million)


def test_a_sending_request_pays_one_write_unit_for_the_pending_record_and_a_read_none() -> None:
    unit = cost.load_prices()["dynamodb_write_request_unit"].each
    sending = api_cost.estimate(api_cost.ApiUsage(sending_fraction=1.0))
    reading = api_cost.estimate(api_cost.ApiUsage(sending_fraction=0.0))

    assert sending.per_million["pending_records"] == pytest.approx(1_000_000 * api_cost.PENDING_WRITE_UNITS * unit)
    assert reading.per_million["pending_records"] == 0
