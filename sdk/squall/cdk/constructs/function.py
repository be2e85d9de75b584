"""A Squall Lambda function: arm64, current Python, Powertools from its public layer, tracing on, its own
role and log group. The worker and the reconciler are two of them, on the same code bundle."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aws_cdk import Annotations, Duration, RemovalPolicy, Size, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from squall.cdk import bytecode, packaging

#: The functions' runtime and architecture, as squall.cdk.packaging names them (its wheels are chosen for both).
RUNTIME = lambda_.Runtime(f"python{packaging.PYTHON_VERSION}", lambda_.RuntimeFamily.PYTHON, supports_inline_code=True)
ARCHITECTURE = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}[packaging.ARCHITECTURE]
#: Powertools for AWS Lambda (Python) the functions run on: the version pyproject's ``worker`` extra pins
#: and the tests import (tests/infra check the two agree).
POWERTOOLS_VERSION = "3.37.0"
#: Where Powertools publishes the layer ARN of each released version, per region. Source: the Powertools
#: install guide, "Lambda Layer > Using SSM Parameter Store", and its ``update_ssm.yml`` release workflow,
#: which writes ``/aws/service/powertools/python/<arch>/<python>/<version>`` = ``arn:aws:lambda:<region>:
#: 017000801446:layer:AWSLambdaPowertoolsPythonV3-<python>-<arch>:<layer version>``. Reading the version's
#: parameter pins the exact release without hand-copying a per-release layer number (see
#: :func:`powertools_layer_arn`); ``squall:powertoolsLayerArn`` overrides it where a region lacks the parameter.
POWERTOOLS_LAYER_PARAMETER = f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/{POWERTOOLS_VERSION}"

#: Lambda's log formats: JSON (structured system logs; Powertools' JSON lines pass through as they are) or Text.
LOG_FORMATS = {"JSON": lambda_.LoggingFormat.JSON, "Text": lambda_.LoggingFormat.TEXT}

#: CloudWatch Logs accepts only these retention periods, in days.
RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch retention for ``days``; ValueError lists the accepted values."""
    try:
        return RETENTION_DAYS[days]
    except KeyError:
        raise ValueError(
            f"log retention {days} days is not one CloudWatch Logs accepts: {sorted(RETENTION_DAYS)}"
        ) from None


def powertools_layer_arn(scope: Construct) -> str:
    """The pinned Powertools layer's ARN in ``scope``'s stack's account and region, read when it is synthesized.

    ``StringParameter.value_from_lookup`` is a CDK context lookup: the CLI reads the public parameter once
    (through the bootstrap lookup role) and caches its value in ``cdk.context.json`` under a key naming the
    account, region and parameter. Later synths read the cache and need no AWS call; the ARN is a literal in
    the template, so ``cdk diff`` shows a layer change; and a region without the parameter fails the synth
    ("SSM parameter not available") instead of the deployment. Until the value is cached, CDK returns a
    placeholder and the CLI synthesizes again with the value.

    A lookup needs a concrete account and region. An environment-agnostic stack (no ``env``: ``cdk synth``
    without credentials, or a stack of your own without one) cannot look anything up, so it falls back to a
    CloudFormation parameter resolved at deploy time, and the synth says so with a warning.
    """
    stack = Stack.of(scope)
    if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
        Annotations.of(scope).add_warning_v2(
            "squall:powertools-layer-at-deploy",
            f"The Powertools layer's ARN is resolved at deploy time from {POWERTOOLS_LAYER_PARAMETER}: this stack "
            "has no account and region to look it up at synth. Give the stack an env (cdk deploy does, from "
            "your credentials) or set squall:powertoolsLayerArn.",
        )
        return ssm.StringParameter.value_for_string_parameter(scope, POWERTOOLS_LAYER_PARAMETER)
    return ssm.StringParameter.value_from_lookup(scope, POWERTOOLS_LAYER_PARAMETER)


def staged_bundle(scope: Construct, code: Iterable[Path], requirements: Path | None, exclude: Iterable[Path]) -> Path:
    """The functions' bundle (:func:`squall.cdk.packaging.stage_bundle`); an info annotation when it ships without
    bytecode, which each cold start then compiles (docs/deploy.md, "Bytecode")."""
    bundle = packaging.stage_bundle(code, requirements=requirements, exclude=exclude)
    if not packaging.has_bytecode(bundle):
        Annotations.of(scope).add_info(
            f"squall:bytecode: the code bundle ships as source (no Python {packaging.PYTHON_VERSION} interpreter to "
            f"compile it with), so each cold start compiles it; set {bytecode.INTERPRETER_VARIABLE} to one"
        )
    return bundle


@dataclass(frozen=True, kw_only=True)
class BundleProps:
    """What every function on the Squall bundle shares: the code, its environment, logs and the Powertools layer."""

    bundle: Path
    environment: Mapping[str, str]
    log_retention_days: int
    removal_policy: RemovalPolicy
    #: An explicit layer version ARN; by default the pinned version's public SSM parameter gives it
    #: (:func:`powertools_layer_arn`).
    powertools_layer_arn: str | None = None
    #: X-Ray active tracing; off, Lambda samples nothing and the environment says so to Powertools.
    tracing: bool = True
    #: The deployer's own variables, for their tasks (checked against Squall's by squall.cdk.service).
    extra_environment: Mapping[str, str] = field(default_factory=dict)
    #: A key of :data:`LOG_FORMATS`.
    log_format: str = "JSON"
    #: VPC placement: both functions' network interfaces go in these subnets, with these security groups.
    vpc: ec2.IVpc | None = None
    vpc_subnets: ec2.SubnetSelection | None = None
    security_groups: Sequence[ec2.ISecurityGroup] = ()


class SquallFunction(Construct):
    """One function on the Squall bundle, with an explicit role (no managed policies) and log group.

    It grants nothing beyond writing its own logs (and X-Ray, which active tracing adds):
    :class:`squall.cdk.stack.SquallService` writes every other permission.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        shared: BundleProps,
        handler: str,
        timeout: int,
        memory: int,
        description: str,
        function_name: str | None = None,
        recursive_loop: lambda_.RecursiveLoop = lambda_.RecursiveLoop.TERMINATE,
        reserved_concurrency: int | None = None,
        ephemeral_storage: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "LogGroup", retention=retention(shared.log_retention_days), removal_policy=shared.removal_policy
        )
        # An explicit role instead of AWSLambdaBasicExecutionRole: logs go to this log group only.
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.log_group.grant_write(self.role)
        if shared.vpc is not None:
            # Lambda creates and deletes the function's network interfaces as its role, and refuses a VPC
            # function whose role cannot; CDK attaches this policy only to roles it makes itself.
            self.role.add_managed_policy(
                iam.ManagedPolicy.from_aws_managed_policy_name("service-role/AWSLambdaVPCAccessExecutionRole")
            )
        layer_arn = shared.powertools_layer_arn or powertools_layer_arn(self)
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=lambda_.Code.from_asset(str(shared.bundle)),
            timeout=Duration.seconds(timeout),
            memory_size=memory,
            role=self.role,
            log_group=self.log_group,
            tracing=lambda_.Tracing.ACTIVE if shared.tracing else lambda_.Tracing.DISABLED,
            environment={**shared.extra_environment, **shared.environment},
            logging_format=LOG_FORMATS[shared.log_format],
            vpc=shared.vpc,
            vpc_subnets=shared.vpc_subnets,
            security_groups=list(shared.security_groups) or None,
            layers=[lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", layer_arn)],
            recursive_loop=recursive_loop,
            description=description,
            # None leaves each property out of the template: no reservation, and Lambda's free 512 MB of /tmp.
            reserved_concurrent_executions=reserved_concurrency,
            ephemeral_storage_size=None if ephemeral_storage is None else Size.mebibytes(ephemeral_storage),
        )
