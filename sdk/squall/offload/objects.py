"""The payload bucket's objects: write a value under its SHA-256, read it back and check the hash."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from squall.errors import DecodeError
from squall.offload.reference import Reference

if TYPE_CHECKING:
    from squall.protocols import App

#: S3's error codes for an object (or a bucket) that is not there.
_MISSING = frozenset({"NoSuchKey", "404", "NoSuchBucket"})


class PayloadObjects:
    """The app's payload bucket (``Settings.payload_bucket``); the client and settings are read when first used."""

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def bucket(self) -> str:
        """The bucket's name; empty when the app has none (nothing is offloaded then)."""
        return self.app.settings.payload_bucket

    def _s3(self) -> Any:
        return self.app.client("s3")

    def put(self, prefix: str, task_id: str, data: bytes) -> Reference:
        """Write ``data`` as ``<prefix><task id>/<sha256>``: a retry or redrive of the task writes the same key."""
        sha256 = hashlib.sha256(data).hexdigest()
        reference = Reference(f"{prefix}{task_id}/{sha256}", sha256, len(data))
        self._s3().put_object(Bucket=self.bucket, Key=reference.key, Body=data, ContentType="application/json")
        return reference

    def get(self, reference: Reference, what: str, *, task_id: str | None = None) -> bytes:
        """The object's bytes; DecodeError says so when it is missing or does not match its SHA-256.

        Any other S3 error (throttling, a 5xx, the network, a missing permission) propagates as botocore raised
        it: it is no fault of the message, so the worker fails the record and SQS delivers it again, as for a
        DynamoDB error, rather than making the task DEAD.
        """
        where = f"s3://{self.bucket}/{reference.key}"
        try:
            data: bytes = self._s3().get_object(Bucket=self.bucket, Key=reference.key)["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise DecodeError(
                    f"{what} missing: the object expired or was deleted; send the task again ({where})",
                    task_id=task_id,
                ) from exc
            raise
        actual = hashlib.sha256(data).hexdigest()
        if actual != reference.sha256:
            raise DecodeError(
                f"sha256 mismatch in {what}: the object was changed or replaced after it was written; send the "
                f"task again ({where}, sha256 {actual})",
                task_id=task_id,
            )
        return data
