"""The task-state table: keys and TTL attribute exactly as the SDK's store defines them."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from constructs import Construct

from squall.deploy.topology import TableResource


class TaskTable(Construct):
    """An on-demand table with TTL, point-in-time recovery, configurable deletion protection and the
    sparse listing index (``squall tasks``), all named by the Topology's TableResource."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        resource: TableResource,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
        encryption_key: kms.IKey | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        # dynamodb.Table rather than TableV2: moto's CloudFormation can create it, so the offline
        # deployment test covers it.
        self.table = dynamodb.Table(
            self,
            "Table",
            table_name=resource.name,
            # squall.state.store writes the key as a DynamoDB string ("S").
            partition_key=dynamodb.Attribute(name=resource.partition_key, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=resource.ttl_attribute,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
            # An AWS owned key (no KMS calls, no charge) unless the deployment brings its own.
            encryption=(
                dynamodb.TableEncryption.DEFAULT
                if encryption_key is None
                else dynamodb.TableEncryption.CUSTOMER_MANAGED
            ),
            encryption_key=encryption_key,
        )
        self.table.add_global_secondary_index(
            index_name=resource.index_name,
            partition_key=dynamodb.Attribute(name=resource.index_partition_key, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=resource.index_sort_key, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.INCLUDE,
            non_key_attributes=list(resource.index_non_key_attributes),
        )
