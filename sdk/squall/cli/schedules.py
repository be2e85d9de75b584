"""``squall schedules``: what the app's EventBridge Scheduler group holds, and when an expression fires."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from squall import clock
from squall.cli import AppRef, cli
from squall.cli._support import CliError, emit_json, err, friendly, iso, json_option, out, suggest
from squall.errors import InvalidSchedule, ScheduleNotFound
from squall.scheduler import firings, schedule_expr, scheduling
from squall.wire import codec

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.scheduler.schedules import ScheduleInfo

_KINDS = (
    (scheduling.PERIODIC_PREFIX, "periodic"),
    (scheduling.DYNAMIC_PREFIX, "dynamic"),
    (scheduling.DELAY_PREFIX, "delay"),
    (scheduling.HASHED_DELAY_PREFIX, "delay"),
)


@cli.group("schedules", short_help="List, pause, resume, delete schedules; preview one.")
def schedules_group() -> None:
    """Periodic, dynamic and long-delay schedules: list them, pause, resume or delete a dynamic one; preview."""


def _kind(name: str) -> str:
    return next((kind for prefix, kind in _KINDS if name.startswith(prefix)), "other")


def _next_fire(doc: Mapping[str, Any]) -> str | None:
    """When a deployed schedule (a GetSchedule response) fires next, within its StartDate and EndDate."""
    try:
        parsed = schedule_expr.parse(doc["ScheduleExpression"])
    except InvalidSchedule:
        return None
    fire = firings.next_firing(
        parsed,
        doc.get("ScheduleExpressionTimezone") or "UTC",
        datetime.fromtimestamp(clock.now(), UTC),
        created=doc.get("CreationDate"),
        start=doc.get("StartDate"),
        end=doc.get("EndDate"),
    )
    return None if fire is None else iso(fire.timestamp())


def _deployed(app: Squall, with_delays: bool) -> list[dict[str, Any]]:
    """Every schedule in the app's group (one GetSchedule each, one-time delays only if asked)."""
    group = app.settings.schedule_group
    client = app.scheduler
    rows: list[dict[str, Any]] = []
    for page in client.get_paginator("list_schedules").paginate(GroupName=group):
        for item in page.get("Schedules", []):
            kind = _kind(item["Name"])
            row: dict[str, Any] = {"name": item["Name"], "kind": kind, "state": item.get("State", "")}
            if kind == "delay" and not with_delays:
                row["detail"] = False
            else:
                doc = client.get_schedule(Name=item["Name"], GroupName=group)
                envelope = codec.loads(doc["Target"].get("Input") or "{}")
                timezone = doc.get("ScheduleExpressionTimezone") or "UTC"
                row.update(
                    expression=doc["ScheduleExpression"],
                    timezone=timezone,
                    task=envelope.get("task") if isinstance(envelope, dict) else None,
                    next=_next_fire(doc) if row["state"] == "ENABLED" else None,
                )
            rows.append(row)
    return rows


@schedules_group.command("list", short_help="List the app's schedules.")
@click.option("--delays", is_flag=True, help="Also describe each one-time schedule of a long-delayed task.")
@json_option
@click.pass_obj
@friendly
def list_command(ref: AppRef, delays: bool, as_json: bool) -> None:
    """List the schedules in the app's group, and periodic tasks declared in code but not deployed."""
    app = ref.get()
    rows = _deployed(app, delays)
    names = {row["name"] for row in rows}
    for periodic in app.periodic_schedules.values():
        if periodic.schedule_name not in names:
            rows.append(
                {
                    "name": periodic.schedule_name,
                    "kind": "periodic",
                    "state": "NOT DEPLOYED",
                    "expression": str(periodic.expression),
                    "timezone": periodic.timezone,
                    "task": periodic.task.name,
                    "next": None,
                }
            )
    if as_json:
        emit_json([row for row in rows if row.get("detail", True)] if not delays else rows)
        return
    hidden = sum(1 for row in rows if row.get("detail") is False)
    shown = [row for row in rows if row.get("detail", True)]
    if not shown and not hidden:
        err().print(f"no schedules in group {app.settings.schedule_group}")
        return
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "KIND", "STATE", "EXPRESSION", "TIME ZONE", "TASK", "NEXT (UTC)"):
        table.add_column(column, overflow="fold")
    for row in shown:
        table.add_row(
            row["name"],
            row["kind"],
            row["state"],
            row.get("expression", "-"),
            row.get("timezone", "-"),
            row.get("task") or "-",
            (row.get("next") or "-").replace("T", " ").removesuffix("Z"),
        )
    out().print(table)
    if hidden:
        err().print(f"and {hidden} one-time schedule(s) of long-delayed tasks (--delays to describe them)")
    if any(row["state"] == "NOT DEPLOYED" for row in shown):
        deploy = suggest("deploy")
        err().print(f"periodic tasks marked NOT DEPLOYED are declared in code: deploy the stack (`{deploy}`)")


@schedules_group.command("preview", short_help="Print when an expression fires.")
@click.argument("expression", metavar="EXPR")
@click.option("--tz", "timezone", default="UTC", show_default=True, help="IANA time zone of the cron fields.")
@click.option("--count", type=click.IntRange(1, 1000), default=5, show_default=True, help="How many fire times.")
@click.option("--start", metavar="TIME", help="Preview after this ISO 8601 time (default: now).")
@json_option
@friendly
def preview(expression: str, timezone: str, count: int, start: str | None, as_json: bool) -> None:
    """Print the next fire times of EXPR (cron(...), rate(...) or at(...)), as EventBridge Scheduler would."""
    scheduling.check_timezone(timezone)
    after = datetime.fromtimestamp(clock.now(), UTC)
    if start is not None:
        try:
            after = datetime.fromisoformat(start)
        except ValueError:
            raise click.BadParameter(f"{start!r} is not an ISO 8601 time", param_hint="--start") from None
        if after.tzinfo is None:
            after = after.replace(tzinfo=ZoneInfo(timezone) if timezone != "UTC" else UTC)
    fires = scheduling.preview_schedule(expression, timezone, after, count)
    if as_json:
        emit_json([{"utc": iso(f.timestamp()), "local": f.astimezone(ZoneInfo(timezone)).isoformat()} for f in fires])
        return
    if not fires:
        err().print(f"{expression} never fires after {after.isoformat()}")
        return
    zone = ZoneInfo(timezone)
    for fire in fires:
        local = fire.astimezone(zone)
        line = f"{fire.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        if timezone != "UTC":
            line += f"   {local.strftime('%a %Y-%m-%d %H:%M:%S %Z')} ({timezone})"
        else:
            line += f"   {fire.strftime('%a')}"
        click.echo(line)


def _dynamic_name(name: str) -> str:
    """A dynamic schedule's own name, as ``app.schedules`` takes it (``schedules list`` prints it prefixed)."""
    return name.removeprefix(scheduling.DYNAMIC_PREFIX)


def _not_found(ref: AppRef, name: str) -> CliError:
    return CliError(f"no dynamic schedule called {name!r}: see `squall --app {ref.spec} schedules list`")


def _set_enabled(ref: AppRef, name: str, enabled: bool) -> ScheduleInfo:
    schedules = ref.get().schedules
    try:
        return schedules.resume(_dynamic_name(name)) if enabled else schedules.pause(_dynamic_name(name))
    except ScheduleNotFound:
        raise _not_found(ref, _dynamic_name(name)) from None


@schedules_group.command("pause", short_help="Stop a dynamic schedule firing.")
@click.argument("name")
@click.pass_obj
@friendly
def pause(ref: AppRef, name: str) -> None:
    """Pause the dynamic schedule NAME (firings missed while paused never happen)."""
    click.echo(f"paused {_set_enabled(ref, name, enabled=False).name}")


@schedules_group.command("resume", short_help="Let a paused dynamic schedule fire again.")
@click.argument("name")
@click.pass_obj
@friendly
def resume(ref: AppRef, name: str) -> None:
    """Resume the dynamic schedule NAME from its next fire time."""
    click.echo(f"resumed {_set_enabled(ref, name, enabled=True).name}")


@schedules_group.command("delete", short_help="Delete a dynamic schedule.")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
@friendly
def delete(ref: AppRef, name: str, yes: bool) -> None:
    """Delete the dynamic schedule NAME (periodic ones are declared in code: remove them there and deploy)."""
    app = ref.get()
    own = _dynamic_name(name)
    if not yes:
        click.confirm(f"delete schedule {own} of app {app.name}?", abort=True)
    if not app.schedules.delete(own):
        raise _not_found(ref, own)
    click.echo(f"deleted {own}")
