"""The dashboard's routes: reads are GETs, every change is a POST (checked by :mod:`squall.ui.security`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from squall import clock, limits
from squall.deploy import cost
from squall.errors import InvalidSchedule, ScheduleNotFound, SquallError
from squall.ops import dlq, listing, queues
from squall.scheduler import scheduling
from squall.states import State
from squall.ui import data

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.ui.recent import RecentTasks

pages = Blueprint("pages", __name__)
#: Next firings a schedule's row previews.
PREVIEW_FIRINGS = 3
_ALL = "all"


def _app() -> Squall:
    app: Squall = current_app.config["SQUALL_APP"]
    return app


def _recent() -> RecentTasks | None:
    recent: RecentTasks | None = current_app.config.get("SQUALL_RECENT")
    return recent


@pages.app_template_filter("utc")
def _utc(epoch: float | None) -> str:
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@pages.route("/")
def overview() -> str:
    """Queues' depths and concurrency, and the charts."""
    app = _app()
    rows = [
        (depth, app.queues[depth.queue].max_concurrency if depth.queue in app.queues else None)
        for depth in queues.all_depths(app)
    ]
    return render_template("overview.html", rows=rows, charts=data.charts(app, _recent()), now=clock.now())


@pages.route("/tasks")
def tasks() -> str | Response:
    """Recent tasks, filtered; a search by id goes to that task."""
    app = _app()
    wanted = request.args.get("id", "").strip()
    if wanted:
        return redirect(url_for("pages.task", task_id=wanted))
    state = request.args.get("state", "")
    name = request.args.get("name", "").strip() or None
    queue = request.args.get("queue", "") or None
    since_text = request.args.get("since", "24h")
    try:
        since = listing.parse_duration(since_text)
    except ValueError as exc:
        flash(str(exc))
        since, since_text = 86_400, "24h"
    states = [State(state)] if state in State.__members__ else []
    rows, notes = data.list_rows(app, _recent(), states=states, name=name, queue=queue, since=since)
    filters = {"state": state, "name": name or "", "queue": queue or "", "since": since_text}
    return render_template(
        "tasks.html", rows=rows, notes=notes, filters=filters, states=list(State), queues=list(app.settings.queues)
    )


@pages.route("/tasks/<task_id>")
def task(task_id: str) -> str:
    """One task: arguments (while its message can be read), result, progress, error, history."""
    app = _app()
    record = app.store.get(task_id)
    letter = data.letter_of(app, task_id) if record is None or record.state is State.DEAD else None
    if record is None and letter is None:
        abort(404, description=f"no task {task_id!r}: it never ran, or its record expired")
    return render_template(
        "task.html",
        task_id=task_id,
        record=record,
        letter=letter,
        arguments=data.arguments(letter),
        result=data.pretty_json(record.result_json) if record else None,
        history=data.history(record, _recent()) if record else [],
        revocable=record is not None and record.state in (State.PENDING, State.RETRY),
    )


@pages.post("/tasks/<task_id>/revoke")
def revoke(task_id: str) -> Response:
    """Revoke a task that has not started."""
    outcome = _app().revoke(task_id)
    flash(f"revoke {task_id}: {outcome.value}")
    return redirect(url_for("pages.task", task_id=task_id))


@pages.route("/dlq")
def dead_letters() -> str:
    """Every dead letter, with why it is there."""
    app = _app()
    rows = []
    for letter in dlq.peek(app, None, limit=data.PAGE_SIZE):
        record = app.store.get(letter.task_id) if letter.task_id else None
        rows.append((letter, record, dlq.status(letter, record, app.settings.queue(letter.queue).max_receive_count)))
    return render_template("dlq.html", rows=rows, queues=list(app.settings.queues), cap=limits.DEFAULT_MAX_REDRIVES)


@pages.post("/dlq/redrive")
def redrive() -> Response:
    """Redrive the chosen dead letters (``id`` fields), refusing tasks at the redrive cap."""
    ids = [i for i in request.form.getlist("id") if i]
    if not ids:
        flash("choose the dead letters to redrive")
        return redirect(url_for("pages.dead_letters"))
    report = dlq.redrive(_app(), ids, max_redrives=limits.DEFAULT_MAX_REDRIVES)
    flash(f"redriven: {len(report.moved)}; leftover copies removed: {len(report.dropped)}")
    for letter, why in [*report.refused, *report.failed]:
        flash(f"kept {letter.task_id or letter.message_id}: {why}")
    for ident in report.missing:
        flash(f"not in the dead-letter queues: {ident}")
    return redirect(url_for("pages.dead_letters"))


@pages.route("/dlq/purge")
def purge_confirm() -> str:
    """Ask before purging."""
    queue = request.args.get("queue", _ALL)
    return render_template("purge.html", queue=queue, queues=list(_app().settings.queues))


@pages.post("/dlq/purge")
def purge() -> Response:
    """Delete every message of one DLQ (or all), once confirmed by typing the queue's name."""
    queue = request.form.get("queue", _ALL)
    if request.form.get("confirm", "") != queue:
        flash(f"not purged: type {queue!r} to confirm")
        return redirect(url_for("pages.purge_confirm", queue=queue))
    for name in dlq.purge(_app(), None if queue == _ALL else queue):
        flash(f"purged the {name} DLQ")
    return redirect(url_for("pages.dead_letters"))


def _firings(expression: str, timezone: str) -> list[str]:
    try:
        fires = scheduling.preview_schedule(expression, timezone, count=PREVIEW_FIRINGS)
    except InvalidSchedule:
        return []
    zone = ZoneInfo(timezone)
    return [fire.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") for fire in fires]


@pages.route("/schedules")
def schedules() -> str:
    """Periodic schedules (declared in code) and dynamic ones, with their next firings in their time zone."""
    app = _app()
    periodic = [(p, _firings(str(p.expression), p.timezone)) for p in sorted(app.periodic_schedules.values(), key=str)]
    dynamic = []
    for summary in app.schedules.list():
        info = app.schedules.get(summary.name)
        dynamic.append((info, _firings(info.expression, info.timezone) if info.enabled else []))
    return render_template("schedules.html", periodic=periodic, dynamic=dynamic)


@pages.post("/schedules/<name>/<action>")
def schedule_action(name: str, action: str) -> Response:
    """Pause, resume or delete a dynamic schedule."""
    store = _app().schedules
    try:
        if action == "pause":
            store.pause(name)
        elif action == "resume":
            store.resume(name)
        elif action == "delete":
            store.delete(name)
        else:
            abort(404, description=f"no schedule action {action!r}: use pause, resume or delete")
    except ScheduleNotFound as exc:
        flash(str(exc))
    else:
        flash(f"{action}: {name}")
    return redirect(url_for("pages.schedules"))


@pages.route("/cost")
def cost_page() -> str:
    """This month's estimate for a volume (``squall cost``'s model and price table)."""
    defaults = cost.Workload()
    try:
        workload = cost.Workload(
            tasks_per_month=float(request.args.get("tasks", defaults.tasks_per_month)),
            duration_ms=float(request.args.get("duration_ms", defaults.duration_ms)),
            retries=float(request.args.get("retries", defaults.retries)),
            queues=len(_app().settings.queues),
        )
    except ValueError as exc:
        flash(f"bad workload: {exc}")
        workload = defaults
    return render_template("cost.html", estimate=cost.estimate(workload), workload=workload)


@pages.app_errorhandler(SquallError)
def squall_error(exc: SquallError) -> tuple[str, int]:
    """A Squall error (bad input, a missing resource) as a page saying what to do."""
    return render_template("error.html", message=str(exc)), 400
