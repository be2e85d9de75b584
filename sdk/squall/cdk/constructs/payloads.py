"""The payload bucket: where large arguments and results are offloaded (squall.offload), with safe defaults.

Private (every public-access block on, ACLs off), encrypted at rest with S3-managed keys (the bucket's
default encryption: S3 encrypts every object written, whatever the request says), reachable over TLS 1.2+
only (a bucket policy denies any request with ``aws:SecureTransport`` false), unversioned (an object is
written once per send under its own hash; a deleted one must be gone), and expired by prefix after the
longest time anything can still read it (:mod:`squall.offload.bucket` derives both). Grants are not made
here: :mod:`squall.cdk.grants` writes them.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from squall.cdk import policies
from squall.offload.reference import ARGUMENTS_PREFIX, DELAYED_ARGUMENTS_PREFIX, RESULTS_PREFIX

#: Days an incomplete multipart upload is kept before S3 removes its parts (boto3 uploads in one request
#: below 8 MiB and in parts above; a producer that dies mid-upload leaves parts that are billed until then).
INCOMPLETE_UPLOAD_DAYS = 1


class PayloadBucket(Construct):
    """The app's payload bucket (``.bucket``), its objects expired by prefix after ``arguments_days``,
    ``delayed_arguments_days`` and ``results_days``."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name_prefix: str,
        arguments_days: int,
        delayed_arguments_days: int,
        results_days: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            # S3 appends -<account>-<region>-an: a name no other account can create before this stack does.
            bucket_namespace=s3.BucketNamespace.ACCOUNT_REGIONAL,
            bucket_name_prefix=name_prefix,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireArguments", prefix=ARGUMENTS_PREFIX, expiration=Duration.days(arguments_days)
                ),
                s3.LifecycleRule(
                    id="ExpireDelayedArguments",
                    prefix=DELAYED_ARGUMENTS_PREFIX,
                    expiration=Duration.days(delayed_arguments_days),
                ),
                s3.LifecycleRule(id="ExpireResults", prefix=RESULTS_PREFIX, expiration=Duration.days(results_days)),
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(INCOMPLETE_UPLOAD_DAYS),
                ),
            ],
            # As for the extension buckets, no autoDeleteObjects even with destroy: emptying the bucket would take a
            # custom resource (a Lambda role that may delete every object, outside Squall's three roles).
            # CloudFormation deletes only an empty bucket: one still holding objects fails to delete until it is
            # emptied (or its objects expire); docs/deploy.md says how.
            removal_policy=removal_policy,
        )

    def statements(self, sid: str, *, read: Sequence[str] = (), write: Sequence[str] = ()) -> list[iam.PolicyStatement]:
        """GetObject on the ``read`` prefixes' objects, PutObject on the ``write`` prefixes', and ListBucket on those
        prefixes so that a missing object reads as missing (NoSuchKey), not as AccessDenied. No one deletes:
        objects expire."""
        return policies.on_payload_objects(bucket=self.bucket, sid=sid, read=read, write=write)
