"""Task commands: ``send`` (a task or a workflow), ``status`` (a task's or a group's), ``result``, ``tasks``
(listing by state and time) and ``revoke``. The workflow parts live in :mod:`squall.cli.workflows`.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from squall import clock, limits
from squall.cli import AppRef, cli, workflows
from squall.cli._support import (
    Exit,
    age,
    emit_json,
    err,
    friendly,
    iso,
    json_option,
    out,
    parse_json,
    resolve_task_name,
    styled_state,
    suggest,
    utc,
)
from squall.ops import listing
from squall.sending.delays import RevokeOutcome
from squall.state.result import group_size
from squall.states import FINAL_STATES, State
from squall.wire.envelope import check_task_id

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.state.schema import TaskRecord

#: Exit status of ``squall result`` when the task has not finished (as timeout(1) does).
NOT_FINISHED = 124
_STATES = [s.value for s in State if s is not State.FAILURE]


def _eta(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        problem = f"{text!r} is not an ISO 8601 time, e.g. 2026-11-23T09:00:00Z"
        raise click.BadParameter(problem, param_hint="--eta") from None
    if when.tzinfo is None:
        raise click.BadParameter(f"{text!r} has no UTC offset: add Z or +01:00", param_hint="--eta")
    return when


@cli.command(short_help="Send a task or a workflow; print its id.")
@click.argument("task_name", metavar="[TASK]", required=False)
@click.option("--args", "args_json", metavar="JSON", help="Positional arguments, a JSON array: '[\"o-1\", 100]'.")
@click.option("--kwargs", "kwargs_json", metavar="JSON", help="Keyword arguments, a JSON object: '{\"amount\": 1}'.")
@click.option(
    "--workflow",
    "workflow_json",
    metavar="JSON|@FILE",
    help="Instead of TASK: a chain, group or chord as a JSON node document (or @FILE holding one).",
)
@click.option("--countdown", type=click.FloatRange(min=0), metavar="SECONDS", help="Run after this many seconds.")
@click.option("--eta", "eta_text", metavar="TIME", help="Run at this ISO 8601 time with an offset (…T09:00:00Z).")
@click.option("--queue", metavar="QUEUE", help="Send to this queue instead of the task's own.")
@click.option("--id", "task_id", metavar="ID", help="The task id (default: a new UUID); an id already sent runs once.")
@json_option
@click.pass_obj
@friendly
def send(
    ref: AppRef,
    task_name: str | None,
    args_json: str | None,
    kwargs_json: str | None,
    workflow_json: str | None,
    countdown: float | None,
    eta_text: str | None,
    queue: str | None,
    task_id: str | None,
    as_json: bool,
) -> None:
    """Send TASK (its name, or the last part of it) and print the task id.

    With --workflow, send a chain, group or chord instead and print its id: a group's, or its last task's.
    """
    if countdown is not None and eta_text is not None:
        raise click.UsageError("give --countdown or --eta, not both")
    if workflow_json is not None:
        single = {"TASK": task_name, "--args": args_json, "--kwargs": kwargs_json, "--id": task_id}
        given = [what for what, value in single.items() if value is not None]
        if given:
            raise click.UsageError(f"--workflow names its own tasks, arguments and ids: drop {', '.join(given)}")
        app = ref.get()
        node = workflows.read_workflow(app, workflow_json)
        workflows.send_workflow(app, node, countdown=countdown, eta=_eta(eta_text), queue=queue, as_json=as_json)
        return
    if task_name is None:
        raise click.UsageError("name the TASK to send (or give --workflow JSON)")
    app = ref.get()
    task = app.get_task(resolve_task_name(app, task_name))
    args = parse_json(args_json, "--args", list)
    kwargs = parse_json(kwargs_json, "--kwargs", dict)
    if task_id is not None:
        try:
            check_task_id(task_id)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--id") from None
    when = _eta(eta_text)
    result = task.apply_async(tuple(args), kwargs, countdown=countdown, eta=when, task_id=task_id, queue=queue)
    if as_json:
        emit_json({"id": result.id, "task": task.name})
    else:
        click.echo(result.id)


def record_dict(record: TaskRecord) -> dict[str, Any]:
    """A task record as JSON-ready data: times as ISO 8601, the result parsed."""
    doc = dataclasses.asdict(record)
    doc["state"] = str(record.state)
    for key, value in list(doc.items()):
        if key.endswith("_at") or key in ("eta", "lease_until"):
            doc[key] = iso(value)
    doc["result"] = None if record.result_json is None else json.loads(record.result_json)
    doc.pop("result_json")
    return doc


def _status_rows(record: TaskRecord, traceback: bool) -> list[tuple[str, str]]:
    budget = "" if record.max_retries is None else f" of {record.max_retries + 1}"
    rows = [
        ("task", record.id),
        ("state", styled_state(record.state)),
        ("name", record.name or "-"),
        ("queue", record.queue or "-"),
        ("attempt", f"{record.attempt}{budget}" + (f", redriven {record.redrives}x" if record.redrives else "")),
    ]
    for label, at in (
        ("created", record.created_at),
        ("due", record.eta),
        ("started", record.started_at),
        ("failed", record.failed_at),
        ("next attempt", record.next_attempt_at if record.state is State.RETRY else None),
        ("finished", record.finished_at),
    ):
        if at is not None:
            rows.append((label, f"{utc(at)} UTC ({age(at)} ago)" if at <= clock.now() else f"{utc(at)} UTC"))
    if record.progress is not None:
        rows.append(("progress", f"{record.progress.percent:.0f}% {record.progress.message or ''}".rstrip()))
    if record.result_json is not None:
        text = record.result_json
        rows.append(("result", text if len(text) <= 300 else text[:300] + f"… ({len(text):,} chars)"))
    if record.error is not None:
        rows.append(("error", f"{record.error.type}: {record.error.message}"))
    if record.reason:
        rows.append(("reason", record.reason))
    if traceback and record.error is not None and record.error.traceback:
        rows.append(("traceback", record.error.traceback.rstrip()))
    return rows


@cli.command(short_help="Show a task's (or a group's) state, times and error.")
@click.argument("task_id", metavar="ID")
@click.option("--traceback", is_flag=True, help="Also print the stored traceback of the latest failure.")
@json_option
@click.pass_obj
@friendly
def status(ref: AppRef, task_id: str, traceback: bool, as_json: bool) -> None:
    """Show a task's state, attempts, times, progress and error; for a group's id, each member's state."""
    if _is_group_id(task_id):
        if traceback:
            raise click.UsageError(f"--traceback is one task's: give a member's id, e.g. {task_id}.0")
        workflows.show_group(ref.get(), task_id, as_json=as_json)
        return
    record = ref.get().store.get(task_id)
    if as_json:
        emit_json(record_dict(record) if record else {"id": task_id, "state": "PENDING", "known": False})
        return
    if record is None:
        out().print(f"{task_id}  {styled_state('PENDING')}  (no record: not claimed yet, an unknown id, or expired)")
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in _status_rows(record, traceback):
        table.add_row(label, value)
    out().print(table)


def _is_group_id(text: str) -> bool:
    try:
        group_size(text)
    except ValueError:
        return False
    return True


def _wait(ref: AppRef, task_id: str, timeout: float) -> TaskRecord | None:
    """Poll until the task is final or ``timeout`` passes, showing its progress reports as a bar on stderr."""
    store = ref.get().store
    deadline = clock.now() + timeout
    interval = 0.1
    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn())
    console = err()
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        line = bar.add_task(f"{task_id[:12]} PENDING", total=100)
        while True:
            record = store.get(task_id)
            if record is not None and record.state in FINAL_STATES:
                return record
            if clock.now() >= deadline:
                return record
            state = State.PENDING if record is None else record.state
            note = record.progress.message if record and record.progress and record.progress.message else ""
            percent = record.progress.percent if record and record.progress else 0.0
            bar.update(line, description=f"{task_id[:12]} {state} {note}".rstrip(), completed=percent)
            clock.sleep(min(interval, max(0.0, deadline - clock.now())))
            interval = min(interval * 1.5, 1.0)


@cli.command(short_help="Print a task's result (--wait for it).")
@click.argument("task_id", metavar="ID")
@click.option("--wait", is_flag=True, help="Wait for the task to finish, showing its progress.")
@click.option("--timeout", type=click.FloatRange(min=0), default=60.0, show_default=True, help="Seconds to wait.")
@json_option
@click.pass_obj
@friendly
def result(ref: AppRef, task_id: str, wait: bool, timeout: float, as_json: bool) -> None:
    """Print a finished task's result as JSON (exit 1 if it is DEAD or REVOKED, 124 if not finished)."""
    record = _wait(ref, task_id, timeout) if wait else ref.get().store.get(task_id)
    state = State.PENDING if record is None else record.state
    if as_json:
        emit_json(record_dict(record) if record else {"id": task_id, "state": "PENDING", "known": False})
    elif record is not None and state is State.SUCCESS:
        click.echo("null" if record.result_json is None else record.result_json)
    if record is None or state not in FINAL_STATES:
        hint = f"still {state} after {timeout:g} s; wait longer with --timeout" if wait else f"{state}; add --wait"
        raise Exit(f"task {task_id} is {hint}", NOT_FINISHED)
    if state is State.DEAD:
        error = f"{record.error.type}: {record.error.message}" if record.error else record.reason
        raise Exit(f"task {task_id} is DEAD: {error} (`{suggest('status', task_id, '--traceback')}` for more)", 1)
    if state is State.REVOKED:
        raise Exit(f"task {task_id} was revoked before it ran", 1)


@cli.command("tasks", short_help="List failed (and revoked) tasks.")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice(_STATES, case_sensitive=False),
    help="Only tasks in this state (repeatable). Default: every listed state.",
)
@click.option("--name", metavar="TASK", help="Only this task (its name, or the last part of it).")
@click.option("--since", default="24h", show_default=True, metavar="DURATION", help="How far back: 30m, 6h, 7d.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Most tasks to show.")
@click.option(
    "--watch",
    type=click.FloatRange(min=1),
    metavar="SECONDS",
    help="Redraw the list every SECONDS until Ctrl-C (like top).",
)
@json_option
@click.pass_obj
@friendly
def tasks_command(
    ref: AppRef,
    states: tuple[str, ...],
    name: str | None,
    since: str,
    limit: int,
    watch: float | None,
    as_json: bool,
) -> None:
    """List recent RETRY, DEAD and REVOKED tasks (and SUCCESS with index_success), newest first."""
    app = ref.get()
    try:
        window = listing.parse_duration(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    if name is not None and name not in app.tasks:
        # The last part of a registered name is enough; any other name (an older deploy's) is used as given.
        matches = [full for full in app.tasks if full.endswith("." + name)]
        name = resolve_task_name(app, name) if matches else name
    wanted = [State(s.upper()) for s in states]
    if watch is not None and as_json:
        raise click.UsageError("--watch redraws a table: use it without --json")
    if watch is None:
        _show_tasks(app, wanted, name, window, limit, since, as_json)
        return
    try:
        while True:
            click.clear()
            err().print(f"every {watch:g} s, Ctrl-C stops · {utc(clock.now())} UTC")
            _show_tasks(app, wanted, name, window, limit, since, as_json=False)
            clock.sleep(watch)
    except KeyboardInterrupt:
        return  # Ctrl-C is how a watch ends: not an error


def _show_tasks(
    app: Squall, wanted: list[State], name: str | None, window: float, limit: int, since: str, as_json: bool
) -> None:
    entries = listing.list_tasks(app, states=wanted, name=name, since=window, limit=limit)
    if as_json:
        emit_json([{**e.to_dict(), "at": iso(e.at)} for e in entries])
        return
    if not entries:
        which = ", ".join(listing.check_states(app, wanted))
        err().print(f"no {which} tasks{f' named {name}' if name else ''} in the last {since}")
        return
    table = Table(box=None, header_style="bold")
    for column in ("WHEN (UTC)", "AGE", "STATE", "TASK", "ID", "QUEUE", "ATTEMPT"):
        table.add_column(column, overflow="fold" if column == "ID" else "ellipsis")
    for entry in entries:
        table.add_row(
            utc(entry.at),
            age(entry.at),
            styled_state(entry.state),
            entry.name or "-",
            entry.id,
            entry.queue or "-",
            str(entry.attempt),
        )
    out().print(table)


@cli.command(short_help="Cancel a task that has not started.")
@click.argument("task_id", metavar="ID")
@click.pass_obj
@friendly
def revoke(ref: AppRef, task_id: str) -> None:
    """Cancel a task that has not started (a long-delayed one's schedule is deleted too).

    Exit 0 when it was revoked; 1 when it is running, already finished, or the id has no record.
    """
    try:
        check_task_id(task_id)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ID") from None
    outcome = ref.get().revoke(task_id)
    days = limits.DEAD_RECORD_TTL_SECONDS // 86_400
    messages = {
        RevokeOutcome.REVOKED: f"{task_id} revoked: it will not run",
        RevokeOutcome.UNKNOWN: (
            f"{task_id}: no record of this id: it was marked REVOKED so that it will not run if it is still queued; "
            f"if it was never sent, nothing happens (a task sent with this id in the next {days} days will not run)"
        ),
        RevokeOutcome.RUNNING: f"{task_id} is running and cannot be stopped; it was not revoked",
        RevokeOutcome.ALREADY_FINISHED: f"{task_id} had already finished; nothing changed",
    }
    click.echo(messages[outcome])
    if outcome is not RevokeOutcome.REVOKED:
        raise Exit("", 1)
