"""``squall cost`` prices offloaded payloads: S3 requests per send, retry, delivery and read, and storage for
as long as the bucket's lifecycle keeps an object."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from squall.cli.cost import cost_command
from squall.deploy import cost, offload_cost
from squall.offload import bucket

MIB = 1024 * 1024
MONTH_DAYS = cost.SECONDS_PER_MONTH / 86_400


def test_an_offloaded_argument_is_priced_per_request_and_per_day_kept() -> None:
    prices = cost.load_prices()
    workload = cost.Workload(tasks_per_month=1_000_000, retries=0.5)

    got = offload_cost.estimate(offload_cost.Offload(fraction=1.0, mib=5.0), workload, prices)

    assert got.puts == pytest.approx(1 + 0.5)  # the send, and half a retry on average
    assert got.gets == pytest.approx(1.5)  # one per delivery
    days = bucket.expiration_days(bucket.ARGUMENTS_LIFETIME_SECONDS)
    assert got.gb_months == pytest.approx(5 * MIB / cost.BYTES_PER_GB * days / MONTH_DAYS)
    requests = 1.5 * prices["s3_put_request"].each + 1.5 * prices["s3_get_request"].each
    assert got.per_million["s3_requests"] == pytest.approx(requests * 1_000_000)
    assert got.monthly["s3_storage"] == pytest.approx(got.gb_months * prices["s3_storage_gb_month"].each * 1e6)


def test_a_delayed_task_keeps_its_arguments_under_the_longer_rule() -> None:
    soon = offload_cost.estimate(offload_cost.Offload(fraction=1.0), cost.Workload())
    later = offload_cost.estimate(offload_cost.Offload(fraction=1.0), cost.Workload(delayed_fraction=1.0))

    ratio = bucket.expiration_days(bucket.DELAYED_ARGUMENTS_LIFETIME_SECONDS) / bucket.expiration_days(
        bucket.ARGUMENTS_LIFETIME_SECONDS
    )
    assert later.gb_months == pytest.approx(soon.gb_months * ratio)


def test_an_offloaded_result_is_one_put_and_a_get_per_read() -> None:
    got = offload_cost.estimate(offload_cost.Offload(result_fraction=0.5, result_reads=2), cost.Workload())

    assert got.puts == pytest.approx(0.5)
    assert got.gets == pytest.approx(1.0)


def test_sizes_past_the_offload_cap_are_refused_with_the_option_named() -> None:
    with pytest.raises(ValueError, match="offload_mib and offload_result_mib must be 0-100"):
        offload_cost.Offload(fraction=0.1, mib=101)


def test_the_cli_adds_the_payload_bucket_to_the_estimate() -> None:
    runner = CliRunner()

    plain = runner.invoke(cost_command, ["--json"])
    offloaded = runner.invoke(cost_command, ["--json", "--offload-fraction", "0.1", "--offload-mib", "5"])
    text = runner.invoke(cost_command, ["--offload-fraction", "0.1"])

    assert plain.exit_code == 0, plain.output
    assert "offload" not in json.loads(plain.output)
    assert offloaded.exit_code == 0, offloaded.output
    doc = json.loads(offloaded.output)["offload"]
    assert doc["usage_per_task"]["s3_put"] == pytest.approx(0.1)
    assert doc["offload"]["mib"] == 5
    assert "S3 offload" in text.output
