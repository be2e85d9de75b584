"""Task state changes in DynamoDB, each one a conditional write (the item schema is :mod:`squall.schema`).

Each transition is one UpdateItem whose condition encodes the state machine; a failed condition returns
the current item (``ReturnValuesOnConditionCheckFailure=ALL_OLD``, no extra read) and is translated into
meaning here.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from squall import clock
from squall.errors import LeaseLost, StoreError
from squall.schema import (
    INDEX_PARTITION_ATTRIBUTE,
    INDEX_SORT_ATTRIBUTE,
    Claim,
    ErrorInfo,
    Progress,
    Redrive,
    RedriveOutcome,
    TaskRecord,
    index_keys,
    task_key,
)
from squall.states import State

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CONDITION_FAILED = "ConditionalCheckFailedException"

# Placeholders for every attribute name: several (name, state, token, result, error) are reserved words.
_NAMES = {
    f"#{n}": n
    for n in [
        "pk",
        "name",
        "queue",
        "state",
        "attempt",
        "max_retries",
        "created_at",
        "eta",
        "started_at",
        "failed_at",
        "next_attempt_at",
        "finished_at",
        "updated_at",
        "lease_until",
        "token",
        "result",
        "error",
        "progress",
        "reason",
        "redrives",
        "expires_at",
        "ix_pk",
        "ix_sk",
    ]
}


@functools.lru_cache(maxsize=256)
def _names_in(update: str, condition: str) -> dict[str, str]:
    """The placeholders an expression pair uses; cached, as the worker builds the same few per record."""
    return {k: v for k, v in _NAMES.items() if k in update or k in condition}


def _set_index(update: str, values: dict[str, Any], task_id: str, state: State, at: float) -> str:
    """Add the index keys for ``state`` to a SET clause (``update`` must not have a REMOVE yet)."""
    keys = index_keys(task_id, state, at)
    values[":ixpk"], values[":ixsk"] = keys[INDEX_PARTITION_ATTRIBUTE], keys[INDEX_SORT_ATTRIBUTE]
    return update + ", #ix_pk = :ixpk, #ix_sk = :ixsk"


def _n(value: float) -> dict[str, str]:
    return {"N": repr(round(value, 6)) if isinstance(value, float) else str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _error_value(error: ErrorInfo) -> dict[str, Any]:
    return {"M": {"type": _s(error.type), "message": _s(error.message), "traceback": _s(error.traceback)}}


#: Called after each state change is written: (task id, new state, epoch seconds).
TransitionListener = Callable[[str, State, float], None]


class TaskStore:
    """Reads and conditionally writes task items; the only code that knows the item schema."""

    def __init__(
        self,
        client: Callable[[], DynamoDBClient],
        table: str,
        listeners: Sequence[TransitionListener] = (),
        *,
        index_success: bool = False,
    ) -> None:
        self._client = client
        self._table = table
        self._listeners = listeners
        #: Whether SUCCESS writes put the task in the listing index (one more write unit per task).
        self.index_success = index_success

    def _notify(self, task_id: str, *states: State) -> None:
        now = clock.now()
        for listener in self._listeners:
            for state in states:
                listener(task_id, state, now)

    def _update(
        self, task_id: str, update: str, condition: str, values: dict[str, Any], *, returning: bool = False
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": task_key(task_id),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": dict(_names_in(update, condition)),
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if returning:
            kwargs["ReturnValues"] = "UPDATED_NEW"
        return dict(self._client().update_item(**kwargs))

    def claim(
        self,
        task_id: str,
        *,
        name: str,
        queue: str,
        created: float,
        eta: float | None,
        max_retries: int,
        lease_seconds: float,
        ttl_seconds: int,
    ) -> Claim:
        """Take the task for one attempt, unless it is finished or another attempt holds a live lease."""
        now = clock.now()
        token = secrets.token_hex(8)
        values: dict[str, Any] = {
            ":started": _s(State.STARTED),
            ":pending": _s(State.PENDING),
            ":retry": _s(State.RETRY),
            ":name": _s(name),
            ":queue": _s(queue),
            ":zero": _n(0),
            ":one": _n(1),
            ":now": _n(now),
            ":lease": _n(now + lease_seconds),
            ":token": _s(token),
            ":created": _n(created),
            ":exp": _n(int(now) + ttl_seconds),
            ":maxr": _n(max_retries),
        }
        update = (
            "SET #state = :started, #name = :name, #queue = :queue, "
            "#attempt = if_not_exists(#attempt, :zero) + :one, #lease_until = :lease, #token = :token, "
            "#started_at = :now, #updated_at = :now, #created_at = if_not_exists(#created_at, :created), "
            "#expires_at = :exp, #max_retries = :maxr"
        )
        if eta is not None:
            update += ", #eta = :eta"
            values[":eta"] = _n(eta)
        # Out of the listing index while it runs: free on a first claim (nothing to remove), one index write
        # when a RETRY (or redriven) task is claimed again.
        update += " REMOVE #ix_pk, #ix_sk"
        condition = (
            "attribute_not_exists(#pk) OR #state IN (:pending, :retry) OR (#state = :started AND #lease_until < :now)"
        )
        try:
            response = self._update(task_id, update, condition, values, returning=True)
        except ClientError as exc:
            current = self._current(exc)
            if current is None:
                raise
            if current.state in (State.SUCCESS, State.DEAD, State.REVOKED):
                return Claim("finished", current=current)
            return Claim("busy", current=current)
        attempt = int(response["Attributes"]["attempt"]["N"])
        self._notify(task_id, State.STARTED)
        return Claim("claimed", attempt=attempt, token=token)

    def finish(
        self, task_id: str, token: str, *, result_json: str | None, progress: Progress | None, ttl_seconds: int
    ) -> None:
        """Record SUCCESS (with the result, and the last coalesced progress report) for this attempt."""
        now = clock.now()
        values: dict[str, Any] = {
            ":success": _s(State.SUCCESS),
            ":now": _n(now),
            ":exp": _n(int(now) + ttl_seconds),
            ":token": _s(token),
        }
        update = "SET #state = :success, #finished_at = :now, #updated_at = :now, #expires_at = :exp"
        if result_json is not None:
            update += ", #result = :result"
            values[":result"] = _s(result_json)
        if progress is not None:
            update += ", #progress = :progress"
            values[":progress"] = _s(progress.to_json())
        if self.index_success:
            update = _set_index(update, values, task_id, State.SUCCESS, now)
        self._owned_write(task_id, token, update + " REMOVE #lease_until, #token", values)
        self._notify(task_id, State.SUCCESS)

    def retry(
        self, task_id: str, token: str, *, error: ErrorInfo, next_attempt_at: float, progress: Progress | None
    ) -> None:
        """Record a failed attempt that will be retried: FAILURE and RETRY in one write."""
        now = clock.now()
        values: dict[str, Any] = {
            ":retry": _s(State.RETRY),
            ":now": _n(now),
            ":next": _n(next_attempt_at),
            ":error": _error_value(error),
            ":token": _s(token),
        }
        update = "SET #state = :retry, #failed_at = :now, #updated_at = :now, #next_attempt_at = :next, #error = :error"
        if progress is not None:
            update += ", #progress = :progress"
            values[":progress"] = _s(progress.to_json())
        update = _set_index(update, values, task_id, State.RETRY, now)
        self._owned_write(task_id, token, update + " REMOVE #lease_until, #token", values)
        self._notify(task_id, State.FAILURE, State.RETRY)

    def progress(self, task_id: str, token: str, progress: Progress) -> None:
        """Store a progress report of the attempt holding ``token``."""
        values = {":progress": _s(progress.to_json()), ":now": _n(clock.now()), ":token": _s(token)}
        self._owned_write(task_id, token, "SET #progress = :progress, #updated_at = :now", values)

    def dead(
        self,
        task_id: str,
        *,
        reason: str,
        error: ErrorInfo,
        ttl_seconds: int,
        token: str | None = None,
        name: str | None = None,
        queue: str | None = None,
        created: float | None = None,
    ) -> bool:
        """Record DEAD. With ``token``, for the attempt holding it; without, for a message never claimed.

        Returns False, changing nothing, when an unclaimed task already finished (SUCCESS or REVOKED) or a
        live attempt holds it.
        """
        now = clock.now()
        values: dict[str, Any] = {
            ":dead": _s(State.DEAD),
            ":now": _n(now),
            ":exp": _n(int(now) + ttl_seconds),
            ":reason": _s(reason),
            ":error": _error_value(error),
        }
        update = (
            "SET #state = :dead, #reason = :reason, #error = :error, #failed_at = :now, "
            "#finished_at = :now, #updated_at = :now, #expires_at = :exp"
        )
        for attr, value in (("name", name), ("queue", queue)):
            if value is not None:
                update += f", #{attr} = :{attr}"
                values[f":{attr}"] = _s(value)
        if created is not None:
            update += ", #created_at = if_not_exists(#created_at, :created)"
            values[":created"] = _n(created)
        update = _set_index(update, values, task_id, State.DEAD, now)
        update += " REMOVE #lease_until, #token"
        if token is not None:
            self._owned_write(task_id, token, update, {**values, ":token": _s(token)})
            self._notify(task_id, State.FAILURE, State.DEAD)
            return True
        # Never over a finished task, nor over one a live attempt holds: an unusable message that shares a
        # running task's id must not mark it DEAD under that attempt (its own outcome is coming).
        values.update({":pending": _s(State.PENDING), ":retry": _s(State.RETRY), ":started": _s(State.STARTED)})
        condition = (
            "attribute_not_exists(#pk) OR #state IN (:pending, :retry, :dead) "
            "OR (#state = :started AND #lease_until < :now)"
        )
        try:
            self._update(task_id, update, condition, values)
        except ClientError as exc:
            if self._current(exc) is None:
                raise
            return False
        self._notify(task_id, State.DEAD)
        return True

    def hold(
        self, task_id: str, *, name: str, queue: str, created: float, eta: float, ttl_seconds: int
    ) -> TaskRecord | None:
        """Record a long-delayed task as PENDING with its ETA, unless the task id is already known.

        Returns None when written; otherwise changes nothing and returns the task's current record
        (PENDING: an earlier send of the same id; anything else: it already ran or was revoked).
        """
        now = clock.now()
        values: dict[str, Any] = {
            ":pending": _s(State.PENDING),
            ":name": _s(name),
            ":queue": _s(queue),
            ":created": _n(created),
            ":eta": _n(eta),
            ":now": _n(now),
            ":exp": _n(int(eta) + ttl_seconds),
        }
        update = (
            "SET #state = :pending, #name = :name, #queue = :queue, #created_at = :created, #eta = :eta, "
            "#updated_at = :now, #expires_at = :exp"
        )
        try:
            self._update(task_id, update, "attribute_not_exists(#pk)", values)
        except ClientError as exc:
            current = self._current(exc)
            if current is None:
                raise
            return current
        self._notify(task_id, State.PENDING)
        return None

    def revoke(self, task_id: str, *, ttl_seconds: int) -> TaskRecord | None:
        """Mark a task that has not started REVOKED; the worker then acknowledges it without running.

        Succeeds when the item is absent, PENDING or RETRY, or STARTED with a lapsed lease (that attempt's
        later writes then fail: its token is removed). Returns None when written; otherwise changes nothing
        and returns the current record (REVOKED already, finished, or STARTED by a live attempt).
        """
        now = clock.now()
        values: dict[str, Any] = {
            ":revoked": _s(State.REVOKED),
            ":pending": _s(State.PENDING),
            ":retry": _s(State.RETRY),
            ":started": _s(State.STARTED),
            ":now": _n(now),
            ":exp": _n(int(now) + ttl_seconds),
        }
        # An existing expiry is kept: a long-delayed task's PENDING item lives until after its ETA, so the
        # REVOKED record outlives a schedule created concurrently with the revoke.
        update = (
            "SET #state = :revoked, #finished_at = :now, #updated_at = :now, "
            "#expires_at = if_not_exists(#expires_at, :exp)"
        )
        update = _set_index(update, values, task_id, State.REVOKED, now) + " REMOVE #lease_until, #token"
        condition = (
            "attribute_not_exists(#pk) OR #state IN (:pending, :retry) OR (#state = :started AND #lease_until < :now)"
        )
        try:
            self._update(task_id, update, condition, values)
        except ClientError as exc:
            current = self._current(exc)
            if current is None:
                raise
            return current
        self._notify(task_id, State.REVOKED)
        return None

    def redrive(self, task_id: str, *, max_redrives: int, seen: int = 0, ttl_seconds: int) -> Redrive:
        """Reset a dead-lettered task to PENDING with a fresh attempt budget, before its message goes back.

        Writes when the task is DEAD, RETRY or STARTED with a lapsed lease (a message SQS's redrive policy
        moved), or unknown (its record expired), and was redriven fewer than ``max_redrives`` times (``seen``:
        the count its envelope carries). Otherwise changes nothing and says why (see :class:`Redrive`).
        """
        if seen >= max_redrives:
            return Redrive("exhausted", redrives=seen)
        now = clock.now()
        values: dict[str, Any] = {
            ":pending": _s(State.PENDING),
            ":dead": _s(State.DEAD),
            ":retry": _s(State.RETRY),
            ":started": _s(State.STARTED),
            ":zero": _n(0),
            ":one": _n(1),
            ":seen": _n(seen),
            ":max": _n(max_redrives),
            ":now": _n(now),
            ":exp": _n(int(now) + ttl_seconds),
        }
        update = (
            "SET #state = :pending, #attempt = :zero, #redrives = if_not_exists(#redrives, :seen) + :one, "
            "#updated_at = :now, #expires_at = :exp REMOVE #error, #reason, #progress, #failed_at, #finished_at, "
            "#next_attempt_at, #lease_until, #token, #ix_pk, #ix_sk"
        )
        condition = (
            "(attribute_not_exists(#pk) OR #state IN (:dead, :retry) OR (#state = :started AND #lease_until < :now))"
            " AND (attribute_not_exists(#redrives) OR #redrives < :max)"
        )
        try:
            response = self._update(task_id, update, condition, values, returning=True)
        except ClientError as exc:
            current = self._current(exc)
            if current is None:
                raise
            if current.state is State.PENDING:
                outcome: RedriveOutcome = "resumed"  # reset by an earlier redrive that did not finish
            elif current.state in (State.SUCCESS, State.REVOKED):
                outcome = "finished"
            elif current.state is State.STARTED and (current.lease_until or 0) >= now:
                outcome = "running"
            else:
                outcome = "exhausted"
            return Redrive(outcome, redrives=current.redrives, current=current)
        self._notify(task_id, State.PENDING)
        return Redrive("reset", redrives=int(response["Attributes"]["redrives"]["N"]))

    def _owned_write(self, task_id: str, token: str, update: str, values: dict[str, Any]) -> None:
        try:
            self._update(task_id, update, "#token = :token", values)
        except ClientError as exc:
            current = self._current(exc)
            if current is None:
                raise
            raise LeaseLost(
                f"task {task_id}: this attempt's claim lapsed and the task is now {current.state} "
                f"(attempt {current.attempt}); its write was not applied"
            ) from exc

    @staticmethod
    def _current(exc: ClientError) -> TaskRecord | None:
        """The item returned with a failed condition, or None if ``exc`` is some other error."""
        if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
            return None
        item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
        if not item:
            raise StoreError("DynamoDB refused a conditional write but returned no item") from exc
        return TaskRecord.from_item(item)

    def get(self, task_id: str) -> TaskRecord | None:
        """The task's record, or None if unknown or expired (TTL deletion lags by up to days)."""
        response = self._client().get_item(TableName=self._table, Key=task_key(task_id), ConsistentRead=True)
        item = response.get("Item")
        if not item:
            return None
        record = TaskRecord.from_item(item)
        if record.expires_at is not None and record.expires_at < clock.now():
            return None
        return record
