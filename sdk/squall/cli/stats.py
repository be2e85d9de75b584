"""``squall stats``: queue depths from SQS, and per task name how many tasks the listing index holds by state.

Per queue: GetQueueAttributes' visible, in-flight and delayed counts (approximate, as SQS says), the DLQ's
depth, and the age of the DLQ's oldest message, read from the SentTimestamp of the first messages a peek
returns (a standard DLQ keeps the original enqueue time). A source queue's oldest age is not in
GetQueueAttributes; it is CloudWatch's ApproximateAgeOfOldestMessage, on the stack's dashboard.

The per-task counts are of tasks *in* each state now that entered it within the window, because an index entry
moves when its task's state changes: a RETRY whose next attempt started is no longer counted, nor a redriven
DEAD task. How many tasks entered RETRY at some point is not kept anywhere a query can reach (an entry that
stayed behind would cost one more write per retry), so it is not offered.
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from squall.cli import AppRef, cli
from squall.cli._support import age, emit_json, friendly, iso, json_option, out
from squall.ops import listing
from squall.ops import queues as queue_depths


@cli.command(short_help="Queue depths and failures per task.")
@click.option("--since", default="24h", show_default=True, metavar="DURATION", help="Window of the per-task counts.")
@json_option
@click.pass_obj
@friendly
def stats(ref: AppRef, since: str, as_json: bool) -> None:
    """Queue depths, dead letters, and per task name how many tasks are RETRY, DEAD, REVOKED now.

    Counted per state: tasks in it now that entered it within --since (SUCCESS too with index_success).
    """
    app = ref.get()
    try:
        window = listing.parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    queues: list[dict[str, Any]] = []
    for depth in queue_depths.all_depths(app):
        row: dict[str, Any] = {
            "queue": depth.queue,
            "visible": depth.visible,
            "in_flight": depth.in_flight,
            "delayed": depth.delayed,
            "dlq": depth.dlq,
            "dlq_oldest_sent": iso(depth.dlq_oldest_sent),
            "_oldest": depth.dlq_oldest_sent,
        }
        queues.append(row)
    states = listing.indexed_states(app)
    counts = listing.counts_by_name(app, since=window)
    tasks = [{"task": task, **{str(s): counts[task][s] for s in states}} for task in sorted(counts)]
    if as_json:
        emit_json(
            {
                "queues": [{k: v for k, v in row.items() if not k.startswith("_")} for row in queues],
                "tasks": tasks,
                "since_seconds": window,
            }
        )
        return
    console = out()
    table = Table(box=None, header_style="bold", title="queues", title_justify="left")
    for column in ("QUEUE", "VISIBLE", "IN FLIGHT", "DELAYED", "DLQ", "DLQ OLDEST"):
        table.add_column(column, justify="left" if column == "QUEUE" else "right")
    for row in queues:
        oldest = "-" if row["_oldest"] is None else age(row["_oldest"])
        dlq_depth = f"[bold red]{row['dlq']}[/]" if row["dlq"] else "0"
        table.add_row(row["queue"], str(row["visible"]), str(row["in_flight"]), str(row["delayed"]), dlq_depth, oldest)
    console.print(table)
    console.print()
    title = f"tasks by current state, entered in the last {since}"
    table = Table(box=None, header_style="bold", title=title, title_justify="left")
    table.add_column("TASK")
    for state in states:
        table.add_column(str(state), justify="right")
    for row in tasks:
        table.add_row(str(row["task"]), *(str(row[str(s)]) for s in states))
    if not tasks:
        table.add_row("(none)", *("0" for _ in states))
    console.print(table)
    console.print(
        "[dim]RETRY counts tasks waiting for their next attempt: a retry that has run since is not counted[/]"
    )
    if not app.index_success:
        console.print("[dim]SUCCESS is not counted: create the app with index_success=True to index it[/]")
