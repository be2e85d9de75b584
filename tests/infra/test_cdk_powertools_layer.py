"""The Powertools layer is looked up when a stack bound to an account and region is synthesized, and cached in
the CDK context; these synths provide the cached value (or its absence, or the lookup's error) and call no AWS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match
from cdk_support import SHOP_OPTIONS, Synth, render, synthesize
from examples.shop.tasks import app as shop_app

from squall.cdk.constructs.function import POWERTOOLS_LAYER_PARAMETER
from squall.cdk.stack import SquallStack

ACCOUNT, REGION = "123456789012", "eu-west-1"
ENV = cdk.Environment(account=ACCOUNT, region=REGION)
#: Where the CLI caches the lookup (cdk.context.json): the provider, the account, the parameter, the region.
CONTEXT_KEY = f"ssm:account={ACCOUNT}:parameterName={POWERTOOLS_LAYER_PARAMETER}:region={REGION}"
#: What the public parameter holds in that region (its layer version is whatever Powertools published).
LAYER = f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:27"


@pytest.fixture(scope="module")
def bound(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The shop bound to an account and region, the lookup's value cached, with the cdk-nag packs."""
    return synthesize(tmp_path_factory.mktemp("cdk-bound"), {CONTEXT_KEY: LAYER}, env=ENV)


def _stack(outdir: Path, context: dict[str, Any]) -> SquallStack:
    app = cdk.App(outdir=str(outdir), context=context)
    stack = SquallStack(app, "bound", app=shop_app, options=SHOP_OPTIONS, env=ENV)
    app.synth()
    return stack


def test_a_bound_stack_names_the_looked_up_layer_itself(bound: Synth) -> None:
    service = bound.stack.service
    for function in (service.worker.function, service.reconciler.function):
        assert bound.properties_of(function)["Layers"] == [LAYER]
    # Nothing is left to resolve at deploy time: no template parameter reads the public one.
    defaults = [p.get("Default") for p in bound.json.get("Parameters", {}).values()]
    assert POWERTOOLS_LAYER_PARAMETER not in defaults


def test_a_bound_stack_passes_the_nag_packs_with_its_literal_account_and_region(bound: Synth) -> None:
    # The acknowledgements name the schedule group's ARN as cdk-nag renders it for this environment.
    worker_role = bound.logical_id_of(bound.stack.service.worker.role)
    scheduling = [
        s
        for policy in bound.resources("AWS::IAM::Policy").values()
        if {"Ref": worker_role} in policy["Properties"]["Roles"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "scheduler:CreateSchedule"
    ]
    (statement,) = scheduling
    group = bound.stack.service.topology.schedule_group
    assert render(statement["Resource"]) == f"arn:<AWS::Partition>:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/*"


def test_without_the_cached_value_the_synth_asks_the_cli_to_look_it_up(tmp_path: Path) -> None:
    _stack(tmp_path, {})

    (missing,) = json.loads((tmp_path / "manifest.json").read_text())["missing"]
    assert missing["key"] == CONTEXT_KEY
    assert missing["provider"] == "ssm"
    assert (missing["props"]["parameterName"], missing["props"]["account"], missing["props"]["region"]) == (
        POWERTOOLS_LAYER_PARAMETER,
        ACCOUNT,
        REGION,
    )
    # A missing parameter must fail the synth, not be papered over with a default.
    assert missing["props"]["ignoreErrorOnMissingContext"] is False


def test_a_region_without_the_parameter_fails_the_synth(tmp_path: Path) -> None:
    # Given the CLI's lookup failed (it records the error in the context and synthesizes again)
    error = f"SSM parameter not available in account {ACCOUNT}, region {REGION}: {POWERTOOLS_LAYER_PARAMETER}"
    stack = _stack(tmp_path, {CONTEXT_KEY: {"$providerError": error, "$dontSaveContext": True}})

    # Then the stack carries an error, which fails `cdk synth`, `cdk diff` and `cdk deploy` before any deployment
    errors = Annotations.from_stack(stack).find_error("*", Match.string_like_regexp("SSM parameter not available"))
    assert errors


def test_an_unbound_stack_resolves_the_layer_at_deploy_time_and_says_so(shop: Synth) -> None:
    warnings = Annotations.from_stack(shop.stack).find_warning("*", Match.string_like_regexp("resolved at deploy time"))
    assert len(warnings) == 1
    (layer,) = shop.properties_of(shop.stack.service.worker.function)["Layers"]
    assert shop.json["Parameters"][layer["Ref"]]["Default"] == POWERTOOLS_LAYER_PARAMETER
