"""The faults workflows add to the suite's: deaths around the next steps, second workers, refused counts.

* :class:`ContinuationFaults` wraps :meth:`Workflows.succeeded` and :meth:`Workflows.dead` (what the worker does
  after recording an outcome and before the message is acknowledged): the worker dies before sending the next
  steps (the outcome is recorded), or after sending them and before the ack; or a second worker handles the same
  record meanwhile (it finds the task finished, and sends the next steps again while the first one does too).
* :class:`CounterFaults` watches the UpdateItem calls on a group's counting items (``group#...``): some are
  throttled a few times and let through, some until the SDK gives up (the message is kept and comes back); after
  a member's count lands, the worker may die before counting the shard it filled, or a second worker may count
  the same member meanwhile.

Deaths are :class:`~tests.reliability.faults.Crash`, which nothing in the worker catches: the invocation fails
and nothing in its batch is acknowledged. Faults strike worker invocations only, never the second worker's own
handling (``WorkerFaults.current`` is None then) nor the reconciler's.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.reliability.faults import Crash, DynamoThrottles, WorkerFaults, write_task_id

from squall import limits
from squall.local.esm import FakeLambdaContext
from squall.state.groups import GROUP_PREFIX
from squall.state.result import group_size
from squall.wire import signing as sig
from squall.wire.envelope import Envelope
from squall.worker.workflows import Workflows


def envelope_id(body: str) -> str:
    """The task id of a message body, signed or not."""
    return str(json.loads(sig.unverified_json(body))["id"])


def finish_elsewhere(worker: WorkerFaults, task_id: str) -> bool:
    """A second worker handles the record of ``task_id`` the current invocation holds, now; False if none."""
    invocation = worker.current
    if invocation is None:
        return False
    record = next((r for r in invocation.event["Records"] if envelope_id(r["body"]) == task_id), None)
    if record is None:
        return False
    worker.current = None  # no faults inside the second worker's handling
    try:
        rt = worker.rt
        context = FakeLambdaContext("elsewhere", rt.topology.sizing.timeout, 256, rt.settings.region)
        worker.elsewhere({"Records": [record]}, context)
    finally:
        worker.current = invocation
    return True


class ContinuationFaults:
    """Deaths and second workers around the worker's continuation of a workflow (see the module docstring)."""

    def __init__(
        self,
        worker: WorkerFaults,
        rng: random.Random,
        *,
        crash_before: float,
        crash_after: float,
        elsewhere: float,
    ) -> None:
        self.worker, self.rng = worker, rng
        self.crash_before, self.crash_after, self.elsewhere = crash_before, crash_after, elsewhere
        self.counts: Counter[str] = Counter()
        #: Ids of the tasks whose continuation is under way, innermost last.
        self.continuing: list[str] = []

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Wrap the two continuations for the block (Squall's own code runs unchanged inside)."""
        succeeded, dead = Workflows.succeeded, Workflows.dead
        Workflows.succeeded = self._wrap(succeeded, "SUCCESS")  # type: ignore[method-assign]
        Workflows.dead = self._wrap(dead, "DEAD")  # type: ignore[method-assign]
        try:
            yield
        finally:
            Workflows.succeeded, Workflows.dead = succeeded, dead  # type: ignore[method-assign]

    def _wrap(self, inner: Callable[..., None], state: str) -> Any:
        def continuation(flow: Workflows, envelope: Envelope, value: Any, **options: Any) -> None:
            faulted = self.worker.current is not None and Workflows.carries(envelope)
            if faulted:
                draw = self.rng.random()
                if draw < self.crash_before:
                    self.counts["worker deaths after recording an outcome, before sending the next steps"] += 1
                    self.counts[
                        f"worker deaths after recording an outcome, before sending the next steps: {state}"
                    ] += 1
                    raise Crash(f"died after recording {state} for {envelope.id}, before sending its next steps")
                if draw < self.crash_before + self.elsewhere and finish_elsewhere(self.worker, envelope.id):
                    self.counts["second workers finishing the same task before the first sent its next steps"] += 1
            self.continuing.append(envelope.id)
            try:
                inner(flow, envelope, value, **options)
            finally:
                self.continuing.pop()
            if faulted and self.rng.random() < self.crash_after:
                self.counts["worker deaths after sending the next steps, before the ack"] += 1
                self.counts[f"worker deaths after sending the next steps, before the ack: {state}"] += 1
                raise Crash(f"died after continuing {envelope.id}, before acknowledging it")

        return continuation


@dataclass
class CounterThrottles(DynamoThrottles):
    """DynamoThrottles for the UpdateItem calls on group counting items only."""

    def _plan(self, params: dict[str, Any], **kwargs: Any) -> None:
        if not write_task_id(params.get("body") or b"{}").startswith(GROUP_PREFIX):
            self._left = 0
            return
        super()._plan(params, **kwargs)


@dataclass
class CounterFaults:
    """Throttled and refused counts; deaths and second workers between a member's count and its shard's."""

    worker: WorkerFaults
    continuations: ContinuationFaults
    rng: random.Random
    throttles: CounterThrottles
    crash_between: float
    elsewhere: float
    counts: Counter[str] = field(default_factory=Counter)
    _key: str = ""

    def install(self, client: Any) -> None:
        """Register on ``client`` (the app's DynamoDB client), after the suite's own throttles."""
        self.throttles.install(client)
        client.meta.events.register("before-call.dynamodb.UpdateItem", self._before)
        client.meta.events.register("after-call.dynamodb.UpdateItem", self._landed)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        self._key = write_task_id(params.get("body") or b"{}")

    def _landed(self, parsed: dict[str, Any], **_: Any) -> None:
        key, self._key = self._key, ""
        parts = key.removeprefix(GROUP_PREFIX).split("#")
        if not key.startswith(GROUP_PREFIX) or len(parts) != 2 or "Error" in parsed or self.worker.current is None:
            return  # not a member's count (a shard's, or a task record), or not inside a worker invocation
        gid, shard = parts[0], int(parts[1])
        size = group_size(gid)
        in_shard = min(limits.CHORD_SHARD_SIZE, size - shard * limits.CHORD_SHARD_SIZE)
        counted = len(parsed.get("Attributes", {}).get("members", {}).get("SS", []))
        draw = self.rng.random()
        if counted >= in_shard and draw < self.crash_between:
            self.counts["worker deaths after a member's count filled its shard, before the shard was counted"] += 1
            raise Crash(f"died between counting a member of {gid} and counting its shard {shard}")
        continuing = self.continuations.continuing
        if continuing and draw > 1 - self.elsewhere and finish_elsewhere(self.worker, continuing[-1]):
            self.counts["second workers counting the same member between its two counts"] += 1
