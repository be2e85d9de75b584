"""Benchmark: what workflows cost, measured on the local runtime — per chain step, group member and chord member,
and per chord for its own part — side by side with Step Functions Standard doing a chord's job as a Map state.

Each scenario sends one workflow shape through ``squall.local.run(app)`` (the real worker behind the emulated
event source, moto in process, a fake clock) and counts every request on the app's SQS and DynamoDB clients,
filed by part (``bench/workflow_counting.py``): the chain steps or members, and the chord's own part (its body,
the group item its shards are counted on, the body's reads of the members). Empty receives are idle polling,
reported apart as in ``bench/per_task.py``. The model these counts must equal is
``squall.deploy.workflow_cost`` (``tests/test_cost_workflows.py``).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.workflow_counting import PARTS, Part, PartCounter
from squall import Squall, local
from squall.deploy import cost, workflow_cost
from squall.tasks.signature import chain, chord, group

#: Steps in each measured chain.
CHAIN_LINKS = 10


@dataclass(frozen=True)
class Shape:
    """A workflow to measure: ``count`` workflows of ``size`` tasks each (chain steps or group members)."""

    key: str
    kind: str  # "chain", "group" or "chord"
    size: int
    count: int = 1

    @property
    def units(self) -> int:
        """Chain steps or members in all."""
        return self.size * self.count

    @property
    def label(self) -> str:
        """How the tables name it."""
        if self.kind == "chain":
            alone = "alone" if self.count == 1 else "side by side"
            return f"{self.count} chain{'s' if self.count > 1 else ''} of {self.size} steps, {alone}"
        return f"{self.kind} of {self.size} members" + (" + body" if self.kind == "chord" else "")

    def model(self, workload: cost.Workload | None = None) -> cost.Usage:
        """What ``squall.deploy.workflow_cost`` says the whole run uses (every part, not divided)."""
        w = workload or cost.Workload()
        if self.kind == "chain":
            # Steps of several chains advance together: batches of as many as there are chains, 10 at most.
            batch = min(self.count, w.batch_size)
            return workflow_cost.combined((self.units, workflow_cost.link_usage(w, batch)))
        if self.kind == "group":
            return workflow_cost.combined(
                (self.units, workflow_cost.task_usage(w, producer_batch=cost.SEND_BATCH_ENTRIES))
            )
        return workflow_cost.chord_total_usage(w, self.size)


@dataclass
class Measured:
    """What one shape used, by part."""

    shape: Shape
    parts: dict[str, Part]
    states: Counter[str] = field(default_factory=Counter)
    idle_receives: int = 0
    largest_item: int = 0
    largest_message: int = 0

    def usage(self, part: str, per: float = 1.0, workload: cost.Workload | None = None) -> cost.Usage:
        """Part ``part``'s usage divided by ``per``; Lambda duration from the workload's stated duration."""
        p, w = self.parts[part], workload or cost.Workload()
        deliveries = self._deliveries(part)
        return cost.Usage(
            sqs_send=p.sqs["send"] / per,
            sqs_receive=p.sqs["receive"] / per,
            sqs_delete=p.sqs["delete"] / per,
            sqs_visibility=p.sqs["visibility"] / per,
            dynamodb_writes=p.dynamodb_writes / per,
            dynamodb_write_units=p.write_units / per,
            dynamodb_read_units=p.read_units / per,
            scheduler_calls=0.0,
            scheduler_invocations=0.0,
            lambda_invocations=p.invocations / per,
            lambda_gb_seconds=deliveries / per * w.duration_ms / 1000 * w.memory_mb / 1024,
            log_bytes=p.invocations / per * cost.EMF_BYTES_PER_INVOCATION,
        )

    def total(self) -> cost.Usage:
        """Every part of the run together, not divided (the client's reads left out)."""
        return workflow_cost.combined((1, self.usage("unit")), (1, self.usage("fixed")))

    def _deliveries(self, part: str) -> int:
        if part == "client":
            return 0
        bodies = 1 if self.shape.kind == "chord" else 0
        return bodies if part == "fixed" else self.shape.units


def shapes(n: int) -> tuple[Shape, ...]:
    """The measured shapes for ``n`` tasks each: chains alone and side by side, a group, a chord."""
    chains = n // CHAIN_LINKS
    chains = chains - chains % 10 if chains >= 10 else max(1, chains)  # whole batches of 10 steps
    side_by_side = () if chains == 1 else (Shape("chains", "chain", CHAIN_LINKS, chains),)
    return (
        Shape("chain_alone", "chain", CHAIN_LINKS, 1),
        *side_by_side,
        Shape("group", "group", n),
        Shape("chord", "chord", n),
    )


def measure(shape: Shape) -> Measured:
    """Run ``shape`` on the local runtime and count what it used, by part."""
    # Powertools Metrics prints a metric set once it holds 100 values even when metrics are disabled.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        return _measure(shape)


def _measure(shape: Shape) -> Measured:
    app = Squall(f"bench-{shape.key.replace('_', '-')}")

    @app.task(name="bench.step")
    def step(x: int) -> int:
        return x + 1

    @app.task(name="bench.total")
    def total(results: list[int]) -> int:
        return sum(results)

    with local.run(app) as rt:
        counter = PartCounter()
        counter.attach(app.sqs)
        counter.attach(app.dynamodb, peek=rt.session.client("dynamodb", region_name=rt.settings.region))
        finished: dict[str, str] = {}
        rt.on_transition(lambda task_id, state, at: finished.__setitem__(task_id, str(state)))
        handles: list[Any]
        # Later chain steps and the body are given their parent's results first: their partial signatures are
        # checked when the workflow is frozen; the type checker sees only the missing argument.
        if shape.kind == "chain":
            steps = [step.s(0), *(step.s() for _ in range(shape.size - 1))]
            handles = [app.send_workflow(chain(*steps)) for _ in range(shape.count)]
        elif shape.kind == "group":
            handles = [app.send_workflow(group([step.s(i) for i in range(shape.size)]))]
        else:
            body = total.s()
            handles = [app.send_workflow(chord([step.s(i) for i in range(shape.size)], body))]
            counter.fixed_ids.add(handles[0].id)
        rt.drain()
        with counter.as_part("client"):  # reading the results once, as a client would
            for handle in handles:
                handle.get(timeout=0)
        for invocation in rt.invocations:
            counter.parts[counter.invocation_part(invocation)].invocations += 1
        idle = sum(p.sqs["idle_receive"] for p in counter.parts.values())
        return Measured(
            shape,
            counter.parts,
            states=Counter(finished.values()),
            idle_receives=idle,
            largest_item=max(counter.item_sizes, default=0),
            largest_message=counter.largest_message,
        )


def run(n: int) -> list[Measured]:
    """Measure every shape at ``n`` tasks."""
    return [measure(shape) for shape in shapes(n)]


def model_mismatches(m: Measured) -> dict[str, tuple[float, float]]:
    """Fields where the run's measured totals differ from the model's (for tests/test_cost_workflows.py)."""
    measured, modelled = m.total(), m.shape.model()
    names = (
        "sqs_send",
        "sqs_receive",
        "sqs_delete",
        "sqs_visibility",
        "dynamodb_writes",
        "dynamodb_write_units",
        "dynamodb_read_units",
        "lambda_invocations",
    )
    return {
        name: (getattr(measured, name), getattr(modelled, name))
        for name in names
        if abs(getattr(measured, name) - getattr(modelled, name)) > 1e-9
    }


# --- Step Functions Standard doing a chord's job ------------------------------------------------------------


@dataclass(frozen=True)
class MapMode:
    """A Step Functions Standard state machine that runs N items through a Lambda Task, then a body Task."""

    name: str
    #: State transitions per item, and per run whatever N (the Map state itself and the body's Task state).
    transitions_per_item: float
    fixed_transitions: int
    #: Items each Lambda invocation gets.
    items_per_invocation: int
    basis: str


MAP_MODES = (
    MapMode(
        "Step Functions Standard, Inline Map",
        1,
        2,
        1,
        "1 transition per item (the iteration's Task state; an Inline Map iteration itself is not charged) + "
        "2 a run (the Map state, the body's Task); at most 40 concurrent iterations and 25,000 history events",
    ),
    MapMode(
        "Step Functions Standard, Distributed Map",
        2,
        2,
        1,
        "2 transitions per item (1 per child workflow execution started, 1 for its Task state) + 2 a run",
    ),
    MapMode(
        "Step Functions Standard, Distributed Map, ItemBatcher of 10",
        0.2,
        2,
        10,
        "2 transitions per child execution of 10 items (the function gets 10 items and loops) + 2 a run",
    ),
)


def map_per_million(mode: MapMode, n: int, prices: cost.PriceTable | None = None) -> dict[str, float]:
    """Dollars per million items through ``mode`` in runs of ``n`` items: orchestration and Lambda."""
    p = prices or cost.load_prices()
    per_item = mode.transitions_per_item + mode.fixed_transitions / n
    invocations = 1 / mode.items_per_invocation + 1 / n  # and the body's, once a run
    # The same assumed time per item (and for the body) as Squall's per delivery.
    gb_seconds = (1 + 1 / n) * cost.DEFAULT_DURATION_MS / 1000 * 128 / 1024
    million = 1_000_000
    return {
        "orchestration": per_item * p["stepfunctions_standard_transition"].each * million,
        "lambda": (invocations * p["lambda_request"].each + gb_seconds * p["lambda_gb_second_arm64"].each) * million,
    }


def squall_per_million(m: Measured) -> dict[str, float]:
    """Dollars per million chord members, the chord's own part shared among its members (measured counts)."""
    lines = cost.price_per_million(m.total(), "arm64")
    per = m.shape.units
    return {
        "orchestration": (lines["sqs"] + lines["dynamodb"] + lines["cloudwatch_logs"]) / per,
        "lambda": (lines["lambda_requests"] + lines["lambda_duration"]) / per,
    }


__all__ = ["CHAIN_LINKS", "MAP_MODES", "PARTS", "MapMode", "Measured", "Shape", "measure", "run", "shapes"]
