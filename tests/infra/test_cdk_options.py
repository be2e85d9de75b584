"""CDK context keys parse from cdk.json values and -c strings alike, and bad values say what to fix."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cdk_support import ROOT, SHOP_CONTEXT

from squall.cdk.constructs.function import retention
from squall.cdk.options import DeployOptions
from squall.cdk.packaging import stage_bundle
from squall.deploy.topology import WorkerSizing
from squall.errors import ConfigurationError


def _options(**context: Any) -> DeployOptions:
    return DeployOptions.from_context({**SHOP_CONTEXT, **context}.get, base=ROOT)


def test_defaults_deploy_safely() -> None:
    options = _options()
    assert options.app_spec == "examples.shop.tasks:app"
    assert options.code == (ROOT / "examples",)
    assert options.stage is None
    assert options.sizing == WorkerSizing()
    assert (options.removal_policy, options.deletion_protection, options.protects_tables) == ("retain", None, True)
    assert options.alarm_email is None
    assert options.load_app().name == "shop"


def test_command_line_strings_and_cdk_json_values_mean_the_same() -> None:
    typed = _options(
        **{
            "squall:timeout": 90,
            "squall:deletionProtection": False,
            "squall:queues": {"reports": {"batch_size": 20, "batching_window": 5}},
        }
    )
    strings = _options(
        **{
            "squall:timeout": "90",
            "squall:deletionProtection": "false",
            "squall:queues": json.dumps({"reports": {"batch_size": 20, "batching_window": 5}}),
        }
    )
    assert typed == strings
    assert typed.sizing.timeout == 90
    assert typed.queue_overrides == {"reports": {"batch_size": 20, "batching_window": 5}}


def test_the_app_has_no_default_and_code_defaults_to_the_directory_cdk_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigurationError, match=r"squall:app is not set: name the app to deploy as module:attribute"):
        DeployOptions.from_context({}.get)
    monkeypatch.chdir(tmp_path)
    assert DeployOptions.from_context({"squall:app": "tasks:app"}.get).code == (tmp_path.resolve(),)
    assert DeployOptions(app_spec="tasks:app").code == (tmp_path,)


def test_code_paths_are_comma_separated_relative_to_the_base(tmp_path: Path) -> None:
    options = _options(**{"squall:code": "examples, functions"})
    assert options.code == (ROOT / "examples", ROOT / "functions")
    with pytest.raises(ConfigurationError, match="no such file or directory"):
        DeployOptions.from_context({**SHOP_CONTEXT, "squall:code": "nowhere"}.get, base=tmp_path)


@pytest.mark.parametrize("stage", ["prod", "dev2", "x"])
def test_a_stage_is_read_from_the_context(stage: str) -> None:
    assert _options(**{"squall:stage": stage}).stage == stage


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("squall:timeout", "soon", "squall:timeout must be a whole number"),
        ("squall:deletionProtection", "maybe", "squall:deletionProtection must be true or false"),
        ("squall:removalPolicy", "snapshot", "squall:removalPolicy must be one of retain, destroy"),
        ("squall:queues", "{not json", "squall:queues is not valid JSON"),
        ("squall:queues", '{"reports": {"batch": 5}}', "unknown keys \\['batch'\\]"),
        ("squall:app", "examples.shop.tasks", "must be 'module:attribute'"),
        ("squall:ageAlarmSeconds", "10", "at least 60 seconds"),
        ("squall:alarmTopicArn", "ops-alarms", "must be an SNS topic ARN"),
        ("squall:alarmTopicArn", "arn:aws:sqs:eu-west-1:123456789012:q", "must be an SNS topic ARN"),
        ("squall:stage", "Prod", "stage 'Prod' cannot name AWS resources"),
        ("squall:stage", "blue-green", "no '-'"),
        ("squall:stage", "s" * 17, "1-16 lowercase letters and digits"),
    ],
)
def test_bad_context_values_name_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        _options(**{key: value})


def test_deletion_protection_follows_the_removal_policy_unless_set() -> None:
    assert _options(**{"squall:removalPolicy": "destroy"}).protects_tables is False
    assert _options(**{"squall:removalPolicy": "retain"}).protects_tables is True
    # Kept with the stack, but deletable by hand: a valid choice.
    assert _options(**{"squall:deletionProtection": "false"}).protects_tables is False


def test_destroy_with_deletion_protection_is_refused_as_contradictory() -> None:
    with pytest.raises(ConfigurationError, match=r"deletionProtection=true keeps the tables .* set one of them"):
        _options(**{"squall:removalPolicy": "destroy", "squall:deletionProtection": "true"})


def test_an_alarm_email_and_an_existing_alarm_topic_are_refused_together() -> None:
    with pytest.raises(ConfigurationError, match="squall:alarmEmail creates an alarm topic and squall:alarmTopicArn"):
        _options(**{"squall:alarmEmail": "ops@example.com", "squall:alarmTopicArn": "arn:aws:sns:eu-west-1:1:t"})


def test_an_app_spec_that_names_no_squall_app_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"does not name a squall\.Squall app"):
        _options(**{"squall:app": "examples.shop.tasks:CardDeclined"}).load_app()
    with pytest.raises(ConfigurationError, match=r"cannot import 'examples\.nowhere'"):
        _options(**{"squall:app": "examples.nowhere:app"}).load_app()


def test_log_retention_must_be_a_value_cloudwatch_accepts() -> None:
    assert retention(30).name == "ONE_MONTH"
    with pytest.raises(ValueError, match="not one CloudWatch Logs accepts"):
        retention(31)


def test_bundle_refuses_two_code_paths_with_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "a" / "jobs").mkdir(parents=True)
    (tmp_path / "b" / "jobs").mkdir(parents=True)
    for root in ("a", "b"):
        (tmp_path / root / "jobs" / "__init__.py").write_text("")
    with pytest.raises(ValueError, match="both named jobs"):
        stage_bundle([tmp_path / "a" / "jobs", tmp_path / "b" / "jobs"])
    # The package's own name is taken too: a source root holding a ``squall`` directory is refused.
    (tmp_path / "project" / "squall").mkdir(parents=True)
    with pytest.raises(ValueError, match="both named squall"):
        stage_bundle([tmp_path / "project"])


def test_a_source_root_ships_its_entries_but_not_the_projects_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    for directory in ("jobs", ".venv/lib", "cdk.out/asset", "node_modules/x", ".git", "tests"):
        (project / directory).mkdir(parents=True)
    (project / "jobs" / "__init__.py").write_text("")
    (project / "tinyroot_tasks.py").write_text("from squall import Squall\napp = Squall('tiny')\n")
    (project / "cdk.json").write_text("{}")
    (project / "requirements.txt").write_text("")
    (project / "out1").mkdir()  # an earlier `cdk synth --output out1`: a cloud assembly by its files
    (project / "out1" / "manifest.json").write_text("{}")
    (project / "out1" / "cdk.out").write_text('{"version": "48.0.0"}')
    (project / "being-written").mkdir()  # the synth's own output directory, excluded by name
    bundle = stage_bundle([project], exclude=[project / "being-written"])
    shipped = {path.name for path in bundle.iterdir()}
    assert not shipped & {"out1", "being-written"}
    assert {"tinyroot_tasks.py", "jobs", "squall", "requirements.txt"} <= shipped
    assert not shipped & {".venv", "cdk.out", "node_modules", ".git", "tests", "cdk.json", "project"}
    assert not (bundle / "squall" / "cdk").exists(), "the constructs run at synth, never on Lambda"
    options = DeployOptions(app_spec="tinyroot_tasks:app", code=(project,))
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_app puts the import root on it: undone after
    monkeypatch.delitem(sys.modules, "tinyroot_tasks", raising=False)
    assert options.load_app().name == "tiny"  # a source root is itself the import root
    monkeypatch.delitem(sys.modules, "tinyroot_tasks")


def test_settings_size_estimate_bounds_the_document_and_flags_apps_too_big_for_the_environment() -> None:
    from squall import Squall
    from squall.cdk.names import ENV_CONFIG_BUDGET_BYTES, estimated_document_bytes
    from squall.deploy.topology import describe

    shop = _options().load_app()
    assert estimated_document_bytes(describe(shop)) < ENV_CONFIG_BUDGET_BYTES
    many = Squall("many-queues-app", queues=[f"queue-number-{i:02d}" for i in range(12)])
    assert estimated_document_bytes(describe(many)) > ENV_CONFIG_BUDGET_BYTES


def test_the_construct_example_in_the_deploy_guide_builds(tmp_path: Path) -> None:
    import re

    import aws_cdk as cdk

    from squall.cdk import SquallService

    guide = (ROOT / "docs" / "deploy.md").read_text()
    (example,) = [block for block in re.findall(r"```python\n(.*?)```", guide, re.S) if "SquallService(" in block]
    # Build the example's stack without synthesizing it (the session's synths cover the template).
    namespace: dict[str, Any] = {}
    code = example.replace("app = cdk.App()", f"app = cdk.App(outdir={str(tmp_path)!r})").replace("app.synth()", "")
    exec(compile(code, "docs/deploy.md", "exec"), namespace)  # noqa: S102 - our own documentation's example
    stack = namespace["app"].node.find_child("shop")
    (service,) = [c for c in stack.node.find_all() if isinstance(c, SquallService)]
    assert service.stage == "prod"
    assert service.topology.table.name == "squall-shop-prod-tasks"
    assert isinstance(stack, cdk.Stack)


def test_service_refuses_an_app_spec_naming_another_app(tmp_path: Path) -> None:
    import aws_cdk as cdk

    from squall import Squall
    from squall.cdk import SquallService

    other = Squall("other")
    with pytest.raises(ConfigurationError, match="names another object"):
        SquallService(cdk.Stack(cdk.App(outdir=str(tmp_path)), "s"), "Tasks", app=other, options=_options())
