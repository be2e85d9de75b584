"""Counting AWS requests: botocore event hooks on the clients a process makes, or a WSGI wrapper on moto.

Two ways, because two kinds of client are measured:

* :class:`RequestCounter` hooks botocore's ``before-call``/``after-call`` events on boto3 clients (Squall's
  own, and any client the bench makes). It also computes DynamoDB write units from what was written:
  moto's ``ConsumedCapacity`` is a constant (1.0 for PutItem, 0.5 for UpdateItem, whatever the item), so
  the counter reads the item before and after each write through a separate, uncounted client and applies
  AWS's rule (1 unit per started KB of the larger of the two; ``squall.deploy.cost.write_units``).
* :class:`ServerCounter` wraps the WSGI app of a ``ThreadedMotoServer``, so it sees every request whoever
  sends it: kombu's asynchronous SQS client signs requests with botocore but sends them over its own HTTP
  client, past any botocore hook, and Celery's worker runs in another process.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from squall import limits
from squall.deploy import cost

#: Operations that write an item, and so cost write units.
WRITE_OPERATIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
#: Calls the local runtime's Scheduler emulation makes to find and fire schedules (the service does this
#: internally, unbilled); the app itself makes none of them in the bench's scenarios.
EMULATOR_OPERATIONS = frozenset(
    {
        ("scheduler", "ListSchedules"),
        ("scheduler", "GetSchedule"),
        ("scheduler", "DeleteSchedule"),
        ("sqs", "GetQueueUrl"),
    }
)
#: Which column of the report each SQS operation counts in.
SQS_KINDS = {
    "SendMessage": "send",
    "SendMessageBatch": "send",
    "ReceiveMessage": "receive",
    "DeleteMessage": "delete",
    "DeleteMessageBatch": "delete",
    "ChangeMessageVisibility": "visibility",
    "ChangeMessageVisibilityBatch": "visibility",
}


def sqs_kind(operation: str, empty: bool = False) -> str:
    """The report column of one SQS request; an empty receive counts as idle polling."""
    kind = SQS_KINDS.get(operation, "other")
    return "idle_receive" if kind == "receive" and empty else kind


@dataclass(frozen=True)
class Index:
    """A global secondary index: its keys and what it projects."""

    name: str
    keys: tuple[str, ...]
    table_keys: tuple[str, ...]
    projection: str
    non_key: tuple[str, ...] = ()

    def entry(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """The item's entry in the index, or None when it lacks a key attribute (a sparse index)."""
        if not item or any(key not in item for key in self.keys):
            return None
        if self.projection == "ALL":
            return item
        names = {*self.keys, *self.table_keys, *(self.non_key if self.projection == "INCLUDE" else ())}
        return {name: value for name, value in item.items() if name in names}


def index_write_units(index: Index, before: dict[str, Any], after: dict[str, Any]) -> int:
    """Write units a table write costs in ``index`` (DynamoDB Developer Guide, "Global secondary indexes").

    An entry that appears or disappears costs one write; one whose index key changes costs a delete and a
    put; one that stays with changed projected attributes costs one write; otherwise nothing.
    """
    old, new = index.entry(before), index.entry(after)
    if old is None and new is None:
        return 0
    if old is None or new is None:
        return cost.write_units(0, cost.item_bytes(old or new))
    if any(old[key] != new[key] for key in index.keys):
        return cost.write_units(0, cost.item_bytes(old)) + cost.write_units(0, cost.item_bytes(new))
    if old == new:
        return 0
    return cost.write_units(cost.item_bytes(old), cost.item_bytes(new))


class RequestCounter:
    """Counts every request made through the clients it is attached to, and DynamoDB units written."""

    def __init__(self) -> None:
        self.operations: Counter[tuple[str, str]] = Counter()
        self.sqs: Counter[str] = Counter()
        self.dynamodb_writes = 0
        self.write_units = 0
        #: Write units spent on global secondary indexes (DynamoDB bills them like table writes).
        self.index_write_units = 0
        self._index_cache: dict[str, list[Index]] = {}
        self.read_units = 0.0
        self.item_sizes: list[int] = []
        self._paused = 0
        self._lock = threading.Lock()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop counting for the block (the bench's own checks are not the workload's requests)."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def attach(self, client: Any, *, peek: Any = None, key_names: Iterable[str] = ("pk",)) -> None:
        """Count ``client``'s requests; for DynamoDB, ``peek`` (an uncounted client) reads items to size writes."""
        service = client.meta.service_model.service_name
        events = client.meta.events
        events.register("after-call.*.*", lambda model, parsed, **_: self._after(service, model.name, parsed))
        if service == "dynamodb":
            if peek is None:
                raise ValueError("counting DynamoDB write units needs an uncounted client to read items with")
            keys = tuple(key_names)
            events.register(
                "before-parameter-build.dynamodb.*",
                lambda params, model, context, **_: self._before_write(peek, keys, model.name, params, context),
            )
            events.register(
                "after-call.dynamodb.*",
                lambda model, context, **_: self._after_write(peek, model.name, context),
            )

    def _after(self, service: str, operation: str, parsed: dict[str, Any]) -> None:
        if self._paused:
            return
        with self._lock:
            self.operations[(service, operation)] += 1
            if (service, operation) in EMULATOR_OPERATIONS:
                return
            if service == "sqs":
                self.sqs[sqs_kind(operation, empty=not parsed.get("Messages"))] += 1
            if service == "dynamodb" and operation == "GetItem":
                size = cost.item_bytes(parsed.get("Item"))
                self.read_units += (
                    max(1, -(-size // limits.DYNAMODB_READ_UNIT_BYTES)) * 1.0
                )  # Squall reads strongly consistent

    def _before_write(
        self, peek: Any, keys: tuple[str, ...], operation: str, params: dict[str, Any], context: dict[str, Any]
    ) -> None:
        if self._paused or operation not in WRITE_OPERATIONS:
            return
        key = params.get("Key") or {name: params["Item"][name] for name in keys}
        context["bench_write"] = (params["TableName"], key, self._item(peek, params["TableName"], key))

    def _after_write(self, peek: Any, operation: str, context: dict[str, Any]) -> None:
        pending = context.pop("bench_write", None)
        if self._paused or pending is None:
            return
        table, key, before = pending
        after = self._item(peek, table, key)
        indexes = self._indexes(peek, table)
        with self._lock:
            self.dynamodb_writes += 1
            self.write_units += cost.write_units(cost.item_bytes(before), cost.item_bytes(after))
            self.index_write_units += sum(index_write_units(index, before, after) for index in indexes)
            self.item_sizes.append(max(cost.item_bytes(before), cost.item_bytes(after)))

    @staticmethod
    def _item(peek: Any, table: str, key: dict[str, Any]) -> dict[str, Any]:
        return dict(peek.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item") or {})

    def _indexes(self, peek: Any, table: str) -> list[Index]:
        if table not in self._index_cache:
            description = peek.describe_table(TableName=table)["Table"]
            table_keys = tuple(k["AttributeName"] for k in description["KeySchema"])
            self._index_cache[table] = [
                Index(
                    name=gsi["IndexName"],
                    keys=tuple(k["AttributeName"] for k in gsi["KeySchema"]),
                    table_keys=table_keys,
                    projection=gsi["Projection"].get("ProjectionType", "ALL"),
                    non_key=tuple(gsi["Projection"].get("NonKeyAttributes", ())),
                )
                for gsi in description.get("GlobalSecondaryIndexes", [])
            ]
        return self._index_cache[table]

    def service_calls(self, service: str) -> int:
        """Requests made to ``service``, the emulator's own excluded."""
        return sum(n for (s, o), n in self.operations.items() if s == service and (s, o) not in EMULATOR_OPERATIONS)

    def emulator_calls(self) -> int:
        """Requests the local Scheduler emulation made (not part of the workload)."""
        return sum(n for key, n in self.operations.items() if key in EMULATOR_OPERATIONS)


class ServerCounter:
    """A WSGI middleware for moto's server: counts each request by service and operation.

    The operation comes from the ``X-Amz-Target`` header (JSON protocols) or the ``Action`` form field
    (query protocol); the service from the SigV4 credential scope of the ``Authorization`` header.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.operations: Counter[tuple[str, str]] = Counter()
        self.sqs: Counter[str] = Counter()
        #: DynamoDB items written with PutItem, by size in bytes (Celery's result backend writes this way).
        self.put_sizes: list[int] = []
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self.operations.clear()
            self.sqs.clear()
            self.put_sizes.clear()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        service = _service_of(environ.get("HTTP_AUTHORIZATION", ""))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target:
            operation = target.rsplit(".", 1)[-1]
        else:
            fields = parse_qs(body.decode("utf-8", "replace")) if body else parse_qs(environ.get("QUERY_STRING", ""))
            operation = (fields.get("Action") or ["?"])[0]
        doc: dict[str, Any] = {}
        if target and body and operation == "PutItem":
            doc = json.loads(body)
        captured: dict[str, Any] = {}
        if service == "sqs" and operation == "ReceiveMessage":
            result = b"".join(self.app(environ, _capture(start_response, captured)))
            empty = b'"Messages"' not in result and b"<Message>" not in result
            self._count(service, operation, sqs_kind(operation, empty))
            return [result]
        self._count(service, operation, sqs_kind(operation) if service == "sqs" else None)
        if doc.get("Item"):
            with self._lock:
                self.put_sizes.append(cost.item_bytes(doc["Item"]))
        return self.app(environ, start_response)

    def _count(self, service: str, operation: str, kind: str | None) -> None:
        with self._lock:
            self.operations[(service, operation)] += 1
            if kind is not None:
                self.sqs[kind] += 1

    def service_calls(self, service: str) -> int:
        """Requests made to ``service``."""
        return sum(n for (s, _), n in self.operations.items() if s == service)


def _capture(start_response: Callable[..., Any], into: dict[str, Any]) -> Callable[..., Any]:
    def wrapped(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        into["status"] = status
        return start_response(status, headers, exc_info) if exc_info else start_response(status, headers)

    return wrapped


def _service_of(authorization: str) -> str:
    """``sqs`` from ``AWS4-HMAC-SHA256 Credential=AKID/20261101/us-east-1/sqs/aws4_request, ...``."""
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return "?"
    scope = authorization[start + len(marker) :].split(",", 1)[0].split("/")
    return scope[3] if len(scope) > 3 else "?"


@contextmanager
def counted_moto_server() -> Iterator[tuple[str, ServerCounter]]:
    """A moto server on 127.0.0.1 (a free port) whose every request is counted; yields (endpoint, counter)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        wsgi = server._server  # the werkzeug server; its WSGI app is wrapped in place
        counter = ServerCounter(wsgi.app)
        wsgi.app = counter
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}", counter
    finally:
        server.stop()
