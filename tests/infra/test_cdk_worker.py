"""The worker and reconciler functions: runtime, architecture, layer, tracing, logs, environment, code bundle."""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

from cdk_support import ROOT, Synth, logical_id, render

from squall import config
from squall.cdk.constructs.function import POWERTOOLS_LAYER_PARAMETER, POWERTOOLS_VERSION
from squall.cdk.packaging import HANDLER, NOT_RUN, RECONCILER_HANDLER
from squall.limits import LAMBDA_MAX_FUNCTION_NAME_CHARS
from squall.worker.metrics import METRICS_NAMESPACE


def _function(synth: Synth) -> dict[str, Any]:
    return synth.properties_of(synth.stack.service.worker.function)


def _reconciler(synth: Synth) -> dict[str, Any]:
    return synth.properties_of(synth.stack.service.reconciler.function)


def test_the_stack_has_two_functions_the_worker_and_the_reconciler(synth: Synth) -> None:
    service = synth.stack.service
    assert set(synth.resources("AWS::Lambda::Function")) == {
        synth.logical_id_of(service.worker.function),
        synth.logical_id_of(service.reconciler.function),
    }


def test_worker_runs_current_python_on_arm64_with_active_tracing(synth: Synth) -> None:
    props = _function(synth)
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Handler"] == HANDLER == "squall.functions.worker.handler"


def test_worker_may_send_its_retries_to_the_queues_it_consumes(synth: Synth) -> None:
    # A retry is a new message on the worker's own queue: Lambda's loop detection would stop the chain.
    assert _function(synth)["RecursiveLoop"] == "Allow"


def test_reconciler_runs_like_the_worker_on_the_same_bundle_with_its_own_entry_point(synth: Synth) -> None:
    worker, reconciler = _function(synth), _reconciler(synth)
    for key in ("Runtime", "Architectures", "TracingConfig", "Layers", "Code"):
        assert reconciler[key] == worker[key], key
    assert reconciler["Handler"] == RECONCILER_HANDLER == "squall.functions.reconciler.handler"
    # It sends only to dead-letter queues, which no function consumes: loop detection stays on.
    assert reconciler["RecursiveLoop"] == "Terminate"
    assert "ReservedConcurrentExecutions" not in reconciler


def test_reconciler_is_named_and_sized_by_the_topology_intake(synth: Synth) -> None:
    intake = synth.stack.service.topology.intake
    props = _reconciler(synth)
    assert props["FunctionName"] == intake.function_name == "squall-shop-reconciler"
    assert (props["Timeout"], props["MemorySize"]) == (intake.timeout, intake.memory)


def test_reconciler_name_fits_lambdas_limit_for_the_longest_app_name() -> None:
    from squall import Squall
    from squall.deploy.topology import describe

    longest = describe(Squall("a" * 40)).intake.function_name
    assert len(longest) == len("squall-") + 40 + len("-reconciler") == 58 <= LAMBDA_MAX_FUNCTION_NAME_CHARS


def test_reconciler_has_the_workers_environment(synth: Synth) -> None:
    assert _reconciler(synth)["Environment"] == _function(synth)["Environment"]


def test_reconciler_logs_to_its_own_log_group_with_the_same_retention(synth: Synth) -> None:
    service = synth.stack.service
    group_id = synth.logical_id_of(service.reconciler.log_group)
    assert logical_id(_reconciler(synth)["LoggingConfig"]["LogGroup"]) == group_id
    assert group_id != synth.logical_id_of(service.worker.log_group)
    retention = synth.properties_of(service.reconciler.log_group)["RetentionInDays"]
    assert retention == synth.properties_of(service.worker.log_group)["RetentionInDays"]


def test_worker_size_comes_from_the_sizing_context(shop: Synth, tuned: Synth) -> None:
    assert (_function(shop)["Timeout"], _function(shop)["MemorySize"]) == (
        shop.stack.service.topology.sizing.timeout,
        shop.stack.service.topology.sizing.memory,
    )
    assert (_function(tuned)["Timeout"], _function(tuned)["MemorySize"]) == (120, 512)


def test_worker_uses_per_queue_max_concurrency_not_reserved_concurrency(synth: Synth) -> None:
    assert "ReservedConcurrentExecutions" not in _function(synth)


def test_powertools_layer_is_the_pinned_version_from_its_public_parameter(synth: Synth) -> None:
    (layer,) = _function(synth)["Layers"]
    parameter = synth.json["Parameters"][layer["Ref"]]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == POWERTOOLS_LAYER_PARAMETER
    assert parameter["Default"] == f"/aws/service/powertools/python/arm64/python3.14/{POWERTOOLS_VERSION}"


def test_pinned_powertools_is_the_version_the_sdk_is_tested_with() -> None:
    assert version("aws-lambda-powertools") == POWERTOOLS_VERSION
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"aws-lambda-powertools[tracer]=={POWERTOOLS_VERSION}"' in pyproject


def test_worker_logs_to_its_own_log_group_with_retention(shop: Synth, tuned: Synth) -> None:
    for synth, days in ((shop, 30), (tuned, 90)):
        group_id = synth.logical_id_of(synth.stack.service.worker.log_group)
        assert synth.json["Resources"][group_id]["Properties"]["RetentionInDays"] == days
        assert logical_id(_function(synth)["LoggingConfig"]["LogGroup"]) == group_id


def test_worker_environment_names_the_app_and_its_metrics(synth: Synth) -> None:
    variables = _function(synth)["Environment"]["Variables"]
    assert variables[config.ENV_APP] == "examples.shop.tasks:app"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "shop"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == METRICS_NAMESPACE


def test_worker_settings_document_describes_every_deployed_queue(synth: Synth) -> None:
    variables = _function(synth)["Environment"]["Variables"]
    document = json.loads(render(variables[config.ENV_CONFIG]))
    settings = config.Settings.from_document(document, source="test")
    topology = synth.stack.service.topology
    queue_ids = {q["Properties"]["QueueName"]: k for k, q in synth.resources("AWS::SQS::Queue").items()}
    assert settings.app == "shop"
    assert settings.region == "<AWS::Region>"
    assert set(settings.queues) == {r.name for r in topology.queues}
    for resource in topology.queues:
        address = settings.queue(resource.name)
        assert address.url == f"<{queue_ids[resource.queue_name]}>"
        assert address.arn == f"<{queue_ids[resource.queue_name]}.Arn>"
        assert address.dlq_url == f"<{queue_ids[resource.dlq_name]}>"
        assert address.max_receive_count == resource.max_receive_count
    assert settings.schedule_group == topology.schedule_group
    assert settings.scheduler_dlq_arn == f"<{queue_ids[topology.scheduler_dlq_name]}.Arn>"
    assert settings.scheduler_role_arn.endswith(".Arn>")


def test_settings_document_names_the_intake_queue(synth: Synth) -> None:
    variables = _function(synth)["Environment"]["Variables"]
    settings = config.Settings.from_document(json.loads(render(variables[config.ENV_CONFIG])), source="test")
    intake_id = synth.logical_id_of(synth.stack.service.intake)
    assert settings.intake_url == f"<{intake_id}>"
    assert settings.intake_arn == f"<{intake_id}.Arn>"


def test_estimated_settings_size_counts_the_intake_queue(shop: Synth) -> None:
    from dataclasses import replace

    from squall.cdk.names import estimated_document_bytes

    topology = shop.stack.service.topology
    longer = replace(topology, intake=replace(topology.intake, name=topology.intake.name + "x" * 10))
    # The intake's name appears twice (URL and ARN): ten more characters make the estimate 20 bytes larger.
    assert estimated_document_bytes(longer) == estimated_document_bytes(topology) + 20


def test_settings_are_published_in_the_ssm_parameter_producers_read(synth: Synth) -> None:
    (parameter,) = synth.resources("AWS::SSM::Parameter").values()
    props = parameter["Properties"]
    assert props["Name"] == config.parameter_name("shop") == "/squall/shop/config"
    assert props["Type"] == "String"
    assert props["Tier"] == "Standard"
    variables = _function(synth)["Environment"]["Variables"]
    assert render(props["Value"]) == render(variables[config.ENV_CONFIG])


def test_worker_bundle_holds_squall_the_entry_point_and_the_app_code_only(shop: Synth) -> None:
    code = _function(shop)["Code"]
    bundle = next(p for p in shop.outdir.glob("asset.*") if code["S3Key"].startswith(p.name.removeprefix("asset.")))
    assert sorted(p.name for p in bundle.iterdir()) == ["examples", "squall"]
    assert (bundle / "squall" / "functions" / "worker.py").is_file()
    assert (bundle / "squall" / "functions" / "reconciler.py").is_file()
    assert (bundle / "examples" / "shop" / "tasks.py").is_file()
    assert (bundle / "squall" / "handler.py").is_file()
    # What neither function runs stays out of the deployed asset (tests/infra/test_cdk_bundle.py runs both from it).
    assert [omitted for omitted in NOT_RUN if (bundle / "squall" / omitted).exists()] == []
    unwanted = [
        p
        for p in bundle.rglob("*")
        if p.name in ("__pycache__", "tests", "conftest.py") or p.name.startswith("test_") or p.suffix == ".pyc"
    ]
    assert unwanted == []


def test_worker_bundle_is_the_repository_source(shop: Synth) -> None:
    code = _function(shop)["Code"]
    bundle = next(p for p in shop.outdir.glob("asset.*") if code["S3Key"].startswith(p.name.removeprefix("asset.")))
    for relative in ("squall/functions/worker.py", "squall/functions/reconciler.py"):
        assert (bundle / relative).read_bytes() == (ROOT / "sdk" / relative).read_bytes()
    assert (bundle / "examples/shop/tasks.py").read_bytes() == (ROOT / "examples/shop/tasks.py").read_bytes()
    shipped, source = bundle / "squall" / "deploy" / "topology.py", ROOT / "sdk" / "squall" / "deploy" / "topology.py"
    assert shipped.read_bytes() == source.read_bytes()


def test_outputs_tell_producers_where_everything_is(synth: Synth) -> None:
    outputs = synth.json["Outputs"]
    for name in synth.stack.service.queues:
        assert f"QueueUrl{name}" in outputs
        assert f"DeadLetterQueueUrl{name}" in outputs
    for key in (
        "TableName",
        "SettingsParameter",
        "ProducerPolicyArn",
        "WorkerFunctionName",
        "DashboardName",
        "IntakeQueueUrl",
        "ReconcilerFunctionName",
    ):
        assert key in outputs
    assert logical_id(outputs["IntakeQueueUrl"]["Value"]) == synth.logical_id_of(synth.stack.service.intake)
    assert logical_id(outputs["ProducerPolicyArn"]["Value"]) in synth.resources("AWS::IAM::ManagedPolicy")
