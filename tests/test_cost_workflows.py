"""The workflow cost model: its arithmetic, `squall cost`'s workflow options, and its counts against the bench's."""

from __future__ import annotations

import json

import pytest
from bench import workflow_tables, workflows
from click.testing import CliRunner

import squall.cli.cost  # noqa: F401  # registers `squall cost` on the group
from squall import limits
from squall.cli import cli
from squall.deploy import cost, workflow_cost

MILLION = 1_000_000
WRITE, READ, SQS = 0.625 / MILLION, 0.125 / MILLION, 0.40 / MILLION
#: Small shapes that still cross the edges the model counts: a chord past one shard of 64 members, chains that
#: share batches, one that runs alone. Members and chains come in tens, so that batches are full.
SHAPES = (
    workflows.Shape("chain_alone", "chain", 3),
    workflows.Shape("chains", "chain", 2, count=10),
    workflows.Shape("group", "group", 20),
    workflows.Shape("chord", "chord", 70),
)
FIELDS = ("sqs_send", "sqs_receive", "sqs_delete", "sqs_visibility", "dynamodb_write_units", "dynamodb_read_units")


@pytest.fixture(scope="module")
def measured() -> dict[str, workflows.Measured]:
    return {shape.key: workflows.measure(shape) for shape in SHAPES}


@pytest.mark.parametrize("key", [s.key for s in SHAPES])
def test_the_bench_measures_exactly_the_counts_the_workflow_model_uses(
    measured: dict[str, workflows.Measured], key: str
) -> None:
    m = measured[key]

    tasks = m.shape.units + (1 if m.shape.kind == "chord" else 0)
    assert m.states == {"SUCCESS": tasks}
    assert workflows.model_mismatches(m) == {}
    assert m.largest_item <= limits.DYNAMODB_WRITE_UNIT_BYTES  # one write unit a write, as the model assumes


def test_a_chord_members_measured_figures_are_the_models_per_member_figures(
    measured: dict[str, workflows.Measured],
) -> None:
    m = measured["chord"]
    n = m.shape.units

    member, own = m.usage("unit", n), m.usage("fixed")
    model_member = workflow_cost.member_usage(cost.Workload())
    model_own = workflow_cost.chord_usage(cost.Workload(), n)
    for name in FIELDS:
        assert getattr(member, name) == pytest.approx(getattr(model_member, name)), name
        assert getattr(own, name) == pytest.approx(getattr(model_own, name)), name
    assert m.parts["fixed"].batch_gets == workflow_cost.batch_get_requests(n) == 1
    assert m.parts["fixed"].dynamodb_writes == 2 + workflow_cost.shards(n) == 4  # body claim, finish; 2 shards


def test_a_chain_step_is_one_send_whether_or_not_it_shares_batches(measured: dict[str, workflows.Measured]) -> None:
    alone = measured["chain_alone"].usage("unit", 3)
    side_by_side = measured["chains"].usage("unit", 20)

    assert (alone.sqs_send, alone.sqs_receive, alone.sqs_delete) == (1, 1, 1)
    assert (side_by_side.sqs_send, side_by_side.sqs_receive, side_by_side.sqs_delete) == pytest.approx((1, 0.1, 0.1))
    assert alone.dynamodb_write_units == side_by_side.dynamodb_write_units == 2


def test_a_chord_member_meets_the_write_unit_and_sqs_targets() -> None:
    member = workflow_cost.member_usage(cost.Workload())

    assert member.dynamodb_write_units <= workflow_tables.TARGET_WRITE_UNITS_PER_MEMBER
    assert member.sqs_requests <= workflow_tables.TARGET_SQS_PER_MEMBER


def test_a_chord_of_1000_costs_what_a_hand_calculation_says() -> None:
    member = workflow_cost.member_usage(cost.Workload())
    own = workflow_cost.chord_usage(cost.Workload(), 1000)

    assert (member.sqs_send, member.sqs_receive, member.sqs_delete) == pytest.approx((0.1, 0.1, 0.1))
    assert (member.dynamodb_writes, member.dynamodb_write_units, member.dynamodb_read_units) == (3, 3, 1)
    # the body's send, receive and delete; its claim and finish, and 16 shard numbers (1000 / 64, rounded up)
    assert (own.sqs_send, own.sqs_receive, own.sqs_delete) == (1, 1, 1)
    assert own.dynamodb_write_units == 2 + 16
    assert own.lambda_invocations == 1
    per_million = cost.price_per_million(member)
    assert per_million["sqs"] + per_million["dynamodb"] == pytest.approx((0.3 * SQS + 3 * WRITE + READ) * MILLION)


def test_the_monthly_extra_is_the_count_the_read_and_the_chain_steps_own_sends() -> None:
    flows = workflow_cost.Workflows(chain_links=2 * MILLION, chord_members=10 * MILLION, chords=10_000)

    estimate = workflow_cost.estimate(flows)

    chains_extra = 2 * MILLION * (1 - 0.1) * SQS  # a step's own send instead of a tenth of a batch
    members_extra = 10 * MILLION * (WRITE + READ)  # the count and the body's read of it
    body_lambda = cost.price_per_million(workflow_cost.chord_usage(cost.Workload(), 1000))
    plain = sum(cost.price_per_million(cost.usage(cost.Workload())).values()) / MILLION
    chords_extra = 10_000 * (sum(body_lambda.values()) / MILLION - plain)
    assert estimate.extra_monthly == pytest.approx(chains_extra + members_extra + chords_extra)
    assert estimate.total_monthly == pytest.approx(estimate.as_plain_tasks_monthly + estimate.extra_monthly)


def test_a_chain_running_alone_pays_a_receive_and_a_delete_a_step() -> None:
    usage = workflow_cost.link_usage(cost.Workload(), chain_batch=1)

    assert (usage.sqs_send, usage.sqs_receive, usage.sqs_delete) == (1, 1, 1)
    assert usage.lambda_invocations == 1


def test_workflows_refuse_impossible_counts_and_name_them() -> None:
    with pytest.raises(ValueError, match="chord_members needs chords"):
        workflow_cost.Workflows(chord_members=100)
    with pytest.raises(ValueError, match="1-10,000 members a chord"):
        workflow_cost.Workflows(chord_members=20_001, chords=2)
    with pytest.raises(ValueError, match="chain_batch"):
        workflow_cost.Workflows(chain_links=1, chain_batch=0)


def test_cost_command_prices_workflows_as_json() -> None:
    args = ["cost", "--chain-links", "1000000", "--chord-members", "5000000", "--chords", "5000", "--json"]

    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)["workflows"]
    expected = workflow_cost.estimate(
        workflow_cost.Workflows(chain_links=MILLION, chord_members=5 * MILLION, chords=5000)
    )
    assert doc["extra_monthly_usd"] == pytest.approx(expected.extra_monthly)
    assert doc["usage"]["chord_member"]["dynamodb_write_units"] == 3
    assert doc["members_per_chord"] == 1000


def test_cost_command_prints_the_workflows_extra_and_refuses_members_without_chords() -> None:
    runner = CliRunner()

    shown = runner.invoke(cli, ["cost", "--chord-members", "1000", "--chords", "10", "--chain-batch", "1"])
    refused = runner.invoke(cli, ["cost", "--chord-members", "1000"])

    assert shown.exit_code == 0, shown.output
    for line in ("chord member", "chain step", "extra for the workflows"):
        assert line in shown.output
    assert refused.exit_code == 2
    assert "chord-members needs chords" in refused.output


def test_cost_command_without_workflows_prints_no_workflow_section() -> None:
    result = CliRunner().invoke(cli, ["cost", "--json"])

    assert "workflows" not in json.loads(result.output)


def test_step_functions_map_states_are_priced_per_transition_as_counted() -> None:
    inline, distributed, batched = workflows.MAP_MODES

    assert workflows.map_per_million(inline, 1000)["orchestration"] == pytest.approx((1 + 2 / 1000) * 25)
    assert workflows.map_per_million(distributed, 1000)["orchestration"] == pytest.approx((2 + 2 / 1000) * 25)
    assert workflows.map_per_million(batched, 1000)["orchestration"] == pytest.approx((0.2 + 2 / 1000) * 25)


def test_the_workflow_tables_show_every_measured_shape(measured: dict[str, workflows.Measured]) -> None:
    tables = workflow_tables.render(list(measured.values()))

    first = tables[0]
    for shape in SHAPES:
        assert any(row[0] == shape.label for row in first.rows), shape.label
    assert [t.title.split(":")[0] for t in tables] == [
        "Workflows",
        "Workflows against the targets (chord of 70 members)",
        "A chord's job, side by side",
    ]
