"""The REST API's front door on AWS: an API Gateway HTTP API in front of the API function.

Created only when the deployment enables it (``squall:api``, :data:`squall.cdk.options.API_AUTH_MODES`). One
``$default`` stage with throttling and JSON access logs; one proxy route to the function (payload format 2.0,
what :class:`~aws_lambda_powertools.event_handler.APIGatewayHttpResolver` reads). Authentication is either a
bearer token the function checks against a Secrets Manager secret made here (``token``), or API Gateway's IAM
authorization, SigV4-signed requests only (``iam``); the OpenAPI document is served without credentials in both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsii
from aws_cdk import RemovalPolicy
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from squall import config, limits
from squall.cdk.constructs.function import BundleProps, SquallFunction, retention
from squall.deploy import api_cost

#: The API function's handler in the bundle (squall.functions.api).
API_HANDLER = "squall.functions.api.handler"
#: The API function's memory, in MB: it only validates, sends and reads (no task code runs here). The cost
#: model (squall.deploy.api_cost) prices the same figure.
API_MEMORY_MB = api_cost.API_MEMORY_MB
#: The API function's timeout, in seconds: under API Gateway's integration timeout, so a slow call is the
#: function's own timeout in its logs, not a bare 503 from the gateway.
API_TIMEOUT_SECONDS = limits.HTTP_API_INTEGRATION_TIMEOUT_SECONDS - 1
#: Characters of the generated bearer token (letters and digits only: no quoting trouble in a header or a shell).
TOKEN_LENGTH = 43

#: One JSON object per request (cdk-nag's Serverless pack asks for structured access logs). The request ids
#: come first: API Gateway requires ``$context.requestId`` or ``$context.extendedRequestId`` in the format.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "requestTime": "$context.requestTime",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "integrationLatency": "$context.integrationLatency",
    "integrationError": "$context.integrationErrorMessage",
    "authorizerError": "$context.authorizer.error",
}


@dataclass(frozen=True, kw_only=True)
class ApiProps:
    """How the front door is set up: the authentication mode and the stage's throttling."""

    #: ``token`` (bearer tokens from a Secrets Manager secret) or ``iam`` (SigV4).
    auth: str
    #: Steady-state requests per second the stage admits (API Gateway throttles the excess with 429).
    rate_limit: int
    #: Requests the stage admits at once above the steady rate (the token bucket's size).
    burst_limit: int
    log_retention_days: int
    removal_policy: RemovalPolicy


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """Stage access logs to ``log_group``, one JSON object per request."""

    def __init__(self, log_group: logs.ILogGroup) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway.AccessLogFormat:
        return apigateway.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS))


class TaskApi(Construct):
    """The HTTP API, its stage, its access log group, the API function and (``token`` mode) the token secret."""

    def __init__(
        self, scope: Construct, construct_id: str, *, shared: BundleProps, props: ApiProps, deployment_name: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        #: The bearer tokens' secret (``token`` mode): a generated token; it may hold a JSON list of tokens.
        self.token_secret: secretsmanager.Secret | None = None
        environment = dict(shared.environment)
        if props.auth == "token":
            self.token_secret = secretsmanager.Secret(
                self,
                "Tokens",
                description=f"Bearer token(s) of the Squall REST API of {deployment_name} (one, or a JSON list)",
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=TOKEN_LENGTH, exclude_punctuation=True, include_space=False
                ),
                removal_policy=props.removal_policy,
            )
            # Its ARN: a generated name is known only after deployment, and GetSecretValue takes either.
            environment[config.ENV_API_TOKEN_SECRET] = self.token_secret.secret_arn
        else:
            environment[config.ENV_API_AUTH] = props.auth
        self.function = SquallFunction(
            self,
            "Function",
            shared=BundleProps(
                bundle=shared.bundle,
                environment=environment,
                log_retention_days=shared.log_retention_days,
                removal_policy=shared.removal_policy,
                powertools_layer_arn=shared.powertools_layer_arn,
                extra_environment=shared.extra_environment,
                log_format=shared.log_format,
                vpc=shared.vpc,
                vpc_subnets=shared.vpc_subnets,
                security_groups=shared.security_groups,
            ),
            handler=API_HANDLER,
            timeout=API_TIMEOUT_SECONDS,
            memory=API_MEMORY_MB,
            description=f"Squall REST API of {deployment_name}: sends tasks and reads their state",
        )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=retention(props.log_retention_days),
            removal_policy=props.removal_policy,
        )
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            api_name=f"squall-{deployment_name}",
            description=f"Squall REST API of {deployment_name} (docs/api.md)",
            create_default_stage=False,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=props.rate_limit, burst_limit=props.burst_limit),
            access_log_settings=_AccessLogs(self.access_logs),
        )
        # Payload format 2.0 is the Lambda integration's default, and what APIGatewayHttpResolver reads.
        integration = integrations.HttpLambdaIntegration(
            "Function", self.function.function, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0
        )
        self.authorizer: apigwv2.IHttpRouteAuthorizer = (
            authorizers.HttpIamAuthorizer() if props.auth == "iam" else apigwv2.HttpNoneAuthorizer()
        )
        self.http_api.add_routes(
            path="/{proxy+}", methods=[apigwv2.HttpMethod.ANY], integration=integration, authorizer=self.authorizer
        )
        # The contract is public in both modes (a more specific route wins over the proxy).
        self.http_api.add_routes(
            path="/v1/openapi.json",
            methods=[apigwv2.HttpMethod.GET],
            integration=integration,
            authorizer=apigwv2.HttpNoneAuthorizer(),
        )

    @property
    def url(self) -> str:
        """The API's base URL (``https://<id>.execute-api.<region>.amazonaws.com/``)."""
        return str(self.stage.url)
