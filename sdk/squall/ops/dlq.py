"""The dead-letter queues: look at what they hold, bring tasks back (redrive), or drop them all (purge).

Every operation uses only the SQS API (ReceiveMessage and friends), so it works the same on AWS, on the
dev server and in process. Looking receives messages with a short visibility timeout and makes them
visible again at once; it adds to their receive count, which nothing reads on a DLQ.

**Redrive** moves each chosen message back to its source queue in three steps, in this order:

1. reset the task's record: DEAD (or RETRY, or STARTED with a lapsed lease, for a message SQS's redrive policy
   moved) becomes PENDING with attempt 0 and ``redrives`` + 1 — a conditional write that refuses a task
   redriven ``max_redrives`` times already;
2. send the message to the source queue (its envelope's ``redrives`` updated);
3. delete it from the DLQ.

Stopped between 1 and 2, the message is still in the DLQ and the task PENDING: the next redrive finds it
PENDING, does not count it again, and finishes steps 2-3. Stopped between 2 and 3, the message is in both
queues: the worker runs the task once (claims are exclusive, a finished task's copies are acknowledged
unrun), and the next redrive deletes the leftover copy (or sends a duplicate, deduplicated the same way).
Sending before resetting would lose the task: the worker would acknowledge a DEAD task's message unrun.
The opposite order of 2 and 3 could lose the message. AWS's StartMessageMoveTask is not used: it moves
messages without resetting their tasks, so those would be acknowledged unrun (see docs/cli.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from squall import clock, limits
from squall.deploy import fifo as fifo_rules
from squall.errors import ConfigurationError, DecodeError
from squall.states import State
from squall.wire import signing
from squall.wire.bodies import CodecChain, chain_for
from squall.wire.envelope import Envelope
from squall.worker.deadletters import OWN_PREFIX, REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

    from squall.protocols import App
    from squall.state.schema import TaskRecord

#: Empty receives in a row after which a queue is taken to be read through (short polling samples servers).
EMPTY_RECEIVES = 3


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message in a dead-letter queue, and what it says about its task."""

    queue: str
    message_id: str
    body: str
    attributes: dict[str, str]
    sent_at: float | None = None
    task_id: str | None = None
    task: str | None = None
    reason: str | None = None
    redrives: int = 0
    problem: str | None = None
    receipt_handle: str = field(default="", repr=False, compare=False)

    @classmethod
    def build(
        cls,
        queue: str,
        message_id: str,
        body: str,
        attributes: dict[str, str],
        *,
        sent_at: float | None = None,
        receipt_handle: str = "",
        bodies: CodecChain | None = None,
    ) -> DeadLetter:
        """Read a DLQ message: its envelope when it decodes, else the task id Squall attached, and why.

        ``bodies`` is the app's codec chain (none but signing's header when not given); the body is read
        through it without checking a signature: this is tooling, the worker checks signatures.
        """
        task_id, task, redrives, problem = attributes.get(TASK_ID_ATTRIBUTE), None, 0, None
        try:
            envelope = Envelope.decode((bodies or CodecChain()).peek(body))
            task_id, task, redrives = envelope.id, envelope.task, envelope.redrives
        except DecodeError as exc:
            task_id, problem = exc.task_id or task_id, exc.reason
        reason = attributes.get(REASON_ATTRIBUTE)
        return cls(
            queue, message_id, body, attributes, sent_at, task_id, task, reason, redrives, problem, receipt_handle
        )

    @property
    def moved_by_policy(self) -> bool:
        """Whether SQS's redrive policy moved it (Squall always attaches a reason when it dead-letters)."""
        return self.reason is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the receipt handle)."""
        doc = dataclasses.asdict(self)
        doc.pop("receipt_handle")
        return doc


def status(letter: DeadLetter, record: TaskRecord | None, max_receive_count: int) -> str:
    """One line on a dead letter, reconciled with its task's record."""
    if letter.task_id is None:
        return f"malformed, no task id (cannot be redriven): {letter.problem}"
    state = None if record is None else record.state
    if state is State.PENDING:
        return "redrive interrupted: the task is reset to PENDING; redrive again to finish"
    if state in (State.SUCCESS, State.REVOKED):
        return f"leftover copy: the task is already {state}; a redrive removes it"
    if letter.moved_by_policy:
        return (
            f"moved by the redrive policy after {max_receive_count} receives (crashes or timeouts); "
            f"the task is {state or 'unknown'}"
        )
    return letter.reason or ""


def _from_message(queue: str, message: MessageTypeDef, bodies: CodecChain) -> DeadLetter:
    attributes = {
        name: value.get("StringValue", "")
        for name, value in message.get("MessageAttributes", {}).items()
        if value.get("DataType", "").startswith(("String", "Number"))
    }
    sent = message.get("Attributes", {}).get("SentTimestamp")
    return DeadLetter.build(
        queue,
        message["MessageId"],
        message["Body"],
        attributes,
        sent_at=None if sent is None else int(sent) / 1000,
        receipt_handle=message["ReceiptHandle"],
        bodies=bodies,
    )


def _receive(sqs: SQSClient, url: str, visibility: int, limit: int | None) -> Iterator[list[MessageTypeDef]]:
    """Batches received from ``url`` until it is read through or ``limit`` messages were seen; no repeats."""
    seen: set[str] = set()
    empty = 0
    while empty < EMPTY_RECEIVES and (limit is None or len(seen) < limit):
        messages = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=limits.SQS_MAX_BATCH_ENTRIES,
            VisibilityTimeout=visibility,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        seen.update(m["MessageId"] for m in fresh)
        empty = 0 if fresh else empty + 1
        if fresh:
            yield fresh


def _release(sqs: SQSClient, url: str, letters: Sequence[DeadLetter]) -> None:
    """Make received messages visible again now."""
    if not letters:
        return
    for start in range(0, len(letters), limits.SQS_MAX_BATCH_ENTRIES):
        chunk = letters[start : start + limits.SQS_MAX_BATCH_ENTRIES]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0} for i, m in enumerate(chunk)
            ],
        )
    # moto (the dev server, tests) shows a message again only once its clock is past the new visibility
    # time; on a fake clock that moment never comes by itself. A millisecond on a real clock costs nothing.
    clock.sleep(0.001)


def _queues(app: App, queue: str | None) -> list[str]:
    # A queue with lanes covers each lane's DLQ; ConfigurationError names the known queues.
    return app.settings.deployed(queue)


def peek(app: App, queue: str | None = None, *, limit: int | None = 100) -> list[DeadLetter]:
    """The messages in the app's dead-letter queues (or ``queue``'s), up to ``limit`` per queue, unchanged."""
    letters: list[DeadLetter] = []
    bodies = chain_for(app)
    for name in _queues(app, queue):
        url = app.settings.queue(name).dlq_url
        seen: list[DeadLetter] = []
        try:
            for batch in _receive(app.sqs, url, limits.DLQ_PEEK_VISIBILITY_SECONDS, limit):
                seen.extend(_from_message(name, m, bodies) for m in batch)
        finally:
            _release(app.sqs, url, seen)
        letters.extend(seen[:limit] if limit is not None else seen)
    return letters


def find(app: App, ident: str, queue: str | None = None) -> DeadLetter | None:
    """The dead letter whose message id or task id is ``ident``, if any."""
    return next((m for m in peek(app, queue, limit=None) if ident in (m.message_id, m.task_id)), None)


def purge(app: App, queue: str | None = None) -> list[str]:
    """Delete every message of the dead-letter queues (or ``queue``'s); returns the queues purged.

    Task records stay DEAD until they expire. SQS allows one purge per queue per 60 seconds.
    """
    names = _queues(app, queue)
    for name in names:
        app.sqs.purge_queue(QueueUrl=app.settings.queue(name).dlq_url)
    return names


@dataclass
class RedriveReport:
    """What a redrive did, message by message."""

    moved: list[DeadLetter] = field(default_factory=list)
    #: Leftover copies of tasks that already finished, deleted from the DLQ.
    dropped: list[DeadLetter] = field(default_factory=list)
    #: Left in the DLQ on purpose, with why (limit reached, malformed, running).
    refused: list[tuple[DeadLetter, str]] = field(default_factory=list)
    #: Left in the DLQ by an AWS error, with the error; a later redrive picks them up.
    failed: list[tuple[DeadLetter, str]] = field(default_factory=list)
    #: Requested ids not found in any DLQ.
    missing: list[str] = field(default_factory=list)


def redrive(
    app: App,
    ids: Sequence[str] | None = None,
    *,
    queue: str | None = None,
    max_redrives: int = limits.DEFAULT_MAX_REDRIVES,
) -> RedriveReport:
    """Bring tasks back from the DLQs (all, or those whose task or message id is in ``ids``); see the module.

    AWS errors on one batch are reported in ``failed`` and the rest goes on; anything else propagates,
    leaving every message where the steps above say.
    """
    report = RedriveReport()
    bodies = chain_for(app)
    wanted = None if ids is None else set(ids)
    found: set[str] = set()
    for name in _queues(app, queue):
        address = app.settings.queue(name)
        keep: list[DeadLetter] = []
        try:
            for batch in _receive(app.sqs, address.dlq_url, limits.DLQ_REDRIVE_VISIBILITY_SECONDS, None):
                chosen: list[tuple[DeadLetter, MessageTypeDef, int]] = []
                for message in batch:
                    letter = _from_message(name, message, bodies)
                    if wanted is not None and not {letter.task_id, letter.message_id} & wanted:
                        keep.append(letter)
                        continue
                    found.update(i for i in (letter.task_id, letter.message_id) if i)
                    redrives = _reset(app, letter, max_redrives, report)
                    if redrives is None:
                        keep.append(letter)
                    elif redrives >= 0:
                        chosen.append((letter, message, redrives))
                keep.extend(_send_back(app, bodies, address.url, address.dlq_url, chosen, report))
                if wanted is not None and wanted <= found:
                    break
        finally:
            _release(app.sqs, address.dlq_url, [m for m in keep if m.receipt_handle])
    report.missing = sorted(wanted - found) if wanted is not None else []
    return report


def _reset(app: App, letter: DeadLetter, max_redrives: int, report: RedriveReport) -> int | None:
    """Step 1. Returns the task's redrive count to send with, -1 for a leftover copy (deleted), None to keep."""
    if letter.task_id is None:
        report.refused.append((letter, f"malformed, no task id: {letter.problem}; inspect it, then purge"))
        return None
    check = app.store.redrive(
        letter.task_id, max_redrives=max_redrives, seen=letter.redrives, ttl_seconds=limits.DEAD_RECORD_TTL_SECONDS
    )
    if check.outcome in ("reset", "resumed"):
        return check.redrives
    if check.outcome == "finished":
        url = app.settings.queue(letter.queue).dlq_url
        app.sqs.delete_message(QueueUrl=url, ReceiptHandle=letter.receipt_handle)
        report.dropped.append(letter)
        return -1
    why = {
        "running": "an attempt is running it now; redrive again once it has finished",
        "exhausted": f"redriven {check.redrives} times already (--max-redrives {max_redrives}); fix the task first",
    }[check.outcome]
    report.refused.append((letter, why))
    return None


def _body(bodies: CodecChain, letter: DeadLetter, redrives: int) -> str:
    """The message to send back: its envelope with the new redrive count, or the body as it was.

    The body is decoded through the app's codec chain and encoded again. When the app signs, the envelope is
    opened (its signature checked), made due now (a signed envelope is accepted for a while after it is due,
    and a redriven one may be older) and signed again; a periodic firing declared in code, accepted unsigned,
    is signed too. Without the keys, for a body that does not open, or for a signed body when the app does
    not sign (it stays as signed as it came), the body goes back exactly as it was.
    """
    if not bodies.signs and letter.body.startswith(f"{signing.VERSION}."):
        return letter.body
    try:
        envelope = Envelope.decode(bodies.decode(letter.body))
        # A fresh attempt budget, as the reset record has: an untracked task counts attempts in its envelope.
        options = {name: value for name, value in envelope.options.items() if name != "attempt"}
        envelope = dataclasses.replace(envelope, redrives=redrives, options=options)
        if bodies.signs:
            envelope = dataclasses.replace(envelope, eta=max(envelope.eta or 0.0, clock.now()))
        return bodies.encode(envelope.encode())
    except (DecodeError, ConfigurationError, ValueError):
        return letter.body  # not an envelope we can rewrite (e.g. a task name that may exist now): as it was


def _send_back(
    app: App,
    bodies: CodecChain,
    url: str,
    dlq_url: str,
    chosen: list[tuple[DeadLetter, MessageTypeDef, int]],
    report: RedriveReport,
) -> list[DeadLetter]:
    """Steps 2 and 3 for one received batch: SendMessageBatch to the source, then DeleteMessageBatch.

    Returns the letters not sent, to be made visible again (their tasks stay PENDING until a redrive).
    """
    if not chosen:
        return []
    entries: list[Any] = []
    for i, (letter, message, redrives) in enumerate(chosen):
        forwarded = {k: v for k, v in message.get("MessageAttributes", {}).items() if not k.startswith(OWN_PREFIX)}
        entry: dict[str, Any] = {"Id": str(i), "MessageBody": _body(bodies, letter, redrives)}
        # Back to a FIFO queue: into its message group again (as SQS reported it), one message per redrive.
        key = letter.task_id or letter.message_id
        group = message.get("Attributes", {}).get("MessageGroupId", key)
        entry.update(fifo_rules.send_fields(url, group, f"{key}#redrive#{redrives}"))
        if forwarded:
            entry["MessageAttributes"] = forwarded
        entries.append(entry)
    try:
        response = app.sqs.send_message_batch(QueueUrl=url, Entries=entries)
    except (ClientError, BotoCoreError) as exc:
        report.failed.extend((letter, f"not sent back: {exc}") for letter, _, _ in chosen)
        return [letter for letter, _, _ in chosen]
    unsent = [chosen[int(failure["Id"])][0] for failure in response.get("Failed", [])]
    for failure in response.get("Failed", []):
        report.failed.append((chosen[int(failure["Id"])][0], f"not sent back: {failure.get('Message', '')}"))
    sent = [chosen[int(ok["Id"])][0] for ok in response.get("Successful", [])]
    if not sent:
        return unsent
    try:
        deleted = app.sqs.delete_message_batch(
            QueueUrl=dlq_url, Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(sent)]
        )
        undeleted = {int(f["Id"]): f.get("Message", "") for f in deleted.get("Failed", [])}
    except (ClientError, BotoCoreError) as exc:
        undeleted = dict.fromkeys(range(len(sent)), str(exc))
    for i, letter in enumerate(sent):
        report.moved.append(letter)
        if i in undeleted:
            why = f"sent back, but still in the DLQ ({undeleted[i]}); the next redrive removes the copy"
            report.failed.append((letter, why))
    return unsent
