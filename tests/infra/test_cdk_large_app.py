"""An app whose settings do not fit Lambda's environment: both functions read them from the SSM parameter."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_support import Synth, render

from squall import Queue, Squall, config
from squall.cdk.names import ENV_CONFIG_BUDGET_BYTES, estimated_document_bytes
from squall.cdk.options import DeployOptions
from squall.cdk.stack import SquallStack

#: Nine queues: the smallest app whose settings document exceeds the environment budget.
BULK = Squall("bulk", queues=[Queue(f"q{i}") for i in range(9)])


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk-bulk")
    stack = SquallStack(cdk.App(outdir=str(outdir)), "bulk", app=BULK, options=DeployOptions(app_spec="bulk:app"))
    template = Template.from_stack(stack)
    return Synth(stack, template, dict(template.to_json()), outdir)


def test_the_bulk_app_is_over_the_environment_budget(bulk: Synth) -> None:
    assert estimated_document_bytes(bulk.stack.service.topology) > ENV_CONFIG_BUDGET_BYTES


def test_both_functions_name_the_parameter_instead_of_carrying_the_document(bulk: Synth) -> None:
    service = bulk.stack.service
    for function in (service.worker.function, service.reconciler.function):
        variables = bulk.properties_of(function)["Environment"]["Variables"]
        assert config.ENV_CONFIG not in variables
        assert render(variables[config.ENV_CONFIG_PARAMETER]) == f"<{bulk.logical_id_of(service.parameter)}>"


def test_both_function_roles_may_only_get_the_settings_parameter(bulk: Synth) -> None:
    service = bulk.stack.service
    parameter_id = bulk.logical_id_of(service.parameter)
    for role in (service.worker.role, service.reconciler.role):
        role_id = bulk.logical_id_of(role)
        reads = [
            statement
            for policy in bulk.resources("AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if "ssm:" in str(statement["Action"])
        ]
        assert [(s["Action"], render(s["Resource"])) for s in reads] == [
            ("ssm:GetParameter", f"arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter<{parameter_id}>")
        ], role_id
