"""``squall cost``: the modelled AWS cost of a workload, per million tasks and per month, by service."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from squall import limits
from squall.cli import cli
from squall.deploy import api_cost, cost, http_cost, offload_cost, workflow_cost

_LINES = {
    "sqs": "SQS requests",
    "dynamodb": "DynamoDB on-demand",
    "lambda_requests": "Lambda requests",
    "lambda_duration": "Lambda duration",
    "scheduler": "EventBridge Scheduler",
    "cloudwatch_logs": "CloudWatch Logs (EMF metrics)",
    "idle_polling": "idle polling (event source)",
    "custom_metrics": "CloudWatch custom metrics",
}


@cli.command("cost")
@click.option("--tasks-per-month", type=click.FloatRange(min=0), default=1_000_000, show_default=True)
@click.option("--memory", "memory_mb", type=click.IntRange(128, 10_240), default=128, show_default=True, help="MB.")
@click.option(
    "--duration-ms",
    type=click.FloatRange(min=0),
    default=cost.DEFAULT_DURATION_MS,
    show_default=True,
    help="Billed ms per delivery, Squall's own DynamoDB writes included (the default is an assumption).",
)
@click.option("--retries", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Average per task.")
@click.option("--progress", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Reports per task.")
@click.option(
    "--delayed-fraction",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of tasks delayed past 15 minutes (EventBridge Scheduler).",
)
@click.option(
    "--periodic-fraction",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of tasks that are periodic firings.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, limits.ESM_MAX_BATCH_SIZE),
    default=limits.DEFAULT_BATCH_SIZE,
    show_default=True,
)
@click.option(
    "--producer-batch",
    type=click.IntRange(1, cost.SEND_BATCH_ENTRIES),
    default=cost.SEND_BATCH_ENTRIES,
    show_default=True,
    help="Tasks per send request: 10 with send_batch, 1 with delay().",
)
@click.option("--arch", type=click.Choice(["arm64", "x86_64"]), default="arm64", show_default=True)
@click.option(
    "--queues", type=click.IntRange(min=0), default=1, show_default=True, help="Queues without lanes (idle polling)."
)
@click.option(
    "--lanes",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Lanes of the queues with priority lanes: each is one more idle event source.",
)
@click.option("--ignore-result", is_flag=True, help="Tasks declared with ignore_result=True.")
@click.option("--untracked", is_flag=True, help="Tasks declared with track=False (no record; pass --duration-ms).")
@click.option("--fifo", is_flag=True, help="Tasks on a FIFO queue (FIFO request price; retries keep their message).")
@click.option(
    "--index-success",
    is_flag=True,
    help="Squall(index_success=True): every success enters the listing index (one more write unit a task).",
)
@click.option(
    "--limiter-writes",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Limiter writes per delivery: 1 with rate_limit, 2 with concurrency_limit, 3 with both.",
)
@click.option(
    "--chain-links",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Chain steps a month (a chain of 5 is 5 steps), counted apart from --tasks-per-month.",
)
@click.option(
    "--chain-batch",
    type=click.IntRange(1, limits.ESM_MAX_BATCH_SIZE),
    default=None,
    help="Records per invocation chain steps get (default: --batch-size; 1 for a chain running alone).",
)
@click.option(
    "--chord-members",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Chord members a month, counted apart from --tasks-per-month (needs --chords).",
)
@click.option(
    "--chords", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Chords a month (one body each)."
)
@click.option(
    "--offload-fraction", type=click.FloatRange(0, 1), default=0.0, help="Share of tasks with offloaded arguments."
)
@click.option("--offload-mib", type=click.FloatRange(0, 100), default=5.0, show_default=True, help="Their size.")
@click.option(
    "--offload-result-fraction", type=click.FloatRange(0, 1), default=0.0, help="Share with offloaded results."
)
@click.option("--offload-result-mib", type=click.FloatRange(0, 100), default=2.0, show_default=True)
@click.option(
    "--http-ms",
    type=click.FloatRange(min=0),
    default=None,
    help="Also price HTTP-target deliveries (send_http) that wait this long for the target, beside Cloud Tasks "
    "and QStash (with --retries, --memory, --arch, --batch-size).",
)
@click.option(
    "--api-requests",
    type=click.FloatRange(min=1),
    default=None,
    help="Also price this many REST API requests a month on AWS (squall:api): what the API adds per request.",
)
@click.option(
    "--api-auth", type=click.Choice(["token", "iam"]), default="token", show_default=True, help="The API's auth mode."
)
@click.option(
    "--api-ms",
    type=click.FloatRange(min=0),
    default=api_cost.DEFAULT_API_MS,
    show_default=True,
    help="Billed milliseconds per API request (an assumption; python -m bench measures the handler's own time).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
def cost_command(
    tasks_per_month: float,
    memory_mb: int,
    duration_ms: float,
    retries: float,
    progress: float,
    delayed_fraction: float,
    periodic_fraction: float,
    batch_size: int,
    producer_batch: int,
    arch: cost.Arch,
    queues: int,
    lanes: int,
    ignore_result: bool,
    untracked: bool,
    fifo: bool,
    index_success: bool,
    limiter_writes: float,
    chain_links: float,
    chain_batch: int | None,
    chord_members: float,
    chords: float,
    offload_fraction: float,
    offload_mib: float,
    offload_result_fraction: float,
    offload_result_mib: float,
    http_ms: float | None,
    api_requests: float | None,
    api_auth: str,
    api_ms: float,
    as_json: bool,
) -> None:
    """Print the modelled AWS cost of a workload: per million tasks and per month, by service.

    Per-task request and write counts are the ones the benchmark suite measures (docs/benchmarks.md);
    prices are list prices from squall/deploy/prices.json. No free tier is applied except the Scheduler's.
    Workflows (--chain-links, --chord-members with --chords) are priced apart, with what they cost beyond the
    same tasks sent on their own.
    """
    try:
        workload = cost.Workload(
            tasks_per_month=tasks_per_month,
            memory_mb=memory_mb,
            arch=arch,
            duration_ms=duration_ms,
            retries=retries,
            progress=progress,
            delayed_fraction=delayed_fraction,
            periodic_fraction=periodic_fraction,
            batch_size=batch_size,
            producer_batch=producer_batch,
            ignore_result=ignore_result,
            queues=queues,
            lanes=lanes,
            tracked=not untracked,
            limiter_writes=limiter_writes,
            fifo=fifo,
            index_success=index_success,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    try:
        flows = workflow_cost.Workflows(
            chain_links=chain_links, chord_members=chord_members, chords=chords, chain_batch=chain_batch
        )
    except ValueError as exc:  # its fields are named like the options: --chord-members for chord_members
        raise click.UsageError(str(exc).replace("_", "-")) from exc
    estimate = cost.estimate(workload)
    extra = workflow_cost.estimate(flows, workload) if flows.any else None
    offload = offload_cost.Offload(offload_fraction, offload_mib, offload_result_fraction, offload_result_mib)
    offloaded = offload_cost.estimate(offload, workload) if offload.any else None
    http_rows = None
    if http_ms is not None:
        http_rows = http_cost.comparison(
            http_ms=http_ms, retries=retries, memory_mb=memory_mb, arch=arch, batch_size=batch_size
        )
    api_usage = None
    if api_requests is not None:
        api_usage = api_cost.ApiUsage(requests_per_month=api_requests, duration_ms=api_ms, arch=arch, auth=api_auth)
    if as_json:
        doc = estimate.to_dict()
        if api_usage is not None:
            doc["api"] = api_cost.estimate(api_usage).to_dict()
        if extra is not None:
            doc["workflows"] = extra.to_dict()
        if offloaded is not None:
            doc["offload"] = offloaded.to_dict()
        if http_rows is not None:
            doc["http_targets_per_million"] = [asdict(row) for row in http_rows]
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(render(estimate))
    if extra is not None:
        click.echo("\n" + render_workflows(extra))
    if offloaded is not None:
        click.echo("\n" + render_offload(offloaded))
    if http_rows is not None and http_ms is not None:
        click.echo("\n" + http_cost.render(http_rows, http_ms=http_ms, retries=retries, as_of=estimate.as_of))
    if api_usage is not None:
        click.echo("\n" + api_cost.render(api_cost.estimate(api_usage), api_usage))


def render_offload(estimate: offload_cost.OffloadEstimate) -> str:
    """The payload bucket's share as plain text: requests and storage, on top of the tasks above."""
    o = estimate.offload
    return "\n".join(
        [
            f"S3 offload: {o.fraction:.0%} of tasks with {o.mib:g} MiB of arguments, {o.result_fraction:.0%} with a "
            f"{o.result_mib:g} MiB result; per task {estimate.puts:.3f} PUT, {estimate.gets:.3f} GET, "
            f"{estimate.gb_months:.4f} GB-months",
            f"{'':<32}{'per million tasks':>20}{'per month':>14}",
            *(
                f"{label:<32}{_usd(estimate.per_million[key]):>20}{_usd(estimate.monthly[key]):>14}"
                for key, label in (("s3_requests", "S3 requests"), ("s3_storage", "S3 storage"))
            ),
            "Storage counts each object for its lifecycle rule's days (arguments: the longest time a message can "
            "still refer to them, docs/deploy.md), however soon its task finishes.",
        ]
    )


def render(estimate: cost.Estimate) -> str:
    """The estimate as a plain-text report."""
    w, u = estimate.workload, estimate.usage
    lines = [
        f"Squall on AWS: {w.tasks_per_month:,.0f} tasks/month, {w.memory_mb} MB {w.arch}, "
        f"{w.duration_ms:g} ms per delivery, batches of {w.batch_size}"
        + (", ignore_result" if w.ignore_result else ""),
        "",
        "Per task: "
        f"{u.sqs_requests:.3f} SQS requests (send {u.sqs_send:.3f}, receive {u.sqs_receive:.3f}, "
        f"delete {u.sqs_delete:.3f}, visibility {u.sqs_visibility:.3f}); "
        f"{u.dynamodb_write_units:.2f} DynamoDB write units; {u.lambda_invocations:.3f} Lambda invocations; "
        f"{u.scheduler_invocations:.3f} Scheduler invocations",
        "",
        f"{'':<32}{'per million tasks':>20}{'per month':>14}",
    ]
    for key, label in _LINES.items():
        per_million = estimate.per_million.get(key)
        lines.append(
            f"{label:<32}{'' if per_million is None else _usd(per_million):>20}{_usd(estimate.monthly[key]):>14}"
        )
    lines.append(f"{'total':<32}{_usd(estimate.total_per_million):>20}{_usd(estimate.total_monthly):>14}")
    lines += [
        "",
        f"List prices (us-east-1, {estimate.as_of}) from squall/deploy/prices.json. The Scheduler's 14 million free "
        "invocations a month are applied to the monthly figure; no other free tier is.",
        "Idle polling (an assumption: the event source's pollers long-poll an idle queue) and custom metrics "
        "are per month, whatever the task count. Reading results (AsyncResult.get) is not included: each "
        "poll is one strongly consistent read unit.",
    ]
    return "\n".join(lines)


_UNITS = {"chain_link": "chain step", "chord_member": "chord member", "chord": "chord (its own part)"}


def render_workflows(estimate: workflow_cost.WorkflowEstimate) -> str:
    """The workflows' estimate as plain text: per unit, per month, and the extra over plain tasks."""
    flows, w = estimate.workflows, estimate.workload
    lines = [
        f"Workflows: {flows.chain_links:,.0f} chain steps (batches of {flows.chain_batch or w.batch_size}), "
        f"{flows.chord_members:,.0f} chord members in {flows.chords:,.0f} chords "
        f"({flows.members_per_chord:,.0f} members a chord) a month, on top of the tasks above",
        "",
        f"{'':<24}{'SQS req':>9}{'write units':>13}{'read units':>12}{'invocations':>13}{'per million':>14}",
    ]
    for unit, label in _UNITS.items():
        u = estimate.usage[unit]
        lines.append(
            f"{label:<24}{u.sqs_requests:>9.3f}{u.dynamodb_write_units:>13.3f}{u.dynamodb_read_units:>12.3f}"
            f"{u.lambda_invocations:>13.3f}{_usd(estimate.per_million_total(unit)):>14}"
        )
    lines += [
        "",
        f"{'':<32}{'per month':>14}",
        *(f"{_LINES[key]:<32}{_usd(value):>14}" for key, value in estimate.monthly.items()),
        f"{'workflows total':<32}{_usd(estimate.total_monthly):>14}",
        f"{'  the same tasks, sent plainly':<32}{_usd(estimate.as_plain_tasks_monthly):>14}",
        f"{'  extra for the workflows':<32}{_usd(estimate.extra_monthly):>14}",
        "",
        "A chain step is sent on its own; a chord member adds its count (1 write unit) and the body's read of it "
        f"(1 read unit); a chord adds its body and 1 write unit per {limits.CHORD_SHARD_SIZE} members. 'Sent "
        "plainly': the same tasks (bodies included) sent with send_batch in full batches.",
    ]
    return "\n".join(lines)


def _usd(value: float) -> str:
    if value == 0:
        return "$0"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"
