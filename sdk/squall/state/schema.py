"""The DynamoDB item schema of a task: its key format, its attributes, the listing index, and the records read.

One item per task, key ``pk = "task#<id>"`` (the prefix leaves room for other item kinds in the same
table). Attributes, all optional but ``pk``:

=================  ====  ===============================================================
name               type  meaning
=================  ====  ===============================================================
name, queue        S     task name and logical queue
state              S     a :class:`~squall.states.State` value
attempt            N     attempts claimed so far (1 on the first run)
max_retries        N     the task's retry budget when last claimed
created_at         N     when the producer enqueued it (epoch seconds; all times are)
eta                N     when it was due, if delayed
started_at         N     when the latest attempt claimed it
failed_at          N     when the latest attempt failed (FAILURE and RETRY/DEAD share it)
next_attempt_at    N     when a RETRY becomes visible again
finished_at        N     when it reached SUCCESS, DEAD or REVOKED
lettered_at        N     when a DEAD task's dead letter was known to be in its DLQ
updated_at         N     the latest write
lease_until        N     a STARTED attempt's claim lapses at this time
token              S     the claiming attempt's secret; every later write of that attempt
                         is conditional on it
result             S     the JSON result (absent with ignore_result)
error              M     {type, message, traceback}: strings, never rebuilt into exceptions
progress           S     JSON {"percent", "message", "meta"}
reason             S     why it is DEAD (or REVOKED, for an expired task)
redrives           N     times brought back from the DLQ
expires_at         N     DynamoDB TTL; reads treat an expired item as absent
ix_pk, ix_sk       S     keys of the sparse listing index (see :data:`INDEX_NAME`); set only
                         while the task is RETRY, DEAD or REVOKED (and SUCCESS with
                         ``Squall(index_success=True)``)
=================  ====  ===============================================================

The writes that move a task between states live in :mod:`squall.state.store`; everything that reads or names an
item's attributes starts here. Items stay small and fixed-size so that each write costs one write unit.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from squall.states import State

KEY_ATTRIBUTE = "pk"
TTL_ATTRIBUTE = "expires_at"
#: Prefix of task keys; other item kinds may share the table under other prefixes.
KEY_PREFIX = "task#"


def task_key(task_id: str) -> dict[str, Any]:
    """The DynamoDB key of a task's item."""
    return {KEY_ATTRIBUTE: {"S": KEY_PREFIX + task_id}}


# --- The listing index: a sparse GSI, so that listing by state and time never scans the table -------------
#
# An item is in the index only while its ix_pk/ix_sk are set, and only failure-path writes set them (RETRY,
# DEAD, REVOKED); the claim removes them. A successful task never touches the index, so it still costs two
# write units (claim, finish). An index entry costs one more write unit when it appears and one when it goes
# (DynamoDB bills GSI writes like table writes); ``Squall(index_success=True)`` indexes SUCCESS for +1 a task.

#: The global secondary index that ``squall tasks`` queries.
INDEX_NAME = "by-state-time"
#: Index partition key, ``<STATE>#<UTC day>#<shard>``, e.g. ``DEAD#2026-11-23#5`` (string).
INDEX_PARTITION_ATTRIBUTE = "ix_pk"
#: Index sort key, ``<epoch milliseconds, 13 digits>#<task id>``: newest first by reading backwards (string).
INDEX_SORT_ATTRIBUTE = "ix_sk"
#: Non-key attributes the index carries (projection INCLUDE), so a listing reads no table items. Each is
#: written only together with the index keys or while the item is out of the index: projecting them is free.
INDEX_PROJECTED_ATTRIBUTES = ("name", "queue", "attempt", "expires_at")
#: Index partitions per state and day. One partition key takes ~1,000 writes/s, and a throttled GSI throttles
#: the table's writes too, so a burst of failures is spread over this many. Readers query every shard: fixed.
INDEX_SHARDS = 8
#: States indexed by default; SUCCESS is added by ``Squall(index_success=True)``.
INDEXED_STATES = (State.RETRY, State.DEAD, State.REVOKED)


def index_day(at: float) -> str:
    """The UTC day (``YYYY-MM-DD``) of epoch seconds ``at``: the index's time bucket."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d")


def index_partition(state: State, day: str, shard: int) -> str:
    """An index partition key: ``<STATE>#<day>#<shard>``."""
    return f"{state}#{day}#{shard}"


def index_sort_prefix(at: float) -> str:
    """The time part of an index sort key; bounds of a time range compare correctly against full keys."""
    return f"{int(at * 1000):013d}"


def index_keys(task_id: str, state: State, at: float) -> dict[str, dict[str, str]]:
    """The index key attributes of a task entering ``state`` at ``at`` (typed values for UpdateItem)."""
    shard = zlib.crc32(task_id.encode("utf-8")) % INDEX_SHARDS  # stable across processes, unlike hash()
    return {
        INDEX_PARTITION_ATTRIBUTE: {"S": index_partition(state, index_day(at), shard)},
        INDEX_SORT_ATTRIBUTE: {"S": f"{index_sort_prefix(at)}#{task_id}"},
    }


def task_id_from_item(item: dict[str, Any]) -> str:
    """The task id of a table or index item."""
    return str(item[KEY_ATTRIBUTE]["S"]).removeprefix(KEY_PREFIX)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An exception as stored: type name, message and traceback, all plain strings."""

    type: str
    message: str
    traceback: str = ""


@dataclass(frozen=True, slots=True)
class Progress:
    """A task's latest progress report."""

    percent: float
    message: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Compact JSON for storage."""
        return json.dumps(
            {"percent": self.percent, "message": self.message, "meta": self.meta},
            separators=(",", ":"),
            allow_nan=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Progress:
        """Inverse of :meth:`to_json`."""
        doc = json.loads(text)
        return cls(float(doc["percent"]), doc.get("message"), dict(doc.get("meta") or {}))


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """A task's stored state, as read."""

    id: str
    state: State
    name: str | None = None
    queue: str | None = None
    attempt: int = 0
    max_retries: int | None = None
    created_at: float | None = None
    eta: float | None = None
    started_at: float | None = None
    failed_at: float | None = None
    next_attempt_at: float | None = None
    finished_at: float | None = None
    lettered_at: float | None = None
    updated_at: float | None = None
    lease_until: float | None = None
    result_json: str | None = None
    error: ErrorInfo | None = None
    progress: Progress | None = None
    reason: str | None = None
    redrives: int = 0
    expires_at: float | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> TaskRecord:
        """Build a record from a DynamoDB item in the low-level (typed) format."""

        def num(key: str) -> float | None:
            return float(item[key]["N"]) if key in item else None

        def text(key: str) -> str | None:
            return item[key]["S"] if key in item else None

        error = item.get("error", {}).get("M")
        progress = text("progress")
        return cls(
            id=item[KEY_ATTRIBUTE]["S"].removeprefix(KEY_PREFIX),
            state=State(item.get("state", {}).get("S", State.PENDING)),
            name=text("name"),
            queue=text("queue"),
            attempt=int(num("attempt") or 0),
            max_retries=None if "max_retries" not in item else int(num("max_retries") or 0),
            created_at=num("created_at"),
            eta=num("eta"),
            started_at=num("started_at"),
            failed_at=num("failed_at"),
            next_attempt_at=num("next_attempt_at"),
            finished_at=num("finished_at"),
            lettered_at=num("lettered_at"),
            updated_at=num("updated_at"),
            lease_until=num("lease_until"),
            result_json=text("result"),
            error=None
            if error is None
            else ErrorInfo(
                error.get("type", {}).get("S", ""),
                error.get("message", {}).get("S", ""),
                error.get("traceback", {}).get("S", ""),
            ),
            progress=None if progress is None else Progress.from_json(progress),
            reason=text("reason"),
            redrives=int(num("redrives") or 0),
            expires_at=num("expires_at"),
        )


@dataclass(frozen=True, slots=True)
class Claim:
    """What a claim attempt found: ``claimed`` (run it), ``finished`` (ack it), ``busy`` (another attempt
    holds it: not now) or ``early`` (a RETRY not yet due: this delivery is an early copy, not now)."""

    outcome: Literal["claimed", "finished", "busy", "early"]
    attempt: int = 0
    token: str = ""
    #: The task's retry budget, as recorded (the first claim records the delivery's).
    max_retries: int = 0
    current: TaskRecord | None = None


RedriveOutcome = Literal["reset", "resumed", "finished", "running", "exhausted"]


@dataclass(frozen=True, slots=True)
class Redrive:
    """What resetting a dead-lettered task found.

    ``reset`` (now PENDING with ``redrives`` counted) and ``resumed`` (already PENDING: an earlier redrive
    stopped before its message left the DLQ): send the message back. ``finished`` (SUCCESS or REVOKED): the
    message is a leftover copy. ``running``: a live attempt holds the task. ``exhausted``: redrive limit reached.
    """

    outcome: RedriveOutcome
    redrives: int = 0
    current: TaskRecord | None = None

    @classmethod
    def refused(cls, current: TaskRecord, now: float) -> Redrive:
        """Why a reset did not apply to the task as it is now (``current``)."""
        if current.state is State.PENDING:
            outcome: RedriveOutcome = "resumed"  # reset by an earlier redrive that did not finish
        elif current.state in (State.SUCCESS, State.REVOKED):
            outcome = "finished"
        elif current.state is State.STARTED and (current.lease_until or 0) >= now:
            outcome = "running"
        else:
            outcome = "exhausted"
        return cls(outcome, redrives=current.redrives, current=current)
