"""The offload benchmark counts what ``squall cost`` models: S3 requests and bytes per offloaded task."""

from __future__ import annotations

import pytest
from bench import offload

from squall.deploy import offload_cost

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def measured() -> dict[str, offload.S3Usage]:
    return {usage.key: usage for usage in offload.measure(1)}


def test_every_scenario_ends_in_success(measured: dict[str, offload.S3Usage]) -> None:
    assert {key: dict(usage.states) for key, usage in measured.items()} == {
        key: {"SUCCESS": 1} for key in offload.SCENARIOS
    }


def test_an_offloaded_argument_costs_the_modelled_requests_per_send_retry_and_delivery(
    measured: dict[str, offload.S3Usage],
) -> None:
    once, retried = measured["argument"], measured["retried"]

    assert once.per_task("PutObject") == offload_cost.PUTS_PER_SEND
    assert once.per_task("GetObject") == offload_cost.GETS_PER_DELIVERY
    assert retried.per_task("PutObject") == offload_cost.PUTS_PER_SEND + offload_cost.PUTS_PER_RETRY
    assert retried.per_task("GetObject") == 2 * offload_cost.GETS_PER_DELIVERY
    assert set(once.requests) == {"PutObject", "GetObject"}


def test_an_offloaded_result_costs_one_put_and_one_get_per_read(measured: dict[str, offload.S3Usage]) -> None:
    result = measured["result"]

    assert result.per_task("PutObject") == offload_cost.RESULT_PUTS
    assert result.per_task("GetObject") == offload_cost.RESULT_GETS_PER_READ


def test_the_bytes_moved_are_the_value_and_its_json_framing(measured: dict[str, offload.S3Usage]) -> None:
    once = measured["argument"]

    assert offload.ARGUMENT_MIB * MIB < once.bytes_put < offload.ARGUMENT_MIB * MIB + 1024
    assert once.bytes_got == once.bytes_put


def test_a_redrive_writes_the_arguments_again(measured: dict[str, offload.S3Usage]) -> None:
    redriven = measured["redriven"]

    assert redriven.per_task("PutObject") == 2
    assert redriven.per_task("GetObject") >= 2
