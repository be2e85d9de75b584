"""The functions' environment: the variables Squall sets on the worker and the reconciler, and the deployer's own,
refused where they would clash with Squall's or with those Lambda reserves."""

from __future__ import annotations

from collections.abc import Mapping

from squall import config
from squall.cdk.options import DeployOptions
from squall.errors import ConfigurationError
from squall.worker.metrics import METRICS_NAMESPACE

#: Environment variables ``environment=`` may not set: Squall's own (``SQUALL_*``, and the Powertools settings
#: it sets), and those the Lambda runtime reserves (Lambda developer guide, "Defined runtime environment
#: variables": the ``_*``, ``AWS_LAMBDA_*`` and ``LAMBDA_*`` names, the Region and the credentials).
RESERVED_ENVIRONMENT_PREFIXES = ("SQUALL_", "_", "AWS_LAMBDA_", "LAMBDA_")
RESERVED_ENVIRONMENT = frozenset(
    {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_TRACE_DISABLED",  # squall:tracing sets it, with Lambda's tracing mode
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_XRAY_CONTEXT_MISSING",
        "AWS_XRAY_DAEMON_ADDRESS",
    }
)


def squall_environment(options: DeployOptions, deployment_name: str, stage: str | None) -> dict[str, str]:
    """What Squall sets on both functions, but the settings document (the service puts it in or names its parameter)."""
    environment = {
        config.ENV_APP: options.app_spec,
        # The metrics' service dimension and the logs' service: two stages' stay apart.
        "POWERTOOLS_SERVICE_NAME": deployment_name,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        **({config.ENV_STAGE: stage} if stage else {}),
        **({} if options.tracing else {"POWERTOOLS_TRACE_DISABLED": "true"}),  # no Tracer, no X-Ray import
    }
    if options.signing_parameter:
        environment[config.ENV_SIGNING] = options.signing_parameter
    return environment


def checked_environment(environment: Mapping[str, str]) -> dict[str, str]:
    """The deployer's extra environment variables, refusing those Squall sets or Lambda reserves."""
    clashes = sorted(
        name for name in environment if name in RESERVED_ENVIRONMENT or name.startswith(RESERVED_ENVIRONMENT_PREFIXES)
    )
    if clashes:
        raise ConfigurationError(
            f"environment sets {', '.join(clashes)}, which Squall sets or Lambda reserves (SQUALL_*, _*, LAMBDA_*, "
            "AWS_LAMBDA_*, the Region, credentials, Powertools' service and namespace): rename them"
        )
    return dict(environment)
