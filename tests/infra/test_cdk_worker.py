"""The worker function: runtime, architecture, layer, tracing, logs, environment and code bundle."""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

from cdk_support import ROOT, Synth, logical_id, render
from infra.constructs.worker import POWERTOOLS_LAYER_PARAMETER, POWERTOOLS_VERSION
from infra.packaging import HANDLER

from squall import config
from squall.worker.handler import METRICS_NAMESPACE


def _function(synth: Synth) -> dict[str, Any]:
    (function,) = synth.resources("AWS::Lambda::Function").values()
    return dict(function["Properties"])


def test_worker_runs_current_python_on_arm64_with_active_tracing(synth: Synth) -> None:
    props = _function(synth)
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["Handler"] == HANDLER == "functions.worker.handler"


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
        ((group_id, group),) = synth.resources("AWS::Logs::LogGroup").items()
        assert group["Properties"]["RetentionInDays"] == days
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
    assert sorted(p.name for p in bundle.iterdir()) == ["examples", "functions", "squall"]
    assert (bundle / "functions" / "worker.py").is_file()
    assert (bundle / "examples" / "shop" / "tasks.py").is_file()
    assert (bundle / "squall" / "worker" / "handler.py").is_file()
    assert (bundle / "squall" / "py.typed").is_file()
    unwanted = [
        p
        for p in bundle.rglob("*")
        if p.name in ("__pycache__", "tests", "conftest.py") or p.name.startswith("test_") or p.suffix == ".pyc"
    ]
    assert unwanted == []


def test_worker_bundle_is_the_repository_source(shop: Synth) -> None:
    code = _function(shop)["Code"]
    bundle = next(p for p in shop.outdir.glob("asset.*") if code["S3Key"].startswith(p.name.removeprefix("asset.")))
    for relative in ("functions/worker.py", "examples/shop/tasks.py"):
        assert (bundle / relative).read_bytes() == (ROOT / relative).read_bytes()
    assert (bundle / "squall" / "topology.py").read_bytes() == (ROOT / "sdk" / "squall" / "topology.py").read_bytes()


def test_outputs_tell_producers_where_everything_is(synth: Synth) -> None:
    outputs = synth.json["Outputs"]
    for name in synth.stack.service.queues:
        assert f"QueueUrl{name}" in outputs
        assert f"DeadLetterQueueUrl{name}" in outputs
    for key in ("TableName", "SettingsParameter", "ProducerPolicyArn", "WorkerFunctionName", "DashboardName"):
        assert key in outputs
    assert logical_id(outputs["ProducerPolicyArn"]["Value"]) in synth.resources("AWS::IAM::ManagedPolicy")
