"""The tables and buckets the app's extensions declare, exactly as the Topology names them, with safe defaults.

Tables are as the task table is (on demand, point-in-time recovery, deletion protection and removal policy as
configured). Buckets are private (every public-access block on, ACLs off), encrypted with S3-managed keys,
reachable over TLS 1.2+ only, versioned, and log their requests to one access-log bucket per app. Grants are
not made here: :class:`squall.cdk.stack.SquallService` writes them.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_s3 as s3
from constructs import Construct

from squall.deploy.topology import ExtensionBucketResource, ExtensionTableResource

#: Days a bucket keeps an overwritten or deleted object's previous version: the 35 days point-in-time
#: recovery gives the tables, so a bad write can be undone alike in both.
NONCURRENT_VERSION_DAYS = 35
#: Days an incomplete multipart upload is kept before S3 removes its parts (they are billed until then).
INCOMPLETE_UPLOAD_DAYS = 7

#: CDK's feature flag for granting S3's log delivery by bucket policy (AWS's recommendation) rather than by the
#: LogDeliveryWrite ACL, which would need ACLs enabled on the log bucket.
_LOGS_BY_BUCKET_POLICY = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}


class ExtensionResources(Construct):
    """One table per declared table and one bucket per declared bucket (``.tables``, ``.buckets`` by declared
    name), and ``.access_logs``, the bucket their request logs go to (None when no bucket is declared)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tables: tuple[ExtensionTableResource, ...],
        buckets: tuple[ExtensionBucketResource, ...],
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        # Set here, before any child exists, so that it holds whatever the enclosing app's flags are.
        self.node.set_context(_LOGS_BY_BUCKET_POLICY, True)
        self.tables = {
            resource.declared.name: _table(self, resource, removal_policy, deletion_protection) for resource in tables
        }
        self.access_logs: s3.Bucket | None = None
        if buckets:
            # Where the extension buckets' request logs go; S3's logging service writes them (the bucket policy
            # CDK adds allows it, for these source buckets only). It does not log its own requests.
            self.access_logs = s3.Bucket(
                self,
                "AccessLogs",
                encryption=s3.BucketEncryption.S3_MANAGED,  # S3 server access logging takes no KMS keys
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                enforce_ssl=True,
                minimum_tls_version=1.2,
                lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(log_retention_days))],
                removal_policy=removal_policy,
            )
        self.buckets = {
            resource.declared.name: s3.Bucket(
                self,
                f"Bucket-{resource.declared.name}",
                # S3 appends -<account>-<region>-an: a name no other account can create before this stack does.
                bucket_namespace=s3.BucketNamespace.ACCOUNT_REGIONAL,
                bucket_name_prefix=resource.name_prefix,
                encryption=s3.BucketEncryption.S3_MANAGED,
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
                enforce_ssl=True,
                minimum_tls_version=1.2,
                versioned=True,
                lifecycle_rules=[
                    s3.LifecycleRule(
                        noncurrent_version_expiration=Duration.days(NONCURRENT_VERSION_DAYS),
                        abort_incomplete_multipart_upload_after=Duration.days(INCOMPLETE_UPLOAD_DAYS),
                    )
                ],
                server_access_logs_bucket=self.access_logs,
                server_access_logs_prefix=f"{resource.declared.name}/",
                # A bucket that still holds objects is not deleted, even with removal policy destroy: emptying
                # it would take a custom resource with rights to delete every object, which Squall does not add.
                removal_policy=removal_policy,
            )
            for resource in buckets
        }


def _table(
    scope: Construct, resource: ExtensionTableResource, removal_policy: RemovalPolicy, deletion_protection: bool
) -> dynamodb.Table:
    declared = resource.declared
    sort_key = declared.sort_key
    # dynamodb.Table rather than TableV2, as for the task table: moto's CloudFormation can create it.
    return dynamodb.Table(
        scope,
        f"Table-{declared.name}",
        table_name=resource.table_name,
        partition_key=dynamodb.Attribute(
            name=declared.partition_key.name, type=_ATTRIBUTE_TYPES[declared.partition_key.type]
        ),
        sort_key=None
        if sort_key is None
        else dynamodb.Attribute(name=sort_key.name, type=_ATTRIBUTE_TYPES[sort_key.type]),
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        time_to_live_attribute=declared.ttl_attribute,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=deletion_protection,
        removal_policy=removal_policy,
    )
