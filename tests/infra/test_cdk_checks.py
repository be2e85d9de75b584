"""cdk-nag (AwsSolutions, Serverless) and cfn-lint pass on every synthesized template."""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from cdk_support import CDK_PACKAGE, Synth, nag_findings
from cfnlint.api import lint  # type: ignore[import-untyped]

from squall.cdk import nag

#: Regions the templates are linted for: where Squall is most likely deployed, incl. a newer region.
LINT_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


def _acknowledgements(synth: Synth) -> list[tuple[str, str, str]]:
    """(construct path, rule id, reason) for every acknowledgement recorded in the construct tree."""
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found: list[tuple[str, str, str]] = []
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                # CDK records {"<plugin>::<rule id>": reason}.
                found.extend((construct.node.path, rule, reason) for rule, reason in dict(entry.data).items())
    return found


def test_nag_packs_report_no_unacknowledged_finding(synth: Synth) -> None:
    # The synth fixture fails on any finding; the report it leaves behind must be empty too.
    assert (synth.outdir / "validation-report.json").exists()
    assert nag_findings(synth.outdir) == []


def test_nag_packs_would_catch_an_unencrypted_queue_without_a_dlq(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Careless")
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    nag.add_packs(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    rules = {finding.split(" at ")[0] for finding in nag_findings(tmp_path)}
    assert {"AwsSolutions-SQS2", "AwsSolutions-SQS3", "AwsSolutions-SQS4", "Serverless-SQSRedrivePolicy"} <= rules


def test_every_acknowledgement_lives_in_squall_cdk_nag_and_gives_a_specific_reason(shop: Synth, tuned: Synth) -> None:
    acknowledged = _acknowledgements(shop) + _acknowledgements(tuned)
    assert acknowledged, "no acknowledgement recorded: has the metadata key changed?"
    source = (CDK_PACKAGE / "nag.py").read_text()
    for path, rule, reason in acknowledged:
        assert re.fullmatch(r"(AwsSolutions::AwsSolutions|Serverless::Serverless)-[A-Za-z0-9]+(\[.+\])?", rule), rule
        assert len(reason) >= 80, f"{rule} on {path}: the reason must say why, specifically"
        assert rule.split("::")[1].split("[")[0] in source, f"{rule} is acknowledged outside squall/cdk/nag.py"
    for infra_file in CDK_PACKAGE.rglob("*.py"):
        if infra_file.name != "nag.py":
            assert "Acknowledgment(" not in infra_file.read_text(), f"{infra_file} acknowledges a finding"


def test_the_only_wildcard_resources_acknowledged_are_xray_on_the_function_roles_and_metric_reads_for_operators(
    shop: Synth,
) -> None:
    wildcard = [(path, rule) for path, rule, _ in _acknowledgements(shop) if rule.endswith("[Resource::*]")]
    assert sorted(wildcard) == [
        # cloudwatch:GetMetricData for the dashboard's charts (tests/infra/test_cdk_operator_metrics.py)
        ("squall-shop/Squall/OperatorPolicy", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
        ("squall-shop/Squall/Reconciler/Role", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
        ("squall-shop/Squall/Worker/Role", "AwsSolutions::AwsSolutions-IAM5[Resource::*]"),
    ]


def test_the_workers_schedule_wildcard_is_acknowledged_for_its_own_group_only(shop: Synth) -> None:
    group = shop.stack.service.topology.schedule_group
    on_worker = [rule for path, rule, _ in _acknowledgements(shop) if path == "squall-shop/Squall/Worker/Role"]
    scheduler = [rule for rule in on_worker if ":scheduler:" in rule]
    assert scheduler == [
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:"
        f"schedule/{group}/*]"
    ]


def test_cfn_lint_finds_no_error_in_any_template(synth: Synth) -> None:
    matches = lint(synth.template_file.read_text(), regions=LINT_REGIONS)
    errors = [f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})" for m in matches if m.rule.id.startswith("E")]
    assert errors == []
