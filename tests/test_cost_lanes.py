"""Priority lanes in the cost model: each lane is one more event source polling while idle, and nothing per task."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from squall import Queue, Squall
from squall.cli import cli
from squall.deploy import cost
from squall.deploy.topology import describe


def test_each_lane_adds_one_idle_event_source_and_no_cost_per_task() -> None:
    plain = cost.estimate(cost.Workload(tasks_per_month=1_000_000, queues=1))
    laned = cost.estimate(cost.Workload(tasks_per_month=1_000_000, queues=1, lanes=3))

    receives = cost.ESM_IDLE_POLLERS * cost.SECONDS_PER_MONTH / cost.ESM_LONG_POLL_SECONDS
    assert receives == 657_450  # five pollers, one 20-s long poll each, all month
    per_lane = receives * 0.40 / 1_000_000
    assert laned.fixed_monthly["idle_polling"] - plain.fixed_monthly["idle_polling"] == pytest.approx(3 * per_lane)
    assert round(per_lane, 4) == 0.263  # dollars a month for one idle lane
    assert laned.per_million == plain.per_million  # a task costs the same on any lane


def test_the_model_counts_the_event_sources_a_topology_deploys() -> None:
    app = Squall("costly", queues=["default", Queue("emails", lanes=("high", "normal", "low"))])
    topology = describe(app)
    workload = cost.Workload(tasks_per_month=0, queues=1, lanes=3)
    assert cost.event_sources(workload) == len(topology.queues) + 1  # every lane's and queue's, and the intake's


def test_squall_cost_takes_lanes_and_refuses_an_app_with_no_event_source() -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["cost", "--queues", "0", "--lanes", "2", "--json"])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.output)
    assert doc["workload"]["lanes"] == 2
    assert doc["fixed_monthly_usd"]["idle_polling"] == pytest.approx(3 * 657_450 * 0.40 / 1_000_000)

    refused = runner.invoke(cli, ["cost", "--queues", "0", "--lanes", "0"])
    assert refused.exit_code != 0
    assert "queues and lanes must be >= 0 with one at least, got 0 and 0" in refused.output
