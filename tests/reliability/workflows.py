"""The workflow workload of the fault suite: what each workflow is, drawn from a seed, and how it is built.

A workflow is one of four shapes: a **chain** of 2-4 steps (some immutable), a **group** of 2-20 members (some of
them chains of two), a **chord** of 2-20 members with a body (some bodies chains of two; a share with
``on_failure="run"``), and a **chain containing a chord**: a step, then a chord or a group (a group in the middle
of a chain is a chord whose body is the next step), then more; a chord, then a step; or a step, then a group. A
few chords have 65-140 members, so that a chord's counting spans shards.

Every step's fate is drawn too: most succeed (failing 0, 20 or 50 % of their attempts, retried), some are poison
(DEAD at once) or hopeless (DEAD once their budget is spent); a share of chains and chords is given one such
step or member on purpose, so that stopped chains and DEAD members are common. In a few workflows the first step
waits an hour in a one-time schedule and is revoked by the producer as soon as it is sent (fate ``revoked``).
Every id is chosen here, from the seed (task ids, group ids), so that a run repeats exactly and the model knows
each task before it is sent.

The specs mirror Squall's node classes one for one (:func:`build` turns a spec into a node), and the model in
:mod:`tests.reliability.workflow_checks` reads them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

from tests.reliability.harness import FaultPlan

from squall.state.result import group_id
from squall.tasks.signature import Group, Node, Signature, chain, chord

#: The three tasks, by the role their arguments fit: a first step, a step given its parent's result, a body.
FIRST, THEN, MERGE = "first", "then", "merge"
Fate = Literal["ok", "poison", "hopeless", "revoked"]
#: How long a step to be revoked waits: past SQS's 900 s, so in a one-time EventBridge Scheduler schedule.
REVOKE_COUNTDOWN = 3600


@dataclass(frozen=True)
class WorkflowPlan:
    """How many workflows, what they are, and how often each fault strikes. Rates are probabilities per draw."""

    n: int = 40
    seed: int = 20261215
    #: The existing suite's infrastructure faults (crashes, timeouts, duplicates, concurrent deliveries,
    #: throttling, send failures, Lambda throttling); its workload fields are not used here. Its Lambda
    #: throttling windows come one per 500 workflows, up to its ``throttle_windows``.
    infra: FaultPlan = field(default_factory=FaultPlan)
    # --- the workload
    shape_weights: tuple[float, float, float, float] = (0.25, 0.2, 0.3, 0.25)  # chain, group, chord, chain+chord
    failure_rates: tuple[float, ...] = (0.0, 0.0, 0.2, 0.5)  # per-attempt failure probability, one per step
    poison_rate: float = 0.02  # per step: an error never retried
    hopeless_rate: float = 0.02  # per step: fails every attempt
    doomed_fraction: float = 0.35  # per chain or chord: one step or member (or two) poison or hopeless on purpose
    on_failure_run_fraction: float = 0.3  # per chord
    immutable_rate: float = 0.15  # per later chain step: .si(), not given its parent's result
    member_chain_rate: float = 0.2  # per group member: a chain of two
    body_chain_rate: float = 0.2  # per chord body: a chain of two
    max_members: int = 20  # a group's or chord's members: 2 to this many
    large_chord_fraction: float = 0.005  # chords of 65-140 members (several counting shards)
    #: per workflow: its first step waits an hour (a one-time schedule) and the producer revokes it at once
    revoked_fraction: float = 0.03
    # --- workflow faults
    crash_before_send_rate: float = 0.04  # per continuation: the outcome is recorded, then the worker dies
    crash_after_send_rate: float = 0.04  # per continuation: the next steps are sent, then the worker dies
    finish_elsewhere_rate: float = 0.05  # per continuation: a second worker handles the same record meanwhile
    crash_between_counts_rate: float = 0.05  # per shard count that filled nothing yet: dies before the next write
    counter_elsewhere_rate: float = 0.05  # per shard count: a second worker counts the same member meanwhile
    counter_throttle_rate: float = 0.1  # per group# UpdateItem: throttled 1-3 times, then let through
    counter_failure_rate: float = 0.05  # per group# UpdateItem: throttled until the SDK gives up

    def intensified(self, factor: float) -> WorkflowPlan:
        """This plan with every fault rate, the existing suite's and the workflow ones, times ``factor``."""
        rates: tuple[str, ...] = ("crash_before_send_rate", "crash_after_send_rate", "finish_elsewhere_rate")
        rates += (
            "crash_between_counts_rate",
            "counter_elsewhere_rate",
            "counter_throttle_rate",
            "counter_failure_rate",
        )
        scaled = {name: min(0.9, getattr(self, name) * factor) for name in rates}
        return replace(self, infra=self.infra.intensified(factor), **scaled)


@dataclass(frozen=True)
class Step:
    """One task call: its id (frozen here), which task, its fate, and whether it ignores its parent's result."""

    id: str
    task: str
    fate: Fate
    failure_rate: float
    immutable: bool = False
    #: The group whose member this step finishes (a member's last step is task ``<group>.<index>``).
    terminal_of: str | None = None


@dataclass(frozen=True)
class ChainSpec:
    steps: tuple[Spec, ...]


@dataclass(frozen=True)
class GroupSpec:
    id: str
    members: tuple[Spec, ...]


@dataclass(frozen=True)
class ChordSpec:
    group: GroupSpec
    body: Spec
    on_failure: Literal["dead", "run"] = "dead"
    #: Built as a bare group followed by the body in a chain (a group in the middle of a chain).
    implicit: bool = False


Spec: TypeAlias = "Step | ChainSpec | GroupSpec | ChordSpec"


@dataclass(frozen=True)
class Workflow:
    """One workflow to send: its number, shape and spec."""

    number: int
    shape: str
    spec: Spec

    @property
    def name(self) -> str:
        return f"w{self.number:05d}"


def steps_of(spec: Spec) -> Iterator[Step]:
    """Every step of ``spec``, members and bodies included, in header order."""
    if isinstance(spec, Step):
        yield spec
    elif isinstance(spec, ChainSpec):
        for part in spec.steps:
            yield from steps_of(part)
    elif isinstance(spec, GroupSpec):
        for member in spec.members:
            yield from steps_of(member)
    else:
        yield from steps_of(spec.group)
        yield from steps_of(spec.body)


def groups_of(spec: Spec) -> Iterator[GroupSpec]:
    """Every group of ``spec`` (a chord's included), outermost first."""
    if isinstance(spec, GroupSpec):
        yield spec
    elif isinstance(spec, ChainSpec):
        for part in spec.steps:
            yield from groups_of(part)
    elif isinstance(spec, ChordSpec):
        yield spec.group
        yield from groups_of(spec.body)


def first_step(spec: Spec) -> Step:
    """The step that starts ``spec`` (a chain's first; a chord's or group's first member)."""
    return next(steps_of(spec))


def last_step(spec: Spec) -> Step:
    """The step whose result is ``spec``'s (a chain's last; a chord's body's last)."""
    if isinstance(spec, Step):
        return spec
    if isinstance(spec, ChainSpec):
        return last_step(spec.steps[-1])
    if isinstance(spec, ChordSpec):
        return last_step(spec.body)
    raise ValueError("a group has no one last step")


class Drawer:
    """Draws workflows from the plan's seed."""

    def __init__(self, plan: WorkflowPlan, rng: random.Random) -> None:
        self.plan, self.rng = plan, rng
        self._workflow = ""
        self._count = 0

    def draw(self) -> list[Workflow]:
        """Every workflow, in sending order; doomed chains and chords and large chords to exact shares."""
        plan, n, rng = self.plan, self.plan.n, self.rng
        doomed = set(rng.sample(range(n), math.ceil(n * plan.doomed_fraction)))
        large = set(rng.sample(range(n), math.ceil(n * plan.large_chord_fraction)))  # none at a fraction of 0
        # drawn apart, so that the rest of a seed's workload is the same whatever the fraction
        revoked = set(random.Random(f"{plan.seed}/revoked").sample(range(n), math.ceil(n * plan.revoked_fraction)))
        shapes = ("chain", "group", "chord", "chain with chord")
        workflows = []
        for number in range(n):
            self._workflow, self._count = f"w{number:05d}", 0
            shape = "chord" if number in large else rng.choices(shapes, plan.shape_weights)[0]
            members = rng.randint(65, 140) if number in large else rng.randint(2, plan.max_members)
            spec = self._shape(shape, members, number in doomed)
            if number in revoked:
                spec = _with_fates(spec, {first_step(spec).id}, "revoked")
            workflows.append(Workflow(number, shape, spec))
        return workflows

    def _shape(self, shape: str, members: int, doomed: bool) -> Spec:
        rng = self.rng
        if shape == "chain":
            length = rng.randint(2, 4)
            spec: Spec = ChainSpec(
                (self._step(FIRST), *(self._later() for _ in range(length - 1))),
            )
        elif shape == "group":
            spec = self._group(members, FIRST)
        elif shape == "chord":
            spec = self._chord(members, FIRST)
        else:
            variant = rng.randrange(4)
            if variant == 0:  # a step, a chord, a step
                spec = ChainSpec((self._step(FIRST), self._chord(members, THEN), self._step(THEN)))
            elif variant == 1:  # a step, a group, its body (a chord), maybe one more step
                body = self._step(MERGE)
                implicit = ChordSpec(self._group(members, THEN), body, "dead", implicit=True)
                spec = ChainSpec((self._step(FIRST), implicit, *([self._step(THEN)] if rng.random() < 0.5 else [])))
            elif variant == 2:  # a chord, then a step
                spec = ChainSpec((self._chord(members, FIRST), self._step(THEN)))
            else:  # a step, then a group that ends the chain
                spec = ChainSpec((self._step(FIRST), self._group(members, THEN)))
        return self._doom(spec) if doomed else spec

    def _later(self) -> Step:
        immutable = self.rng.random() < self.plan.immutable_rate
        return self._step(FIRST, immutable=True) if immutable else self._step(THEN)

    def _group(self, size: int, role: str) -> GroupSpec:
        gid = group_id(size, f"{self.rng.getrandbits(128):032x}")
        members: list[Spec] = []
        for index in range(size):
            terminal = f"{gid}.{index}"
            if self.rng.random() < self.plan.member_chain_rate:
                members.append(ChainSpec((self._step(role), self._step(THEN, terminal=terminal, of=gid))))
            else:
                members.append(self._step(role, terminal=terminal, of=gid))
        return GroupSpec(gid, tuple(members))

    def _chord(self, size: int, role: str) -> ChordSpec:
        group = self._group(size, role)
        body: Spec = self._step(MERGE)
        if self.rng.random() < self.plan.body_chain_rate:
            body = ChainSpec((body, self._step(THEN)))
        run = self.rng.random() < self.plan.on_failure_run_fraction
        return ChordSpec(group, body, "run" if run else "dead")

    def _step(self, task: str, *, immutable: bool = False, terminal: str | None = None, of: str | None = None) -> Step:
        plan, rng = self.plan, self.rng
        draw = rng.random()
        fate: Fate = "poison" if draw < plan.poison_rate else "ok"
        if plan.poison_rate <= draw < plan.poison_rate + plan.hopeless_rate:
            fate = "hopeless"
        rate = rng.choice(plan.failure_rates) if fate == "ok" else 0.0
        task_id = terminal or f"{self._workflow}.s{self._count}"
        self._count += 1
        return Step(task_id, task, fate, rate, immutable, of)

    def _doom(self, spec: Spec) -> Spec:
        """``spec`` with one step (a chain's) or one or two members (a chord's or group's) poison or hopeless."""
        steps = list(steps_of(spec))
        chosen = {self.rng.choice(steps).id for _ in range(self.rng.randint(1, 2))}
        fate: Fate = "poison" if self.rng.random() < 0.5 else "hopeless"
        return _with_fates(spec, chosen, fate)


def _with_fates(spec: Spec, ids: set[str], fate: Fate) -> Spec:
    if isinstance(spec, Step):
        return replace(spec, fate=fate, failure_rate=0.0) if spec.id in ids else spec
    if isinstance(spec, ChainSpec):
        return ChainSpec(tuple(_with_fates(s, ids, fate) for s in spec.steps))
    if isinstance(spec, GroupSpec):
        return GroupSpec(spec.id, tuple(_with_fates(m, ids, fate) for m in spec.members))
    group = _with_fates(spec.group, ids, fate)
    assert isinstance(group, GroupSpec)
    return replace(spec, group=group, body=_with_fates(spec.body, ids, fate))


def build(spec: Spec, tasks: dict[str, Any]) -> Node:
    """The Squall node ``spec`` describes, every id given (a member's last step takes its group's)."""
    if isinstance(spec, Step):
        task = tasks[spec.task]
        signature: Signature[Any] = task.si(spec.id, spec.fate) if spec.immutable else task.s(spec.id, spec.fate)
        if spec.fate == "revoked":
            signature = signature.set(countdown=REVOKE_COUNTDOWN)
        return signature if spec.terminal_of else signature.set(task_id=spec.id)
    if isinstance(spec, ChainSpec):
        links: list[Node] = []
        for part in spec.steps:
            if isinstance(part, ChordSpec) and part.implicit:
                links += [build(part.group, tasks), build(part.body, tasks)]
            else:
                links.append(build(part, tasks))
        return chain(*links)
    if isinstance(spec, GroupSpec):
        return Group(tuple(build(member, tasks) for member in spec.members), id=spec.id)
    header = build(spec.group, tasks)
    assert isinstance(header, Group)
    return chord(header, build(spec.body, tasks), on_failure=spec.on_failure)


def frozen_ids(doc: dict[str, Any]) -> list[str]:
    """Every task id of a frozen node document, in the order :func:`steps_of` gives its spec's."""
    if "chain" in doc:
        return [task_id for part in doc["chain"] for task_id in frozen_ids(part)]
    if "group" in doc:
        return [task_id for member in doc["group"] for task_id in frozen_ids(member)]
    if "chord" in doc:
        return frozen_ids(doc["chord"]) + frozen_ids(doc["body"])
    return [str(doc["options"]["task_id"])]
