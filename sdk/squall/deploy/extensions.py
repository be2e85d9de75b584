"""What an app's extensions declare deployed (``Extension.resources()``), named and checked as AWS would.

:func:`extension_resources` names each declared table ``squall-<app>-<name>`` and each bucket in the account
regional namespace; :func:`table_name` and :func:`bucket_name` give an extension the deployed names at run time.
:mod:`squall.deploy.topology` puts them in the app's description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from squall import limits
from squall.config import resource_prefix
from squall.errors import ConfigurationError
from squall.tasks.resources import ExtensionBucket, ExtensionTable

if TYPE_CHECKING:
    from squall.protocols import App


@dataclass(frozen=True, slots=True)
class ExtensionTableResource:
    """A table an extension declared, as deployed: ``table_name`` is ``squall-<app>-<name>``, on AWS and locally."""

    #: The declaring extension's ``name``.
    extension: str
    table_name: str
    declared: ExtensionTable


@dataclass(frozen=True, slots=True)
class ExtensionBucketResource:
    """A bucket an extension declared, as deployed, in the account regional namespace: S3 names it
    ``<name_prefix>-<account id>-<region>-an`` and no other account can take that name (a predictable name
    in the global namespace could be claimed first). ``name_prefix`` is ``squall-<app>-<name>``.
    """

    extension: str
    name_prefix: str
    declared: ExtensionBucket

    def bucket_name(self, account: str, region: str) -> str:
        """The bucket's name in ``account`` and ``region``, as S3 composes it."""
        return f"{self.name_prefix}-{account}-{region}{limits.S3_ACCOUNT_REGIONAL_SUFFIX}"


#: The most S3 appends to a bucket's prefix in the account regional namespace: -<account id>-<region>-an.
_BUCKET_SUFFIX_CHARS = (
    2 + limits.AWS_ACCOUNT_ID_CHARS + limits.AWS_MAX_REGION_CODE_CHARS + len(limits.S3_ACCOUNT_REGIONAL_SUFFIX)
)


def extension_resources(
    app: App, *, reserved: tuple[str, ...] = (), stage: str | None = None
) -> tuple[tuple[ExtensionTableResource, ...], tuple[ExtensionBucketResource, ...]]:
    """Name what the app's extensions declare, and refuse what AWS would: ConfigurationError names what to change.

    ``reserved`` are table names the app uses already (its task table); ``stage`` defaults to the app's.
    """
    prefix = resource_prefix(app.name, stage if stage is not None else app.stage)
    tables: list[ExtensionTableResource] = []
    buckets: list[ExtensionBucketResource] = []
    owners: dict[str, str] = {}
    for extension in app.extensions:
        try:  # the declarations check themselves (squall.tasks.resources): say whose they are
            declarations = tuple(extension.resources())
        except ConfigurationError as exc:
            raise ConfigurationError(f"extension {extension.name!r}: {exc}") from None
        for declared in declarations:
            if not isinstance(declared, (ExtensionTable, ExtensionBucket)):
                raise ConfigurationError(
                    f"extension {extension.name!r} declares {declared!r}; declare ExtensionTable or ExtensionBucket"
                )
            kind = "bucket" if isinstance(declared, ExtensionBucket) else "table"
            what = f"extension {extension.name!r} declares {kind} {declared.name!r}"
            if declared.name in owners:
                raise ConfigurationError(
                    f"{what}, a name extension {owners[declared.name]!r} declares already: give each its own name"
                )
            owners[declared.name] = extension.name
            physical = f"{prefix}-{declared.name}"
            if isinstance(declared, ExtensionBucket):
                longest = len(physical) + _BUCKET_SUFFIX_CHARS
                if longest > limits.S3_MAX_BUCKET_NAME_CHARS:
                    raise ConfigurationError(
                        f"{what}: its name {physical}-<account id>-<region>-an reaches {longest} characters, over "
                        f"S3's {limits.S3_MAX_BUCKET_NAME_CHARS}: shorten the bucket name or the app name {app.name!r}"
                    )
                buckets.append(ExtensionBucketResource(extension.name, physical, declared))
                continue
            if physical in reserved:
                raise ConfigurationError(f"{what}: the app's own table is named {physical!r}; choose another name")
            if len(physical) > limits.DYNAMODB_MAX_TABLE_NAME_CHARS:
                raise ConfigurationError(
                    f"{what}: its name {physical!r} is {len(physical)} characters, over DynamoDB's "
                    f"{limits.DYNAMODB_MAX_TABLE_NAME_CHARS}: shorten the table name"
                )
            tables.append(ExtensionTableResource(extension.name, physical, declared))
    return tuple(tables), tuple(buckets)


def table_name(app: App, name: str) -> str:
    """The deployed name of the table an extension of ``app`` declares as ``name``."""
    tables, _ = extension_resources(app)
    for table in tables:
        if table.declared.name == name:
            return table.table_name
    raise _undeclared(app, "table", name, [t.declared.name for t in tables])


def bucket_name(app: App, name: str) -> str:
    """The deployed name of the bucket an extension of ``app`` declares as ``name``.

    S3 puts the account and the region in it: both are read from the app's settings (the account from a queue's ARN).
    """
    _, buckets = extension_resources(app)
    for bucket in buckets:
        if bucket.declared.name == name:
            settings = app.settings
            account = next(iter(settings.queues.values())).arn.split(":")[4]
            return bucket.bucket_name(account, settings.region)
    raise _undeclared(app, "bucket", name, [b.declared.name for b in buckets])


def _undeclared(app: App, kind: str, name: str, known: list[str]) -> ConfigurationError:
    return ConfigurationError(
        f"no extension of app {app.name!r} declares a {kind} named {name!r}; declared: {', '.join(known) or 'none'}"
    )
