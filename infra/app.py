"""The CDK app ``cdk.json`` runs: deploys the Squall app named by the ``squall:*`` context keys.

infra/cdkw synth                                # the example shop
infra/cdkw deploy -c squall:app=tasks:app -c squall:code=src/tasks.py
"""

from __future__ import annotations

import os

import aws_cdk as cdk

from infra import nag
from infra.options import DeployOptions
from infra.stack import SquallStack
from squall.deploy.topology import resource_prefix


def cli_environment() -> cdk.Environment | None:
    """The account and region the CDK CLI resolved from the caller's credentials, if it found any.

    The CLI passes them to the app as CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION. With both the stack is bound
    to that environment, which lets it look the Powertools layer up at synth (infra.constructs.function);
    without credentials (an offline ``cdk synth``) the stack stays environment-agnostic.
    """
    account, region = os.environ.get("CDK_DEFAULT_ACCOUNT"), os.environ.get("CDK_DEFAULT_REGION")
    return cdk.Environment(account=account, region=region) if account and region else None


def build(app: cdk.App, *, env: cdk.Environment | None = None) -> SquallStack:
    """Add the configured app's stack to ``app``, with the cdk-nag packs and their acknowledgements."""
    options = DeployOptions.from_context(app.node.try_get_context)
    squall_app = options.load_app()
    stack = SquallStack(
        app,
        resource_prefix(squall_app.name),
        app=squall_app,
        options=options,
        env=env,
        description=f"Squall task queue for app {squall_app.name} (SQS, Lambda, DynamoDB, EventBridge Scheduler)",
    )
    nag.add_packs(app)
    nag.acknowledge(stack.service)
    return stack


def main() -> None:
    """Synthesize the cloud assembly (``cdk synth`` / ``cdk deploy`` call this)."""
    app = cdk.App()
    build(app, env=cli_environment())
    app.synth()


if __name__ == "__main__":
    main()
