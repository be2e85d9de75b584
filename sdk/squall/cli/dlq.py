"""``squall dlq``: list, show, redrive and purge the dead-letter queues."""

from __future__ import annotations

import json

import click
from rich.table import Table

from squall import limits
from squall.cli import AppRef, cli
from squall.cli._support import (
    CliError,
    Exit,
    age,
    emit_json,
    err,
    friendly,
    iso,
    json_option,
    out,
    styled_state,
    suggest,
    utc,
)
from squall.cli.tasks import record_dict
from squall.ops import dlq

_QUEUE = click.option("--queue", metavar="QUEUE", help="Only this queue's DLQ (default: every queue's).")


def _letter_json(letter: dlq.DeadLetter) -> dict[str, object]:
    """A dead letter for ``--json``: its time in ISO 8601 UTC, as every command prints times in JSON."""
    return {**letter.to_dict(), "sent_at": iso(letter.sent_at)}


@cli.group("dlq", short_help="List, show, redrive, purge dead letters.")
def dlq_group() -> None:
    """The dead-letter queues: what is in them, and bringing tasks back."""


@dlq_group.command("list", short_help="List dead letters and why.")
@_QUEUE
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Most messages per queue.")
@json_option
@click.pass_obj
@friendly
def list_command(ref: AppRef, queue: str | None, limit: int, as_json: bool) -> None:
    """List dead letters with their task, its state, and why each is there."""
    app = ref.get()
    letters = dlq.peek(app, queue, limit=limit)
    rows = []
    for letter in letters:
        record = app.store.get(letter.task_id) if letter.task_id else None
        why = dlq.status(letter, record, app.settings.queue(letter.queue).max_receive_count)
        rows.append((letter, record, why))
    if as_json:
        emit_json(
            [
                {**_letter_json(letter), "state": str(record.state) if record else None, "status": why}
                for letter, record, why in rows
            ]
        )
        return
    if not rows:
        err().print("the dead-letter queues are empty")
        return
    table = Table(box=None, header_style="bold")
    for column in ("QUEUE", "SENT", "TASK ID", "TASK", "STATE", "REDRIVES", "WHY"):
        table.add_column(column, overflow="fold" if column in ("TASK ID", "WHY") else "ellipsis")
    for letter, record, why in rows:
        table.add_row(
            letter.queue,
            f"{age(letter.sent_at)} ago" if letter.sent_at else "-",
            letter.task_id or f"(message {letter.message_id})",
            letter.task or "-",
            styled_state(record.state) if record else "-",
            str(record.redrives if record else letter.redrives),
            why,
        )
    out().print(table)


@dlq_group.command("show", short_help="Show one dead letter.")
@click.argument("ident", metavar="ID")
@_QUEUE
@json_option
@click.pass_obj
@friendly
def show(ref: AppRef, ident: str, queue: str | None, as_json: bool) -> None:
    """Show one dead letter (by task id or message id): body, attributes and the task's record."""
    app = ref.get()
    letter = dlq.find(app, ident, queue)
    if letter is None:
        listing = suggest("dlq", "list")
        raise CliError(f"no message with task or message id {ident!r} in the dead-letter queues; see `{listing}`")
    record = app.store.get(letter.task_id) if letter.task_id else None
    why = dlq.status(letter, record, app.settings.queue(letter.queue).max_receive_count)
    if as_json:
        emit_json({**_letter_json(letter), "status": why, "record": record_dict(record) if record else None})
        return
    console = out()
    console.print(f"[bold]message[/] {letter.message_id} in the {letter.queue} DLQ, sent {utc(letter.sent_at)} UTC")
    console.print(f"[bold]task[/]    {letter.task_id or '-'} ({letter.task or 'unknown task'})")
    console.print(f"[bold]state[/]   {styled_state(record.state) if record else '- (no record)'}")
    console.print(f"[bold]why[/]     {why}")
    for name, value in sorted(letter.attributes.items()):
        console.print(f"[bold]attr[/]    {name} = {value}")
    try:
        body = json.dumps(json.loads(letter.body), indent=2, ensure_ascii=False)
    except ValueError:
        body = letter.body
    console.print("[bold]body[/]")
    console.print(body, markup=False)
    if record is not None and record.error is not None and record.error.traceback:
        console.print("[bold]traceback[/]")
        console.print(record.error.traceback.rstrip(), markup=False)


@dlq_group.command("redrive", short_help="Send dead letters back to their queue.")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "everything", is_flag=True, help="Redrive every message.")
@_QUEUE
@click.option(
    "--max-redrives",
    type=click.IntRange(min=1),
    default=limits.DEFAULT_MAX_REDRIVES,
    show_default=True,
    help="Refuse tasks already redriven this many times.",
)
@json_option
@click.pass_obj
@friendly
def redrive(
    ref: AppRef, ids: tuple[str, ...], everything: bool, queue: str | None, max_redrives: int, as_json: bool
) -> None:
    """Send dead letters back to their queue with a fresh attempt budget (task ids, message ids, or --all)."""
    if everything == bool(ids):
        raise click.UsageError("give task ids (or message ids) to redrive, or --all, not both")
    report = dlq.redrive(ref.get(), None if everything else list(ids), queue=queue, max_redrives=max_redrives)
    if as_json:
        emit_json(
            {
                "moved": [m.task_id for m in report.moved],
                "dropped": [m.task_id for m in report.dropped],
                "refused": [{"task_id": m.task_id, "message_id": m.message_id, "why": w} for m, w in report.refused],
                "failed": [{"task_id": m.task_id, "message_id": m.message_id, "why": w} for m, w in report.failed],
                "missing": report.missing,
            }
        )
    else:
        console = out()
        for letter in report.moved:
            console.print(f"redriven  {letter.task_id}  {letter.task or ''}".rstrip())
        for letter in report.dropped:
            console.print(f"removed   {letter.task_id}  (a leftover copy: the task had already finished)")
        for letter, why in [*report.refused, *report.failed]:
            console.print(f"[yellow]kept[/]      {letter.task_id or letter.message_id}  {why}")
        for ident in report.missing:
            console.print(f"[yellow]missing[/]   {ident}  (not in the dead-letter queues)")
        total = len(report.moved)
        err().print(f"{total} task(s) sent back to their queue" + ("" if total else "; nothing to redrive"))
    if report.refused or report.failed or report.missing:
        raise Exit("", 1)


@dlq_group.command("purge", short_help="Delete every dead letter.")
@_QUEUE
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
@friendly
def purge(ref: AppRef, queue: str | None, yes: bool) -> None:
    """Delete every message in the dead-letter queues (their tasks stay DEAD until they expire)."""
    app = ref.get()
    names = [queue] if queue else list(app.settings.queues)
    if not yes:
        click.confirm(f"Delete every message in the DLQ of {', '.join(names)}? This cannot be undone", abort=True)
    for name in dlq.purge(app, queue):
        click.echo(f"purged the {name} DLQ")
