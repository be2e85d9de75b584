"""What an extension needs deployed, declared as data: a table or a bucket it owns, and the worker's grants on it.

An extension returns these from :meth:`squall.tasks.extensions.Extension.resources`. :func:`squall.deploy.topology.
describe` names and checks them with the app's other resources; the CDK stack creates them and grants the worker
exactly what is declared, and the local runtime creates the same on moto. An extension finds a resource's deployed
name with :func:`squall.deploy.topology.table_name` or :func:`~squall.deploy.topology.bucket_name`.

A declared ``name`` is 1 or more lowercase letters, digits and '-' (starting and ending with a letter or a digit),
unique among the app's extension resources; the deployed name adds the app's prefix (see docs/extending.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeAlias

from squall import limits
from squall.errors import ConfigurationError

#: What the worker may do with an extension's resource: read its items or objects, write (and delete) them.
Grant: TypeAlias = Literal["read", "write"]
GRANTS: tuple[Grant, ...] = ("read", "write")
#: A DynamoDB key attribute's type: string, number or binary.
KeyType: TypeAlias = Literal["S", "N", "B"]
KEY_TYPES: tuple[KeyType, ...] = ("S", "N", "B")
#: A declared name fits both a table name and a bucket name: no '.', which breaks virtual-hosted TLS for buckets.
_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


@dataclass(frozen=True, slots=True)
class TableKey:
    """One key attribute of an extension's table: its name and DynamoDB type."""

    name: str
    type: KeyType = "S"

    def __post_init__(self) -> None:
        _check_attribute(self.name)
        if self.type not in KEY_TYPES:
            raise ConfigurationError(
                f"key {self.name!r} has type {self.type!r}; a DynamoDB key is one of {', '.join(KEY_TYPES)}"
            )


@dataclass(frozen=True, slots=True)
class ExtensionTable:
    """A DynamoDB table an extension owns, billed on demand, with point-in-time recovery and optional TTL.

    ``sort_key`` makes the key composite; ``ttl_attribute`` names the epoch-seconds attribute DynamoDB expires
    items by; ``grants`` is what the worker may do with its items (``read``: GetItem, BatchGetItem, Query;
    ``write``: PutItem, UpdateItem, DeleteItem, BatchWriteItem).
    """

    name: str
    partition_key: TableKey
    sort_key: TableKey | None = None
    ttl_attribute: str | None = None
    grants: tuple[Grant, ...] = GRANTS

    def __post_init__(self) -> None:
        _check_declaration("table", self.name, self.grants)
        if not all(isinstance(key, TableKey) for key in self.keys):
            raise ConfigurationError(f"table {self.name!r}: give its keys as TableKey(name, type), got {self.keys!r}")
        if self.sort_key is not None and self.sort_key.name == self.partition_key.name:
            raise ConfigurationError(
                f"table {self.name!r}: its partition and sort keys are both {self.sort_key.name!r}"
            )
        if self.ttl_attribute is not None:
            _check_attribute(self.ttl_attribute)

    @property
    def keys(self) -> tuple[TableKey, ...]:
        """The key attributes: the partition key, then the sort key if there is one."""
        return (self.partition_key,) if self.sort_key is None else (self.partition_key, self.sort_key)


@dataclass(frozen=True, slots=True)
class ExtensionBucket:
    """An S3 bucket an extension owns: encrypted, private, TLS only, in the account's own bucket namespace.

    ``grants`` is what the worker may do with its objects (``read``: GetObject, and ListBucket so that a missing
    key reads as missing; ``write``: PutObject, DeleteObject).
    """

    name: str
    grants: tuple[Grant, ...] = GRANTS

    def __post_init__(self) -> None:
        _check_declaration("bucket", self.name, self.grants)


#: A resource an extension can declare.
ExtensionResource: TypeAlias = ExtensionTable | ExtensionBucket


def _check_declaration(kind: str, name: object, grants: object) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"{kind} name {name!r}: use lowercase letters, digits and '-', starting and ending with a letter or a digit"
        )
    if (
        not isinstance(grants, tuple)
        or not grants
        or len(set(grants)) != len(grants)
        or not all(grant in GRANTS for grant in grants)
    ):
        raise ConfigurationError(
            f"{kind} {name!r}: grants must be a tuple of one or both of {', '.join(map(repr, GRANTS))}, got {grants!r}"
        )


def _check_attribute(name: object) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= limits.DYNAMODB_MAX_ATTRIBUTE_NAME_CHARS:
        raise ConfigurationError(
            f"attribute name {name!r} must be 1-{limits.DYNAMODB_MAX_ATTRIBUTE_NAME_CHARS} characters"
        )
