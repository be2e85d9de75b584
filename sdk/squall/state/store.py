"""Task state changes in DynamoDB, each one a conditional write (the item schema is :mod:`squall.state.schema`).

Each transition is one UpdateItem whose condition encodes the state machine; a failed condition returns
the current item (``ReturnValuesOnConditionCheckFailure=ALL_OLD``, no extra read) and is translated into
meaning here.
"""

from __future__ import annotations

import secrets
from typing import Any

from squall import clock
from squall.state import expressions as x
from squall.state.items import TaskItems, TransitionListener, identity
from squall.state.schema import Claim, ErrorInfo, Progress, Redrive, TaskRecord
from squall.states import State

__all__ = ["TaskStore", "TransitionListener"]


#: A claim's SET clause (with ``, #eta = :eta`` when the delivery has an ETA).
_CLAIM = (
    "SET #state = :started, #name = :name, #queue = :queue, "
    "#attempt = if_not_exists(#attempt, :zero) + :one, #lease_until = :lease, #token = :token, "
    "#started_at = :now, #updated_at = :now, #created_at = if_not_exists(#created_at, :created), "
    "#expires_at = :exp, #max_retries = if_not_exists(#max_retries, :maxr)"
)
_ZERO, _ONE = x.num(0), x.num(1)


class TaskStore(TaskItems):
    """Reads and conditionally writes task items; the only code that knows the item schema."""

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
        due_tolerance: float = 0.0,
    ) -> Claim:
        """Take the task for one attempt, unless it is finished, not yet due, or held by a live attempt.

        ``max_retries`` is the delivery's retry budget, recorded on the task's first claim; later claims keep the
        recorded one (a ``retry(max_retries=)`` changes it with the RETRY write), and the claim returns it. A
        record whose TTL has passed is treated as absent: the task starts over at attempt 1.
        """
        now = clock.now()
        token = secrets.token_hex(8)
        values: dict[str, Any] = {
            ":name": x.text(name),
            ":queue": x.text(queue),
            ":zero": _ZERO,
            ":one": _ONE,
            ":now": x.num(now),
            ":due": x.num(now + due_tolerance),
            ":lease": x.num(now + lease_seconds),
            ":token": x.text(token),
            ":created": x.num(created),
            ":exp": x.num(int(now) + ttl_seconds),
            ":maxr": x.num(max_retries),
        }
        update = _CLAIM
        if eta is not None:
            update += ", #eta = :eta"
            values[":eta"] = x.num(eta)
        # Out of the listing index while it runs: free on a first claim (nothing to remove), one index write
        # when a RETRY (or redriven) task is claimed again.
        response = self._update(task_id, update + " REMOVE #ix_pk, #ix_sk", x.CLAIMABLE, values, returning="ALL_NEW")
        if isinstance(response, TaskRecord):
            current = response
            if current.expires_at is not None and current.expires_at < now:
                return self._claim_expired(task_id, update, values)
            if current.state in (State.SUCCESS, State.DEAD, State.REVOKED):
                return Claim("finished", current=current)
            if current.state is State.RETRY:
                return Claim("early", current=current)
            return Claim("busy", current=current)
        self._notify(task_id, State.STARTED)
        attributes = response["Attributes"]
        return Claim(
            "claimed",
            attempt=int(attributes["attempt"]["N"]),
            token=token,
            max_retries=int(attributes.get("max_retries", values[":maxr"])["N"]),
        )

    def _claim_expired(self, task_id: str, update: str, values: dict[str, Any]) -> Claim:
        """Claim a task whose record outlived its TTL (not yet deleted): attempt 1, everything else cleared."""
        for kept, fresh in (
            ("if_not_exists(#attempt, :zero) + :one", ":one"),
            ("if_not_exists(#created_at, :created)", ":created"),
            ("if_not_exists(#max_retries, :maxr)", ":maxr"),
        ):
            update = update.replace(kept, fresh)
        update += (
            " REMOVE #ix_pk, #ix_sk, #result, #error, #reason, #progress, #failed_at, #finished_at, "
            "#next_attempt_at, #redrives"
        )
        values = {k: v for k, v in values.items() if k not in (":zero", ":due")}  # DynamoDB refuses unused values
        response = self._update(task_id, update, "#expires_at < :now", values, returning="UPDATED_NEW")
        if isinstance(response, TaskRecord):  # written meanwhile by another attempt: decide again
            return Claim("busy", current=response)
        self._notify(task_id, State.STARTED)
        return Claim("claimed", attempt=1, token=values[":token"]["S"], max_retries=int(values[":maxr"]["N"]))

    def finish(
        self, task_id: str, token: str, *, result_json: str | None, progress: Progress | None, ttl_seconds: int
    ) -> None:
        """Record SUCCESS (with the result, and the last coalesced progress report) for this attempt.

        Earlier attempts' error and reason are removed: the item holds the result, and its size stays within
        what :data:`squall.limits.MAX_RESULT_BYTES` accounts for.
        """
        now = clock.now()
        values: dict[str, Any] = {":now": x.num(now), ":exp": x.num(int(now) + ttl_seconds), ":token": x.text(token)}
        update = "SET #state = :success, #finished_at = :now, #updated_at = :now, #expires_at = :exp"
        if result_json is not None:
            update += ", #result = :result"
            values[":result"] = x.text(result_json)
        if progress is not None:
            update += ", #progress = :progress"
            values[":progress"] = x.text(progress.to_json())
        if self.index_success:
            update = x.set_index(update, values, task_id, State.SUCCESS, now)
        self._owned_write(task_id, token, update + " REMOVE #lease_until, #token, #error, #reason", values)
        self._notify(task_id, State.SUCCESS)

    def retry(
        self,
        task_id: str,
        token: str,
        *,
        error: ErrorInfo,
        next_attempt_at: float,
        progress: Progress | None,
        max_retries: int,
    ) -> None:
        """Record a failed attempt that will be retried: FAILURE and RETRY in one write."""
        now = clock.now()
        values: dict[str, Any] = {
            ":now": x.num(now),
            ":next": x.num(next_attempt_at),
            ":error": x.error_value(error),
            ":token": x.text(token),
            ":maxr": x.num(max_retries),
        }
        update = (
            "SET #state = :retry, #failed_at = :now, #updated_at = :now, #next_attempt_at = :next, #error = :error, "
            "#max_retries = :maxr"
        )
        if progress is not None:
            update += ", #progress = :progress"
            values[":progress"] = x.text(progress.to_json())
        update = x.set_index(update, values, task_id, State.RETRY, now)
        self._owned_write(task_id, token, update + " REMOVE #lease_until, #token", values)
        self._notify(task_id, State.FAILURE, State.RETRY)

    def progress(self, task_id: str, token: str, progress: Progress) -> None:
        """Store a progress report of the attempt holding ``token``."""
        values = {":progress": x.text(progress.to_json()), ":now": x.num(clock.now()), ":token": x.text(token)}
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
    ) -> TaskRecord | None:
        """Record DEAD. With ``token``, for the attempt holding it; without, for a message never claimed.

        Returns None when written. Without a token it changes nothing and returns the current record when the
        task finished (SUCCESS or REVOKED) or a live attempt holds it.
        """
        now = clock.now()
        values: dict[str, Any] = {
            ":now": x.num(now),
            ":exp": x.num(int(now) + ttl_seconds),
            ":reason": x.text(reason),
            ":error": x.error_value(error),
        }
        update = (
            "SET #state = :dead, #reason = :reason, #error = :error, #failed_at = :now, "
            "#finished_at = :now, #updated_at = :now, #expires_at = :exp"
        )
        update = identity(update, values, name, queue, created)
        update = x.set_index(update, values, task_id, State.DEAD, now)
        update += " REMOVE #lease_until, #token, #lettered_at"  # its letter is sent after this write
        if token is not None:
            self._owned_write(task_id, token, update, {**values, ":token": x.text(token)})
            self._notify(task_id, State.FAILURE, State.DEAD)
            return None
        # Never over a finished task, nor over one a live attempt holds: an unusable message that shares a
        # running task's id must not mark it DEAD under that attempt (its own outcome is coming).
        response = self._update(task_id, update, f"{x.NOT_STARTED} OR #state = :dead", values)
        if isinstance(response, TaskRecord):
            return response
        self._notify(task_id, State.DEAD)
        return None

    def lettered(self, task_id: str) -> None:
        """Note that the DEAD task's dead letter is in its DLQ: a later delivery of it then adds none."""
        self._update(task_id, "SET #lettered_at = :now", "#state = :dead", {":now": x.num(clock.now())})

    def hold(
        self, task_id: str, *, name: str, queue: str, created: float, eta: float, ttl_seconds: int
    ) -> TaskRecord | None:
        """Record a long-delayed task as PENDING with its ETA, unless the task id is already known.

        Returns None when written; otherwise changes nothing and returns the task's current record
        (PENDING: an earlier send of the same id; anything else: it already ran or was revoked).
        """
        now = clock.now()
        values: dict[str, Any] = {
            ":name": x.text(name),
            ":queue": x.text(queue),
            ":created": x.num(created),
            ":eta": x.num(eta),
            ":now": x.num(now),
            ":exp": x.num(int(eta) + ttl_seconds),
        }
        # The producer's policy allows only x.HELD_ATTRIBUTES and no read-back: a refusal is answered by a GetItem.
        response = self._update(task_id, x.HOLD, x.ABSENT, values, old_on_failure=False)
        if isinstance(response, TaskRecord):
            return response
        self._notify(task_id, State.PENDING)
        return None

    def revoke(
        self,
        task_id: str,
        *,
        ttl_seconds: int,
        reason: str | None = None,
        name: str | None = None,
        queue: str | None = None,
        created: float | None = None,
    ) -> TaskRecord | None:
        """Mark a task that has not started REVOKED; the worker then acknowledges it without running.

        Succeeds when the item is absent (or expired), PENDING or RETRY, or STARTED with a lapsed lease (that
        attempt's later writes then fail: its token is removed). Returns None when written; otherwise changes
        nothing and returns the current record (REVOKED already, finished, or STARTED by a live attempt).
        ``reason`` says why (an expired task's "expired ..."); the worker gives ``name``, ``queue`` and
        ``created`` from the envelope so that a task first seen when it expires is listed with them.
        """
        now = clock.now()
        values: dict[str, Any] = {":now": x.num(now), ":exp": x.num(int(now) + ttl_seconds)}
        # An existing expiry is kept: a long-delayed task's PENDING item lives until after its ETA, so the
        # REVOKED record outlives a schedule created concurrently with the revoke.
        update = (
            "SET #state = :revoked, #finished_at = :now, #updated_at = :now, "
            "#expires_at = if_not_exists(#expires_at, :exp)"
        )
        if reason is not None:
            update += ", #reason = :reason"
            values[":reason"] = x.text(reason)
        update = identity(update, values, name, queue, created)
        update = x.set_index(update, values, task_id, State.REVOKED, now) + " REMOVE #lease_until, #token"
        response = self._update(task_id, update, x.NOT_STARTED, values)
        if isinstance(response, TaskRecord):
            return response
        self._notify(task_id, State.REVOKED)
        return None

    def forget(self, task_id: str) -> bool:
        """Drop a SUCCESS task's stored result and progress (Celery's ``forget``); whether there was one.

        The record itself stays until it expires: it is what acknowledges a late copy of the task unrun.
        """
        values: dict[str, Any] = {":now": x.num(clock.now())}
        update = "SET #updated_at = :now REMOVE #result, #progress"
        response = self._update(task_id, update, "#state = :success", values)
        return not isinstance(response, TaskRecord)

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
            ":zero": x.num(0),
            ":one": x.num(1),
            ":seen": x.num(seen),
            ":max": x.num(max_redrives),
            ":now": x.num(now),
            ":exp": x.num(int(now) + ttl_seconds),
        }
        update = (
            "SET #state = :pending, #attempt = :zero, #redrives = if_not_exists(#redrives, :seen) + :one, "
            "#updated_at = :now, #expires_at = :exp REMOVE #error, #reason, #progress, #failed_at, #finished_at, "
            "#next_attempt_at, #lease_until, #token, #ix_pk, #ix_sk, #max_retries, #lettered_at"
        )
        condition = (
            f"({x.ABSENT} OR #state IN (:dead, :retry) OR {x.LAPSED})"
            " AND (attribute_not_exists(#redrives) OR #redrives < :max)"
        )
        response = self._update(task_id, update, condition, values, returning="UPDATED_NEW")
        if isinstance(response, TaskRecord):
            return Redrive.refused(response, now)
        self._notify(task_id, State.PENDING)
        return Redrive("reset", redrives=int(response["Attributes"]["redrives"]["N"]))
