"""A queue that declares its own sizing deploys a worker function of its own (timeout, memory, reserved
concurrency, ephemeral storage), consuming that queue's event sources (every lane), with its own log group, role
and alarms; its queues' visibility timeouts derive from its timeout. Queues without sizing, and an app without
any, deploy exactly as before. cdk-nag stays clean."""

from __future__ import annotations

from typing import Any

import pytest
from cdk_support import ROOT, Synth, logical_id, nag_findings, synth_app

from squall import Queue, Squall, WorkerSizing
from squall.cdk.names import check_names
from squall.cdk.options import DeployOptions
from squall.deploy.topology import describe
from squall.errors import ConfigurationError

#: A layer ARN given outright, so the synth needs no lookup.
LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"
LANES = {"high": 3, "low": 2}
#: Each sized queue's function as the template must show it.
SIZED = {
    "quick": {"timeout": 30, "memory": 512, "reserved_concurrency": 4, "ephemeral_storage": 1024},
    "reports": {"timeout": 900, "memory": 1024, "reserved_concurrency": 5, "ephemeral_storage": 2048},
}


def sized_app(*, sized: bool) -> Squall:
    quick = SIZED["quick"] if sized else {}
    reports = SIZED["reports"] if sized else {}
    return Squall(
        "workers",
        queues=[
            "default",
            Queue("quick", max_concurrency=4, **quick),  # type: ignore[arg-type]
            Queue("reports", lanes=tuple(LANES), lane_concurrency=LANES, **reports),  # type: ignore[arg-type]
        ],
    )


def _synth(outdir: Any, app: Squall, sizing: WorkerSizing | None = None) -> Synth:
    options = DeployOptions(
        app_spec="workers_app:app",
        code=(ROOT / "examples",),
        powertools_layer_arn=LAYER,
        **({"sizing": sizing} if sizing is not None else {}),  # type: ignore[arg-type]
    )
    return synth_app(outdir, app, options, "workers")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(tmp_path_factory.mktemp("cdk-queue-workers"), sized_app(sized=True))


@pytest.fixture(scope="module")
def unsized(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return _synth(tmp_path_factory.mktemp("cdk-queue-workers-unsized"), sized_app(sized=False))


def _queue_ids(synth: Synth) -> dict[str, str]:
    return {q["Properties"]["QueueName"]: k for k, q in synth.resources("AWS::SQS::Queue").items()}


def _function(synth: Synth, queue: str | None) -> tuple[str, dict[str, Any]]:
    service = synth.stack.service
    function = service.worker.function if queue is None else service.queue_workers[queue].function
    return synth.logical_id_of(function), synth.properties_of(function)


def _consumed(synth: Synth) -> dict[str, str]:
    """Source queue logical id -> the logical id of the function its event source invokes."""
    return {
        logical_id(esm["Properties"]["EventSourceArn"]): logical_id(esm["Properties"]["FunctionName"])
        for esm in synth.resources("AWS::Lambda::EventSourceMapping").values()
    }


@pytest.mark.parametrize("queue", list(SIZED))
def test_a_sized_queue_gets_a_function_with_its_own_sizing(synth: Synth, queue: str) -> None:
    _, props = _function(synth, queue)
    sizing = SIZED[queue]

    assert props["Timeout"] == sizing["timeout"]
    assert props["MemorySize"] == sizing["memory"]
    assert props["ReservedConcurrentExecutions"] == sizing["reserved_concurrency"]
    assert props["EphemeralStorage"] == {"Size": sizing["ephemeral_storage"]}
    assert props["FunctionName"] == f"squall-workers-worker-{queue}"


def test_the_default_worker_keeps_the_app_wide_sizing_and_no_reservation(synth: Synth) -> None:
    _, props = _function(synth, None)

    assert props["Timeout"] == 60
    assert props["MemorySize"] == 256
    assert "ReservedConcurrentExecutions" not in props
    assert "EphemeralStorage" not in props


def test_three_worker_functions_run_the_same_handler_and_environment(synth: Synth) -> None:
    _, default = _function(synth, None)
    for queue in SIZED:
        _, props = _function(synth, queue)
        assert props["Handler"] == default["Handler"]
        assert props["Environment"] == default["Environment"]
        assert props["Code"] == default["Code"]


def test_each_event_source_invokes_the_function_of_its_queue(synth: Synth) -> None:
    ids, consumed = _queue_ids(synth), _consumed(synth)
    default, quick, reports = (_function(synth, q)[0] for q in (None, "quick", "reports"))

    assert consumed[ids["squall-workers-default"]] == default
    assert consumed[ids["squall-workers-quick"]] == quick
    assert consumed[ids["squall-workers-reports-high"]] == reports
    assert consumed[ids["squall-workers-reports-low"]] == reports


def test_each_visibility_timeout_derives_from_its_own_functions_timeout(synth: Synth) -> None:
    queues, consumed = synth.resources("AWS::SQS::Queue"), _consumed(synth)
    functions = synth.resources("AWS::Lambda::Function")
    checked = {}
    for queue_id, function_id in consumed.items():
        if queue_id == synth.logical_id_of(synth.stack.service.intake):
            continue
        timeout = functions[function_id]["Properties"]["Timeout"]
        checked[queues[queue_id]["Properties"]["QueueName"]] = queues[queue_id]["Properties"]["VisibilityTimeout"]
        assert queues[queue_id]["Properties"]["VisibilityTimeout"] == 6 * timeout

    assert checked == {
        "squall-workers-default": 360,
        "squall-workers-quick": 180,
        "squall-workers-reports-high": 5400,
        "squall-workers-reports-low": 5400,
    }


def test_each_queue_worker_has_its_own_log_group(synth: Synth) -> None:
    groups = set(synth.resources("AWS::Logs::LogGroup"))
    used = {logical_id(_function(synth, queue)[1]["LoggingConfig"]["LogGroup"]) for queue in (None, *SIZED)}

    assert len(used) == 3
    assert used <= groups


def _statements(synth: Synth, role: Any) -> list[dict[str, Any]]:
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synth.resources("AWS::IAM::Policy").values()
        if any(logical_id(r) == synth.logical_id_of(role) for r in p["Properties"]["Roles"])
    ]
    return [statement for document in policies for statement in document]


def _receives(statements: list[dict[str, Any]]) -> set[str]:
    return {
        logical_id(statement["Resource"]) for statement in statements if "sqs:ReceiveMessage" in statement["Action"]
    }


def test_a_queue_worker_has_the_default_workers_grants_but_receives_only_from_its_queue(synth: Synth) -> None:
    service, ids = synth.stack.service, _queue_ids(synth)
    default = _statements(synth, service.worker.role)
    quick = _statements(synth, service.queue_workers["quick"].role)

    def others(statements: list[dict[str, Any]]) -> list[Any]:
        return [s for s in statements if "sqs:ReceiveMessage" not in s["Action"] and "logs:" not in str(s["Action"])]

    assert others(quick) == others(default)
    assert _receives(quick) == {ids["squall-workers-quick"]}
    assert _receives(_statements(synth, service.queue_workers["reports"].role)) == {
        ids["squall-workers-reports-high"],
        ids["squall-workers-reports-low"],
    }
    assert _receives(default) == {ids["squall-workers-default"]}


@pytest.mark.parametrize("queue", list(SIZED))
def test_a_queue_worker_is_alarmed_on_errors_and_throttles(synth: Synth, queue: str) -> None:
    function_id, _ = _function(synth, queue)
    watched = {
        alarm["Properties"]["MetricName"]
        for alarm in synth.resources("AWS::CloudWatch::Alarm").values()
        if any(d.get("Value") == {"Ref": function_id} for d in alarm["Properties"].get("Dimensions", []))
    }

    assert watched == {"Errors", "Throttles"}


def test_cdk_nag_finds_nothing(synth: Synth) -> None:
    assert nag_findings(synth.outdir) == []


def test_the_functions_map_names_each_queue_worker(synth: Synth) -> None:
    functions = synth.stack.service.functions

    assert set(functions) == {"worker", "reconciler", "worker:quick", "worker:reports"}


def test_an_app_without_sized_queues_deploys_one_worker(unsized: Synth) -> None:
    functions = unsized.resources("AWS::Lambda::Function")
    workers = [f for f in functions.values() if f["Properties"]["Handler"] == "squall.functions.worker.handler"]

    assert len(workers) == 1
    assert unsized.stack.service.queue_workers == {}


def test_sizing_a_queue_adds_its_function_and_changes_nothing_of_the_other_queues(synth: Synth, unsized: Synth) -> None:
    before, after = unsized.json["Resources"], synth.json["Resources"]
    added = set(after) - set(before)
    removed = set(before) - set(after)
    # What sizing adds: each queue worker's function, role, policy, log group, alarms and event sources.
    owners = (
        "SquallWorkerquick",
        "SquallWorkerreports",
        "SquallMonitoringWorkerErrors",
        "SquallMonitoringWorkerThrottles",
    )
    assert all(k.startswith(owners) for k in added)
    assert len(added) == 2 * 5 + 1 + 4  # function, role, policy, log group, event source each; a 2nd lane; 4 alarms
    # What it removes: only the default worker's event sources of those queues (they move to the queue's function).
    assert {before[k]["Type"] for k in removed} == {"AWS::Lambda::EventSourceMapping"}
    # The rest is identical but for the sized queues' visibility timeouts, the default worker's receive grants
    # (now on the queue workers' roles) and the dashboard (a row per queue worker).
    changed = {k for k in set(before) & set(after) if before[k] != after[k]}
    ids = _queue_ids(synth)
    expected = {
        ids["squall-workers-quick"],
        ids["squall-workers-reports-high"],
        ids["squall-workers-reports-low"],
        *(k for k in after if after[k]["Type"] == "AWS::CloudWatch::Dashboard"),
        *(
            k
            for k in after
            if after[k]["Type"] == "AWS::IAM::Policy"
            and logical_id(after[k]["Properties"]["Roles"][0]) == synth.logical_id_of(synth.stack.service.worker.role)
        ),
    }
    assert changed == expected


def test_a_queue_workers_name_past_lambdas_limit_is_refused_at_synth() -> None:
    app = Squall("a-rather-long-application-name", queues=[Queue("quarterly-financial-reports", timeout=900)])

    with pytest.raises(ConfigurationError, match=r"Lambda function name .* over AWS's 64.*'quarterly-financial"):
        check_names(describe(app))


def test_the_default_worker_takes_a_reservation_and_storage_given_in_the_deploy_options(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    sizing = WorkerSizing(timeout=120, memory=512, reserved_concurrency=20, ephemeral_storage=1024)
    tuned = _synth(tmp_path_factory.mktemp("cdk-default-worker-sizing"), Squall("workers"), sizing)

    props = tuned.properties_of(tuned.stack.service.worker.function)

    assert props["ReservedConcurrentExecutions"] == 20
    assert props["EphemeralStorage"] == {"Size": 1024}
    assert props["Timeout"] == 120
