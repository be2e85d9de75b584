"""moto's DynamoDB made to behave as AWS documents where it would hide a bug (entered by ``motoshim.as_on_aws``)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from squall.limits import DYNAMODB_MAX_ITEM_BYTES
from squall.local.replacing import replaced


@contextmanager
def update_item_is_all_or_nothing() -> Iterator[None]:
    """An UpdateItem that fails changes nothing, as on AWS; and the size limit applies to the item it leaves.

    AWS (DynamoDB Developer Guide, "Working with items": every write is atomic, all or nothing; "Item size":
    the limit is on the item as written, 400 KB). moto applies an UpdateExpression's actions one by one and
    checks the size after each SET, before a REMOVE in the same expression takes effect: an update that
    replaces a large attribute with another is refused although its result fits, and one refused late
    leaves the earlier actions applied (an update of an absent item leaves a new item holding only its
    key). Here moto's per-action check is off during an update; the finished item is checked against
    DynamoDB's limit, and the item is put back as it was when the update is refused or raises.
    """
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict

    updating = threading.local()

    def setitem(original: Any) -> Any:
        def patched(self: Any, key: str, value: Any) -> None:
            if getattr(updating, "active", False):
                dict.__setitem__(self, key, value)
            else:
                original(self, key, value)

        return patched

    def update_item(original: Any) -> Any:
        def patched(backend: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
            table = backend.get_table(table_name)
            range_name = table.range_key_attr
            if table.hash_key_attr not in key or (range_name is not None and range_name not in key):
                return original(backend, table_name, key, *args, **kwargs)  # moto refuses it before any change
            hash_value = DynamoType(key[table.hash_key_attr])
            range_value = DynamoType(key[range_name]) if range_name is not None else None
            before = copy.deepcopy(table.get_item(hash_value, range_value))
            updating.active = True
            try:
                result = original(backend, table_name, key, *args, **kwargs)
                after = table.get_item(hash_value, range_value)
                if after is not None and after.size() > DYNAMODB_MAX_ITEM_BYTES:
                    raise ItemSizeTooLarge
                return result
            except BaseException:
                _put_back(table, hash_value, range_value, before)
                raise
            finally:
                updating.active = False

        return patched

    with replaced(DynamoDBBackend, "update_item", update_item), replaced(LimitedSizeDict, "__setitem__", setitem):
        yield


def _put_back(table: Any, hash_value: Any, range_value: Any, item: Any) -> None:
    """Make ``item`` (None: no item) what ``table`` holds under the key again, without a stream record."""
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item
        return
    bucket = table.items[hash_value]
    if item is None:
        bucket.pop(range_value, None)
        if not bucket:
            del table.items[hash_value]
    else:
        bucket[range_value] = item
