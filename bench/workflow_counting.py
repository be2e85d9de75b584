"""Counting a workflow's requests by part: what its steps or members use, and what its chord adds once.

:class:`PartCounter` is :class:`bench.counting.RequestCounter` (every request on the app's clients, write units
from the items as written) that also files each request under a *part*: ``"unit"`` (a chain step, a group or
chord member) or ``"fixed"`` (a chord's own part: its body's messages and records, the group item the shards
are counted on, the body's BatchGetItem requests). It tells them apart by what each request carries:

* SQS: the task ids in the messages sent, received or deleted (the bodies of sends and receives are
  envelopes; a delete's receipt handles were seen on the receive that returned them). A request whose every
  task is a chord body is ``fixed``; any other is ``unit``;
* DynamoDB: the item's key. ``task#<body id>`` and ``group#<id>`` (the shard numbers) are ``fixed``;
  ``task#<member id>`` and ``group#<id>#<shard>`` (a member's count) are ``unit``. BatchGetItem requests are
  ``fixed`` (one per 100 members, made by the body's worker) and their read units ``unit`` (one per member read).

Read units of BatchGetItem are computed like write units, from what was read: each item rounded up to 4 KB
on its own, consistent reads (``squall.deploy.workflow_cost.read_units``); moto reports no consumed capacity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.counting import EMULATOR_OPERATIONS, RequestCounter, sqs_kind
from squall.deploy import cost, workflow_cost
from squall.errors import DecodeError
from squall.local.esm import Invocation
from squall.state.groups import GROUP_PREFIX
from squall.state.schema import KEY_ATTRIBUTE, KEY_PREFIX
from squall.wire.envelope import Envelope

PARTS = ("unit", "fixed", "client")


@dataclass
class Part:
    """What one part of a workflow used."""

    sqs: Counter[str] = field(default_factory=Counter)
    dynamodb_writes: int = 0
    write_units: int = 0
    read_units: float = 0.0
    batch_gets: int = 0
    invocations: int = 0
    operations: Counter[str] = field(default_factory=Counter)


class PartCounter(RequestCounter):
    """A RequestCounter that also files every request under a part (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts = {name: Part() for name in PARTS}
        #: Task ids whose requests are the chord's own part (its body).
        self.fixed_ids: set[str] = set()
        #: Every part goes here while set (the bench reading results back, as a client would).
        self.forced: str | None = None
        self.largest_message = 0
        self._receipts: dict[str, str] = {}
        self._message_tasks: dict[str, str] = {}

    @contextmanager
    def as_part(self, part: str) -> Iterator[None]:
        """File every request made in the block under ``part``."""
        self.forced = part
        try:
            yield
        finally:
            self.forced = None

    def attach(self, client: Any, *, peek: Any = None, key_names: Any = ("pk",)) -> None:
        """Count ``client``'s requests as RequestCounter does, and file them by part."""
        super().attach(client, peek=peek, key_names=key_names)
        service = client.meta.service_model.service_name
        events = client.meta.events
        events.register(
            f"before-parameter-build.{service}.*",
            lambda params, model, context, **_: context.__setitem__("bench_params", params),
        )
        events.register(
            f"after-call.{service}.*",
            lambda model, parsed, context, **_: self._file(service, model.name, context.get("bench_params"), parsed),
        )

    def invocation_part(self, invocation: Invocation) -> str:
        """The part an emulated invocation belongs to, from the tasks of the messages it got."""
        tasks = {self._message_tasks.get(message_id, "") for message_id in invocation.message_ids}
        return self._part_of_tasks(tasks)

    # --- filing -------------------------------------------------------------------------------------------

    def _part_of_tasks(self, tasks: set[str]) -> str:
        if self.forced is not None:
            return self.forced
        return "fixed" if tasks and tasks <= self.fixed_ids else "unit"

    def _part_of_key(self, key: dict[str, Any] | None) -> str:
        if self.forced is not None:
            return self.forced
        pk = str(((key or {}).get(KEY_ATTRIBUTE) or {}).get("S", ""))
        if pk.startswith(GROUP_PREFIX):
            return "unit" if "#" in pk[len(GROUP_PREFIX) :] else "fixed"
        return "fixed" if pk.removeprefix(KEY_PREFIX) in self.fixed_ids else "unit"

    def _file(self, service: str, operation: str, params: dict[str, Any] | None, parsed: dict[str, Any]) -> None:
        if self._paused or (service, operation) in EMULATOR_OPERATIONS:
            return
        params = params or {}
        if service == "sqs":
            self._file_sqs(operation, params, parsed)
        elif service == "dynamodb" and operation == "BatchGetItem":
            self._file_batch_get(params, parsed)
        elif service == "dynamodb" and operation == "GetItem":
            part = self.parts[self._part_of_key(params.get("Key"))]
            part.operations[operation] += 1
            part.read_units += workflow_cost.read_units(cost.item_bytes(parsed.get("Item")))
        elif service == "dynamodb" and operation not in ("PutItem", "UpdateItem", "DeleteItem"):
            self.parts[self.forced or "unit"].operations[operation] += 1  # nothing else is expected: shown

    def _file_sqs(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        tasks: set[str] = set()
        if operation in ("SendMessage", "SendMessageBatch"):
            bodies = (
                [params["MessageBody"]] if "MessageBody" in params else [e["MessageBody"] for e in params["Entries"]]
            )
            tasks = {_task_id(body) for body in bodies}
            self.largest_message = max([self.largest_message, *(len(b.encode("utf-8")) for b in bodies)])
        elif operation == "ReceiveMessage":
            for message in parsed.get("Messages", []):
                task = _task_id(message.get("Body", ""))
                self._receipts[message["ReceiptHandle"]] = task
                self._message_tasks[message["MessageId"]] = task
                tasks.add(task)
        else:  # deletes and visibility changes name the receipt handles
            handles = (
                [params["ReceiptHandle"]]
                if "ReceiptHandle" in params
                else [e["ReceiptHandle"] for e in params.get("Entries", [])]
            )
            tasks = {self._receipts.get(handle, "") for handle in handles}
        part = self.parts[self._part_of_tasks(tasks)]
        part.operations[operation] += 1
        part.sqs[sqs_kind(operation, empty=operation == "ReceiveMessage" and not parsed.get("Messages"))] += 1

    def _file_batch_get(self, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        asked = sum(len(request.get("Keys", [])) for request in params.get("RequestItems", {}).values())
        items = [item for table_items in parsed.get("Responses", {}).values() for item in table_items]
        left = sum(len(request.get("Keys", [])) for request in (parsed.get("UnprocessedKeys") or {}).values())
        # A key asked for and not found still costs the minimum, one unit; an unprocessed one costs nothing yet.
        units = sum(workflow_cost.read_units(cost.item_bytes(item)) for item in items) + (asked - len(items) - left)
        fixed = self.parts[self.forced or "fixed"]
        fixed.operations["BatchGetItem"] += 1
        fixed.batch_gets += 1
        self.parts[self.forced or "unit"].read_units += units

    def _after_write(self, peek: Any, operation: str, context: dict[str, Any]) -> None:
        pending = context.get("bench_write")
        before = self.write_units + self.index_write_units, self.dynamodb_writes
        super()._after_write(peek, operation, context)
        if pending is None or self.dynamodb_writes == before[1]:
            return
        part = self.parts[self._part_of_key(pending[1])]
        part.operations[operation] += 1
        part.dynamodb_writes += self.dynamodb_writes - before[1]
        part.write_units += self.write_units + self.index_write_units - before[0]


def _task_id(body: str) -> str:
    """The task id of an envelope ('' when the body is not one)."""
    try:
        return Envelope.decode(body).id
    except DecodeError:
        return ""
