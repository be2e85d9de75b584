"""Finding a deployed app's settings without its settings document: its SSM parameter, or its resources by name.

:func:`squall.config.load_settings` calls these (through :class:`squall.app.Squall`) when neither the environment
nor a configure() call gave the settings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from squall import config
from squall.deploy.topology import describe

if TYPE_CHECKING:
    import boto3

    from squall.protocols import App


def by_naming(app: App, session: boto3.Session, region: str, endpoint: str | None) -> config.Settings | None:
    """Settings for ``app``'s resources under the default names (``squall-<app>-...``), if they all exist."""
    topology = describe(app)
    sqs = session.client("sqs", region_name=region, endpoint_url=endpoint)
    queues = {}
    for resource in topology.queues:
        try:
            url = sqs.get_queue_url(QueueName=resource.queue_name)["QueueUrl"]
            dlq_url = sqs.get_queue_url(QueueName=resource.dlq_name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            return None
        arns = [
            sqs.get_queue_attributes(QueueUrl=u, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            for u in (url, dlq_url)
        ]
        queues[resource.name] = config.QueueAddress(url, arns[0], dlq_url, arns[1], resource.max_receive_count)
    return config.Settings(
        app=app.name,
        stage=app.stage,
        region=region,
        table=topology.table.name,
        queues=queues,
        schedule_group=topology.schedule_group,
        endpoint_url=endpoint,
        lanes=topology.lanes,
    )


def read_parameter(session: boto3.Session, name: str, region: str) -> str | None:
    """The SSM parameter ``name``'s value, or None if there is none."""
    ssm = session.client("ssm", region_name=region, endpoint_url=config.endpoint_from_env())
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return None
