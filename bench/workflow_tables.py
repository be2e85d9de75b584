"""The workflow benchmark's tables: requests and units by part, the issue's targets, and Step Functions."""

from __future__ import annotations

from bench.report import Table, money, num
from bench.workflows import MAP_MODES, Measured, map_per_million, squall_per_million
from squall import limits
from squall.deploy import cost, workflow_cost

#: The issue's targets for a chord member (write units include its count; SQS requests include its share of
#: the members' sends, receives and deletes).
TARGET_WRITE_UNITS_PER_MEMBER = 3.0
TARGET_SQS_PER_MEMBER = 0.4

SOURCES = (
    "Step Functions prices and how transitions are counted: https://aws.amazon.com/step-functions/pricing/ "
    '("Step Functions counts a state transition each time a step of your workflow is executed ... including '
    'retries"; $0.025 per 1,000 in us-east-1, prices.json stepfunctions_standard_transition) and '
    "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html (a Distributed Map is "
    "charged one transition per child workflow execution it starts; Inline Map iterations are not charged as "
    "such, the states they run are)."
)


def _row(label: str, per: str, u: cost.Usage, model: cost.Usage, batch_gets: float) -> list[str]:
    return [
        label,
        per,
        num(u.sqs_send),
        num(u.sqs_receive),
        num(u.sqs_delete),
        num(u.sqs_visibility),
        num(u.sqs_requests),
        num(u.dynamodb_writes),
        num(u.dynamodb_write_units),
        num(u.dynamodb_read_units),
        num(batch_gets),
        num(u.lambda_invocations),
        money(sum(cost.price_per_million(u).values())),
        money(sum(cost.price_per_million(model).values())),
    ]


def _rows(m: Measured) -> list[list[str]]:
    shape, w = m.shape, cost.Workload()
    if shape.kind == "chain":
        model = workflow_cost.link_usage(w, min(shape.count, w.batch_size))
        return [_row(shape.label, "step", m.usage("unit", shape.units), model, 0)]
    if shape.kind == "group":
        model = workflow_cost.task_usage(w, producer_batch=cost.SEND_BATCH_ENTRIES)
        return [_row(shape.label, "member", m.usage("unit", shape.units), model, 0)]
    n = shape.units
    whole = workflow_cost.chord_total_usage(w, n)
    batch_gets = m.parts["fixed"].batch_gets
    return [
        _row(shape.label, "member", m.usage("unit", n), workflow_cost.member_usage(w), 0),
        _row(shape.label, "chord (its own part)", m.usage("fixed"), workflow_cost.chord_usage(w, n), batch_gets),
        _row(
            shape.label,
            "member, the chord's part shared",
            _divided(m.total(), n),
            _divided(whole, n),
            batch_gets / n,
        ),
    ]


def _divided(u: cost.Usage, n: float) -> cost.Usage:
    return workflow_cost.combined((1 / n, u))


def measured_table(results: list[Measured]) -> Table:
    """Requests and units per chain step, group member, chord member and chord."""
    rows = [row for m in results for row in _rows(m)]
    checks = "; ".join(
        f"{m.shape.label}: {dict(m.states)}, {m.idle_receives} idle receives, largest item {m.largest_item} B, "
        f"largest message {m.largest_message} B"
        for m in results
    )
    return Table(
        "Workflows: requests and units per chain step, group member and chord member (measured)",
        [
            "workflow",
            "per",
            "SQS send",
            "receive",
            "delete",
            "visibility",
            "SQS total",
            "DDB writes",
            "write units",
            "read units",
            "BatchGetItem",
            "Lambda invocations",
            "$/M (measured counts)",
            "$/M (model)",
        ],
        rows,
        notes=[
            "Counted with botocore hooks on app.sqs and app.dynamodb and filed by part from what each request "
            "carries (bench/workflow_counting.py): the task ids in the messages sent, received and deleted, the "
            "key of each item written. 'chord (its own part)': the body's messages, claim and finish, the shard "
            "numbers ADDed on the group's item (one per 64 members) and the body's BatchGetItem requests (one per "
            "100 members); the read units of those requests are the members' (one each, consistent, under 4 KB).",
            "Write and read units are computed from the items as written or read (moto reports constants). "
            "Empty receives (idle polling) are left out, as for tasks. Reading the results back once as a client "
            "(AsyncResult/GroupResult.get) is left out too: one GetItem for a chain or a chord, one consistent "
            "read unit per member (BatchGetItem, 100 keys a request) for a group.",
            "A chain's next step is sent alone (a SendMessageBatch of one entry, by the worker that ran the step "
            "before it), so a step costs one send whatever runs beside it; receives and deletes are shared only "
            "when several chains advance together. A chain running alone gets batches of one.",
            f"$/M: per million of what 'per' names, at list prices ({cost.load_prices().as_of}), 128 MB arm64, "
            f"{cost.DEFAULT_DURATION_MS:g} ms billed per delivery (ASSUMED); '(model)' is squall.deploy.workflow_cost.",
            f"Checks: {checks}.",
        ],
    )


def targets_table(results: list[Measured]) -> Table:
    """The chord's figures against the issue's targets."""
    chord = next((m for m in results if m.shape.kind == "chord"), None)
    if chord is None:
        return Table("Workflows against the targets", ["figure", "target", "measured", "verdict"], [])
    n = chord.shape.units
    member, fixed = chord.usage("unit", n), chord.usage("fixed")
    shard_writes = workflow_cost.shards(n) * workflow_cost.COUNTER_WRITES_PER_SHARD
    chains = [m for m in results if m.shape.kind == "chain"]
    chain_sqs = ", ".join(f"{num(m.usage('unit', m.shape.units).sqs_requests)} ({m.shape.label})" for m in chains)
    return Table(
        f"Workflows against the targets (chord of {n} members)",
        ["figure", "target", "measured", "verdict"],
        [
            [
                "write units per chord member, its count included",
                f"≤ {num(TARGET_WRITE_UNITS_PER_MEMBER)}",
                num(member.dynamodb_write_units),
                _verdict(member.dynamodb_write_units, TARGET_WRITE_UNITS_PER_MEMBER),
            ],
            [
                "SQS requests per chord member",
                f"≤ {num(TARGET_SQS_PER_MEMBER)}",
                num(member.sqs_requests),
                _verdict(member.sqs_requests, TARGET_SQS_PER_MEMBER),
            ],
            [
                "a chord's own part",
                "a handful of requests and units",
                f"{num(fixed.sqs_requests)} SQS requests, {num(fixed.dynamodb_write_units)} write units "
                f"({shard_writes} of them shard numbers, 1 per 64 members), {chord.parts['fixed'].batch_gets} "
                f"BatchGetItem, {num(fixed.lambda_invocations)} invocation",
                "met for SQS (3) and the body's own writes (2); NOT a fixed handful of write units: the shard "
                f"numbers add 1 per {limits.CHORD_SHARD_SIZE} members ({shard_writes} here, "
                f"{workflow_cost.shards(limits.MAX_GROUP_MEMBERS)} at {limits.MAX_GROUP_MEMBERS:,}), "
                f"{num(shard_writes / n)} a member",
            ],
            [
                "read units per chord member (the body reads it)",
                "none set",
                num(member.dynamodb_read_units),
                "$0.125 per million members",
            ],
            ["SQS requests per chain step", "none set", chain_sqs, "each step is its own send"],
        ],
    )


def _verdict(measured: float, target: float) -> str:
    if measured <= target + 1e-9:
        return f"met ({num(target - measured)} to spare)"
    return f"MISSED by {num(measured - target)} ({measured / target - 1:.0%})"


def stepfunctions_table(results: list[Measured]) -> Table:
    """Dollars per million chord members: Squall's measured counts against Step Functions Standard's Map."""
    chord = next((m for m in results if m.shape.kind == "chord"), None)
    if chord is None:
        return Table("A chord's job, side by side", ["system", "orchestration", "Lambda", "total", "basis"], [])
    n = chord.shape.units
    squall = squall_per_million(chord)
    member = chord.usage("unit", n)
    rows = [
        [
            f"Squall chord (measured counts, N = {n})",
            money(squall["orchestration"]),
            money(squall["lambda"]),
            money(sum(squall.values())),
            f"per member {num(member.sqs_requests)} SQS requests, {num(member.dynamodb_write_units)} write units, "
            f"{num(member.dynamodb_read_units)} read unit, {num(member.lambda_invocations)} invocations; the "
            "chord's own part shared among its members",
        ]
    ]
    for mode in MAP_MODES:
        sfn = map_per_million(mode, n)
        rows.append(
            [mode.name, money(sfn["orchestration"]), money(sfn["lambda"]), money(sum(sfn.values())), mode.basis]
        )
    return Table(
        f"A chord's job, side by side: {n} items through a Lambda, then a body (dollars per million members)",
        ["system", "orchestration", "Lambda", "total", "basis"],
        rows,
        notes=[
            "Squall's orchestration is SQS + DynamoDB (+ its EMF log lines); Step Functions' is state transitions. "
            f"Lambda is included for both at the same ASSUMED {cost.DEFAULT_DURATION_MS:g} ms per item at 128 MB "
            "arm64 (duration is the same for all rows, $0.03 per million; requests differ: Step Functions invokes "
            "the function once per item unless an ItemBatcher groups them).",
            SOURCES,
            "Not included: free tiers (4,000 transitions a month), a Distributed Map's ResultWriter (S3 requests) "
            "for outputs past the 256 KiB payload limit, Express child workflows (billed per request and duration, "
            "not per transition), and for Squall reading the results back.",
        ],
    )


def render(results: list[Measured]) -> list[Table]:
    """Every workflow table, in order."""
    return [measured_table(results), targets_table(results), stepfunctions_table(results)]


__all__ = ["TARGET_SQS_PER_MEMBER", "TARGET_WRITE_UNITS_PER_MEMBER", "render"]
