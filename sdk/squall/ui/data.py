"""What the dashboard's pages show, read through the ops layer: queries and GetItem, never a table scan."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from squall import clock
from squall.errors import NotIndexed
from squall.ops import dlq, listing
from squall.states import State
from squall.ui import metrics
from squall.ui.charts import Chart, bar_chart

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.state.schema import TaskRecord
    from squall.ui.recent import RecentTasks

#: Tasks a listing page shows at most.
PAGE_SIZE = 100
#: Buckets of the overview's charts, and each bucket's width in seconds.
CHART_BUCKETS, CHART_BUCKET_SECONDS = 24, 3_600
#: Recent tasks whose records the latency chart reads (one GetItem each).
LATENCY_SAMPLE = 50


@dataclass(frozen=True, slots=True)
class Row:
    """One task in a listing: the index's entry or the latest change this process saw."""

    id: str
    state: State
    at: float
    name: str | None
    queue: str | None


def _seen_rows(app: Squall, recent: RecentTasks | None, low: float) -> list[Row]:
    rows = []
    for seen in recent.latest() if recent is not None else []:
        if seen.at < low:
            break
        record = app.store.get(seen.task_id)
        name, queue = (record.name, record.queue) if record else (None, None)
        rows.append(Row(seen.task_id, seen.state, seen.at, name, queue))
    return rows


def list_rows(
    app: Squall,
    recent: RecentTasks | None,
    *,
    states: Sequence[State] = (),
    name: str | None = None,
    queue: str | None = None,
    since: float = 86_400,
    limit: int = PAGE_SIZE,
) -> tuple[list[Row], list[str]]:
    """Tasks newest first from the index (its states) and from ``recent`` (every state), and notes on gaps."""
    notes: list[str] = []
    now = clock.now()
    held = listing.indexed_states(app)
    indexed = [s for s in states if s in held] if states else list(held)
    found: dict[str, Row] = {}
    if indexed:
        for entry in listing.iter_tasks(app, states=indexed, name=name, since=since, limit=limit, now=now):
            found[entry.id] = Row(entry.id, entry.state, entry.at, entry.name, entry.queue)
    for row in _seen_rows(app, recent, now - since):
        if row.id not in found or found[row.id].at < row.at:
            found[row.id] = row
    missing = [s for s in (states or list(State)) if s not in held]
    if missing and recent is None:
        try:
            listing.check_states(app, missing)
        except NotIndexed as exc:
            notes.append(str(exc))
    rows = [
        r
        for r in found.values()
        if (not states or r.state in states)
        and (name is None or r.name == name)
        and (queue is None or r.queue == queue)
    ]
    rows.sort(key=lambda r: r.at, reverse=True)
    return rows[:limit], notes


def history(record: TaskRecord, recent: RecentTasks | None) -> list[tuple[str, float]]:
    """A task's state changes, oldest first: those this process saw, else the times its record keeps."""
    seen = recent.history(record.id) if recent is not None else []
    if seen:
        return [(str(s.state), s.at) for s in seen]
    marks = (
        ("PENDING (sent)", record.created_at),
        ("due", record.eta),
        ("STARTED", record.started_at),
        ("failed", record.failed_at),
        ("next attempt", record.next_attempt_at if record.state is State.RETRY else None),
        ("dead-lettered", record.lettered_at),
        (str(record.state), record.finished_at),
    )
    return sorted(((label, at) for label, at in marks if at is not None), key=lambda mark: mark[1])


def letter_of(app: Squall, task_id: str) -> dlq.DeadLetter | None:
    """The task's message in a DLQ (where its arguments can still be read), or None."""
    return dlq.find(app, task_id)


def arguments(letter: dlq.DeadLetter | None) -> str | None:
    """The task's arguments from its dead letter's envelope, pretty-printed, or None."""
    if letter is None:
        return None
    try:
        body = json.loads(letter.body)
    except ValueError:
        return letter.body
    if isinstance(body, dict):
        body = {key: body[key] for key in ("args", "kwargs") if key in body} or body
    return json.dumps(body, indent=2, ensure_ascii=False)


def pretty_json(text: str | None) -> str | None:
    """A stored JSON text, indented (as it is when it does not parse)."""
    if text is None:
        return None
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _label(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:00 UTC")


def charts(app: Squall, recent: RecentTasks | None) -> list[Chart]:
    """Per hour over the last day: finished tasks by outcome, the failure share, and latency of a sample."""
    now = clock.now()
    start = now - CHART_BUCKETS * CHART_BUCKET_SECONDS
    labels = [_label(start + i * CHART_BUCKET_SECONDS) for i in range(1, CHART_BUCKETS + 1)]
    done = [0.0] * CHART_BUCKETS
    failed = [0.0] * CHART_BUCKETS
    rows, _ = list_rows(app, recent, since=now - start, limit=10_000)
    for row in rows:
        bucket = min(int((row.at - start) // CHART_BUCKET_SECONDS), CHART_BUCKETS - 1)
        if row.state is State.SUCCESS:
            done[bucket] += 1
        elif row.state in (State.RETRY, State.DEAD, State.FAILURE):
            failed[bucket] += 1
    note = ""
    if recent is None and not app.index_success:
        # A deployed app's index holds no SUCCESS entry: count outcomes from the worker's CloudWatch metrics.
        outcomes = metrics.hourly_outcomes(app, start, CHART_BUCKETS, CHART_BUCKET_SECONDS)
        done, failed = outcomes.succeeded, outcomes.failed
        note = outcomes.note or "from the worker's CloudWatch metrics"
    share = [100 * f / (f + d) if f + d else 0.0 for f, d in zip(failed, done, strict=True)]
    wait = [0.0] * CHART_BUCKETS
    run = [0.0] * CHART_BUCKETS
    for row in rows[:LATENCY_SAMPLE]:
        record = app.store.get(row.id)
        if record is None or record.started_at is None:
            continue
        bucket = min(int((record.started_at - start) // CHART_BUCKET_SECONDS), CHART_BUCKETS - 1)
        if bucket < 0:
            continue
        if record.created_at is not None:
            wait[bucket] = max(wait[bucket], record.started_at - record.created_at)
        if record.finished_at is not None:
            run[bucket] = max(run[bucket], record.finished_at - record.started_at)
    return [
        bar_chart("succeeded per hour", done, labels, "tasks", note=note),
        bar_chart("failed (retrying or dead) per hour", failed, labels, "tasks", note=note),
        bar_chart("failure rate", share, labels, "%", note=note),
        bar_chart(f"enqueue to start, slowest of {LATENCY_SAMPLE} recent", wait, labels, "s"),
        bar_chart(f"run time, slowest of {LATENCY_SAMPLE} recent", run, labels, "s"),
    ]
