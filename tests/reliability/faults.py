"""Fault injectors of the reliability suite: each wraps one AWS call, or the worker, and counts what it did.

* :class:`DynamoThrottles` answers some DynamoDB ``UpdateItem`` attempts with a 400 throttling error at
  botocore's ``before-send`` (so the SDK's own retries run; their backoff sleeps on the fake clock), and
  some every attempt, so the SDK gives up and Squall sees the error.
* :class:`SendBatchFaults` fails some ``SendMessageBatch`` entries (``SenderFault`` true or false: those
  entries are taken out of the request, so they really do not go) and turns some calls that went through
  into a ``ReadTimeoutError`` (the ambiguous case: sent, but the caller cannot know).
* :class:`Death` and its subclasses are raised by a task body to kill the worker mid-batch: they derive from
  ``BaseException``, which neither Squall's executor nor Powertools' batch processor catch, exactly like a
  process that dies. :func:`as_function_error` turns one into the ``Exception`` the event source mapping
  sees from a failed invocation (the whole batch fails, nothing is deleted).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.endpoint
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from squall import clock

#: DynamoDB's two throttling errors, both retried by the SDK (botocore's retry configuration).
THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")
#: Where a refused attempt is pointed so that moto never sees it (see DynamoThrottles._send).
REFUSED_URL = "http://refused.squall-fault.invalid/"


class Death(BaseException):
    """The worker process died here (not an ``Exception``: nothing in the worker may catch it)."""


class Crash(Death):
    """The worker crashed (out of memory, a segfault) partway through a batch."""


class Timeout(Death):
    """The invocation ran past the function timeout and Lambda stopped it."""


class FunctionError(Exception):
    """What the event source mapping sees of a dead invocation: the whole batch failed."""


@contextmanager
def as_function_error() -> Iterator[None]:
    """Turn a :class:`Death` inside the block into a :class:`FunctionError`."""
    try:
        yield
    except Death as exc:
        raise FunctionError(f"the invocation died: {type(exc).__name__}: {exc}") from exc


class _Body:
    """A response body botocore can read (``AWSResponse.raw`` needs ``stream()``)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


class _FakeClockTime:
    """Stands in for the ``time`` module inside ``botocore.endpoint``: SDK retry backoff on the fake clock."""

    @staticmethod
    def sleep(seconds: float) -> None:
        clock.sleep(seconds)


@contextmanager
def sdk_backoff_on_the_fake_clock() -> Iterator[None]:
    """Make botocore's retry sleeps advance Squall's clock instead of blocking (endpoint.py sleeps only)."""
    saved = botocore.endpoint.time  # type: ignore[attr-defined]
    botocore.endpoint.time = _FakeClockTime  # type: ignore[attr-defined]
    try:
        yield
    finally:
        botocore.endpoint.time = saved  # type: ignore[attr-defined]


def _write_kind(body: bytes) -> str:
    """Which Squall state write an UpdateItem request is, from its expression values."""
    for marker, kind in ((b'":started"', "claim"), (b'":success"', "finish"), (b'":dead"', "dead")):
        if marker in body:
            return kind
    return "retry" if b'":retry"' in body and b'":next"' in body else "other"


def _task_id(body: bytes) -> str:
    key = json.loads(body)["Key"]["pk"]["S"]
    return str(key).removeprefix("task#")


@dataclass
class DynamoThrottles:
    """Throttles a fraction of UpdateItem calls: ``rate`` for a few attempts, ``exhaust_rate`` for all."""

    rng: random.Random
    rate: float
    exhaust_rate: float
    max_attempts: int = 10  # botocore's legacy retry mode for DynamoDB: 10 attempts
    counts: Counter[str] = field(default_factory=Counter)
    #: Task ids whose write of each kind was refused for good (the SDK gave up), by write kind.
    exhausted: dict[str, set[str]] = field(default_factory=dict)
    _left: int = 0
    _code: str = THROTTLE_CODES[0]

    def install(self, client: Any) -> None:
        """Register on ``client`` (the app's DynamoDB client)."""
        client.meta.events.register("before-call.dynamodb.UpdateItem", self._plan)
        client.meta.events.register("before-send.dynamodb.UpdateItem", self._send)

    def _plan(self, params: dict[str, Any], **_: Any) -> None:
        draw = self.rng.random()
        self._code = self.rng.choice(THROTTLE_CODES)
        body = params.get("body") or b"{}"
        if draw < self.exhaust_rate:
            self._left = self.max_attempts
            kind = _write_kind(body)
            self.counts["dynamodb writes refused for good"] += 1
            self.exhausted.setdefault(kind, set()).add(_task_id(body))
        elif draw < self.exhaust_rate + self.rate:
            self._left = self.rng.randint(1, 3)
            self.counts["dynamodb writes throttled, then retried through"] += 1
        else:
            self._left = 0

    def _send(self, request: Any, **_: Any) -> AWSResponse | None:
        if self._left <= 0:
            return None
        self._left -= 1
        self.counts[f"throttled attempts ({self._code})"] += 1
        error = {"__type": f"com.amazonaws.dynamodb.v20120810#{self._code}", "message": "injected throttle"}
        headers = {"x-amzn-RequestId": "injected", "Content-Type": "application/x-amz-json-1.0"}
        # botocore calls every before-send handler (the first response wins), and moto's in-process stub is
        # one of them: it would still apply the write. Point this attempt at a host moto does not serve, so
        # the throttle is the only answer, as it is when DynamoDB throttles a request.
        request.url = REFUSED_URL
        return AWSResponse(REFUSED_URL, 400, headers, _Body(json.dumps(error).encode()))


@dataclass
class SendBatchFaults:
    """Fails SendMessageBatch entries (SenderFault true or false) and makes some sent calls time out."""

    rng: random.Random
    sender_fault_rate: float
    server_fault_rate: float
    ambiguous_rate: float
    counts: Counter[str] = field(default_factory=Counter)
    #: Task ids SQS really accepted, over every call.
    delivered: set[str] = field(default_factory=set)
    _removed: list[dict[str, Any]] = field(default_factory=list)
    _bodies: dict[str, str] = field(default_factory=dict)
    _ambiguous: bool = False

    def install(self, client: Any) -> None:
        """Register on ``client`` (the producer's SQS client)."""
        client.meta.events.register("provide-client-params.sqs.SendMessageBatch", self._before)
        client.meta.events.register("after-call.sqs.SendMessageBatch", self._after)

    def _before(self, params: dict[str, Any], **_: Any) -> dict[str, Any]:
        entries = list(params["Entries"])
        self._bodies = {entry["Id"]: entry["MessageBody"] for entry in entries}
        self._removed, kept = [], []
        for entry in entries:
            draw = self.rng.random()
            if draw < self.sender_fault_rate:
                self._removed.append({"Id": entry["Id"], "SenderFault": True, "Code": "InvalidParameterValue"})
            elif draw < self.sender_fault_rate + self.server_fault_rate:
                self._removed.append({"Id": entry["Id"], "SenderFault": False, "Code": "InternalError"})
            else:
                kept.append(entry)
        if not kept:  # SQS refuses an empty batch; let one through
            spared = self._removed.pop()["Id"]
            kept.append(next(e for e in entries if e["Id"] == spared))
        for failure in self._removed:
            label = "sender" if failure["SenderFault"] else "service"
            self.counts[f"send entries failed (SenderFault {failure['SenderFault']}, {label} fault)"] += 1
        self._ambiguous = self.rng.random() < self.ambiguous_rate
        return {**params, "Entries": kept}

    def _after(self, parsed: dict[str, Any], **_: Any) -> None:
        for ok in parsed.get("Successful", []):
            self.delivered.add(json.loads(self._bodies[ok["Id"]])["id"])
        parsed.setdefault("Failed", []).extend({**failure, "Message": "injected failure"} for failure in self._removed)
        if self._ambiguous:
            self.counts["send calls timed out after SQS accepted them"] += 1
            raise ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com/ (injected)")
