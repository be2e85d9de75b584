"""Workflows on the command line: ``squall send --workflow`` reads a node document, ``squall status`` shows a group.

The node document is the one :mod:`squall.tasks.canvas` reads (``{"chain": [...]}``, ``{"group": [...]}``,
``{"chord": {"group": [...]}, "body": ...}``), so what a script writes is what the SDK sends. Its values are
:mod:`squall.wire.codec` values, as a signature's are: a tagged date arrives as a date.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.table import Table

from squall.cli._support import emit_json, out, resolve_task_name, styled_state, suggest
from squall.errors import InvalidArguments
from squall.state.result import AsyncResult, GroupResult
from squall.states import FINAL_STATES, State
from squall.tasks import workflow_json
from squall.tasks.signature import Chain, Group, Node, Signature
from squall.wire import codec

if TYPE_CHECKING:
    from datetime import datetime

    from squall.app import Squall
    from squall.state.schema import TaskRecord

_OPTION = "--workflow"
_EXAMPLE = '{"chain": [{"task": "fetch", "args": [1]}, {"task": "merge"}]}'


def read_workflow(app: Squall, text: str) -> Node:
    """The workflow ``--workflow`` names: JSON, or ``@PATH`` of a file holding it; BadParameter if unusable.

    Task names may be the last part of a registered name, as ``squall send TASK`` takes them.
    """
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"cannot read {str(path)!r}: {exc}", param_hint=_OPTION) from None
    try:
        doc = codec.loads(text)
    except ValueError as exc:  # the one error codec.loads raises, whatever the input
        problem = f"not valid JSON ({str(exc)[:200]}); give a node document, e.g. '{_EXAMPLE}'"
        raise click.BadParameter(problem, param_hint=_OPTION) from None
    try:
        node = workflow_json.node_from_doc(app, doc)
    except InvalidArguments as exc:
        raise click.BadParameter(str(exc), param_hint=_OPTION) from None
    return _resolved(app, node)


def _resolved(app: Squall, node: Node) -> Node:
    """``node`` with every task named by its registered name (TaskNotRegistered lists them for an unknown one)."""
    if isinstance(node, Signature):
        return replace(
            node,
            name=resolve_task_name(app, node.name),
            callbacks=tuple(_signature(app, c) for c in node.callbacks),
            errbacks=tuple(_signature(app, c) for c in node.errbacks),
        )
    if isinstance(node, Chain):
        return Chain(tuple(_resolved(app, step) for step in node.links))
    if isinstance(node, Group):
        return _group(app, node)
    return replace(node, header=_group(app, node.header), body=None if node.body is None else _resolved(app, node.body))


def _group(app: Squall, node: Group) -> Group:
    return replace(node, members=tuple(_resolved(app, member) for member in node.members))


def _signature(app: Squall, sig: Signature[Any]) -> Signature[Any]:
    resolved = _resolved(app, sig)
    assert isinstance(resolved, Signature)  # noqa: S101  # _resolved keeps a node's kind
    return resolved


def send_workflow(
    app: Squall, node: Node, *, countdown: float | None, eta: datetime | None, queue: str | None, as_json: bool
) -> None:
    """Send ``node`` and print its handle's id: a group's, or the last task's (a chain's or a chord's body)."""
    handle = app.send_workflow(node, countdown=countdown, eta=eta, queue=queue)
    if isinstance(handle, GroupResult):
        if as_json:
            emit_json(
                {"id": handle.id, "kind": "group", "size": handle.size, "members": [r.id for r in handle.results]}
            )
            return
        click.echo(handle.id)
        click.echo(f"a group of {handle.size}: `{suggest('status', handle.id)}` shows its members", err=True)
        return
    kind = "task" if isinstance(node, Signature) else "chain" if isinstance(node, Chain) else "chord"
    if as_json:
        emit_json({"id": handle.id, "kind": kind, "steps": _steps(handle)})
        return
    click.echo(handle.id)
    if kind != "task":
        click.echo(f"the id of the {kind}'s last task: its result is the {kind}'s", err=True)


def _steps(handle: AsyncResult[Any]) -> list[str]:
    """The ids of a chain's steps, first to last (a group among them by its group id)."""
    ids: list[str] = []
    step: AsyncResult[Any] | GroupResult | None = handle
    while step is not None:
        ids.append(step.id)
        step = step.parent
    return ids[::-1]


def _reason(record: TaskRecord | None) -> str | None:
    """Why a DEAD member is DEAD (None for any other state)."""
    if record is None or record.state is not State.DEAD:
        return None
    if record.reason:
        return record.reason
    return f"{record.error.type}: {record.error.message}" if record.error else "no reason recorded"


def show_group(app: Squall, group_id: str, *, as_json: bool) -> None:
    """Print how far group ``group_id`` is and each member's state (BatchGetItem, 100 members a request)."""
    handle = app.GroupResult(group_id)
    records = handle.records()
    states = [State.PENDING if r is None else r.state for r in records]
    succeeded = sum(state is State.SUCCESS for state in states)
    finished = sum(state in FINAL_STATES for state in states)
    rows = [
        (index, member.id, state, _reason(record))
        for index, (member, record, state) in enumerate(zip(handle.results, records, states, strict=True))
    ]
    if as_json:
        members = [{"index": i, "id": tid, "state": str(state), "reason": why} for i, tid, state, why in rows]
        emit_json(
            {"id": group_id, "size": handle.size, "succeeded": succeeded, "finished": finished, "members": members}
        )
        return
    dead = sum(state is State.DEAD for state in states)
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(overflow="fold")
    summary.add_row("group", group_id)
    summary.add_row("completed", f"{succeeded}/{handle.size} succeeded, {finished}/{handle.size} finished")
    if dead:
        summary.add_row("dead", f"{dead} (reasons below)")
    console = out()
    console.print(summary)
    table = Table(box=None, header_style="bold")
    for column in ("#", "MEMBER", "STATE", "REASON"):
        table.add_column(column, overflow="fold" if column in ("MEMBER", "REASON") else "ellipsis")
    for index, member_id, state, why in rows:
        table.add_row(str(index), member_id, styled_state(state), why or "")
    console.print(table)
