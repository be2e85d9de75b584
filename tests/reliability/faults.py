"""Fault injectors of the reliability suite: each wraps one AWS call, the worker or its event sources, and counts.

* :class:`DynamoThrottles` answers some DynamoDB ``UpdateItem`` attempts with a 400 throttling error at
  botocore's ``before-send`` (so the SDK's own retries run; their backoff sleeps on the fake clock), and
  some every attempt, so the SDK gives up and Squall sees the error.
* :class:`SendBatchFaults` fails some ``SendMessageBatch`` entries (``SenderFault`` true or false: those
  entries are taken out of the request, so they really do not go) and turns some calls that went through
  into a ``ReadTimeoutError`` (the ambiguous case: sent, but the caller cannot know).
* :class:`SendFaults` fails some single ``SendMessage`` calls: the producer's (``apply_async``; failed, or
  sent and then timed out) and the worker's (retries, fresh copies, dead letters; the SDK gave up).
* :class:`LambdaThrottles` makes Lambda throttle batches through the event source emulator
  (``Runtime.throttle``): a few batches now and then, and windows in which every batch of one queue is.
* :class:`KeyringOutages` makes the worker's signing keys unreadable for windows of simulated time.
* :class:`WorkerFaults` wraps the worker's and the reconciler's handlers: crashes after k records, bodies
  that sleep past the function timeout (the emulator stops the invocation there), duplicate deliveries and
  concurrent deliveries of a running task.
* :class:`Death` and its subclasses are raised by a task body to kill the worker mid-batch: they derive from
  ``BaseException``, which neither Squall's executor nor Powertools' batch processor catch, exactly like a
  process that dies. :func:`as_function_error` turns one into the ``Exception`` the event source mapping
  sees from a failed invocation (the whole batch fails, nothing is deleted).

Faults strike only the side they are meant for (:class:`Side`): the producer's sends, or AWS calls made
inside a worker or reconciler invocation. What the local runtime itself does (the scheduler firing one-time
schedules, the event source receiving and deleting) is left alone.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import botocore.endpoint
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError

from squall import ConfigurationError, clock, limits
from squall.handler import Handler, make_handler
from squall.local.esm import FakeLambdaContext

if TYPE_CHECKING:
    from squall.local import Runtime
    from squall.local.esm import EventSourceMapping
    from squall.wire.signing import Keyring

#: DynamoDB's two throttling errors, both retried by the SDK (botocore's retry configuration).
THROTTLE_CODES = ("ProvisionedThroughputExceededException", "ThrottlingException")
#: Where a refused attempt is pointed so that moto never sees it (see DynamoThrottles._send).
REFUSED_URL = "http://refused.squall-fault.invalid/"
#: The two sides faults strike.
PRODUCER, WORKER = "producer", "worker"


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


class Side:
    """Who is calling AWS right now: the producer, a worker or reconciler invocation, or neither (None)."""

    def __init__(self) -> None:
        self.current: str | None = None

    @contextmanager
    def acting(self, side: str | None) -> Iterator[None]:
        """Within the block, calls are ``side``'s."""
        previous, self.current = self.current, side
        try:
            yield
        finally:
            self.current = previous


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


_STATE_SET = re.compile(r"#state = :(\w+)")
#: Squall's state writes, by the state an UpdateItem sets (see squall.state.store); no state: a progress report.
_WRITE_KINDS = {"started": "claim", "success": "finish", "retry": "retry", "dead": "dead", "revoked": "revoke"}


def write_kind(body: bytes) -> str:
    """Which Squall state write an UpdateItem request is, from the state its UpdateExpression sets."""
    match = _STATE_SET.search(json.loads(body).get("UpdateExpression", ""))
    if match is None:
        return "progress"
    return _WRITE_KINDS.get(match.group(1), "other")


def write_task_id(body: bytes) -> str:
    """The task id of an UpdateItem request on Squall's table."""
    key = json.loads(body)["Key"]["pk"]["S"]
    return str(key).removeprefix("task#")


@dataclass
class DynamoThrottles:
    """Throttles a fraction of UpdateItem calls: ``rate`` for a few attempts, ``exhaust_rate`` for all.

    Also tells which write is in flight (``in_flight``: kind and task id, None between calls), so that an
    invocation stopped at its deadline during the SDK's retries can be told apart.
    """

    rng: random.Random
    rate: float
    exhaust_rate: float
    max_attempts: int = 10  # botocore's legacy retry mode for DynamoDB: 10 attempts
    counts: Counter[str] = field(default_factory=Counter)
    #: Task ids whose write of each kind was refused for good (the SDK gave up), by write kind.
    exhausted: dict[str, set[str]] = field(default_factory=dict)
    in_flight: tuple[str, str] | None = None
    _left: int = 0
    _code: str = THROTTLE_CODES[0]

    def install(self, client: Any) -> None:
        """Register on ``client`` (the app's DynamoDB client)."""
        client.meta.events.register("before-call.dynamodb.UpdateItem", self._plan)
        client.meta.events.register("before-send.dynamodb.UpdateItem", self._send)
        client.meta.events.register("after-call.dynamodb.UpdateItem", self._done)

    def _plan(self, params: dict[str, Any], **_: Any) -> None:
        draw = self.rng.random()
        self._code = self.rng.choice(THROTTLE_CODES)
        body = params.get("body") or b"{}"
        kind = write_kind(body)
        self.in_flight = (kind, write_task_id(body))
        if draw < self.exhaust_rate:
            self._left = self.max_attempts
            self.counts["dynamodb writes refused for good"] += 1
            self.exhausted.setdefault(kind, set()).add(write_task_id(body))
        elif draw < self.exhaust_rate + self.rate:
            self._left = self.rng.randint(1, 3)
            self.counts["dynamodb writes throttled, then retried through"] += 1
        else:
            self._left = 0

    def _done(self, **_: Any) -> None:
        self.in_flight = None

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
            self.delivered.add(_envelope_id(self._bodies[ok["Id"]]))
        parsed.setdefault("Failed", []).extend({**failure, "Message": "injected failure"} for failure in self._removed)
        if self._ambiguous:
            self.counts["send calls timed out after SQS accepted them"] += 1
            raise ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com/ (injected)")


def _envelope_id(body: str) -> str:
    """The task id of a message body, signed (``sq1.<kid>.<mac>.<slot>.{json}``) or not."""
    return str(json.loads(body[body.index("{") :])["id"])


@dataclass
class SendFaults:
    """Fails single SendMessage calls: the producer's (not sent, or sent and timed out) and the worker's."""

    rng: random.Random
    side: Side
    producer_failure_rate: float
    producer_ambiguous_rate: float
    worker_failure_rate: float
    counts: Counter[str] = field(default_factory=Counter)
    _ambiguous: bool = False

    def install(self, client: Any) -> None:
        """Register on ``client`` (the app's SQS client, which producer and worker share here)."""
        client.meta.events.register("provide-client-params.sqs.SendMessage", self._before)
        client.meta.events.register("after-call.sqs.SendMessage", self._after)

    def _before(self, params: dict[str, Any], **_: Any) -> None:
        self._ambiguous = False
        side = self.side.current
        if side is None:
            return  # the runtime's own sends (the scheduler firing a schedule) are not faulted
        draw = self.rng.random()
        if side == PRODUCER and draw < self.producer_failure_rate:
            self.counts["producer SendMessage failed (not sent)"] += 1
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected failure"}}, "SendMessage")
        if side == PRODUCER and draw > 1 - self.producer_ambiguous_rate:
            self._ambiguous = True
        if side == WORKER and draw < self.worker_failure_rate:
            self.counts["worker SendMessage failed (the SDK gave up)"] += 1
            raise ClientError({"Error": {"Code": "InternalError", "Message": "injected failure"}}, "SendMessage")

    def _after(self, **_: Any) -> None:
        if self._ambiguous:
            self._ambiguous = False
            self.counts["producer SendMessage timed out after SQS accepted it"] += 1
            raise ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com/ (injected)")


class LambdaThrottles:
    """Lambda throttling through the emulator: short stretches at ``rate`` per poll, and windows.

    In a window each batch of one queue is throttled with probability ``window_rate`` until it ends; a
    message that sits in it for MAX_RECEIVE_COUNT receives may have every one throttled, and SQS's redrive
    policy then moves it (with 0.8, about one message in nine that stays that long).
    """

    def __init__(self, rt: Runtime, rng: random.Random, rate: float, window_rate: float = 0.8) -> None:
        self.rt, self.rng, self.rate, self.window_rate = rt, rng, rate, window_rate
        self.counts: Counter[str] = Counter()
        #: Per queue, when its window ends (epoch seconds).
        self.windows: dict[str, float] = {}
        for mapping in rt.mappings:
            mapping.poll = self._wrap(mapping)  # type: ignore[method-assign]

    def open_window(self, queue: str, seconds: float) -> None:
        """Throttle every batch of ``queue`` for the next ``seconds`` of simulated time."""
        self.windows[queue] = clock.now() + seconds
        self.counts["Lambda throttling windows (4 batches in 5 of one queue, 50-80 min)"] += 1

    def _wrap(self, mapping: EventSourceMapping) -> Callable[[], int]:
        inner, queue = mapping.poll, mapping.resource.name

        def poll() -> int:
            seen = len(mapping.history)
            windowed = clock.now() < self.windows.get(queue, 0.0)
            if windowed:
                batches = sum(self.rng.random() < self.window_rate for _ in range(mapping.round_size))
                self.rt.throttle(queue, invocations=batches)
            elif self.rate and self.rng.random() < self.rate:
                self.rt.throttle(queue, invocations=self.rng.randint(1, 3))
            try:
                return inner()
            finally:
                if windowed:
                    mapping.throttles = 0  # what the window did not use does not outlive it
                throttled = sum(invocation.throttled for invocation in mapping.history[seen:])
                label = "in a window" if windowed else "a few now and then"
                self.counts[f"batches throttled by Lambda ({label})"] += throttled

        return poll


class KeyringOutages:
    """Makes the worker's keyring unreadable (ConfigurationError, as an SSM timeout gives) during windows."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.counts: Counter[str] = Counter()
        self.windows: list[tuple[float, float]] = []

    def open_window(self, seconds: float) -> None:
        """The keys cannot be read from now for ``seconds`` of simulated time."""
        now = clock.now()
        self.windows.append((now, now + seconds))
        self.counts["keyring outages (the worker cannot read its signing keys, 3-10 min)"] += 1

    def active(self, when: float) -> bool:
        """Whether the keys are unreadable at ``when``."""
        return any(start <= when < end for start, end in self.windows)

    def wrap(self, keys: Callable[[], Keyring]) -> Callable[[], Keyring]:
        """``keys`` (a signer's keyring source), failing inside worker invocations during a window."""

        def read() -> Keyring:
            if self.side.current == WORKER and self.active(clock.now()):
                self.counts["keyring reads refused during an outage"] += 1
                raise ConfigurationError("cannot read the signing keys: SSM timed out (injected outage)")
            return keys()

        return read


@dataclass
class _Invocation:
    event: dict[str, Any]
    context: Any
    crash_at: int | None
    timeout_at: int | None
    started: int = 0


class WorkerFaults:
    """Wraps each event source's handler: crashes, timeouts, duplicate and concurrent deliveries.

    ``before_body`` is called by the suite's task body as it starts. The reconciler's invocations get no
    worker faults of their own; every invocation counts as the worker's side for the other injectors.
    Where each invocation the emulator stopped at its deadline was is kept in ``counts``.
    """

    def __init__(
        self,
        rt: Runtime,
        side: Side,
        rng: random.Random,
        *,
        crash_rate: float,
        timeout_rate: float,
        duplicate_rate: float,
        concurrent_rate: float,
        writes: DynamoThrottles,
        outcome_of: Callable[[str], str | None] = lambda message_id: None,
    ) -> None:
        self.rt, self.side, self.rng, self.writes = rt, side, rng, writes
        #: The worker's last outcome for a message id (an ``Outcome`` value), to tell a fresh copy apart.
        self.outcome_of = outcome_of
        self.crash_rate, self.timeout_rate = crash_rate, timeout_rate
        self.duplicate_rate, self.concurrent_rate = duplicate_rate, concurrent_rate
        self.counts: Counter[str] = Counter()
        self.current: _Invocation | None = None
        #: Set by the task body while it sleeps (its task id), to tell a slow body's timeout apart.
        self.sleeping: str | None = None
        #: Task ids whose SUCCESS or DEAD write was under way when the invocation was stopped.
        self.stopped_writing: dict[str, set[str]] = {}
        self._injected = False
        self.copies = rt.session.client("sqs", region_name=rt.settings.region)
        #: A second execution environment: another invocation that receives the same record meanwhile.
        self.elsewhere: Handler = make_handler(rt.app)
        for mapping in rt.mappings:
            mapping.handler = self._wrap(mapping.handler, mapping.address.url)
        if rt.intake is not None:
            rt.intake.handler = self._wrap(rt.intake.handler, None)

    def _wrap(self, inner: Any, url: str | None) -> Any:
        def handler(event: dict[str, Any], context: Any) -> Any:
            records = event["Records"]
            invocation = None
            if url is not None:
                draw = self.rng.random()
                crash_at = self.rng.randrange(len(records)) if draw < self.crash_rate else None
                late = draw > 1 - self.timeout_rate
                # Early in the batch, so that the body is reached (later records may be handed back unrun)
                timeout_at = self.rng.randrange(min(len(records), 3)) if late else None
                for record in records:
                    if self.rng.random() < self.duplicate_rate:
                        delay = self.rng.choice((0, 0, 5, 60, 600, 900))
                        self.copies.send_message(QueueUrl=url, MessageBody=record["body"], DelaySeconds=delay)
                        self.counts["duplicate deliveries (a copy sent again)"] += 1
                invocation = _Invocation(event, context, crash_at, timeout_at)
            self.current, self._injected = invocation, False
            try:
                with self.side.acting(WORKER), as_function_error():
                    return inner(event, context)
            except clock.DeadlineReached:
                self._note_deadline()
                raise
            finally:
                self.current, self.sleeping = None, None

        return handler

    def _note_deadline(self) -> None:
        writing = self.writes.in_flight
        if self._injected:
            where = "a body slept past the function timeout (injected)"
        elif writing is not None:
            where = f"during the SDK's retries of a {writing[0]} write"
            if writing[0] in ("finish", "dead"):
                self.stopped_writing.setdefault(writing[0], set()).add(writing[1])
        elif self.sleeping is not None:
            where = "a slow body ran out of time"
        else:
            where = "elsewhere in the invocation"
        self.counts[f"timeouts ({where})"] += 1
        self.writes.in_flight = None

    def before_body(self, task_id: str) -> None:
        """Called as a body starts: kill the invocation here, or deliver the record elsewhere meanwhile."""
        invocation = self.current
        if invocation is None:  # the concurrent invocation's own records: no faults inside it
            return
        index = invocation.started
        invocation.started += 1
        if invocation.crash_at == index:
            self.counts["worker crashes after k records of a batch"] += 1
            raise Crash(f"crashed after {index} records")
        # At the chosen record or the first body after it (a record the limiter held starts no body).
        if invocation.timeout_at is not None and index >= invocation.timeout_at:
            self._injected = True
            remaining = invocation.context.get_remaining_time_in_millis() / 1000
            clock.sleep(remaining + limits.LEASE_SLACK_SECONDS + 1)  # the emulator stops it at the deadline
            raise AssertionError("the function timeout did not stop the invocation")  # pragma: no cover
        if self.rng.random() < self.concurrent_rate:
            self._deliver_elsewhere(invocation, task_id)

    def _deliver_elsewhere(self, invocation: _Invocation, task_id: str) -> None:
        record = next(r for r in invocation.event["Records"] if _envelope_id(r["body"]) == task_id)
        self.current = None
        try:
            context = FakeLambdaContext("elsewhere", self.rt.topology.sizing.timeout, 256, self.rt.settings.region)
            response = self.elsewhere({"Records": [record]}, context)
        finally:
            self.current = invocation
        kept = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
        self.counts["concurrent deliveries of a running task"] += 1
        if record["messageId"] in kept:
            return
        if self.outcome_of(record["messageId"]) == "resent":
            # Near its last receive the worker sends a fresh copy and acknowledges this one: the copy carries on.
            self.counts["concurrent deliveries sent fresh near their last receive"] += 1
        else:
            self.counts["concurrent deliveries acknowledged while the task ran"] += 1
