"""The model of how a workflow must end, checked against the records and against what the task bodies saw.

The model walks each workflow's spec as the worker should have: a step is *reached* when its parent succeeded
(given the parent's result first, unless immutable), or *cancelled* once an earlier step of its chain is DEAD. The
steps whose fate is their own (a reached step: it may succeed, fail for its budget or poison, or die of the
infrastructure) are read from their records; everything after them follows:

* a reached step has a final record (none: its parent's continuation was **lost**), SUCCESS with its own result
  and given exactly its parent's result, or DEAD for a reason its fate allows;
* a cancelled step reads DEAD, naming the DEAD (or revoked) step of its chain, and never ran;
* a step the producer revoked while it waited in a schedule reads REVOKED and never ran; it stops its chain and
  counts as a chord member, as a DEAD step does (its workflow still ends);
* a chord's body, once every member is final: with a DEAD member and ``on_failure="dead"``, DEAD naming that
  member (the first DEAD in header order) and never run; otherwise run with every member's result (or
  ``MemberFailed``) **in header order**;
* no step ran to completion twice (the body of a chord above all), unless its final write did not land (the SDK
  gave up on it, or the invocation was stopped during it): then the next delivery runs it again, by design.

Each broken promise is a violation, named by what broke and listing the task ids.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from tests.reliability.workflows import ChainSpec, ChordSpec, GroupSpec, Spec, Step, Workflow, first_step, steps_of

from squall import Squall
from squall.local import Runtime
from squall.state.schema import TaskRecord
from squall.states import State
from squall.worker.deadletters import TASK_ID_ATTRIBUTE

#: What a first step (or an immutable one) is given in its parent's place.
NOTHING = "<nothing>"
FINAL = (State.SUCCESS, State.DEAD, State.REVOKED)
CANCELLED = "not run: an earlier step of its chain"

Outcome = tuple[str, Any]  # ("ok", result) | ("dead", id the next steps name) | ("unknown", None)
Reach = tuple[str, Any]  # ("reached", parent result or NOTHING) | ("cancelled", id to name) | ("unknown", None)


def result_of(task_id: str) -> str:
    """What the suite's task with id ``task_id`` returns."""
    return f"r:{task_id}"


def dead_cause(record: TaskRecord) -> str:
    """Why a record is DEAD: cancelled, member, killed, moved, poison, budget or other."""
    kind = record.error.type if record.error else ""
    reason = record.reason or ""
    causes = {
        "ChainStepDead": "cancelled",
        "ChordMemberDead": "member",
        "AttemptsExhausted": "killed",
        "MovedByRedrivePolicy": "moved",
    }
    if kind in causes:
        return causes[kind]
    if kind.endswith("PoisonError") and "not retried" in reason:
        return "poison"
    return "budget" if "retries exhausted" in reason else "other"


@dataclass
class Facts:
    """What the run left and what the bodies saw."""

    records: dict[str, TaskRecord]
    starts: Counter[str]
    executions: Counter[str]
    #: Task id -> what the first argument of each completed execution was (NOTHING for a first step).
    received: dict[str, list[Any]]
    #: Task ids whose final write did not land after the body ran (a second execution is expected).
    rerun_explained: set[str]


@dataclass
class Checker:
    """Walks every workflow against :class:`Facts`; ``violations`` and ``counts`` are what it found."""

    facts: Facts
    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    counts: Counter[str] = field(default_factory=Counter)

    def workflow(self, workflow: Workflow) -> None:
        """Check one workflow, and whether it ended (every one of its steps final)."""
        self.counts[f"workflows: {workflow.shape}"] += 1
        self._node(workflow.spec, ("reached", NOTHING))
        records = self.facts.records
        ended = all((r := records.get(s.id)) is not None and r.state in FINAL for s in steps_of(workflow.spec))
        if ended:
            self.counts["workflows ended (every step final)"] += 1
        else:
            self.violations["workflow(s) that never ended (a step without a final state)"].append(workflow.name)

    def _flag(self, what: str, task_id: str) -> None:
        self.violations[what].append(task_id)

    def _node(self, spec: Spec, reach: Reach) -> Outcome:
        if isinstance(spec, Step):
            return self._step(spec, reach)
        if isinstance(spec, ChainSpec):
            outcome: Outcome = ("unknown", None)
            for part in spec.steps:
                outcome = self._node(part, reach)
                reach = _after(outcome)
            return outcome
        if isinstance(spec, GroupSpec):
            for member in spec.members:
                self._node(member, reach)
            return ("unknown", None)  # nothing follows a bare group: a group followed by a step is a chord
        return self._chord(spec, reach)

    def _chord(self, spec: ChordSpec, reach: Reach) -> Outcome:
        if reach[0] != "reached":
            self._node(spec.group, reach)
            return self._node(spec.body, reach)
        outcomes = [self._node(member, reach) for member in spec.group.members]
        if any(kind == "unknown" for kind, _ in outcomes):
            return ("unknown", None)  # a member was lost or left unfinished: flagged where it happened
        self.counts["chords whose members all finished"] += 1
        gid = spec.group.id
        dead = [index for index, (kind, _) in enumerate(outcomes) if kind == "dead"]
        body = first_step(spec.body)
        if dead and spec.on_failure == "dead":
            self._body_not_run(body, f"{gid}.{dead[0]}")
            self.counts["chord bodies DEAD naming a DEAD member (never run)"] += 1
            if isinstance(spec.body, ChainSpec):
                self._node(ChainSpec(spec.body.steps[1:]), ("cancelled", body.id))
            return ("dead", body.id)
        results = [value if kind == "ok" else ["failed", f"{gid}.{i}"] for i, (kind, value) in enumerate(outcomes)]
        if dead:
            self.counts["chord bodies run with MemberFailed in a DEAD member's place"] += 1
        return self._node(spec.body, ("reached", results))

    def _body_not_run(self, body: Step, member: str) -> None:
        record = self.facts.records.get(body.id)
        if self.facts.starts[body.id]:
            self._flag("a chord body with a DEAD member (on_failure dead) ran", body.id)
        if record is None or record.state not in FINAL:
            self._flag("lost: a chord body was never decided although every member finished", body.id)
            return
        cause = dead_cause(record) if record.state is State.DEAD else "not DEAD"
        if cause in ("killed", "moved"):
            return  # never claimed for a run (SQS moved it), or its decision kept failing: DEAD all the same
        state = "REVOKED" if self._stopped(member) == "was revoked" else "DEAD"
        if cause != "member" or not (record.reason or "").startswith(f"chord member {member} is {state}"):
            self._flag(f"a chord body with a DEAD member is not DEAD naming the member ({cause})", body.id)

    def _step(self, step: Step, reach: Reach) -> Outcome:
        facts, kind = self.facts, reach[0]
        record = facts.records.get(step.id)
        if kind == "cancelled":
            named = reach[1]
            self.counts["steps cancelled (after a DEAD step)"] += 1
            if facts.starts[step.id]:
                self._flag("a step after a DEAD step of its chain ran", step.id)
            reason = (record.reason or "") if record else ""
            cancelled = record is not None and record.state is State.DEAD and record.error is not None
            if not (cancelled and reason.startswith(CANCELLED) and f"({named}), {self._stopped(named)}" in reason):
                self._flag("a step after a DEAD step does not read DEAD naming that step", step.id)
            return ("dead", named)
        if kind == "unknown":
            return ("unknown", None)
        if record is None:
            self._flag("lost: a reached step (its parent succeeded, or its workflow was sent) has no record", step.id)
            return ("unknown", None)
        if record.state not in FINAL:
            self._flag(f"a reached step was left {record.state}", step.id)
            return ("unknown", None)
        if step.fate == "revoked" or record.state is State.REVOKED:
            return self._revoked(step, record)
        if record.state is State.SUCCESS:
            return self._succeeded(step, record, reach[1])
        return self._dead(step, record)

    def _revoked(self, step: Step, record: TaskRecord) -> Outcome:
        self.counts["steps REVOKED (while waiting in a schedule)"] += 1
        if step.fate != "revoked":
            self._flag("a step no one revoked reads REVOKED", step.id)
        if record.state is not State.REVOKED:
            self._flag("a revoked step does not read REVOKED", step.id)
        if self.facts.starts[step.id]:
            self._flag("a revoked step ran", step.id)
        return ("dead", step.id)

    def _stopped(self, task_id: str) -> str:
        """How the later steps name ``task_id``, the step that stopped them: "was revoked" or "is DEAD"."""
        record = self.facts.records.get(task_id)
        return "was revoked" if record is not None and record.state is State.REVOKED else "is DEAD"

    def _succeeded(self, step: Step, record: TaskRecord, parent: Any) -> Outcome:
        facts = self.facts
        self.counts["steps SUCCESS"] += 1
        if step.fate != "ok":
            self._flag("a step that cannot succeed (poison or hopeless) succeeded", step.id)
        if record.result_json != f'"{result_of(step.id)}"':
            self._flag("a step's stored result is not its own", step.id)
        expected = NOTHING if step.immutable else parent
        seen = facts.received.get(step.id) or []
        if not seen or seen[-1] != expected:
            what = (
                "a chord body was not given its members' results in header order"
                if isinstance(parent, list)
                else ("a step was not given its parent's result (or was, immutable)")
            )
            self._flag(what, step.id)
        runs = facts.executions[step.id]
        if runs > 1 and step.id not in facts.rerun_explained:
            body = isinstance(parent, list)
            self._flag("a chord body ran more than once" if body else "a step ran to completion twice", step.id)
        if isinstance(parent, list):
            self.counts["chord bodies SUCCESS"] += 1
            self.counts["chord bodies run more than once (explained: their SUCCESS write did not land)"] += runs > 1
        return ("ok", result_of(step.id))

    def _dead(self, step: Step, record: TaskRecord) -> Outcome:
        cause = dead_cause(record)
        self.counts[f"steps DEAD: {cause}"] += 1
        allowed = {
            "killed": True,
            "moved": True,
            "poison": step.fate == "poison",
            "budget": step.fate == "hopeless" or step.failure_rate > 0,
        }
        if cause == "cancelled":
            self._flag("a reached step (its parent succeeded) reads cancelled", step.id)
        elif cause == "member":
            self._flag("a chord body is DEAD for a member although it should have run", step.id)
        elif not allowed.get(cause, False):
            self._flag(f"a step is DEAD for a reason its fate does not allow ({cause}, fate {step.fate})", step.id)
        return ("dead", step.id)


def end_state(
    app: Squall, rt: Runtime, records: dict[str, TaskRecord], groups: list[GroupSpec], v: dict[str, list[str]]
) -> list[str]:
    """What must hold once the queues drained, beyond each workflow: the DLQ holds exactly the DEAD tasks that
    were sent (a cancelled step never was), no message is left, and a group's handle reads its members in
    header order. Returns the task ids of the dead letters."""
    letters = [m.attributes.get(TASK_ID_ATTRIBUTE) or "<no task id>" for m in rt.dead_letters()]
    sent_dead = {i for i, r in records.items() if r.state is State.DEAD and dead_cause(r) != "cancelled"}
    v["DLQ contents differ from the DEAD tasks that were sent"].extend(sorted(set(letters) ^ sent_dead))
    if rt.queued():
        v["messages left on the source queues"].append(str(rt.queued()))
    for group in groups:
        members = [records.get(f"{group.id}.{i}") for i in range(len(group.members))]
        if app.GroupResult(group.id).states() != [State.PENDING if r is None else r.state for r in members]:
            v["GroupResult reads other states than its members' records"].append(group.id)
    return letters


def _after(outcome: Outcome) -> Reach:
    kind, value = outcome
    if kind == "ok":
        return ("reached", value)
    if kind == "dead":
        return ("cancelled", value)
    return ("unknown", None)
