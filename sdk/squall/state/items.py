"""The task items' table: one conditional UpdateItem, its failure read as the current record, and the read.

:class:`TaskItems` is the base of :class:`squall.state.store.TaskStore`, which writes each state change through
it; the item schema is :mod:`squall.state.schema`. A failed condition returns the current item
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``, no extra read).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from squall import clock
from squall.errors import ItemTooLarge, LeaseLost, StoreError
from squall.state import expressions as x
from squall.state.schema import TaskRecord, task_key
from squall.states import State

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CONDITION_FAILED = "ConditionalCheckFailedException"
_TOO_LARGE = "ValidationException"

logger = logging.getLogger("squall.state.store")

#: Called after each state change is written: (task id, new state, epoch seconds).
TransitionListener = Callable[[str, State, float], None]


class TaskItems:
    """Reads task items and makes one conditional write; :class:`~squall.state.store.TaskStore` builds on it."""

    def __init__(
        self,
        client: Callable[[], DynamoDBClient],
        table: str,
        *,
        index_success: bool = False,
    ) -> None:
        self._client = client
        self._table = table
        #: Told of every state this store writes, after the write; one that raises is logged and ignored.
        self.listeners: list[TransitionListener] = []
        #: Whether SUCCESS writes put the task in the listing index (one more write unit per task).
        self.index_success = index_success

    def _notify(self, task_id: str, *states: State) -> None:
        if not self.listeners:
            return
        now = clock.now()
        for listener, state in ((listener, state) for listener in self.listeners for state in states):
            try:
                listener(task_id, state, now)
            except Exception:  # the write is done: an observer cannot change it, nor fail the caller
                logger.exception("a transition listener failed on task %s entering %s; ignored", task_id, state)

    def _update(
        self,
        task_id: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        *,
        returning: Literal["UPDATED_NEW", "ALL_NEW"] | None = None,
        old_on_failure: bool = True,
    ) -> dict[str, Any] | TaskRecord:
        """One conditional UpdateItem: its response, or the current record when the condition failed.

        Any other AWS error propagates. An update that would make the item larger than DynamoDB allows is
        refused whole (DynamoDB applies all of an update or none) and raised as ItemTooLarge.
        """
        used = x.state_values_in(update, condition)
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": task_key(task_id),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeNames": dict(x.names_in(update, condition)),  # a copy: the cached one stays as is
            "ExpressionAttributeValues": {**used, **values},
        }
        if old_on_failure:
            kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if returning is not None:
            kwargs["ReturnValues"] = returning
        try:
            return dict(self._client().update_item(**kwargs))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == _TOO_LARGE and "size" in str(error.get("Message", "")).lower():
                raise ItemTooLarge(f"task {task_id}: DynamoDB refused the write: {error.get('Message')}") from exc
            if error.get("Code") != _CONDITION_FAILED:
                raise
            item: dict[str, Any] | None = exc.response.get("Item")  # type: ignore[assignment]
            current = TaskRecord.from_item(item) if item else None if old_on_failure else self.get(task_id)
            if current is None:
                raise StoreError("DynamoDB refused a conditional write but returned no item") from exc
            return current

    def _owned_write(self, task_id: str, token: str, update: str, values: dict[str, Any]) -> None:
        response = self._update(task_id, update, x.OWNED, values)
        if isinstance(response, TaskRecord):
            raise LeaseLost(
                f"task {task_id}: this attempt's claim lapsed and the task is now {response.state} "
                f"(attempt {response.attempt}); its write was not applied"
            )

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


def identity(update: str, values: dict[str, Any], name: str | None, queue: str | None, created: float | None) -> str:
    """``update`` also setting the task's name, queue and (if not yet set) creation time, where given."""
    for attr, value in (("name", name), ("queue", queue)):
        if value is not None:
            update += f", #{attr} = :{attr}"
            values[f":{attr}"] = x.text(value)
    if created is not None:
        update += ", #created_at = if_not_exists(#created_at, :created)"
        values[":created"] = x.num(created)
    return update
