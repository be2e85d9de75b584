"""The worker's side of workflows: the next steps, sent when a task finishes and before it is acknowledged.

:class:`Workflows` reads the envelope options :mod:`squall.tasks.canvas` writes. When a task succeeds it sends the
next step of its chain (given the result), or counts it finished as a member of its chord and, if it was the last,
sends the body; and its ``link`` callbacks. When a task is DEAD it sends its ``link_error`` callbacks (given its id),
records every later step of its chain DEAD with a reason naming it (so they read a clear state and never run), and
counts the member the chain would have finished as DEAD. A chord body reads its members' results before it runs
(:meth:`Workflows.body_arguments`).

Every id is frozen in the options, so sending a step again sends the same task, which runs once: the worker does it
on purpose when another delivery of a finished task arrives (:meth:`Workflows.again`), in case the first delivery
crashed between recording the outcome and sending the steps. Counting is idempotent (:mod:`squall.state.groups`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from squall import limits
from squall.errors import EncodeError, InvalidArguments, InvalidSchedule, MessageTooLarge, TaskNotRegistered
from squall.offload.results import result_text
from squall.sending.producer import prepare
from squall.state.groups import GroupCounter, get_many
from squall.state.schema import ErrorInfo
from squall.states import State
from squall.tasks.canvas import WORKFLOW_OPTIONS, Launch, MemberFailed, plan, plan_body
from squall.wire import codec
from squall.wire.envelope import Envelope

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.state.schema import TaskRecord


class ChordMemberDead(Exception):
    """A chord member is DEAD (or gone): the body does not run, and is DEAD with this reason."""


class Workflows:
    """Sends what comes after a task of a workflow (see the module docstring)."""

    def __init__(self, app: App) -> None:
        self.app = app

    @staticmethod
    def carries(envelope: Envelope) -> bool:
        """Whether the envelope holds any workflow option (most do not: nothing to do)."""
        return bool(envelope.options) and not WORKFLOW_OPTIONS.isdisjoint(envelope.options)

    def succeeded(self, envelope: Envelope, result: Any) -> None:
        """Send the chain's next step (or count the chord member and send the body), then the ``link`` callbacks."""
        if not self.carries(envelope):
            return
        options = envelope.options
        chain, member = options.get("chain") or [], options.get("chord")
        launches: list[Launch] = []
        if chain:
            launches += plan(self.app, chain[0], parent=result, rest=chain[1:], member=member)
        elif member is not None:
            launches += self._counted(member)
        for doc in options.get("link") or []:
            launches += plan(self.app, doc, parent=result)
        self._send(launches)

    def dead(self, envelope: Envelope, reason: str, *, errbacks: bool = True) -> None:
        """Send the ``link_error`` callbacks, record the chain's later steps DEAD, count the chord member.

        ``errbacks`` False (a REVOKED step) stops the workflow the same way without calling the error callbacks.
        """
        if not self.carries(envelope):
            return
        options = envelope.options
        launches: list[Launch] = []
        for doc in (options.get("link_error") or []) if errbacks else []:
            launches += plan(self.app, doc, parent=envelope.id)
        chain = options.get("chain") or []
        if chain:
            stopped = f"is DEAD: {reason}" if errbacks else "was revoked"
            why = f"not run: an earlier step of its chain, {envelope.task} ({envelope.id}), {stopped}"
            self._cancel(chain, why[: limits.MAX_ERROR_MESSAGE_CHARS])
        if (member := options.get("chord")) is not None:
            launches += self._counted(member)
        self._send(launches)

    def again(self, envelope: Envelope, current: TaskRecord) -> None:
        """Another delivery of a task that finished: send its next steps again, in case the first one could not."""
        if not self.carries(envelope):
            return
        if current.state is State.SUCCESS:
            self.succeeded(envelope, self._result(current))
        elif current.state is State.DEAD:
            self.dead(envelope, current.reason or "the task is DEAD")
        elif current.state is State.REVOKED:  # a revoked step stops its chain; as a member, it counts
            self.dead(envelope, "it was revoked", errbacks=False)

    @staticmethod
    def arguments_shape(envelope: Envelope) -> tuple[Any, ...]:
        """The arguments the task will be called with, as far as their number goes (a chord body's results first)."""
        body = envelope.options.get("chord_body") if envelope.options else None
        return (None, *envelope.args) if body is not None and body.get("prepend", True) else envelope.args

    def body_arguments(self, envelope: Envelope) -> tuple[Any, ...]:
        """A chord body's arguments: its members' results in order first (unless immutable); ChordMemberDead."""
        body = envelope.options.get("chord_body") if envelope.options else None
        if body is None:
            return envelope.args
        group, size = body["group"], body["size"]
        ids = [f"{group}.{index}" for index in range(size)]
        records = get_many(self.app.dynamodb, self.app.settings.table, ids)
        results: list[Any] = []
        for task_id in ids:
            record = records.get(task_id)
            if record is None or record.state is not State.SUCCESS:
                state = "gone (its record expired)" if record is None else f"{record.state}"
                reason = f"chord member {task_id} is {state}" + (
                    f": {record.reason}" if record and record.reason else ""
                )
                if body.get("on_failure") != "run" or record is None:
                    raise ChordMemberDead(reason[: limits.MAX_ERROR_MESSAGE_CHARS])
                results.append(MemberFailed(task_id, record.reason or reason))
                continue
            results.append(self._result(record))
        return (results, *envelope.args) if body.get("prepend", True) else envelope.args

    def _result(self, record: TaskRecord) -> Any:
        """The finished task's result, fetched from the payload bucket when it was offloaded (squall.offload)."""
        return None if record.result_json is None else codec.loads(result_text(self.app, record.result_json))

    def _counted(self, member: Mapping[str, Any]) -> list[Launch]:
        ttl = limits.DEAD_RECORD_TTL_SECONDS
        if GroupCounter(lambda: self.app.dynamodb, self.app.settings.table).finish(
            member["group"], member["index"], member["size"], ttl_seconds=ttl
        ):
            return plan_body(self.app, member)
        return []

    def _cancel(self, steps: Sequence[Mapping[str, Any]], reason: str) -> None:
        """Record DEAD every task a chain's later ``steps`` would have run (unless one finished or runs)."""
        error = ErrorInfo("ChainStepDead", reason)
        for task_id, name in _tasks_of(steps):
            self.app.store.dead(
                task_id, reason=reason, error=error, ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS, name=name
            )

    def _send(self, launches: list[Launch]) -> None:
        """Send the next steps. One that can never be sent (its arguments no longer fit its task, it is too large,
        its task is gone from this app) is recorded DEAD with the reason and stops its part of the workflow, as a
        DEAD step does; anything else (SQS unreachable) propagates, the message is kept, and ``again`` resends."""
        sendable: list[Launch] = []
        for launch in launches:
            try:
                prepare(launch.signature, workflow=launch.options)
            except (InvalidArguments, TaskNotRegistered, EncodeError, MessageTooLarge, InvalidSchedule) as exc:
                self._unsendable(launch, f"{type(exc).__name__}: {exc}")
            else:
                sendable.append(launch)
        if sendable:
            self.app.send_launches(sendable)

    def _unsendable(self, launch: Launch, problem: str) -> None:
        signature = launch.signature
        task_id = str(signature.options.get("task_id"))
        reason = f"this workflow step could not be sent: {problem}"[: limits.MAX_ERROR_MESSAGE_CHARS]
        error = ErrorInfo("StepNotSent", reason)
        self.app.store.dead(
            task_id, reason=reason, error=error, ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS, name=signature.name
        )
        self.dead(Envelope(id=task_id, task=signature.name, options=dict(launch.options)), reason)


def _tasks_of(steps: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(task id, task name) of every task in node documents: chain steps, group members, chord bodies, callbacks
    excepted (a callback of a step that never runs is never sent)."""
    found: list[tuple[str, str]] = []
    for doc in steps:
        if "chain" in doc:
            found += _tasks_of(doc["chain"])
        elif "group" in doc:
            found += _tasks_of(doc["group"])
        elif "chord" in doc:
            found += _tasks_of([doc["chord"], doc["body"]])
        else:
            found.append((doc["options"]["task_id"], doc["task"]))
    return found
