"""The REST API's front door (squall:api): an HTTP API, its stage, access logs, routes, function and grants."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template
from cdk_support import Synth, logical_id, nag_findings, render, synthesize
from cfnlint.api import lint  # type: ignore[import-untyped]

from squall import config, limits
from squall.cdk import nag
from squall.cdk.constructs.api import API_HANDLER, TaskApi
from squall.cdk.options import DEFAULT_API_BURST_LIMIT, DEFAULT_API_RATE_LIMIT, DeployOptions
from squall.cdk.service import SquallService
from squall.errors import ConfigurationError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def token_api(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Bearer tokens, throttled away from the defaults, logs kept 90 days."""
    context = {
        "squall:api": "token",
        "squall:apiRateLimit": "25",
        "squall:apiBurstLimit": "50",
        "squall:logRetentionDays": "90",
    }
    return synthesize(tmp_path_factory.mktemp("cdk-api-token"), context)


@pytest.fixture(scope="module")
def iam_api(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk-api-iam"), {"squall:api": "iam"})


def the_api(synth: Synth) -> TaskApi:
    api = synth.stack.service.api
    assert api is not None
    return api


def one(synth: Synth, type_: str) -> dict[str, Any]:
    (resource,) = synth.resources(type_).values()
    return dict(resource["Properties"])


def routes(synth: Synth) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["RouteKey"]: r["Properties"] for r in synth.resources("AWS::ApiGatewayV2::Route").values()}


def role_statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_no_api_resource_exists_unless_the_api_is_enabled(shop: Synth) -> None:
    types = {resource["Type"] for resource in shop.json["Resources"].values()}

    assert shop.stack.service.api is None
    assert not any(t.startswith("AWS::ApiGatewayV2::") for t in types)
    assert "AWS::SecretsManager::Secret" not in types
    assert config.ENV_API_TOKEN_SECRET not in json.dumps(shop.json)


@pytest.mark.parametrize("value", ["", "false", "off", None])
def test_the_api_stays_off_for_an_empty_or_false_context_value(value: str | None) -> None:
    options = DeployOptions.from_context(
        {"squall:app": "examples.shop.tasks:app", "squall:code": "examples", "squall:api": value}.get, base=ROOT
    )

    assert options.api is None


def test_true_enables_the_token_mode_and_an_unknown_mode_is_refused() -> None:
    context = {"squall:app": "examples.shop.tasks:app", "squall:code": "examples"}

    assert DeployOptions.from_context({**context, "squall:api": "true"}.get, base=ROOT).api == "token"
    with pytest.raises(ConfigurationError, match="squall:api must be one of token, iam"):
        DeployOptions.from_context({**context, "squall:api": "jwt"}.get, base=ROOT)
    with pytest.raises(ConfigurationError, match="at least 1"):
        DeployOptions.from_context({**context, "squall:api": "iam", "squall:apiRateLimit": "0"}.get, base=ROOT)


def test_the_default_stage_auto_deploys_with_the_throttling_asked_for(token_api: Synth, iam_api: Synth) -> None:
    tuned, default = one(token_api, "AWS::ApiGatewayV2::Stage"), one(iam_api, "AWS::ApiGatewayV2::Stage")

    assert tuned["StageName"] == "$default"
    assert tuned["AutoDeploy"] is True
    assert tuned["DefaultRouteSettings"] == {"ThrottlingRateLimit": 25, "ThrottlingBurstLimit": 50}
    assert default["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": DEFAULT_API_RATE_LIMIT,
        "ThrottlingBurstLimit": DEFAULT_API_BURST_LIMIT,
    }


def test_access_logs_are_json_lines_with_request_ids_in_a_log_group_with_retention(token_api: Synth) -> None:
    settings = one(token_api, "AWS::ApiGatewayV2::Stage")["AccessLogSettings"]
    log_group = token_api.json["Resources"][logical_id(settings["DestinationArn"])]
    fields = json.loads(settings["Format"])

    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 90
    assert logical_id(settings["DestinationArn"]) == token_api.logical_id_of(the_api(token_api).access_logs)
    assert fields["requestId"] == "$context.requestId"
    assert fields["status"] == "$context.status"


def test_the_integration_proxies_to_the_api_function_with_payload_format_2(token_api: Synth) -> None:
    integration = one(token_api, "AWS::ApiGatewayV2::Integration")
    function = the_api(token_api).function.function

    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert logical_id(integration["IntegrationUri"]) == token_api.logical_id_of(function)


def test_only_api_gateway_from_this_api_may_invoke_the_function(token_api: Synth) -> None:
    function_id = token_api.logical_id_of(the_api(token_api).function.function)
    api_id = token_api.logical_id_of(the_api(token_api).http_api)
    permissions = [
        p["Properties"]
        for p in token_api.resources("AWS::Lambda::Permission").values()
        if logical_id(p["Properties"]["FunctionName"]) == function_id
    ]

    assert permissions
    assert {p["Principal"] for p in permissions} == {"apigateway.amazonaws.com"}
    assert all(f"<{api_id}>" in render(p["SourceArn"]) for p in permissions)


def test_token_mode_routes_reach_the_function_which_checks_the_bearer_token(token_api: Synth) -> None:
    found = routes(token_api)
    variables = token_api.properties_of(the_api(token_api).function.function)["Environment"]["Variables"]
    secret = the_api(token_api).token_secret

    assert set(found) == {"ANY /{proxy+}", "GET /v1/openapi.json"}
    assert {r["AuthorizationType"] for r in found.values()} == {"NONE"}
    assert secret is not None
    assert logical_id(variables[config.ENV_API_TOKEN_SECRET]) == token_api.logical_id_of(secret)
    assert config.ENV_API_AUTH not in variables


def test_iam_mode_signs_every_route_but_the_contract_and_makes_no_secret(iam_api: Synth) -> None:
    found = routes(iam_api)
    variables = iam_api.properties_of(the_api(iam_api).function.function)["Environment"]["Variables"]

    assert found["ANY /{proxy+}"]["AuthorizationType"] == "AWS_IAM"
    assert found["GET /v1/openapi.json"]["AuthorizationType"] == "NONE"
    assert variables[config.ENV_API_AUTH] == "iam"
    assert config.ENV_API_TOKEN_SECRET not in variables
    assert iam_api.resources("AWS::SecretsManager::Secret") == {}


def test_the_token_secret_is_generated_without_punctuation(token_api: Synth) -> None:
    secret = one(token_api, "AWS::SecretsManager::Secret")

    assert secret["GenerateSecretString"]["ExcludePunctuation"] is True
    assert secret["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretString" not in secret


def test_the_function_runs_the_api_handler_within_the_integration_timeout(token_api: Synth) -> None:
    function = token_api.properties_of(the_api(token_api).function.function)
    variables = function["Environment"]["Variables"]

    assert function["Handler"] == API_HANDLER
    assert function["Timeout"] < limits.HTTP_API_INTEGRATION_TIMEOUT_SECONDS
    assert variables[config.ENV_APP] == "examples.shop.tasks:app"


def test_the_function_has_the_producer_policy_revoke_and_its_own_token_secret_only(token_api: Synth) -> None:
    api = the_api(token_api)
    role = token_api.properties_of(api.function.role)
    statements = role_statements(token_api, token_api.logical_id_of(api.function.role))
    by_sid = {s.get("Sid"): s for s in statements}
    table_id = token_api.logical_id_of(token_api.stack.service.table)
    secret = api.token_secret
    assert secret is not None

    assert [logical_id(arn) for arn in role["ManagedPolicyArns"]] == [
        token_api.logical_id_of(token_api.stack.service.producer_policy)
    ]
    assert by_sid["RevokeTasks"]["Action"] == "dynamodb:UpdateItem"
    assert render(by_sid["RevokeTasks"]["Resource"]) == f"<{table_id}.Arn>"
    assert by_sid["ReadApiTokens"]["Action"] == "secretsmanager:GetSecretValue"
    assert logical_id(by_sid["ReadApiTokens"]["Resource"]) == token_api.logical_id_of(secret)
    assert not any("sqs:ReceiveMessage" in json.dumps(s) for s in statements)


def test_both_modes_are_cdk_nag_clean_and_pass_cfn_lint(token_api: Synth, iam_api: Synth) -> None:
    for synth in (token_api, iam_api):
        matches = lint(synth.template_file.read_text(), regions=["us-east-1", "eu-west-1"])

        assert nag_findings(synth.outdir) == []
        assert [m.rule.id for m in matches if m.rule.id.startswith("E")] == []


def test_the_stack_outputs_the_api_url_and_in_token_mode_the_secret(token_api: Synth, iam_api: Synth) -> None:
    token_outputs, iam_outputs = token_api.json["Outputs"], iam_api.json["Outputs"]

    assert render(token_outputs["ApiUrl"]["Value"]).endswith("/v1")
    assert "ApiTokenSecretArn" in token_outputs
    assert "ApiUrl" in iam_outputs
    assert "ApiTokenSecretArn" not in iam_outputs


def test_an_api_in_a_vpc_with_a_customer_key_and_a_stage_is_cdk_nag_clean(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "shop-prod")
    key = kms.Key(stack, "Key", enable_key_rotation=True, removal_policy=cdk.RemovalPolicy.DESTROY)
    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-0ddd4444", availability_zones=["eu-west-1a"])
    service = SquallService(
        stack,
        "Tasks",
        app="examples.shop.tasks:app",
        options=DeployOptions(app_spec="examples.shop.tasks:app", code=(ROOT / "examples",), api="iam"),
        stage="prod",
        encryption_key=key,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnets=[ec2.Subnet.from_subnet_id(stack, "Subnet", "subnet-0aaa1111")]),
    )
    nag.acknowledge(service)
    nag.add_packs(app)
    app.synth()
    template = Template.from_stack(stack).to_json()
    (http_api,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]

    assert nag_findings(tmp_path) == []
    assert http_api["Properties"]["Name"] == "squall-shop-prod"
    assert service.api is not None
    assert service.api.function.function.is_bound_to_vpc
