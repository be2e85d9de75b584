"""The CDK app of a Squall deployment: one stack for the app the ``squall:*`` context keys name.

``squall synth`` / ``squall deploy`` run it with the pinned CDK CLI (``--app "python -m squall.cdk.app"``), and
so does a ``cdk.json`` of your own::

    {"app": "python -m squall.cdk.app", "context": {"squall:app": "tasks:app", "squall:stage": "prod"}}

The keys are :mod:`squall.cdk.options`' (docs/deploy.md lists them); relative paths are resolved against the
directory the CLI runs in.
"""

from __future__ import annotations

import os
import sys

import aws_cdk as cdk

from squall.cdk import nag
from squall.cdk.options import DeployOptions
from squall.cdk.stack import SquallStack
from squall.deploy.topology import resource_prefix
from squall.errors import SquallError


def cli_environment() -> cdk.Environment | None:
    """The account and region the CDK CLI resolved from the caller's credentials, if it found any.

    The CLI passes them to the app as CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION. With both the stack is bound
    to that environment, which lets it look the Powertools layer up at synth (squall.cdk.constructs.function);
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
        resource_prefix(squall_app.name, options.stage or squall_app.stage),
        app=squall_app,
        options=options,
        env=env,
        description=(
            f"Squall task queue for app {squall_app.name}"
            + (f", stage {options.stage}" if options.stage else "")
            + " (SQS, Lambda, DynamoDB, EventBridge Scheduler)"
        ),
    )
    nag.add_packs(app)
    nag.acknowledge(stack.service)
    return stack


def main() -> None:
    """Synthesize the cloud assembly (``cdk synth`` / ``cdk deploy`` call this).

    A configuration mistake (a context key, the app's declarations) ends it with its one-line message and
    status 1, which the CDK CLI shows and passes on, rather than a traceback.
    """
    app = cdk.App()
    try:
        build(app, env=cli_environment())
    except SquallError as exc:
        sys.exit(f"squall: {exc}")
    app.synth()


if __name__ == "__main__":
    main()
