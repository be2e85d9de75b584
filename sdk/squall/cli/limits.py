"""``squall limits``: the tasks' rate and concurrency limits in force, their keys' state; change, pause, resume."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from squall.cli import AppRef, cli
from squall.cli._support import emit_json, err, friendly, iso, json_option, out

if TYPE_CHECKING:
    from squall.ops.limits import KeyState, TaskLimits


@cli.group("limits", short_help="Show and change rate and concurrency limits.")
def limits_group() -> None:
    """The limits of tasks that declare rate_limit or concurrency_limit: in force, per key; change them live."""


def _json(row: TaskLimits) -> dict[str, Any]:
    """A task's limits for ``--json``: the keys' times (``tat``, ``next_slot``, lease ends) in ISO 8601 UTC."""
    doc = row.to_dict()
    for key in doc["keys"]:
        key.update(tat=iso(key["tat"]), next_slot=iso(key["next_slot"]))
        key["holders"] = {token: iso(until) for token, until in key["holders"].items()}
    return doc


def _print(rows: list[TaskLimits]) -> None:
    if not rows:
        err().print("no task of this app declares rate_limit or concurrency_limit")
        return
    table = Table(box=None, header_style="bold")
    for column in ("TASK", "RATE", "BURST", "CONCURRENCY", "FLOW KEY", "KEY", "NEXT SLOT (UTC)", "HELD", "PAUSED"):
        table.add_column(column, overflow="fold")
    for row in rows:
        rate = f"{row.rate}{' (set)' if row.overridden else ''}" if row.rate else "-"
        concurrency = "-" if row.concurrency is None else str(row.concurrency)
        keys: list[KeyState | None] = list(row.keys) or [None]
        for key in keys:
            table.add_row(
                row.task,
                rate,
                str(row.burst) if row.rate else "-",
                concurrency,
                row.flow_key or "-",
                key.key if key else "-",
                (iso(key.next_slot) or "-") if key else "-",
                str(key.held) if key else "0",
                "task" if row.paused else ("key" if key is not None and key.paused else "no"),
            )
    out().print(table)


@limits_group.command("list", short_help="Every limited task, with its task-wide state.")
@json_option
@click.pass_obj
@friendly
def list_command(ref: AppRef, as_json: bool) -> None:
    """List the tasks that declare limits: the limits in force (overrides marked) and the task-wide key's state."""
    rows = ref.get().limits.list()
    if as_json:
        emit_json([_json(row) for row in rows])
        return
    _print(rows)


@limits_group.command("show", short_help="One task's limits and every key's state.")
@click.argument("task")
@click.option("--key", help="Read this flow key's state only, instead of scanning the table for every key.")
@json_option
@click.pass_obj
@friendly
def show_command(ref: AppRef, task: str, key: str | None, as_json: bool) -> None:
    """Show TASK's limits and the state of each of its flow keys (found with a scan of the table; --key reads one)."""
    row = ref.get().limits.get(task, key=key, keys=key is None)
    if as_json:
        emit_json(_json(row))
        return
    _print([row])


@limits_group.command("set", short_help="Change a task's limits without a redeploy.")
@click.argument("task")
@click.option("--rate", help="A rate like 10/s, 5/m or 1/h.")
@click.option("--concurrency", type=int, help="Runs at one time, per key.")
@click.option("--burst", type=int, help="Admissions a rate lets through at once after an idle spell.")
@json_option
@click.pass_obj
@friendly
def set_command(
    ref: AppRef, task: str, rate: str | None, concurrency: int | None, burst: int | None, as_json: bool
) -> None:
    """Override TASK's limits; every worker applies them within seconds (``squall limits clear`` undoes it)."""
    row = ref.get().limits.set(task, rate=rate, concurrency=concurrency, burst=burst)
    if as_json:
        emit_json(_json(row))
        return
    _print([row])


@limits_group.command("clear", short_help="Drop a task's overrides.")
@click.argument("task")
@json_option
@click.pass_obj
@friendly
def clear_command(ref: AppRef, task: str, as_json: bool) -> None:
    """Drop TASK's overrides: its declared limits apply again."""
    row = ref.get().limits.clear(task)
    if as_json:
        emit_json(_json(row))
        return
    _print([row])


@limits_group.command("pause", short_help="Hold every delivery of a task, or of one key.")
@click.argument("task")
@click.option("--key", help="One flow key, held at once (default: every key, within the workers' cache time).")
@json_option
@click.pass_obj
@friendly
def pause_command(ref: AppRef, task: str, key: str | None, as_json: bool) -> None:
    """Pause TASK (or its flow key KEY): its deliveries wait on the queue, no attempt spent, until resumed."""
    ref.get().limits.pause(task, key)
    _said(task, key, paused=True, as_json=as_json)


@limits_group.command("resume", short_help="Let a paused task, or key, run again.")
@click.argument("task")
@click.option("--key", help="One flow key.")
@json_option
@click.pass_obj
@friendly
def resume_command(ref: AppRef, task: str, key: str | None, as_json: bool) -> None:
    """Resume TASK (or its flow key KEY)."""
    ref.get().limits.resume(task, key)
    _said(task, key, paused=False, as_json=as_json)


def _said(task: str, key: str | None, *, paused: bool, as_json: bool) -> None:
    if as_json:
        emit_json({"task": task, "key": key, "paused": paused})
        return
    out().print(f"{'paused' if paused else 'resumed'} {task}{f' key {key}' if key else ''}")
