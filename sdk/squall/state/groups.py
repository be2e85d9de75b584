"""A group's members in DynamoDB: reading their records in bulk, and counting them finished exactly once.

**Reading** is BatchGetItem, 100 keys a request (DynamoDB's most), consistent reads, unprocessed keys asked again.

**Counting** (a chord's members, towards sending its body once) must be idempotent, as members are delivered at
least once and may finish on two workers at once, and cheap, as a group may have thousands of members. A member
adds its index to a *string set* (``ADD``: adding an element twice changes nothing) on its shard's item,
``group#<id>#<shard>``, one shard per :data:`~squall.limits.CHORD_SHARD_SIZE` members, so each item stays
under 1 KB and each add costs one write unit whatever the group's size. The add that fills a shard adds the
shard's number to the group's item, ``group#<id>``, the same way; the add that fills that set finds the group
complete. A repeated add finds it complete again: the caller's next step (sending the body, whose id is fixed)
is idempotent too. The items expire with the task records (``expires_at``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from squall import clock, limits
from squall.state.schema import KEY_ATTRIBUTE, TTL_ATTRIBUTE, TaskRecord, task_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: The key prefix of a group's counting items (task records use ``task#``).
GROUP_PREFIX = "group#"


def get_many(client: DynamoDBClient, table: str, task_ids: Sequence[str]) -> dict[str, TaskRecord]:
    """The records of ``task_ids`` that exist and have not expired, by id."""
    found: dict[str, TaskRecord] = {}
    now = clock.now()
    unique = list(dict.fromkeys(task_ids))
    for start in range(0, len(unique), limits.DYNAMODB_BATCH_GET_KEYS):
        keys: list[dict[str, Any]] = [
            task_key(task_id) for task_id in unique[start : start + limits.DYNAMODB_BATCH_GET_KEYS]
        ]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(limits.DYNAMODB_BATCH_GET_ROUNDS):
            response = client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                record = TaskRecord.from_item(item)
                if record.expires_at is None or record.expires_at >= now:
                    found[record.id] = record
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                break
            clock.sleep(limits.DYNAMODB_BATCH_GET_BACKOFF_SECONDS)
        else:
            raise RuntimeError(f"DynamoDB left keys of {table} unread after {limits.DYNAMODB_BATCH_GET_ROUNDS} rounds")
    return found


class GroupCounter:
    """Counts a group's members finished, each once however often it is counted (see the module docstring)."""

    def __init__(self, client: Callable[[], DynamoDBClient], table: str) -> None:
        self._client = client
        self._table = table

    def finish(self, group_id: str, index: int, size: int, *, ttl_seconds: float) -> bool:
        """Count member ``index`` of ``size`` finished; True once every member is (for this and any later call)."""
        shard = index // limits.CHORD_SHARD_SIZE
        shards = -(-size // limits.CHORD_SHARD_SIZE)
        in_shard = min(limits.CHORD_SHARD_SIZE, size - shard * limits.CHORD_SHARD_SIZE)
        done = self._add(f"{GROUP_PREFIX}{group_id}#{shard}", "members", str(index), ttl_seconds)
        if len(done) < in_shard:
            return False
        full = self._add(f"{GROUP_PREFIX}{group_id}", "shards", str(shard), ttl_seconds)
        return len(full) >= shards

    def _add(self, key: str, attribute: str, element: str, ttl_seconds: float) -> list[str]:
        response = self._client().update_item(
            TableName=self._table,
            Key={KEY_ATTRIBUTE: {"S": key}},
            UpdateExpression="ADD #set :one SET #ttl = if_not_exists(#ttl, :ttl)",
            ExpressionAttributeNames={"#set": attribute, "#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={":one": {"SS": [element]}, ":ttl": {"N": str(int(clock.now() + ttl_seconds))}},
            ReturnValues="ALL_NEW",  # the whole (small) item: a repeated ADD changes nothing, yet reads the set
        )
        return list(response["Attributes"][attribute]["SS"])
