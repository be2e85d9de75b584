"""Squall deploys from its wheel alone: built, installed with the ``cdk`` extra into a fresh venv, and used from a
project outside the repository whose tasks import third-party packages (one pure-Python, one native).

The project is synthesized twice: by ``squall synth --stage dev`` (squall's own CDK app) and by ``cdk synth`` of a
CDK app of the user's own holding a ``SquallService`` with ``stage="prod"``. Each template and the code bundle its
functions run are checked for what a deployment needs, and the dev stack is deployed into moto's CloudFormation
(served on 127.0.0.1), where a task runs through the worker of the bundle Lambda would unpack. wheel_support.py
builds the wheel, the venv and the project; moto_cloudformation.py deploys; deployed_run.py is the worker's process.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cdk_support import ROOT, render
from moto_cloudformation import CREDENTIALS, REGION, Deployed, deploy, moto_server
from wheel_support import (
    APP_NAME,
    NATIVE,
    NATIVE_LIBRARY,
    PURE,
    PURE_VALUE,
    Assembly,
    Installed,
    build_wheel,
    cdk_synth,
    cli_environment,
    install,
    run,
    write_project,
)
from wheels import distributions

from squall import config, limits
from squall.cdk import packaging

INFRA_TESTS = Path(__file__).resolve().parent
#: The resource types moto's CloudFormation skips (the template checks here cover them; AWS::CDK::Metadata is the
#: CDK CLI's version report, which CloudFormation itself only records).
SKIPPED_BY_MOTO = {
    "AWS::SQS::QueuePolicy",
    "AWS::S3::BucketPolicy",  # the payload bucket's TLS-only policy: tests/infra/test_cdk_payload_bucket.py
    "AWS::CloudWatch::Alarm",
    "AWS::Scheduler::ScheduleGroup",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::CDK::Metadata",
}
#: What the dev synth is given beyond its named options: an alarm email, so that the alarm topic exists.
ALARM_EMAIL = "ops@example.com"

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS.*not supported by moto:UserWarning")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("user") / "project", tmp_path_factory.mktemp("wheelhouse") / "w")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, project: Path) -> Installed:
    """The wheel built from the repository, and ``squall[cdk]`` from it in a fresh venv: the project's ``.venv``."""
    return install(project / ".venv", build_wheel(tmp_path_factory.mktemp("build")))


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_environment(tmp_path_factory.mktemp("squall-cache"))


@pytest.fixture(scope="module")
def dev(installed: Installed, project: Path, cli_env: dict[str, str]) -> Assembly:
    """``squall synth`` run by the venv's own ``squall`` script."""
    options = ["--app", "tasks:app", "--stage", "dev", "--requirements", "requirements.txt", "--out", "out1"]
    run([installed.squall, "synth", *options, "-c", f"squall:alarmEmail={ALARM_EMAIL}"], cwd=project, env=cli_env)
    return Assembly.read("dev", project / "out1", f"squall-{APP_NAME}-dev")


@pytest.fixture(scope="module")
def prod(installed: Installed, project: Path, cli_env: dict[str, str]) -> Assembly:
    """``cdk synth`` of the user's CDK app."""
    cdk_synth(project, cli_env, f"{installed.python} cdk_app.py", "out2")
    return Assembly.read("prod", project / "out2", f"{APP_NAME}-prod")


@pytest.fixture(params=["dev", "prod"])
def assembly(request: pytest.FixtureRequest) -> Assembly:
    """Each synth in turn: squall synth's and the user CDK app's."""
    value: Assembly = request.getfixturevalue(request.param)
    return value


def _bundle(assembly: Assembly) -> Path:
    return assembly.asset(assembly.function(packaging.HANDLER)["Code"])[0]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    return list(document["Statement"])


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


# --- The wheel and the venv -------------------------------------------------------------------------------------


def test_the_wheel_holds_the_package_its_functions_constructs_data_and_licence_and_nothing_else(
    installed: Installed,
) -> None:
    names = zipfile.ZipFile(installed.wheel).namelist()
    dist_info = "-".join(installed.wheel.name.split("-")[:2]) + ".dist-info"

    assert {"squall/functions/worker.py", "squall/functions/reconciler.py", "squall/cdk/service.py"} <= set(names)
    assert {"squall/deploy/prices.json", "squall/py.typed", f"{dist_info}/licenses/LICENSE"} <= set(names)
    assert zipfile.ZipFile(installed.wheel).read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    assert not [n for n in names if n.startswith(("infra/", "functions/", "tests/", "examples/", "bench/"))]
    assert {n.split("/")[0] for n in names} == {"squall", dist_info}


def test_the_project_imports_squall_from_the_venv_and_never_from_the_repository(
    installed: Installed, project: Path, cli_env: dict[str, str]
) -> None:
    where = run([installed.python, "-c", "import squall; print(squall.__file__)"], cwd=project, env=cli_env)

    assert Path(where.strip()).is_relative_to(installed.venv)
    assert not Path(where.strip()).is_relative_to(ROOT)


# --- The bundle -------------------------------------------------------------------------------------------------


def test_the_bundle_holds_squall_the_tasks_and_both_dependencies_built_for_lambda(assembly: Assembly) -> None:
    bundle = _bundle(assembly)

    assert (bundle / "squall" / "functions" / "worker.py").is_file()
    assert (bundle / "tasks.py").is_file()
    assert (bundle / PURE / "__init__.py").read_text() == f"VALUE = {PURE_VALUE!r}\n"
    assert (bundle / NATIVE_LIBRARY).is_file()  # the aarch64 wheel's extension module, for Lambda's arm64
    assert {f"{PURE}-1.0", f"{NATIVE}-1.0"} <= distributions(bundle)


def test_the_bundles_squall_is_the_installed_wheels_less_what_the_functions_never_run(
    assembly: Assembly, installed: Installed
) -> None:
    wheel = zipfile.ZipFile(installed.wheel)
    package = [name.removeprefix("squall/") for name in wheel.namelist() if name.startswith("squall/")]
    shipped = {name for name in package if not any(name == n or name.startswith(f"{n}/") for n in packaging.NOT_RUN)}
    bundle = _bundle(assembly) / "squall"

    assert {path.relative_to(bundle).as_posix() for path in bundle.rglob("*") if path.is_file()} == shipped
    assert not (bundle / "cdk").exists()
    for name in shipped:
        assert (bundle / name).read_bytes() == wheel.read(f"squall/{name}"), name


def test_the_bundle_leaves_out_the_projects_venv_and_its_old_cloud_assembly(assembly: Assembly) -> None:
    entries = {path.name for path in _bundle(assembly).iterdir()}

    assert not entries & {".venv", "cdk.out"}
    assert not [path for path in _bundle(assembly).rglob("*") if path.name == "__pycache__"]


def test_the_bundle_leaves_out_the_cloud_assembly_being_synthesized(assembly: Assembly) -> None:
    assert assembly.outdir.name not in {path.name for path in _bundle(assembly).iterdir()}


# --- The template -----------------------------------------------------------------------------------------------


def test_both_functions_run_the_one_bundle_on_python_3_14_arm64(assembly: Assembly) -> None:
    worker = assembly.function(packaging.HANDLER)
    reconciler = assembly.function(packaging.RECONCILER_HANDLER)

    for function in (worker, reconciler):
        assert (function["Runtime"], function["Architectures"]) == ("python3.14", ["arm64"])
        assert function["Code"] == worker["Code"]
        assert function["Environment"]["Variables"][config.ENV_STAGE] == assembly.stage
        assert function["Environment"]["Variables"][config.ENV_APP] == "tasks:app"
    assert worker["RecursiveLoop"] == "Allow"  # retries are messages it sends to its own queues


def test_every_physical_name_carries_the_stage_and_fits_aws_limits(assembly: Assembly) -> None:
    prefix = f"squall-{APP_NAME}-{assembly.stage}-"
    queues = [r["Properties"]["QueueName"] for r in assembly.resources("AWS::SQS::Queue").values()]
    tables = [r["Properties"]["TableName"] for r in assembly.resources("AWS::DynamoDB::Table").values()]
    functions = [
        r["Properties"]["FunctionName"]
        for r in assembly.resources("AWS::Lambda::Function").values()
        if "FunctionName" in r["Properties"]
    ]
    (group,) = [r["Properties"]["Name"] for r in assembly.resources("AWS::Scheduler::ScheduleGroup").values()]

    # Queues: default, its DLQ, the intake, the scheduler's DLQ; the reconciler alone has a fixed function name.
    assert (len(queues), len(tables), len(functions)) == (4, 1, 1)
    assert [n for n in [*queues, *tables, *functions] if not n.startswith(prefix)] == []
    assert group == prefix.removesuffix("-")
    assert max(map(len, queues)) <= limits.SQS_MAX_QUEUE_NAME_CHARS
    assert max(map(len, functions)) <= limits.LAMBDA_MAX_FUNCTION_NAME_CHARS
    assert all(limits.DYNAMODB_MIN_TABLE_NAME_CHARS <= len(n) <= limits.DYNAMODB_MAX_TABLE_NAME_CHARS for n in tables)
    assert len(group) <= limits.SCHEDULER_MAX_GROUP_NAME_CHARS
    (parameter,) = assembly.resources("AWS::SSM::Parameter").values()
    assert parameter["Properties"]["Name"] == f"/squall/{APP_NAME}/{assembly.stage}/config"


def test_the_two_stages_share_no_physical_name(dev: Assembly, prod: Assembly) -> None:
    def names(assembly: Assembly) -> set[str]:
        keys = {
            "AWS::SQS::Queue": "QueueName",
            "AWS::DynamoDB::Table": "TableName",
            "AWS::Lambda::Function": "FunctionName",
        }
        return {
            r["Properties"][key]
            for type_, key in keys.items()
            for r in assembly.resources(type_).values()
            if key in r["Properties"]
        }

    assert {name.replace("-dev-", "-prod-") for name in names(dev)} == names(prod)
    assert not names(dev) & names(prod)


def test_no_role_has_a_fixed_name_and_the_scheduler_has_its_own(assembly: Assembly) -> None:
    roles = assembly.resources("AWS::IAM::Role").values()
    trusted = {
        s["Principal"].get("Service") for r in roles for s in r["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    }

    assert [r for r in roles if "RoleName" in r["Properties"]] == []  # IAM names are account-wide
    assert "scheduler.amazonaws.com" in trusted


def test_the_dashboard_name_carries_the_stage_and_the_region(assembly: Assembly) -> None:
    (dashboard,) = assembly.resources("AWS::CloudWatch::Dashboard").values()

    assert dashboard["Properties"]["DashboardName"] == {
        "Fn::Join": ["", [f"squall-{APP_NAME}-{assembly.stage}-", {"Ref": "AWS::Region"}]]
    }


def test_the_table_and_queues_are_kept_unless_the_deploy_creating_them_rolls_back(assembly: Assembly) -> None:
    stateful = [*assembly.resources("AWS::SQS::Queue").values(), *assembly.resources("AWS::DynamoDB::Table").values()]

    assert {resource["DeletionPolicy"] for resource in stateful} == {"RetainExceptOnCreate"}


def test_every_event_source_mapping_caps_its_concurrency(assembly: Assembly) -> None:
    mappings = assembly.resources("AWS::Lambda::EventSourceMapping").values()

    assert len(mappings) == 2  # the default queue's, and the intake queue's
    for mapping in mappings:
        assert mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"] >= limits.ESM_MIN_MAX_CONCURRENCY


def test_alarms_reach_the_email_through_a_topic_cloudwatch_of_this_account_may_encrypt_and_publish_to(
    dev: Assembly, prod: Assembly
) -> None:
    ((topic_id, topic),) = dev.resources("AWS::SNS::Topic").items()
    ((key_id, key),) = dev.resources("AWS::KMS::Key").items()
    (policy,) = dev.resources("AWS::SNS::TopicPolicy").values()
    cloudwatch = {"Service": "cloudwatch.amazonaws.com"}
    this_account = {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}

    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    (encrypt,) = [s for s in _statements(key["Properties"]["KeyPolicy"]) if s.get("Principal") == cloudwatch]
    assert (encrypt["Effect"], {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(_actions(encrypt))) == ("Allow", True)
    publish = [
        s
        for s in _statements(policy["Properties"]["PolicyDocument"])
        if s["Effect"] == "Allow" and s.get("Principal") == cloudwatch and "sns:Publish" in _actions(s)
    ]
    assert [s["Condition"]["StringEquals"] for s in publish] == [this_account]
    assert publish[0]["Resource"] == {"Ref": topic_id}
    assert prod.resources("AWS::SNS::Topic") == {}  # no email given: alarms notify nobody


def test_producers_may_update_task_records_only_under_the_policys_conditions(assembly: Assembly) -> None:
    producer = [
        p["Properties"]["PolicyDocument"]
        for p in assembly.resources("AWS::IAM::ManagedPolicy").values()
        if any(s.get("Sid") == "SendTasks" for s in _statements(p["Properties"]["PolicyDocument"]))
    ]
    (document,) = producer
    updates = [s for s in _statements(document) if "dynamodb:UpdateItem" in _actions(s)]

    assert updates
    assert [s for s in updates if "Condition" not in s] == []


def test_the_worker_may_create_schedules_and_pass_the_scheduler_role_to_the_scheduler_only(
    assembly: Assembly,
) -> None:
    role_id = assembly.function(packaging.HANDLER)["Role"]["Fn::GetAtt"][0]
    statements = [
        s
        for p in assembly.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
        for s in _statements(p["Properties"]["PolicyDocument"])
    ]
    passing = [s for s in statements if "iam:PassRole" in _actions(s)]

    assert [s for s in statements if "scheduler:CreateSchedule" in _actions(s)]
    assert passing
    assert [s["Condition"] for s in passing] == len(passing) * [
        {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}
    ]
    assert {str(render(s["Resource"])) for s in passing} <= {
        f"<{k}.Arn>"
        for k, r in assembly.resources("AWS::IAM::Role").items()
        if any(
            s["Principal"].get("Service") == "scheduler.amazonaws.com"
            for s in r["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        )
    }


# --- Deployed into moto -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deployed(dev: Assembly) -> Iterator[Deployed]:
    """squall synth's stack, created by moto's CloudFormation on a server of its own."""
    with moto_server() as endpoint:
        yield deploy(dev, endpoint)


def test_the_squall_synth_stack_deploys_into_moto_under_its_stages_names(deployed: Deployed) -> None:
    assert {
        "AWS::SQS::Queue",
        "AWS::DynamoDB::Table",
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
        "AWS::SSM::Parameter",
    } <= deployed.resource_types
    assert deployed.skipped_types <= SKIPPED_BY_MOTO
    assert deployed.outputs["SettingsParameter"] == config.parameter_name(APP_NAME, "dev")
    path = f"/{deployed.account}/squall-{APP_NAME}-dev-default"  # the host is the server's, or SQS's in the output
    assert deployed.client("sqs").get_queue_url(QueueName=path.rpartition("/")[2])["QueueUrl"].endswith(path)
    assert deployed.outputs["QueueUrldefault"].endswith(path)


def test_a_task_importing_its_dependency_runs_through_the_deployed_bundles_worker(
    deployed: Deployed, dev: Assembly, tmp_path: Path
) -> None:
    # Given the worker as deployed: its code, handler and environment (Lambda's path: the code first, then the
    # runtime's boto3 and the layer's Powertools, here the test venv's site-packages; this directory for the driver)
    worker = deployed.client("lambda").get_function_configuration(FunctionName=deployed.outputs["WorkerFunctionName"])
    task_root = deployed.unpack(dev, dev.function(packaging.HANDLER)["Code"], tmp_path / "task")
    nowhere = str(tmp_path / "none")
    env = {
        **worker["Environment"]["Variables"],
        "PYTHONPATH": os.pathsep.join([str(task_root), str(INFRA_TESTS), sysconfig.get_paths()["purelib"]]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_ENDPOINT_URL": deployed.endpoint,
        **CREDENTIALS,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": nowhere,
        "AWS_SHARED_CREDENTIALS_FILE": nowhere,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    out = tmp_path / "report.json"

    # When a task whose body imports the pure-Python dependency is sent, and the worker handed its message
    driver = [INFRA_TESTS / "deployed_run.py", out, worker["Handler"], "tasks.dependency_value"]
    run([sys.executable, "-S", "-P", *driver], cwd=task_root, env=env)

    # Then it succeeded with the dependency's value, and squall and the dependency were the bundle's
    report = json.loads(out.read_text())
    assert (report["worker"], report["state"]) == ({"batchItemFailures": []}, "SUCCESS")
    result = json.loads(report["result"])
    assert result["value"] == PURE_VALUE
    assert Path(result["file"]).is_relative_to(task_root)
    modules: dict[str, str | None] = report["modules"]
    assert {"squall.functions.worker", PURE} <= set(modules)
    assert [name for name, file in modules.items() if file is None or not Path(file).is_relative_to(task_root)] == []
    assert NATIVE not in modules  # imported only by the other task: its aarch64 build never loads here
